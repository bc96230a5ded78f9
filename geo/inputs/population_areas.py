"""Statewide and national population files: which areas belong to the region, and their counts.

A population file often covers more than the study area (a state's SA2s, England's LSOAs), and
areas outside the study area may have empty counts (non-residential areas, suppressed cells).
The region is therefore cut out **before** counts are checked: empty or bad counts outside the
region are ignored; inside, each is an error, and one message lists every bad area.

Areas that straddle the boundary follow one documented rule, whole areas only (so a region's
total is a sum of published area counts):

* **points** (population-weighted centroids, or a point inside each polygon read as points):
  an area is in the region when its point is inside the boundary; this is the ONS best-fit rule
  (an area goes where its population-weighted centroid falls), so regions that partition a
  country share out every area exactly once;
* **polygons** (counts spread over a grid inside each area): an area is in the region when at
  least half of its people, as spread over it (by road density or the density raster), live
  inside the boundary (:data:`STRADDLE_SHARE`); its people are then all kept and spread over its
  part inside the boundary. Neighbours that only touch the boundary, and slivers where two
  generalisations of a coastline disagree, are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import InputError
from geo.inputs.readers import bad_rows_error, number_hint, require_columns

log = logging.getLogger(__name__)

Geometry = shapely.Geometry

# Share of an area's (modelled) people that must live inside the region for the area to count.
STRADDLE_SHARE = 0.5


def area_counts(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    *,
    allow_missing: bool = False,
    row_base: int = 2,
    rows: np.ndarray | None = None,
    ids: np.ndarray | None = None,
) -> np.ndarray:
    """Non-negative numeric counts; one error lists every bad row.

    Parameters
    ----------
    frame
        The areas to check (a subset of the file when ``rows`` is given).
    column
        The count column.
    path
        The file (named in messages).
    allow_missing
        Count empty cells as 0 people (with a warning) instead of refusing them.
    row_base
        The row number of the file's position 0 (2 in a CSV, 1 for features).
    rows
        Positions of ``frame``'s rows in the file, so messages name the file's own rows.
    ids
        Area ids of ``frame``'s rows, shown beside each bad value.
    """
    require_columns(frame, [column], path)
    values = pd.to_numeric(frame[column], errors="coerce")
    missing = frame[column].isna()
    if allow_missing and missing.any():
        log.warning(
            "%s: %d rows have no %s; counted as 0 people", path.name, int(missing.sum()), column
        )
        values = values.fillna(0.0)
    bad = (values.isna() | (values < 0) | np.isinf(values)).to_numpy(bool)
    if bad.any():
        hint = number_hint(frame[column][bad])
        raw = frame[column].astype(object).where(frame[column].notna(), "empty").to_numpy()
        if ids is not None:
            raw = np.array([f"area {i}: {v}" for i, v in zip(ids, raw, strict=True)], dtype=object)
        if rows is not None:  # a subset of the file: report the file's own row numbers
            full = np.zeros(int(rows.max()) + 1, bool)
            full[rows[bad]] = True
            shown = np.full(len(full), None, dtype=object)
            shown[rows] = raw
            bad, raw = full, shown
        raise bad_rows_error(
            "are not non-negative counts (areas inside the region need a count)",
            bad,
            raw,
            path,
            column=column,
            first_row=row_base,
            hint=hint,
        )
    return values.to_numpy(float)


def points_in_region(xy: np.ndarray, region: shapely.Geometry | None) -> np.ndarray:
    """Whether each point (an area's point) lies inside the region (all True without one)."""
    if region is None:
        return np.ones(len(xy), bool)
    return shapely.contains_xy(region, xy[:, 0], xy[:, 1])


def polygons_in_region(
    weight: np.ndarray, poly: np.ndarray, inside: np.ndarray, n: int
) -> np.ndarray:
    """Which polygons have at least :data:`STRADDLE_SHARE` of their weight inside the region.

    Parameters
    ----------
    weight
        Weight of each grid cell (people are spread over cells in proportion to it).
    poly
        Polygon of each cell (0..n-1).
    inside
        Whether each cell's centre lies inside the region.
    n
        Number of polygons.
    """
    weight = np.clip(np.nan_to_num(np.asarray(weight, float)), 0.0, None)
    total = np.bincount(poly, weights=weight, minlength=n)
    within = np.bincount(poly, weights=np.where(inside, weight, 0.0), minlength=n)
    # A polygon weighing nothing is spread evenly: count its cells instead.
    cells = np.bincount(poly, minlength=n).astype(float)
    cells_in = np.bincount(poly, weights=inside.astype(float), minlength=n)
    share = np.where(total > 0, within / np.where(total > 0, total, 1.0), cells_in / cells)
    return share >= STRADDLE_SHARE


def areas_touching(
    frame: gpd.GeoDataFrame, region: shapely.Geometry | None, path: Path
) -> np.ndarray:
    """Positions of the polygons that touch the region (all of them without one)."""
    if region is None:
        return np.arange(len(frame))
    inside = np.flatnonzero(frame.intersects(region).to_numpy(bool))
    if not inside.size:
        raise InputError("no polygon overlaps the region; check the CRS and the region", path=path)
    if inside.size < len(frame):
        log.info("%s: %d polygons outside the region left out", path.name, len(frame) - inside.size)
    return inside


def spread_shares(weight: np.ndarray, poly: np.ndarray, n: int) -> np.ndarray:
    """Weights normalised to sum to one per polygon (evenly where a polygon weighs nothing)."""
    weight = np.clip(np.nan_to_num(np.asarray(weight, float)), 0.0, None)
    total = np.bincount(poly, weights=weight, minlength=n)
    weight = np.where(total[poly] > 0, weight, 1.0)
    total = np.bincount(poly, weights=weight, minlength=n)
    return weight / total[poly]


def origins_frame(
    xy: np.ndarray,
    counts: np.ndarray,
    crs: CRS,
    *,
    extra: Mapping[str, np.ndarray] | None = None,
) -> gpd.GeoDataFrame:
    """The origins frame: drop empty places, number them 0..n-1."""
    data = {"pop_count": np.asarray(counts, float)}
    data.update({k: np.asarray(v) for k, v in (extra or {}).items()})
    frame = pd.DataFrame(data)
    keep = frame["pop_count"].to_numpy() > 0
    frame = frame[keep].reset_index(drop=True)
    frame.insert(0, "origin_id", np.arange(len(frame), dtype=np.int64))
    geometry = gpd.points_from_xy(xy[keep, 0], xy[keep, 1], crs=crs)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def region_geometry(region: Geometry | gpd.GeoSeries | None) -> Geometry | None:
    """One geometry for a region given as a geometry, a GeoSeries or a GeoDataFrame."""
    if region is None:
        return None
    if isinstance(region, gpd.GeoSeries | gpd.GeoDataFrame):
        return region.geometry.union_all()
    return region
