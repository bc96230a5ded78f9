"""Population rasters (WorldPop, census grids) as origins: one origin per populated cell.

The raster is read through a window on the region, strip by strip (at most
:data:`MAX_CELLS_PER_READ` cells at a time), nodata honoured, optionally aggregated to a coarser
grid; damaged files, missing CRSs and implausible counts are input errors naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.windows import Window, from_bounds

from geo.errors import InputError, MissingCRSError
from geo.inputs.population_areas import origins_frame, region_geometry

log = logging.getLogger(__name__)

Geometry = shapely.Geometry

# Above these a head count is a data error (nodata read as people, a wrong band): the densest
# city districts hold about 50,000 people per km² and no place holds ten million.
MAX_PEOPLE_PER_KM2 = 100_000.0
MAX_PEOPLE_PER_PLACE = 10_000_000.0

# Cells read per strip of a population raster (16M float cells: ~0.5 GB with centres).
MAX_CELLS_PER_READ = 16_000_000


def origins_from_raster(
    path: str | Path,
    *,
    crs: CRS | str,
    region: Geometry | gpd.GeoSeries | None = None,
    count_band: int = 1,
    age_bands: Mapping[str, int] | None = None,
    aggregate_factor: int = 1,
    max_cells_per_read: int = MAX_CELLS_PER_READ,
) -> gpd.GeoDataFrame:
    """One origin per populated raster cell.

    The raster is read in strips of whole rows (at most ``max_cells_per_read`` cells, a
    multiple of ``aggregate_factor`` rows) and only populated cells are kept from each, so a
    national raster larger than memory reads in bounded memory; the result does not depend on
    the strip size.

    Parameters
    ----------
    path
        GeoTIFF (or any raster GDAL reads) of people per cell.
    crs
        Analysis CRS of the output.
    region
        Region polygon in ``crs``: only cells whose centre lies inside are kept, and only the
        window covering it is read.
    count_band
        Band holding the head count.
    age_bands
        Output column → band number, e.g. ``{"pop_65plus": 2}``.
    aggregate_factor
        Sum blocks of ``factor × factor`` cells into one origin (for speed).
    max_cells_per_read
        Cells read at once (bounds memory).

    Returns
    -------
    geopandas.GeoDataFrame
        ``origin_id``, ``pop_count``, the age columns, points at cell centres (or the
        population-weighted centre of each aggregated block).
    """
    crs = CRS.from_user_input(crs)
    path = Path(path)
    region = region_geometry(region)
    age_bands = dict(age_bands or {})
    if aggregate_factor < 1:
        raise InputError("population.aggregate_factor must be at least 1", path=path)
    src = open_raster(path)
    with src:
        check_raster(src, [count_band, *age_bands.values()], path)
        window = _window(src, region, crs)
        to_crs = Transformer.from_crs(src.crs, crs, always_xy=True)
        parts = [
            _strip_origins(
                src,
                strip,
                [count_band, *age_bands.values()],
                region,
                to_crs,
                aggregate_factor,
                path,
            )
            for strip in _strips(window, aggregate_factor, max_cells_per_read)
        ]
    xy = np.vstack([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    extra = {name: np.concatenate([p[2][i] for p in parts]) for i, name in enumerate(age_bands)}
    origins = origins_frame(xy, counts, crs, extra=extra)
    if origins.empty:
        raise InputError(
            "no population inside the region: check the raster covers the region "
            "and the region/raster CRSs",
            path=path,
        )
    log.info(
        "%s: %d populated cells, %.0f people", path.name, len(origins), origins["pop_count"].sum()
    )
    return origins


def _window(src, region: Geometry | None, crs: CRS) -> Window:
    full = Window(0, 0, src.width, src.height)
    if region is None:
        return full
    to_src = Transformer.from_crs(crs, src.crs, always_xy=True)
    minx, miny, maxx, maxy = to_src.transform_bounds(*region.bounds)
    win = from_bounds(minx, miny, maxx, maxy, transform=src.transform)
    win = win.round_offsets(op="floor").round_lengths(op="ceil")
    try:
        win = win.intersection(full)
    except rasterio.errors.WindowError:
        raise InputError("the raster does not overlap the region", path=Path(src.name)) from None
    # One cell of margin so cells straddling the boundary are tested by their centre.
    return Window(
        max(win.col_off - 1, 0),
        max(win.row_off - 1, 0),
        min(win.width + 2, src.width),
        min(win.height + 2, src.height),
    ).intersection(full)


def _strips(window: Window, factor: int, max_cells: int) -> list[Window]:
    """Row strips covering ``window``, each a multiple of ``factor`` rows (block-aligned)."""
    rows = max(max_cells // max(int(window.width), 1), 1)
    rows = max(rows // factor, 1) * factor
    height, width = int(window.height), int(window.width)
    return [
        Window(window.col_off, window.row_off + top, width, min(rows, height - top))
        for top in range(0, height, rows)
    ]


def _strip_origins(src, strip: Window, bands: list[int], region, to_crs, factor: int, path: Path):
    """Populated cells (or aggregated blocks) of one strip: xy, counts, age arrays."""
    arrays = [read_band(src, b, strip) for b in bands]
    transform = src.window_transform(strip)
    counts, ages = arrays[0], arrays[1:]
    check_counts(counts, path, cell_km2=cell_area_km2(src.crs, transform, counts.shape))
    if region is not None:
        # Clip cell by cell (by cell centre) before any aggregation, so an aggregated run
        # holds exactly the people of the clipped one.
        cx, cy = _cell_centres(transform, counts.shape)
        x, y = to_crs.transform(cx.ravel(), cy.ravel())
        inside = shapely.contains_xy(region, x, y).reshape(counts.shape)
        counts = np.where(inside, counts, 0.0)
        ages = [np.where(inside, a, 0.0) for a in ages]
    if factor > 1:
        counts, ages, transform, cx, cy = _aggregate(counts, ages, transform, factor)
    else:
        cx, cy = _cell_centres(transform, counts.shape)
    keep = counts.ravel() > 0
    x, y = to_crs.transform(cx.ravel()[keep], cy.ravel()[keep])
    return np.column_stack([x, y]), counts.ravel()[keep], [a.ravel()[keep] for a in ages]


def _cell_centres(transform, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(shape)
    cx, cy = rasterio.transform.xy(transform, rows.ravel(), cols.ravel(), offset="center")
    return np.asarray(cx, float).reshape(shape), np.asarray(cy, float).reshape(shape)


def open_raster(path: Path):
    """Open a raster with rasterio, or raise an :class:`InputError` naming the file."""
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read as a raster ({exc})", path=path) from None


def check_raster(src, bands: list[int], path: Path) -> None:
    """A population raster must declare its CRS and hold every band asked for."""
    if src.crs is None:
        raise MissingCRSError(
            "the raster declares no CRS; assign one (gdal_edit.py -a_srs)", path=path
        )
    for band in bands:
        if not 1 <= band <= src.count:
            raise InputError(f"band {band} does not exist (the raster has {src.count})", path=path)


def read_band(src, band: int, window: Window) -> np.ndarray:
    """One band of a window as floats, nodata as 0 (a damaged file raises an InputError)."""
    try:
        data = src.read(band, window=window, masked=True).astype(float)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            f"cannot read band {band} of the raster ({exc}); the file may be truncated or "
            "damaged: check it opens in QGIS (gdalinfo -checksum) or export it again",
            path=Path(src.name),
        ) from None
    return np.ma.filled(data, 0.0)


def cell_area_km2(crs, transform, shape: tuple[int, int]) -> np.ndarray:
    """Each raster row's cell area in km² (a column vector; rows differ for lon/lat grids)."""
    rows = np.arange(shape[0])
    if crs is not None and CRS.from_user_input(crs).is_geographic:
        lat = transform.f + (rows + 0.5) * transform.e
        km_per_deg = 111.32
        area = abs(transform.a * transform.e) * km_per_deg**2 * np.cos(np.radians(lat))
    else:
        area = np.full(len(rows), abs(transform.a * transform.e) / 1e6)
    return np.maximum(area, 1e-12)[:, None]


