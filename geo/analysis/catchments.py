"""Travel-time surfaces and isochrone polygons (catchments).

A travel-time surface is a raster over the region: each cell's time is the best of its nearest
road nodes' times plus the straight-line walk (or farm-track drive) from the node at the
off-road speed. Cells farther than ``max_offroad_m`` from every road node are unreachable (NaN).
Isochrones are the polygonised cells within each threshold, so they are nested by construction,
keep their holes, and never contain unreachable land — unlike convex hulls of reached nodes.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon

from geo.analysis.service_times import SPC_DIRECTIONS, ServiceTimes
from geo.routing.network import RoadNetwork

log = logging.getLogger(__name__)

DEFAULT_THRESHOLDS_MIN = (15.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class SurfaceGrid:
    """A raster grid over a network with each cell's nearest road nodes precomputed.

    Attributes
    ----------
    transform
        Affine transform of the grid (analysis CRS, metres).
    shape
        (rows, columns).
    crs
        The analysis CRS.
    neighbour_node
        (cells, k) int array: the k nearest road nodes of each cell (``n_nodes`` = none).
    neighbour_offroad_s
        (cells, k) float array: off-road seconds from each cell centre to those nodes.
    """

    transform: Affine
    shape: tuple[int, int]
    crs: CRS
    neighbour_node: np.ndarray
    neighbour_offroad_s: np.ndarray
    max_offroad_m: float = 5000.0

    @classmethod
    def build(
        cls,
        network: RoadNetwork,
        *,
        cell_size_m: float = 250.0,
        offroad_speed_kph: float = 15.0,
        max_offroad_m: float = 5000.0,
        k: int = 6,
        bounds: tuple[float, float, float, float] | None = None,
    ) -> SurfaceGrid:
        """Lay a grid over ``bounds`` (default: the network's extent plus the off-road reach).

        Parameters
        ----------
        network
            The road network (projected CRS, metres).
        cell_size_m
            Grid cell size in metres.
        offroad_speed_kph
            Speed between a cell centre and a road node.
        max_offroad_m
            Cells farther than this from every road node are unreachable.
        k
            Road nodes considered per cell (more is slower but finds a faster node more often).
        bounds
            (minx, miny, maxx, maxy) in the network's CRS.
        """
        if bounds is None:
            bounds = network_bounds(network, max_offroad_m)
        minx, miny, maxx, maxy = bounds
        cols = max(1, int(np.ceil((maxx - minx) / cell_size_m)))
        rows = max(1, int(np.ceil((maxy - miny) / cell_size_m)))
        transform = Affine(cell_size_m, 0.0, minx, 0.0, -cell_size_m, maxy)
        xs = minx + (np.arange(cols) + 0.5) * cell_size_m
        ys = maxy - (np.arange(rows) + 0.5) * cell_size_m
        cx, cy = np.meshgrid(xs, ys)
        tree = cKDTree(np.column_stack([network.node_x, network.node_y]))
        k = min(k, network.n_nodes)
        dist, idx = tree.query(
            np.column_stack([cx.ravel(), cy.ravel()]),
            k=k,
            distance_upper_bound=max_offroad_m,
            workers=-1,
        )
        dist = dist.reshape(-1, k)
        idx = idx.reshape(-1, k)
        offroad_s = dist / (offroad_speed_kph / 3.6)
        return cls(
            transform, (rows, cols), network.crs, idx.astype(np.int64), offroad_s, max_offroad_m
        )

    @functools.cached_property
    def reachable_cells(self) -> np.ndarray:
        """Flat (row-major) indices of the cells with a road node within the off-road reach;
        every other cell is unreachable whatever the node times."""
        return np.flatnonzero(np.isfinite(self.neighbour_offroad_s).any(axis=1))

    def surface_min(
        self, node_time_s: np.ndarray, window: tuple[slice, slice] | None = None
    ) -> np.ndarray:
        """Minutes to reach each cell given seconds at every road node (NaN: unreachable).

        ``window`` (row and column slices) limits the work to part of the grid. Only cells
        with a road node in reach are computed (the rest are NaN).
        """
        n_rows, n_cols = self.shape
        rows, cols = window or (slice(0, n_rows), slice(0, n_cols))
        r0, r1, _ = rows.indices(n_rows)
        c0, c1, _ = cols.indices(n_cols)
        out = np.full((max(r1 - r0, 0), max(c1 - c0, 0)), np.nan)
        cells = self.reachable_cells
        cells = cells[np.searchsorted(cells, r0 * n_cols) : np.searchsorted(cells, r1 * n_cols)]
        cells = cells[(cells % n_cols >= c0) & (cells % n_cols < c1)]
        padded = np.append(np.asarray(node_time_s, float), np.inf)
        best = (padded[self.neighbour_node[cells]] + self.neighbour_offroad_s[cells]).min(axis=1)
        best[~np.isfinite(best)] = np.nan
        out[cells // n_cols - r0, cells % n_cols - c0] = best / 60.0
        return out

    def window_around(
        self, x: np.ndarray, y: np.ndarray, margin_m: float
    ) -> tuple[tuple[slice, slice], Affine]:
        """The grid window covering points (plus a margin) and its transform."""
        t = self.transform  # north-up grid: t.a > 0 (cell width), t.e < 0
        c0 = (x.min() - margin_m - t.c) / t.a
        c1 = (x.max() + margin_m - t.c) / t.a
        r0 = (y.max() + margin_m - t.f) / t.e
        r1 = (y.min() - margin_m - t.f) / t.e
        rows = slice(max(int(np.floor(r0)), 0), min(int(np.ceil(r1)), self.shape[0]))
        cols = slice(max(int(np.floor(c0)), 0), min(int(np.ceil(c1)), self.shape[1]))
        window_transform = Affine(
            t.a, 0.0, t.c + cols.start * t.a, 0.0, t.e, t.f + rows.start * t.e
        )
        return (rows, cols), window_transform


def network_bounds(network: RoadNetwork, pad_m: float) -> tuple[float, float, float, float]:
    """The road network's extent plus ``pad_m`` on every side (the network's CRS)."""
    return (
        float(network.node_x.min()) - pad_m,
        float(network.node_y.min()) - pad_m,
        float(network.node_x.max()) + pad_m,
        float(network.node_y.max()) + pad_m,
    )


def grid_cell_size_m(
    bounds: tuple[float, float, float, float], cell_size_m: float, max_cells: int | None
) -> float:
    """The configured cell size, or, when a grid of it over ``bounds`` would have more than
    ``max_cells`` cells, the smallest multiple of 50 m that keeps within the limit (a
    national extent at 250 m is tens of millions of cells: several GB), with a warning."""
    minx, miny, maxx, maxy = bounds
    width, height = max(maxx - minx, 0.0), max(maxy - miny, 0.0)

    def cells(size: float) -> int:
        return max(1, int(np.ceil(width / size))) * max(1, int(np.ceil(height / size)))

    if max_cells is None or cells(cell_size_m) <= max_cells:
        return cell_size_m
    size = max(cell_size_m, 50.0 * np.ceil(np.sqrt(width * height / max_cells) / 50.0))
    while cells(size) > max_cells:
        size += 50.0
    log.warning(
        "catchments: %g m cells over %.0f x %.0f km would make %s cells, more than "
        "catchments.max_cells (%s); drawing with %g m cells (raise max_cells for finer cells "
        "if memory allows: about 100 bytes a cell)",
        cell_size_m,
        width / 1000,
        height / 1000,
        f"{cells(cell_size_m):,}",
        f"{max_cells:,}",
        size,
    )
    return float(size)


def isochrone_polygons(
    surface_min: np.ndarray,
    transform: Affine,
    thresholds_min: Sequence[float],
) -> list[MultiPolygon]:
    """Polygonise the cells within each threshold (nested; holes kept).

    Parameters
    ----------
    surface_min
        Travel-time raster in minutes (NaN unreachable).
    transform
        The raster's affine transform.
    thresholds_min
        Thresholds in minutes, any order.

    Returns
    -------
    list of shapely MultiPolygon
        One (possibly empty) multipolygon per threshold, in the given order.
    """
    # One polygonisation per threshold: GDAL's outlines of different bands of one raster do
    # not share vertices, so unions of band polygons are neither exact-cheap nor robust.
    filled = np.nan_to_num(np.asarray(surface_min, float), nan=np.inf)
    return [_cells_polygon(filled <= threshold, transform) for threshold in thresholds_min]


def _cells_polygon(mask: np.ndarray, transform: Affine) -> MultiPolygon:
    """The cells of a mask as one multipolygon (4-connected, holes kept)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return MultiPolygon()
    # Polygonise only the mask's bounding box (small thresholds cover a small part).
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    mask = mask[r0:r1, c0:c1]
    parts = [
        _polygon(geom["coordinates"])
        for geom, value in rasterio.features.shapes(
            mask.astype(np.uint8),
            mask=mask,
            transform=transform @ Affine.translation(c0, r0),
            connectivity=4,
        )
        if value == 1
    ]
    return MultiPolygon(parts) if parts else MultiPolygon()


