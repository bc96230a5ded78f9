"""Population as origins: points with ``pop_count`` (and age bands) in the analysis CRS.

Three sources, as planners hold them:

* a raster (WorldPop, a census grid): one origin per populated cell, read through a window on
  the region, nodata honoured, optionally aggregated to a coarser grid;
* points with counts (population-weighted centroids of LSOAs, SA1s...), from coordinates or
  placed by postcode (:mod:`geo.inputs.geocode`);
* polygons with counts: redistributed onto a density raster when given (dasymetric), otherwise
  onto a grid inside each polygon weighted by road-network density, so a huge rural polygon is
  never one point.

Statewide and national files are cut to the region before their counts are checked, with one
rule for areas straddling the boundary (:mod:`geo.inputs.population_areas`).

Totals are preserved exactly (to floating-point rounding) and zero-population origins dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.windows import Window, from_bounds

from geo.errors import InputError, MissingCRSError
from geo.inputs.population_areas import (
    area_counts,
    areas_touching,
    points_in_region,
    polygons_in_region,
    spread_shares,
)
from geo.inputs.readers import (
    first_row_number,
    is_csv,
    read_points_csv,
    read_vector,
    require_columns,
)

log = logging.getLogger(__name__)

Geometry = shapely.Geometry


# Cells read per strip of a population raster (16M float cells: ~0.5 GB with centres).
MAX_CELLS_PER_READ = 16_000_000


def _finish(
    xy: np.ndarray,
    counts: np.ndarray,
    crs: CRS,
    *,
    extra: Mapping[str, np.ndarray] | None = None,
) -> gpd.GeoDataFrame:
    """Origins frame: drop empty places, number them 0..n-1."""
    data = {"pop_count": np.asarray(counts, float)}
    data.update({k: np.asarray(v) for k, v in (extra or {}).items()})
    frame = pd.DataFrame(data)
    keep = frame["pop_count"].to_numpy() > 0
    frame = frame[keep].reset_index(drop=True)
    frame.insert(0, "origin_id", np.arange(len(frame), dtype=np.int64))
    geometry = gpd.points_from_xy(xy[keep, 0], xy[keep, 1], crs=crs)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _region_geom(region: Geometry | gpd.GeoSeries | None) -> Geometry | None:
    if region is None:
        return None
    if isinstance(region, gpd.GeoSeries | gpd.GeoDataFrame):
        return region.geometry.union_all()
    return region


# -- rasters ---------------------------------------------------------------------------------
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
    region = _region_geom(region)
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
    origins = _finish(xy, counts, crs, extra=extra)
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
    check_counts(counts, path)
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
    """One band of a window as floats, nodata as 0."""
    data = src.read(band, window=window, masked=True).astype(float)
    return np.ma.filled(data, 0.0)


def check_counts(counts: np.ndarray, path: Path) -> None:
    """Head counts must be finite and non-negative outside nodata."""
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


# -- points ----------------------------------------------------------------------------------
def _read_table(
    path: Path,
    *,
    layer: str | None,
    x_column: str | None,
    y_column: str | None,
    input_crs: str | None,
) -> gpd.GeoDataFrame:
    """Population points or polygons under the one CRS rule (see :mod:`geo.inputs.readers`)."""
    if is_csv(path):
        return read_points_csv(
            path, x_column=x_column, y_column=y_column, input_crs=input_crs, key="population"
        )
    return read_vector(path, layer=layer, input_crs=input_crs, key="population.crs")


def origins_from_points(
    path: str | Path,
    *,
    crs: CRS | str,
    count_column: str,
    id_column: str | None = None,
    age_columns: Mapping[str, str] | None = None,
    layer: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    input_crs: str | None = None,
    region: Geometry | gpd.GeoSeries | None = None,
    allow_missing_counts: bool = False,
    points: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Origins from points with counts (e.g. population-weighted centroids).

    Areas whose point lies outside the region are left out before counts are checked; inside,
    every bad count is listed (:mod:`geo.inputs.population_areas`).

    Parameters
    ----------
    path
        CSV with coordinate columns (``x_column``/``y_column``, CRS ``input_crs``) or any
        vector format GDAL reads.
    crs
        Analysis CRS.
    count_column
        Column with the head count.
    id_column
        Area code kept as ``source_area_id`` (for code lookups such as RUC or MMM).
    age_columns
        Output column → input column, e.g. ``{"pop_65plus": "age_65_plus"}``.
    layer, x_column, y_column, input_crs
        How to read the file.
    region
        Keep only points inside this polygon (in ``crs``).
    allow_missing_counts
        Count empty cells as 0 people (with a warning) instead of refusing the file; some
        published tables leave small or non-residential areas blank.
    points
        The file's rows already read as points (e.g. placed by postcode); ``path`` then only
        names the file in messages.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    path = Path(path)
    crs = CRS.from_user_input(crs)
    if points is None:
        points = _read_table(
            path, layer=layer, x_column=x_column, y_column=y_column, input_crs=input_crs
        )
    frame = points.to_crs(crs)
    require_columns(frame, [count_column, id_column, *(age_columns or {}).values()], path)
    if not (frame.geom_type == "Point").all():  # polygons: a point inside (not the centroid)
        frame = frame.set_geometry(frame.geometry.representative_point())
    xy = np.column_stack([frame.geometry.x, frame.geometry.y])
    inside = points_in_region(xy, _region_geom(region))
    if not inside.any():
        raise InputError("no population inside the region", path=path)
    if not inside.all():
        log.info("%s: %d points outside the region left out", path.name, int((~inside).sum()))
    rows = np.flatnonzero(inside)
    ids = None if id_column is None else frame[id_column].astype(str).to_numpy()

    def counts_of(column: str, allow_missing: bool = False) -> np.ndarray:
        values = np.zeros(len(frame))
        values[rows] = area_counts(
            frame.iloc[rows],
            column,
            path,
            allow_missing=allow_missing,
            row_base=first_row_number(path),
            rows=rows,
            ids=None if ids is None else ids[rows],
        )
        return values

    counts = counts_of(count_column, allow_missing_counts)
    extra = {n: counts_of(c) for n, c in (age_columns or {}).items()}
    if ids is not None:
        extra["source_area_id"] = ids
    for col in ("location_precision", "location_query"):
        if col in frame.columns:
            extra[col] = frame[col].to_numpy(dtype=object)
    origins = _finish(xy, counts, crs, extra=extra)
    if origins.empty:
        raise InputError("no population inside the region", path=path)
    return origins


# -- polygons --------------------------------------------------------------------------------
# Weight of a grid cell without road nodes, relative to one road node: people in a polygon with
# roads live mostly along them, but a few live away from any mapped road.
ROADLESS_CELL_WEIGHT = 0.05
MAX_GRID_CELLS = 20_000_000


def origins_from_polygons(
    path: str | Path,
    *,
    crs: CRS | str,
    count_column: str,
    id_column: str | None = None,
    age_columns: Mapping[str, str] | None = None,
    layer: str | None = None,
    density_raster: str | Path | None = None,
    road_nodes_xy: np.ndarray | None = None,
    cell_size_m: float = 1000.0,
    region: Geometry | gpd.GeoSeries | None = None,
    input_crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Origins from polygons with counts, redistributed within each polygon.

    Each polygon's count is shared over the cells of a grid (``cell_size_m``, one grid for
    the whole layer) whose centres lie inside it. The weight of a cell is the population of a
    density raster summed over the cell when one is given (dasymetric mapping; a raster
    coarser than the grid is sampled at the cell centre instead), otherwise the number of road
    nodes in the cell plus :data:`ROADLESS_CELL_WEIGHT` (people live along roads; polygons
    without roads are spread evenly). A polygon holding no cell centre (smaller than a cell)
    keeps one point at its representative point. Each polygon's shares sum to one, so totals
    are preserved exactly.

    Parameters
    ----------
    path
        Vector file of polygons with counts.
    crs
        Analysis CRS (projected, metres).
    count_column, id_column, age_columns, layer
        As :func:`origins_from_points`.
    density_raster
        Optional raster of population or relative density (any CRS).
    road_nodes_xy
        Road node coordinates in ``crs``, shape (n, 2) (weights when no density raster).
    cell_size_m
        Redistribution grid size.
    region
        Polygon (in ``crs``). An area is in the region when at least half of its people, as
        spread over its cells, live inside; it then keeps all its people, spread over its part
        inside (:mod:`geo.inputs.population_areas`). Counts are checked for those areas only.
    input_crs
        CRS to assume when the file declares none.

    Returns
    -------
    geopandas.GeoDataFrame
        One origin per occupied cell per polygon, with ``source_area_id`` when ``id_column``.
    """
    path = Path(path)
    crs = CRS.from_user_input(crs)
    if not cell_size_m > 0:
        raise InputError("population.cell_size_m must be positive", path=path)
    frame = _read_table(path, layer=layer, x_column=None, y_column=None, input_crs=input_crs)
    frame = frame.to_crs(crs)
    require_columns(frame, [count_column, id_column, *(age_columns or {}).values()], path)
    # Cut the region out first (a statewide file may leave areas outside it blank), then
    # check the counts of the areas kept; row numbers stay the file's feature numbers.
    region = _region_geom(region)
    touching = areas_touching(frame, region, path)
    geoms = frame.geometry.to_numpy()[touching]
    xy, poly = _polygon_cells(geoms, cell_size_m, path)
    anchor = _grid_anchor(geoms, cell_size_m)
    if density_raster is not None:
        weight = _density_weights(Path(density_raster), xy, cell_size_m, anchor, crs)
    elif road_nodes_xy is not None and len(road_nodes_xy):
        weight = _road_weights(np.asarray(road_nodes_xy, float), xy, cell_size_m, anchor)
    else:
        weight = np.ones(len(xy))
    cell_in = points_in_region(xy, region)
    held = polygons_in_region(weight, poly, cell_in, len(geoms))
    if not held.any():
        raise InputError("no area lies mostly inside the region", path=path, column=count_column)
    if not held.all():
        log.info(
            "%s: %d areas straddling the boundary lie mostly outside it and are left out",
            path.name,
            int((~held).sum()),
        )
    rows = touching[held]
    ids = None if id_column is None else frame[id_column].astype(str).to_numpy()
    per_area = {"pop_count": count_column, **(age_columns or {})}
    values = {}
    for name, col in per_area.items():
        values[name] = np.zeros(len(geoms))
        values[name][held] = area_counts(
            frame.iloc[rows],
            col,
            path,
            row_base=1,
            rows=rows,
            ids=None if ids is None else ids[rows],
        )
    # An area in the region keeps all its people, spread over its part inside the boundary.
    cells = held[poly] & cell_in
    share = spread_shares(weight[cells], poly[cells], len(geoms))
    extra = {name: v[poly[cells]] * share for name, v in values.items() if name != "pop_count"}
    if ids is not None:
        extra["source_area_id"] = ids[touching][poly[cells]]
    origins = _finish(xy[cells], values["pop_count"][poly[cells]] * share, crs, extra=extra)
    if origins.empty:
        raise InputError("no population inside the region", path=path, column=count_column)
    log.info("%s: %d areas → %d origins", path.name, int(held.sum()), len(origins))
    return origins