def check_counts(counts: np.ndarray, path: Path, *, cell_km2: np.ndarray | None = None) -> None:
    """Head counts must be finite, non-negative and plausible (see :data:`MAX_PEOPLE_PER_KM2`)
    outside nodata."""
    if not np.all(np.isfinite(counts)):
        raise InputError(
            "the population raster holds NaN or infinite values outside its "
            "nodata; set the nodata value",
            path=path,
        )
    if (counts < 0).any():
        raise InputError(
            f"the population raster holds negative counts (min {counts.min()}); "
            "set the nodata value if these mark missing data",
            path=path,
        )
    if cell_km2 is not None:
        density = counts / cell_km2
        if (density > MAX_PEOPLE_PER_KM2).any():
            raise InputError(
                f"{int((density > MAX_PEOPLE_PER_KM2).sum())} raster cell(s) hold more than "
                f"{MAX_PEOPLE_PER_KM2:,.0f} people per km² (up to {density.max():.3g}): is the "
                "band a head count, and is its nodata value set?",
                path=path,
            )


def _aggregate(counts, ages, transform, f: int):
    """Sum f×f blocks; place each block at its population-weighted centre."""
    h, w = counts.shape
    hp, wp = -(-h // f) * f, -(-w // f) * f

    def pad(a):
        return np.pad(a, ((0, hp - h), (0, wp - w)))

    def block_sum(a):
        return pad(a).reshape(hp // f, f, wp // f, f).sum(axis=(1, 3))

    cx, cy = _cell_centres(transform, (hp, wp))
    padded = pad(counts)
    total = block_sum(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        wx = (padded * cx).reshape(hp // f, f, wp // f, f).sum(axis=(1, 3)) / total
        wy = (padded * cy).reshape(hp // f, f, wp // f, f).sum(axis=(1, 3)) / total
    return total, [block_sum(a) for a in ages], transform, np.nan_to_num(wx), np.nan_to_num(wy)
