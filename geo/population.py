"""Population as origins: points with ``pop_count`` (and age bands) in the analysis CRS.

Three sources, as planners hold them:

* a raster (WorldPop, a census grid): one origin per populated cell, read through a window on
  the region, nodata honoured, optionally aggregated to a coarser grid;
* points with counts (population-weighted centroids of LSOAs, SA1s...);
* polygons with counts: redistributed onto a density raster when given (dasymetric), otherwise
  onto a grid inside each polygon weighted by road-network density, so a huge rural polygon is
  never one point.

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

log = logging.getLogger(__name__)

Geometry = shapely.Geometry


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
) -> gpd.GeoDataFrame:
    """One origin per populated raster cell.

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
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read as a raster ({exc})", path=path) from None
    with src:
        if src.crs is None:
            raise MissingCRSError(
                "the raster declares no CRS; assign one (gdal_edit.py -a_srs)", path=path
            )
        for band in [count_band, *age_bands.values()]:
            if not 1 <= band <= src.count:
                raise InputError(
                    f"band {band} does not exist (the raster has {src.count})", path=path
                )
        window = _window(src, region, crs)
        arrays = [_read_band(src, b, window) for b in [count_band, *age_bands.values()]]
        transform = src.window_transform(window)
        src_crs = src.crs
    counts, ages = arrays[0], arrays[1:]
    _check_values(counts, path)
    if aggregate_factor > 1:
        counts, ages, transform, cx, cy = _aggregate(counts, ages, transform, aggregate_factor)
    else:
        rows, cols = np.indices(counts.shape)
        cx, cy = rasterio.transform.xy(transform, rows.ravel(), cols.ravel(), offset="center")
        cx, cy = np.asarray(cx).reshape(counts.shape), np.asarray(cy).reshape(counts.shape)
    x, y = Transformer.from_crs(src_crs, crs, always_xy=True).transform(cx.ravel(), cy.ravel())
    xy = np.column_stack([x, y])
    values = counts.ravel()
    extra = {name: a.ravel() for name, a in zip(age_bands, ages, strict=True)}
    inside = np.ones(len(values), bool) if region is None else shapely.contains_xy(region, x, y)
    values = np.where(inside, values, 0.0)
    origins = _finish(
        xy, values, crs, extra={k: np.where(inside, v, 0.0) for k, v in extra.items()}
    )
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


def _read_band(src, band: int, window: Window) -> np.ndarray:
    data = src.read(band, window=window, masked=True).astype(float)
    return np.ma.filled(data, 0.0)


def _check_values(counts: np.ndarray, path: Path) -> None:
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

    rows, cols = np.indices((hp, wp))
    cx, cy = rasterio.transform.xy(transform, rows.ravel(), cols.ravel(), offset="center")
    cx, cy = np.asarray(cx).reshape(hp, wp), np.asarray(cy).reshape(hp, wp)
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
    if not path.is_file():
        raise InputError("file not found; check the path in the config", path=path)
    if path.suffix.lower() in {".csv", ".txt"}:
        table = pd.read_csv(path)
        missing = [c for c in (x_column, y_column) if c is None or c not in table.columns]
        if missing:
            raise InputError(
                "a CSV of points needs coordinate columns: set population.x and "
                f"population.y (columns present: {', '.join(table.columns)})",
                path=path,
                column=", ".join(str(m) for m in missing),
            )
        xy = {}
        for c in (x_column, y_column):
            xy[c] = pd.to_numeric(table[c], errors="coerce")
            bad = xy[c].isna()
            if bad.any():
                row = int(np.flatnonzero(bad)[0]) + 2
                raise InputError(
                    "coordinate is missing or not a number", path=path, row=row, column=c
                )
        return gpd.GeoDataFrame(
            table,
            geometry=gpd.points_from_xy(xy[x_column], xy[y_column]),
            crs=input_crs or "EPSG:4326",
        )
    frame = gpd.read_file(path, layer=layer)
    if frame.crs is None:
        if input_crs is None:
            raise MissingCRSError(
                "the layer declares no CRS; add one or set population.crs", path=path
            )
        frame = frame.set_crs(input_crs)
    return frame


def _counts(
    frame: pd.DataFrame, column: str, path: Path, *, allow_missing: bool = False
) -> np.ndarray:
    if column not in frame.columns:
        present = ", ".join(map(str, frame.columns))
        raise InputError(f"column not found (columns present: {present})", path=path, column=column)
    values = pd.to_numeric(frame[column], errors="coerce")
    missing = frame[column].isna()
    if allow_missing and missing.any():
        log.warning(
            "%s: %d rows have no %s; counted as 0 people", path.name, int(missing.sum()), column
        )
        values = values.fillna(0.0)
    bad = values.isna() | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"count {frame[column].iloc[i]!r} is not a non-negative number",
            path=path,
            row=i + 2,
            column=column,
        )
    return values.to_numpy(float)


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
) -> gpd.GeoDataFrame:
    """Origins from points with counts (e.g. population-weighted centroids).

    Parameters
    ----------
    path
        CSV with coordinate columns (``x_column``/``y_column``, CRS ``input_crs`` default
        WGS84) or any vector format GDAL reads.
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

    Returns
    -------
    geopandas.GeoDataFrame
    """
    path = Path(path)
    crs = CRS.from_user_input(crs)
    frame = _read_table(
        path, layer=layer, x_column=x_column, y_column=y_column, input_crs=input_crs
    ).to_crs(crs)
    counts = _counts(frame, count_column, path, allow_missing=allow_missing_counts)
    extra = {name: _counts(frame, col, path) for name, col in (age_columns or {}).items()}
    if id_column is not None:
        if id_column not in frame.columns:
            raise InputError("id column not found", path=path, column=id_column)
        extra["source_area_id"] = frame[id_column].astype(str).to_numpy()
    if not (frame.geom_type == "Point").all():
        # Areas given as polygons: one origin at a point inside each (not the centroid,
        # which can fall outside a crescent-shaped area).
        frame = frame.set_geometry(frame.geometry.representative_point())
    xy = np.column_stack([frame.geometry.x, frame.geometry.y])
    region = _region_geom(region)
    if region is not None:
        inside = shapely.contains_xy(region, xy[:, 0], xy[:, 1])
        counts = np.where(inside, counts, 0.0)
        if not inside.all():
            log.info("%s: %d points outside the region left out", path.name, int((~inside).sum()))
    origins = _finish(xy, counts, crs, extra=extra)
    if origins.empty:
        raise InputError("no population inside the region", path=path)
    return origins


