"""National single-region travel times by partition: tiles of a road network run as Dask tasks.

The area is cut into tiles (a regular grid, or given polygons). Each origin belongs to the tile
holding its *road node* (origins are snapped once, on the whole network, so snapping is exactly
the unpartitioned one). A tile is solved on the subgraph induced by the nodes inside its bounds
widened by a buffer

    ``buffer_m = max_threshold_min × v_max``, with ``v_max`` (metres per minute) the largest
    straight-line speed of any edge: the distance between its end nodes over its travel time.

Why the results are exact within the threshold: a path of travel time ``t`` moves at most
``t × v_max`` metres from its start (each edge moves its end node at most ``time × v_max`` away),
so every node of a shortest path of time ``t ≤ threshold`` from a tile's node lies inside the
buffered tile, and the subgraph holds the whole path. The subgraph cannot hold a *shorter* path
than the whole network. Hence, for every origin whose time to the nearest facility is within the
threshold, the partitioned time is the unpartitioned one: the same path, the same floating-point
sums, bit-identical (the nearest facility too, except between exactly tied facilities).

Beyond the threshold the partitioned mode does not know the time: such origins get ``inf``
(``> threshold``) and facility row -1, where an unpartitioned run gives the (finite) time. Origins
that cannot be snapped (no road within the snapping limit) get NaN. Searches are bounded by the
threshold (``limit=``), so each tile explores only what it needs.

Tiles run as tasks on a Dask client (:func:`geo.dask_cluster.dask_client`): the network arrays
are sent once to every worker, each task cuts its own subgraph, and per-tile run time and the
worker's peak resident memory are reported. Without a client, tiles run one after another here.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geo.errors import NetworkError
from geo.routing.network import RoadNetwork
from geo.routing.travel import (
    Search,
    combine_nearest,
    run_search,
    times_at_nodes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tile:
    """One part of the area.

    Attributes
    ----------
    tile_id
        Name of the tile (grid tiles: ``r<row>c<col>``).
    bounds
        ``(xmin, ymin, xmax, ymax)`` in the network CRS (metres). Grid tiles own the half-open
        box ``[xmin, xmax) × [ymin, ymax)``.
    polygon
        For polygon tiles: the polygon owning the nodes (its boundary included).
    """

    tile_id: str
    bounds: tuple[float, float, float, float]
    polygon: shapely.Geometry | None = None


@dataclass
class PartitionedTimes:
    """Nearest-facility times of every origin from a partitioned run.

    Attributes
    ----------
    time_min
        Per output: minutes to the nearest facility, ``inf`` beyond its threshold, NaN for
        origins without a road node (or outside every given polygon tile).
    facility_row
        Per output: the nearest facility's row (-1 beyond the threshold or unreachable).
    threshold_min
        Per output: the threshold (the smallest of its searches' thresholds).
    buffer_m
        The buffer used around every tile.
    tiles
        One row per solved tile: ``tile_id``, ``origins``, ``nodes`` (of the buffered
        subgraph), ``seconds``, ``peak_rss_mb`` (the worker process's peak resident memory so
        far, see :func:`peak_rss_mb`), ``worker``.
    """

    time_min: dict[str, np.ndarray]
    facility_row: dict[str, np.ndarray]
    threshold_min: dict[str, float]
    buffer_m: float
    tiles: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class _GraphArrays:
    """What a worker needs of the network (sent once to each worker)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    crs_wkt: str


@dataclass(frozen=True)
class _TilePayload:
    tile: Tile
    buffer_m: float
    origin_index: np.ndarray
    origin_nodes: np.ndarray
    origin_offset_s: np.ndarray


# -- tiles ------------------------------------------------------------------------------------
def grid_tiles(node_x: np.ndarray, node_y: np.ndarray, *, tile_size_m: float) -> list[Tile]:
    """A regular grid of square tiles covering the points, anchored at their lower-left corner."""
    if not tile_size_m > 0:
        raise NetworkError(f"tile_size_m must be positive (got {tile_size_m})")
    x0, y0 = float(np.min(node_x)), float(np.min(node_y))

    def count(span: float) -> int:
        n = max(1, int(np.ceil(span / tile_size_m)))
        return n + 1 if n * tile_size_m <= span else n  # the maximum must fall inside

    n_cols = count(float(np.max(node_x)) - x0)
    n_rows = count(float(np.max(node_y)) - y0)
    return [
        Tile(
            f"r{r}c{c}",
            (
                x0 + c * tile_size_m,
                y0 + r * tile_size_m,
                x0 + (c + 1) * tile_size_m,
                y0 + (r + 1) * tile_size_m,
            ),
        )
        for r in range(n_rows)
        for c in range(n_cols)
    ]


def polygon_tiles(polygons: Sequence[shapely.Geometry], ids: Sequence[str] | None = None) -> list:
    """Tiles from polygons (e.g. states) in the network CRS; a node on a shared edge goes to the
    first polygon. Nodes outside every polygon belong to no tile (their origins get NaN)."""
    polygons = list(polygons)
    ids = [str(i) for i in ids] if ids is not None else [f"p{i}" for i in range(len(polygons))]
    return [
        Tile(tile_id, tuple(float(v) for v in poly.bounds), poly)
        for tile_id, poly in zip(ids, polygons, strict=True)
    ]


def assign_tiles(x: np.ndarray, y: np.ndarray, tiles: Sequence[Tile]) -> np.ndarray:
    """Index of the tile owning each point (-1 where none)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = np.full(len(x), -1, np.int64)
    for i, tile in enumerate(tiles):
        free = out < 0
        if tile.polygon is not None:
            inside = shapely.intersects_xy(tile.polygon, x[free], y[free])
        else:
            xmin, ymin, xmax, ymax = tile.bounds
            xf, yf = x[free], y[free]
            inside = (xf >= xmin) & (xf < xmax) & (yf >= ymin) & (yf < ymax)
        out[np.flatnonzero(free)[inside]] = i
    return out


def max_speed_m_per_min(network: RoadNetwork) -> float:
    """The largest straight-line speed of any edge (end-node distance / travel time), m/min.

    No path can carry anyone farther from where they started than this speed times its time,
    whatever the edge lengths recorded (a winding road's length exceeds the straight line).
    """
    return network.max_straight_line_speed_m_per_min


def buffer_for(network: RoadNetwork, threshold_min: float) -> float:
    """Buffer (metres) that keeps every path of ``threshold_min`` inside a tile."""
    return float(threshold_min) * max_speed_m_per_min(network)


# -- running ----------------------------------------------------------------------------------
def partitioned_nearest(
    network: RoadNetwork,
    origin_nodes: np.ndarray,
    origin_offset_s: np.ndarray,
    searches: Mapping[str, Search],
    *,
    outputs: Mapping[str, Sequence[str]] | None = None,
    tile_size_m: float | None = None,
    tiles: Sequence[Tile] | None = None,
    buffer_m: float | None = None,
    client: Any = None,
) -> PartitionedTimes:
    """Nearest-facility times of origins, tile by tile (exact within each threshold).

    Parameters
    ----------
    network
        The whole road network.
    origin_nodes
        Each origin's road node on ``network`` (-1 where it could not be snapped).
    origin_offset_s
        Each origin's connector time to its node (seconds).
    searches
        Named facility searches.
    outputs
        Output name → searches combined by element-wise minimum at the nodes (like the overall
        SPC time over service types); default one output per search.
    tile_size_m
        Side of grid tiles (used when ``tiles`` is not given).
    tiles
        Tiles to use instead of a grid (e.g. :func:`polygon_tiles`).
    buffer_m
        Override the buffer (only for testing: a buffer narrower than
        :func:`buffer_for` loses exactness).
    client
        A Dask client; None solves the tiles in this process.

    Returns
    -------
    PartitionedTimes
    """
    outputs = {name: [name] for name in searches} if outputs is None else dict(outputs)
    origin_nodes = np.asarray(origin_nodes, np.int64)
    thresholds = {o: min(searches[p].limit_min for p in parts) for o, parts in outputs.items()}
    if buffer_m is None:
        buffer_m = buffer_for(network, max(s.limit_min for s in searches.values()))
    if tiles is None:
        if tile_size_m is None:
            raise NetworkError("give tile_size_m or tiles")
        tiles = grid_tiles(network.node_x, network.node_y, tile_size_m=tile_size_m)
    payloads = _payloads(network, origin_nodes, np.asarray(origin_offset_s, float), tiles, buffer_m)
    log.info("%d tiles with origins (of %d), buffer %.0f m", len(payloads), len(tiles), buffer_m)
    solved = _solve_all(
        client, _graph_arrays(network), payloads, dict(searches), outputs, thresholds
    )
    return _merge(solved, len(origin_nodes), outputs, thresholds, buffer_m)


def _merge(solved, n_origins: int, outputs, thresholds, buffer_m: float) -> PartitionedTimes:
    """Write each solved tile's origins into origin-aligned arrays (NaN where no tile)."""
    result = PartitionedTimes(
        time_min={o: np.full(n_origins, np.nan) for o in outputs},
        facility_row={o: np.full(n_origins, -1, np.int64) for o in outputs},
        threshold_min=thresholds,
        buffer_m=buffer_m,
    )
    stats = []
    for tile in solved:
        for o in outputs:
            result.time_min[o][tile["origin_index"]] = tile["time_min"][o]
            result.facility_row[o][tile["origin_index"]] = tile["facility_row"][o]
        stats.append(tile["stats"])
    result.tiles = pd.DataFrame(stats)
    return result


def _payloads(
    network: RoadNetwork,
    origin_nodes: np.ndarray,
    origin_offset_s: np.ndarray,
    tiles: Sequence[Tile],
    buffer_m: float,
) -> list[_TilePayload]:
    """Origins grouped by the tile owning their node (tiles without origins are left out)."""
    snapped = np.flatnonzero(origin_nodes >= 0)
    nodes = origin_nodes[snapped]
    owner = assign_tiles(network.node_x[nodes], network.node_y[nodes], tiles)
    if (owner < 0).any():
        log.warning("%d origins lie in no tile; their times are NaN", int((owner < 0).sum()))
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(tiles) + 1))
    payloads = []
    for i, tile in enumerate(tiles):
        members = snapped[order[bounds[i] : bounds[i + 1]]]
        if members.size:
            payloads.append(
                _TilePayload(
                    tile, buffer_m, members, origin_nodes[members], origin_offset_s[members]
                )
            )
    return payloads