def _polygon(rings: list) -> Polygon:
    """A polygon from GeoJSON rings, built from arrays (not point by point)."""
    shell = shapely.linearrings(np.asarray(rings[0], float))
    if len(rings) == 1:
        return shapely.polygons(shell)
    holes = np.empty(len(rings) - 1, dtype=object)
    holes[:] = [shapely.linearrings(np.asarray(r, float)) for r in rings[1:]]
    return shapely.polygons(shell, holes=holes)


def catchments_by_kind(
    grid: SurfaceGrid,
    node_time_s_by_kind: dict[str, np.ndarray],
    *,
    thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
) -> gpd.GeoDataFrame:
    """Isochrones of the nearest facility of each service kind.

    Parameters
    ----------
    grid
        The surface grid.
    node_time_s_by_kind
        Service kind (e.g. ``gp``, ``spc``) -> seconds from every road node to (or from) the
        nearest facility of that kind, as computed by :func:`geo.travel.nearest_facility`.
    thresholds_min
        Thresholds in minutes.

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind``, ``facility_id`` (None), ``threshold_min``, ``area_km2`` and the polygon.
    """
    rows = []
    for kind, node_time in node_time_s_by_kind.items():
        polygons = isochrone_polygons(grid.surface_min(node_time), grid.transform, thresholds_min)
        rows += [(kind, None, float(t), p) for t, p in zip(thresholds_min, polygons, strict=True)]
    return _frame(rows, grid.crs)


