"""Population rasters larger than memory, read window by window.

:func:`iter_raster_origins` reads a population GeoTIFF in windows made of whole internal blocks
(tiles or strips, so GDAL decodes each block once) and yields the populated cells of each
window: their centres, head counts and age-band counts. Only one window is held at a time, so
peak memory is bounded by ``max_cells`` (about ``max_cells × 8 bytes`` per band read, plus the
populated cells yielded), whatever the raster's size. The cells are those of
:func:`geo.population.origins_from_raster` on the whole raster without a region or aggregation:
same centres, same counts (nodata as zero, populated cells only), chunk by chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.windows import Window

from geo.inputs.population_raster import check_counts, check_raster, open_raster, read_band

log = logging.getLogger(__name__)

DEFAULT_MAX_CELLS = 1 << 22  # 4M cells: 32 MB per float64 band


@dataclass(frozen=True)
class RasterChunk:
    """The populated cells of one window.

    Attributes
    ----------
    x, y
        Cell centres in the output CRS (metres in a projected CRS).
    pop_count
        People per cell (all > 0).
    ages
        Age-band counts per cell, by output column name.
    window
        The window read (rows and columns of the raster).
    """

    x: np.ndarray
    y: np.ndarray
    pop_count: np.ndarray
    ages: dict[str, np.ndarray] = field(default_factory=dict)
    window: Window | None = None


def chunk_windows(
    width: int, height: int, block_shape: tuple[int, int], *, max_cells: int
) -> list[Window]:
    """Windows of whole blocks covering a raster, each at most ``max_cells`` cells (or one block).

    Parameters
    ----------
    width, height
        Raster size in cells.
    block_shape
        ``(rows, cols)`` of the internal blocks.
    max_cells
        Cells per window; a window is never smaller than one block.
    """
    block_rows, block_cols = (max(1, int(v)) for v in block_shape)
    cols_per_window = max(block_cols, (max_cells // block_rows) // block_cols * block_cols)
    cols_per_window = min(cols_per_window, width)
    rows_per_window = max(block_rows, (max_cells // cols_per_window) // block_rows * block_rows)
    return [
        Window(col, row, min(cols_per_window, width - col), min(rows_per_window, height - row))
        for row in range(0, height, rows_per_window)
        for col in range(0, width, cols_per_window)
    ]


def iter_raster_origins(
    path: str | Path,
    *,
    count_band: int = 1,
    age_bands: Mapping[str, int] | None = None,
    crs: CRS | str | None = None,
    max_cells: int = DEFAULT_MAX_CELLS,
) -> Iterator[RasterChunk]:
    """Yield the populated cells of a population raster, one window at a time.

    Parameters
    ----------
    path
        GeoTIFF (any raster GDAL reads) of people per cell.
    count_band
        Band of head counts (1-based).
    age_bands
        Output name → band, e.g. ``{"pop_65plus": 2}``.
    crs
        Output CRS of the cell centres; default the raster's own.
    max_cells
        Cells per window (bounds peak memory).

    Yields
    ------
    RasterChunk
        Windows without populated cells are skipped.

    Raises
    ------
    InputError
        Unreadable raster, missing band, negative or non-finite counts outside nodata.
    MissingCRSError
        The raster declares no CRS.
    """
    path = Path(path)
    age_bands = dict(age_bands or {})
    src = open_raster(path)
    with src:
        check_raster(src, [count_band, *age_bands.values()], path)
        to_crs = Transformer.from_crs(src.crs, CRS.from_user_input(crs or src.crs), always_xy=True)
        windows = chunk_windows(
            src.width, src.height, src.block_shapes[count_band - 1], max_cells=max_cells
        )
        log.info("%s: reading %d windows of at most %d cells", path.name, len(windows), max_cells)
        for window in windows:
            chunk = _read_window(src, window, count_band, age_bands, to_crs, path)
            if chunk is not None:
                yield chunk


def _read_window(
    src, window: Window, count_band: int, age_bands: dict[str, int], to_crs, path: Path
) -> RasterChunk | None:
    counts = read_band(src, count_band, window)
    check_counts(counts, path)
    rows, cols = np.nonzero(counts > 0)
    if rows.size == 0:
        return None
    ages = {name: read_band(src, band, window)[rows, cols] for name, band in age_bands.items()}
    # Centres from the raster's own transform and global indices: the same arithmetic as a
    # whole-raster read, so centres are bit-identical.
    cx, cy = rasterio.transform.xy(
        src.transform, rows + int(window.row_off), cols + int(window.col_off), offset="center"
    )
    x, y = to_crs.transform(np.asarray(cx, float), np.asarray(cy, float))
    return RasterChunk(np.asarray(x), np.asarray(y), counts[rows, cols], ages, window)