def _graph_arrays(network: RoadNetwork) -> _GraphArrays:
    g = network.graph
    return _GraphArrays(
        g.indptr, g.indices, g.data, network.node_x, network.node_y, network.crs.to_wkt()
    )


def _solve_all(client, graph, payloads, searches, outputs, thresholds):
    """Yield solved tiles (as they finish with a client; in order without)."""
    if client is None:
        for payload in payloads:
            yield solve_tile(graph, payload, searches, outputs, thresholds)
        return
    from distributed import as_completed

    [graph_future] = client.scatter([graph], broadcast=True, hash=False)
    payload_futures = client.scatter(payloads, hash=False)
    futures = [
        client.submit(
            solve_tile,
            graph_future,
            p,
            searches,
            outputs,
            thresholds,
            pure=False,
            key=f"tile-{payload.tile.tile_id}-{uuid.uuid4().hex[:8]}",
        )
        for p, payload in zip(payload_futures, payloads, strict=True)
    ]
    del payload_futures
    for future in as_completed(futures, loop=client.loop):
        solved = future.result()
        future.release()
        yield solved


def solve_tile(
    graph: _GraphArrays,
    payload: _TilePayload,
    searches: Mapping[str, Search],
    outputs: Mapping[str, Sequence[str]],
    thresholds: Mapping[str, float],
) -> dict[str, Any]:
    """Solve one tile on its buffered subgraph (a Dask task; also runs in process)."""
    start = time.perf_counter()
    xmin, ymin, xmax, ymax = payload.tile.bounds
    b = payload.buffer_m
    x, y = graph.node_x, graph.node_y
    keep = (x >= xmin - b) & (x <= xmax + b) & (y >= ymin - b) & (y <= ymax + b)
    sub_nodes = np.flatnonzero(keep)
    local = np.full(len(x), -1, np.int64)
    local[sub_nodes] = np.arange(len(sub_nodes))
    subnet = RoadNetwork(
        _subgraph(graph, sub_nodes, local), x[sub_nodes], y[sub_nodes], graph.crs_wkt
    )
    node_times = {name: run_search(subnet, s, node_map=local) for name, s in searches.items()}
    o_local = local[payload.origin_nodes]
    times, rows = {}, {}
    for name, parts in outputs.items():
        combined = combine_nearest([node_times[p] for p in parts], n_nodes=subnet.n_nodes)
        times[name], rows[name] = times_at_nodes(
            combined, o_local, payload.origin_offset_s, limit_s=thresholds[name] * 60.0
        )
    return {
        "origin_index": payload.origin_index,
        "time_min": times,
        "facility_row": rows,
        "stats": {
            "tile_id": payload.tile.tile_id,
            "origins": len(payload.origin_index),
            "nodes": len(sub_nodes),
            "seconds": time.perf_counter() - start,
            "peak_rss_mb": peak_rss_mb(),
            "worker": _worker_address(),
        },
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux ``VmHWM`` (reset when a process starts a new program, so a worker spawned by a big
    parent reports its own peak); elsewhere ``getrusage``'s ``ru_maxrss``, which a spawned
    process may inherit from its parent.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, else kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _subgraph(graph: _GraphArrays, sub_nodes: np.ndarray, local: np.ndarray) -> sparse.csr_matrix:
    """The CSR graph induced by ``sub_nodes`` (renumbered ``local``), edge values unchanged."""
    starts, ends = graph.indptr[sub_nodes], graph.indptr[sub_nodes + 1]
    counts = ends - starts
    total = int(counts.sum())
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    positions = first + np.arange(total)
    cols = local[graph.indices[positions]]
    keep = cols >= 0
    row = np.repeat(np.arange(len(sub_nodes)), counts)[keep]
    indptr = np.zeros(len(sub_nodes) + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=len(sub_nodes)), out=indptr[1:])
    n = len(sub_nodes)
    data = graph.data[positions[keep]]
    return sparse.csr_matrix((data, cols[keep].astype(np.int32), indptr), shape=(n, n))