# -- polygons --------------------------------------------------------------------------------
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
) -> gpd.GeoDataFrame:
    """Origins from polygons with counts, redistributed within each polygon.

    Each polygon's count is shared over grid cells (``cell_size_m``) inside it, weighted by a
    density raster sampled at the cell centres when given (dasymetric), otherwise by the number
    of road nodes in the cell plus a small floor (people live along roads). Small polygons (one
    cell or less) keep a single point at their representative point.

    Parameters
    ----------
    path
        Vector file of polygons with counts.
    crs
        Analysis CRS.
    count_column, id_column, age_columns, layer
        As :func:`origins_from_points`.
    density_raster
        Optional raster of relative population density (any CRS).
    road_nodes_xy
        Road node coordinates in ``crs`` (weights when no density raster is given).
    cell_size_m
        Redistribution grid size.
    region
        Polygon (in ``crs``) clipping the result.

    Returns
    -------
    geopandas.GeoDataFrame
        One origin per occupied cell per polygon, with ``source_area_id`` when ``id_column``.
    """
    path = Path(path)
    crs = CRS.from_user_input(crs)
    frame = _read_table(path, layer=layer, x_column=None, y_column=None, input_crs=None)
    frame = frame.to_crs(crs)
    region = _region_geom(region)
    if region is not None:
        frame = frame[frame.intersects(region)]
        if frame.empty:
            raise InputError(
                "no polygon overlaps the region; check the CRS and the region", path=path
            )
    counts = _counts(frame, count_column, path)
    ages = {name: _counts(frame, col, path) for name, col in (age_columns or {}).items()}
    ids = frame[id_column].astype(str).to_numpy() if id_column else None
    xy_parts, share_parts, poly_index = [], [], []
    for i, geom in enumerate(frame.geometry):
        xy, share = _spread(geom, cell_size_m, density_raster, road_nodes_xy, crs)
        xy_parts.append(xy)
        share_parts.append(share)
        poly_index.append(np.full(len(share), i))
    xy = np.vstack(xy_parts)
    share = np.concatenate(share_parts)
    idx = np.concatenate(poly_index)
    extra = {name: values[idx] * share for name, values in ages.items()}
    if ids is not None:
        extra["source_area_id"] = ids[idx]
    origins = _finish(xy, counts[idx] * share, crs, extra=extra)
    log.info("%s: %d polygons → %d origins", path.name, len(frame), len(origins))
    return origins


def _spread(geom, cell_m: float, density_raster, road_xy, crs) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres inside a polygon and the share of its people in each (sums to 1)."""
    minx, miny, maxx, maxy = geom.bounds
    xs = np.arange(minx + cell_m / 2, maxx, cell_m)
    ys = np.arange(miny + cell_m / 2, maxy, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(geom, gx, gy) if len(gx) else np.zeros(0, bool)
    if inside.sum() <= 1:
        p = geom.representative_point()
        return np.array([[p.x, p.y]]), np.array([1.0])
    gx, gy = gx[inside], gy[inside]
    if density_raster is not None:
        weight = _sample_density(density_raster, gx, gy, crs)
    elif road_xy is not None and len(road_xy):
        ix = np.floor((road_xy[:, 0] - minx) / cell_m).astype(np.int64)
        iy = np.floor((road_xy[:, 1] - miny) / cell_m).astype(np.int64)
        cx = np.floor((gx - minx) / cell_m).astype(np.int64)
        cy = np.floor((gy - miny) / cell_m).astype(np.int64)
        ny = len(ys) + 1
        counts = pd.Series(ix * ny + iy).value_counts()
        weight = pd.Series(cx * ny + cy).map(counts).fillna(0.0).to_numpy() + 0.05
    else:
        weight = np.ones(len(gx))
    if weight.sum() <= 0:
        weight = np.ones(len(gx))
    return np.column_stack([gx, gy]), weight / weight.sum()


def _sample_density(path, x, y, crs) -> np.ndarray:
    with rasterio.open(path) as src:
        if src.crs is None:
            raise MissingCRSError("the density raster declares no CRS", path=Path(path))
        sx, sy = Transformer.from_crs(crs, src.crs, always_xy=True).transform(x, y)
        values = np.array(
            [v[0] for v in src.sample(zip(sx, sy, strict=True), masked=True)], dtype=object
        )
    out = np.array([0.0 if np.ma.is_masked(v) else float(v) for v in values])
    return np.clip(np.nan_to_num(out), 0, None)