def catchments_by_facility(
    network: RoadNetwork,
    grid: SurfaceGrid,
    facility_nodes: np.ndarray,
    facility_ids: Sequence[str],
    *,
    kind: str,
    thresholds_min: Sequence[float] = DEFAULT_THRESHOLDS_MIN,
    direction: str = "to_facility",
    facility_offset_s: np.ndarray | None = None,
    chunk_size: int = 64,
) -> gpd.GeoDataFrame:
    """Isochrones of each facility at each threshold.

    Each facility gets one bounded search (limit = the largest threshold), run in chunks of
    ``chunk_size`` facilities so memory stays at ``chunk_size × n_nodes`` floats.

    Parameters
    ----------
    network
        The road network.
    grid
        The surface grid.
    facility_nodes
        Road node of each facility.
    facility_ids
        Id of each facility (same order).
    kind
        Service kind label for the output.
    thresholds_min
        Thresholds in minutes.
    direction
        ``to_facility`` (home → service) or ``from_facility`` (service → home).
    facility_offset_s
        Off-network connector seconds of each facility (added to all its times).
    chunk_size
        Facilities per search batch.

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind``, ``facility_id``, ``threshold_min``, ``area_km2`` and the polygon.
    """
    nodes = np.asarray(facility_nodes, np.int64)
    offsets = np.zeros(len(nodes)) if facility_offset_s is None else np.asarray(facility_offset_s)
    thresholds = tuple(float(t) for t in thresholds_min)
    memo = _isochrone_memo(network, grid)
    keys = [(direction, int(n), float(o), thresholds) for n, o in zip(nodes, offsets, strict=True)]
    missing = [j for j, key in enumerate(keys) if key not in memo]
    graph = network.graph_reversed if direction == "to_facility" else network.graph
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start : start + chunk_size]
        times = dijkstra(graph, directed=True, indices=nodes[chunk], limit=max(thresholds) * 60.0)
        for j, node_time in zip(chunk, np.atleast_2d(times), strict=True):
            # Only the part of the grid around the reached nodes can be within a threshold.
            reached = np.flatnonzero(np.isfinite(node_time))
            window, transform = grid.window_around(
                network.node_x[reached], network.node_y[reached], grid.max_offroad_m
            )
            surface = grid.surface_min(node_time + offsets[j], window)
            memo[keys[j]] = isochrone_polygons(surface, transform, thresholds)
    rows = [
        (kind, str(facility_ids[j]), t, polygon)
        for j, key in enumerate(keys)
        for t, polygon in zip(thresholds, memo[key], strict=True)
    ]
    return _frame(rows, grid.crs)


# Grids and per-facility isochrones of a network, kept while the network lives: a scenario
# analyses the baseline and the changed region on one network, where most facilities are
# unchanged (same node, connector time, direction and thresholds, hence the same polygons).
_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _isochrone_memo(network: RoadNetwork, grid: SurfaceGrid) -> dict:
    """The isochrones computed on ``network`` and ``grid`` so far (the grid is held, so its
    id is never reused while its entry lives)."""
    by_grid = _MEMO.setdefault(network, {}).setdefault("isochrones", {})
    return by_grid.setdefault(id(grid), (grid, {}))[1]