def unpartitioned_nearest(
    network: RoadNetwork,
    origin_nodes: np.ndarray,
    origin_offset_s: np.ndarray,
    searches: Mapping[str, Search],
    *,
    outputs: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The reference: the same searches on the whole network, unbounded.

    Returns
    -------
    dict
        Output name → (minutes, facility row): finite wherever a facility can be reached,
        ``inf`` / -1 where none can, NaN / -1 for origins without a node.
    """
    outputs = {name: [name] for name in searches} if outputs is None else dict(outputs)
    unbounded = {n: dataclasses.replace(s, limit_min=np.inf) for n, s in searches.items()}
    node_times = {name: run_search(network, s) for name, s in unbounded.items()}
    origin_nodes = np.asarray(origin_nodes, np.int64)
    ok = origin_nodes >= 0
    out = {}
    for name, parts in outputs.items():
        combined = combine_nearest([node_times[p] for p in parts], n_nodes=network.n_nodes)
        minutes = np.full(len(origin_nodes), np.nan)
        rows = np.full(len(origin_nodes), -1, np.int64)
        minutes[ok], rows[ok] = times_at_nodes(
            combined, origin_nodes[ok], np.asarray(origin_offset_s, float)[ok]
        )
        out[name] = (minutes, rows)
    return out