def _grid_anchor(geoms: np.ndarray, cell_m: float) -> tuple[float, float]:
    minx, miny, _, _ = shapely.total_bounds(geoms)
    return float(np.floor(minx / cell_m) * cell_m), float(np.floor(miny / cell_m) * cell_m)


def _cell_key(x: np.ndarray, y: np.ndarray, cell_m: float, anchor) -> np.ndarray:
    ix = np.floor((np.asarray(x) - anchor[0]) / cell_m).astype(np.int64)
    iy = np.floor((np.asarray(y) - anchor[1]) / cell_m).astype(np.int64)
    return ix * (1 << 32) + iy


def _polygon_cells(geoms: np.ndarray, cell_m: float, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the grid cells inside each polygon, and the polygon each belongs to."""
    ax, ay = _grid_anchor(geoms, cell_m)
    bounds = shapely.bounds(geoms)
    n_cells = np.prod(np.ceil((bounds[:, 2:] - bounds[:, :2]) / cell_m) + 1, axis=1).sum()
    if n_cells > MAX_GRID_CELLS:
        raise InputError(
            f"a {cell_m:g} m grid over these polygons has {n_cells:.0f} cells; "
            "raise population.cell_size_m",
            path=path,
        )
    xy_parts, poly_parts = [], []
    for i, (geom, (minx, miny, maxx, maxy)) in enumerate(zip(geoms, bounds, strict=True)):
        x0 = ax + (np.floor((minx - ax) / cell_m) + 0.5) * cell_m
        y0 = ay + (np.floor((miny - ay) / cell_m) + 0.5) * cell_m
        gx, gy = np.meshgrid(np.arange(x0, maxx, cell_m), np.arange(y0, maxy, cell_m))
        gx, gy = gx.ravel(), gy.ravel()
        inside = shapely.contains_xy(geom, gx, gy)
        if inside.any():
            xy = np.column_stack([gx[inside], gy[inside]])
        else:
            p = shapely.point_on_surface(geom)
            xy = np.array([[shapely.get_x(p), shapely.get_y(p)]])
        xy_parts.append(xy)
        poly_parts.append(np.full(len(xy), i))
    return np.vstack(xy_parts), np.concatenate(poly_parts)


def _road_weights(road_xy: np.ndarray, cell_xy: np.ndarray, cell_m: float, anchor) -> np.ndarray:
    counts = pd.Series(_cell_key(road_xy[:, 0], road_xy[:, 1], cell_m, anchor)).value_counts()
    keys = _cell_key(cell_xy[:, 0], cell_xy[:, 1], cell_m, anchor)
    return pd.Series(keys).map(counts).fillna(0.0).to_numpy(float) + ROADLESS_CELL_WEIGHT


def _density_weights(path: Path, cell_xy: np.ndarray, cell_m: float, anchor, crs) -> np.ndarray:
    """Density raster summed over each cell (sampled at the centre if the raster is coarse)."""
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read the density raster ({exc})", path=path) from None
    with src:
        if src.crs is None:
            raise MissingCRSError("the density raster declares no CRS", path=path)
        to_src = Transformer.from_crs(crs, src.crs, always_xy=True)
        half = cell_m / 2
        lo = cell_xy.min(axis=0) - half
        hi = cell_xy.max(axis=0) + half
        bounds = to_src.transform_bounds(lo[0], lo[1], hi[0], hi[1])
        full = Window(0, 0, src.width, src.height)
        try:
            win = from_bounds(*bounds, transform=src.transform)
            win = win.round_offsets(op="floor").round_lengths(op="ceil").intersection(full)
        except rasterio.errors.WindowError:
            raise InputError("the density raster does not cover the polygons", path=path) from None
        values = read_band(src, 1, win)
        transform = src.window_transform(win)
        src_crs = src.crs
    from_src = Transformer.from_crs(src_crs, crs, always_xy=True)
    pixel_m = _pixel_size_m(transform, from_src)
    if pixel_m > cell_m / 2:  # coarse raster: sample it at the cell centres
        sx, sy = to_src.transform(cell_xy[:, 0], cell_xy[:, 1])
        rows, cols = rasterio.transform.rowcol(transform, sx, sy)
        rows, cols = np.asarray(rows), np.asarray(cols)
        ok = (rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])
        out = np.zeros(len(cell_xy))
        out[ok] = values[rows[ok], cols[ok]]
        return out
    rows, cols = np.nonzero(values > 0)
    px, py = rasterio.transform.xy(transform, rows, cols, offset="center")
    px, py = from_src.transform(np.asarray(px, float), np.asarray(py, float))
    sums = pd.Series(values[rows, cols]).groupby(_cell_key(px, py, cell_m, anchor)).sum()
    keys = _cell_key(cell_xy[:, 0], cell_xy[:, 1], cell_m, anchor)
    return pd.Series(keys).map(sums).fillna(0.0).to_numpy(float)


def _pixel_size_m(transform, from_src: Transformer) -> float:
    """Approximate pixel width in the analysis CRS (near the raster's origin)."""
    xs, ys = rasterio.transform.xy(transform, [0, 1], [0, 1], offset="ul")
    (ax, bx), (ay, by) = from_src.transform(np.asarray(xs, float), np.asarray(ys, float))
    return float(np.hypot(bx - ax, by - ay) / np.sqrt(2))