def _frame(rows: list[tuple], crs: CRS) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {
            "kind": [r[0] for r in rows],
            "facility_id": [r[1] for r in rows],
            "threshold_min": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs=crs,
    )
    frame["area_km2"] = frame.geometry.area / 1e6
    return frame


# --- Catchments of a region run ----------------------------------------------------------------


def build_catchments(
    network: RoadNetwork,
    times: ServiceTimes,
    *,
    thresholds_min: Sequence[float],
    cell_size_m: float,
    max_offroad_m: float,
    offroad_speed_kph: float,
    per_facility: bool,
    per_facility_max: int | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    max_cells: int | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Isochrones per service kind (and per facility) and the SPC travel-time surface.

    Parameters
    ----------
    network, times
        The run's network and travel times (with ``node_time_s``: an in-process run).
    thresholds_min, cell_size_m, max_offroad_m, per_facility, per_facility_max
        As ``catchments:`` in the config (above ``per_facility_max`` facilities the
        per-facility isochrones are skipped with a warning).
    offroad_speed_kph
        Speed from a road node to a cell.
    bounds
        The grid's extent (the region boundary's bounds); default the network's.
    max_cells
        The most grid cells (``catchments.max_cells``): above it the cells are made coarser
        (:func:`grid_cell_size_m`, with a warning). None: no limit.

    Returns
    -------
    tuple
        The ``catchments`` layer (``kind``, ``facility_id``, ``threshold_min``, ``area_km2``)
        and the travel-time surface to the nearest SPC service (``array`` minutes,
        ``transform``, ``crs``, ``kind``).
    """
    if bounds is None:
        bounds = network_bounds(network, max_offroad_m)
    cell_size_m = grid_cell_size_m(bounds, cell_size_m, max_cells)
    grid_key = ("grid", cell_size_m, offroad_speed_kph, max_offroad_m, bounds)
    grids = _MEMO.setdefault(network, {})
    if grid_key not in grids:
        grids[grid_key] = SurfaceGrid.build(
            network,
            cell_size_m=cell_size_m,
            offroad_speed_kph=offroad_speed_kph,
            max_offroad_m=max_offroad_m,
            bounds=bounds,
        )
    grid = grids[grid_key]
    by_kind = {k: times.node_time_s[k] for k in ("gp", "spc")}
    parts = [catchments_by_kind(grid, by_kind, thresholds_min=thresholds_min)]
    n_facilities = int(times.snaps.gp.reachable.sum() + times.snaps.spc.reachable.sum())
    if per_facility and per_facility_max is not None and n_facilities > per_facility_max:
        log.warning(
            "per-facility catchments skipped: %d facilities is more than catchments."
            "per_facility_max (%d); the nearest-facility bands per kind are drawn",
            n_facilities,
            per_facility_max,
        )
        per_facility = False
    if per_facility:
        parts += _per_facility(network, grid, times, thresholds_min)
    layer = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=network.crs)
    layer = layer[~layer.geometry.is_empty].reset_index(drop=True)
    surface = {
        "array": grid.surface_min(times.node_time_s["spc"]),
        "transform": grid.transform,
        "crs": network.crs,
        "kind": "spc",
    }
    log.info(
        "catchments: %d isochrones on a %d x %d grid of %g m", len(layer), *grid.shape, cell_size_m
    )
    return layer, surface


def _per_facility(network, grid, times: ServiceTimes, thresholds) -> list[gpd.GeoDataFrame]:
    parts = []
    gp_snap, spc_snap = times.snaps.gp, times.snaps.spc
    gps, spcs = times.gp_practices, times.specialist_services
    groups = [("gp", "to_facility", gp_snap, gps, np.ones(len(gps), bool))]
    groups += [
        (f"spc_{stype}", direction, spc_snap, spcs, (spcs["service_type"] == stype).to_numpy())
        for stype, direction in SPC_DIRECTIONS.items()
    ]
    for kind, direction, snap, frame, mask in groups:
        rows = np.flatnonzero(mask & snap.reachable)
        if rows.size:
            parts.append(
                catchments_by_facility(
                    network,
                    grid,
                    snap.node[rows],
                    frame["facility_id"].to_numpy()[rows],
                    kind=kind,
                    thresholds_min=thresholds,
                    direction=direction,
                    facility_offset_s=snap.connector_time_s[rows],
                )
            )
    return parts
