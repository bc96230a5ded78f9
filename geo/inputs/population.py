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
    origins_frame,
    points_in_region,
    polygons_in_region,
    region_geometry,
    spread_shares,
)
from geo.inputs.population_raster import (
    MAX_PEOPLE_PER_KM2,
    MAX_PEOPLE_PER_PLACE,
    origins_from_raster,
    read_band,
)
from geo.inputs.readers import (
    bad_rows_error,
    first_row_number,
    is_csv,
    read_points_csv,
    read_vector,
    require_columns,
)

log = logging.getLogger(__name__)

Geometry = shapely.Geometry

__all__ = [
    "MAX_PEOPLE_PER_KM2",
    "MAX_PEOPLE_PER_PLACE",
    "origins_from_points",
    "origins_from_polygons",
    "origins_from_raster",
]


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
    inside = points_in_region(xy, region_geometry(region))
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
    origins = origins_frame(xy, counts, crs, extra=extra)
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
    region = region_geometry(region)
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
    _check_polygon_density(
        values["pop_count"], shapely.area(geoms) / 1e6, held, path, count_column, touching + 1
    )
    # An area in the region keeps all its people, spread over its part inside the boundary.
    cells = held[poly] & cell_in
    share = spread_shares(weight[cells], poly[cells], len(geoms))
    extra = {name: v[poly[cells]] * share for name, v in values.items() if name != "pop_count"}
    if ids is not None:
        extra["source_area_id"] = ids[touching][poly[cells]]
    origins = origins_frame(xy[cells], values["pop_count"][poly[cells]] * share, crs, extra=extra)
    if origins.empty:
        raise InputError("no population inside the region", path=path, column=count_column)
    log.info("%s: %d areas → %d origins", path.name, int(held.sum()), len(origins))
    return origins


def _check_polygon_density(
    counts: np.ndarray,
    area_km2: np.ndarray,
    keep: np.ndarray,
    path: Path,
    column: str,
    feature_numbers: np.ndarray,
) -> None:
    """Areas denser than :data:`MAX_PEOPLE_PER_KM2` are errors, each listed by feature."""
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(area_km2 > 0, counts / area_km2, np.inf)
    bad = keep & (density > MAX_PEOPLE_PER_KM2)
    if bad.any():
        raise bad_rows_error(
            f"hold more than {MAX_PEOPLE_PER_KM2:,.0f} people per km² (is the column a head "
            "count of these areas?)",
            bad,
            counts,
            path,
            column=column,
            first_row=feature_numbers,
        )


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
