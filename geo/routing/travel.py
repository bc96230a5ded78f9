"""Travel times on a :class:`~geo.routing.network.RoadNetwork`: nearest facility, OD tables.

Every search is scipy's compiled Dijkstra (:func:`scipy.sparse.csgraph.dijkstra`); no Python
loop runs over nodes. Directions:

``to_facility``
    time from each node to the facility (people travel to a GP, an inpatient unit or a
    hospital): searched on the reversed graph from the facilities.
``from_facility``
    time from the facility to each node (a community team visits people at home): searched on
    the forward graph.

Facilities may carry an offset (e.g. the off-road connector from the facility's door to its
road node); it is added exactly through one virtual node per facility.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from geo.errors import NetworkError
from geo.routing.network import MIN_WEIGHT, RoadNetwork

log = logging.getLogger(__name__)

Direction = Literal["to_facility", "from_facility"]
Weight = Literal["time", "length"]
# Memory budget for one chunk of one-to-many searches (rows x nodes x 8 bytes).
CHUNK_BUDGET_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class NearestResult:
    """For every network node, the cost to the nearest facility and which one.

    Attributes
    ----------
    time_s
        Seconds (or metres with ``weight="length"``) to/from the nearest facility; ``inf``
        where none can be reached.
    facility_index
        Position of that facility in the ``facility_nodes`` given (or, from :func:`run_search`,
        the facility's row in the caller's table); -1 where none.
    """

    time_s: np.ndarray
    facility_index: np.ndarray


@dataclass(frozen=True)
class Search:
    """One multi-source nearest-facility search, as a plan step that any executor can run.

    Attributes
    ----------
    nodes
        Road node of each facility searched from (snapped, on-network facilities only).
    offset_s
        Connector time (seconds) between each facility and its node.
    rows
        The row of each facility in the caller's table (reported as the nearest facility).
    direction
        ``to_facility`` or ``from_facility``.
    limit_min
        Times beyond this are not searched (``inf`` in the result); ``inf`` searches everything.
    """

    nodes: np.ndarray
    offset_s: np.ndarray
    rows: np.ndarray
    direction: Direction
    limit_min: float = np.inf


def _graph(network: RoadNetwork, direction: Direction, weight: Weight) -> sparse.csr_matrix:
    if direction not in ("to_facility", "from_facility"):
        raise NetworkError(f"direction must be 'to_facility' or 'from_facility', not {direction!r}")
    if weight == "time":
        return network.graph_reversed if direction == "to_facility" else network.graph
    if weight == "length":
        return (
            network.graph_length_reversed if direction == "to_facility" else network.graph_length_m
        )
    raise NetworkError(f"weight must be 'time' or 'length', not {weight!r}")


def _with_virtual_sources(
    graph: sparse.csr_matrix, nodes: np.ndarray, offsets: np.ndarray
) -> sparse.csr_matrix:
    """Append one node per facility with a single edge (its offset) to the facility's node."""
    n = graph.shape[0]
    k = len(nodes)
    indptr = np.concatenate([graph.indptr, graph.indptr[-1] + np.arange(1, k + 1)])
    indices = np.concatenate([graph.indices, nodes.astype(graph.indices.dtype)])
    data = np.concatenate([graph.data, np.maximum(offsets, MIN_WEIGHT)])
    return sparse.csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def _check_nodes(network: RoadNetwork, nodes: np.ndarray, label: str) -> np.ndarray:
    nodes = np.asarray(nodes, np.int64).ravel()
    if nodes.size and (nodes.min() < 0 or nodes.max() >= network.n_nodes):
        raise NetworkError(
            f"{label} must be node indices 0..{network.n_nodes - 1} "
            "(snap points first and drop unreachable ones)"
        )
    return nodes


def nearest_facility(
    network: RoadNetwork,
    facility_nodes: np.ndarray,
    *,
    direction: Direction = "to_facility",
    facility_offset_s: np.ndarray | None = None,
    weight: Weight = "time",
    limit: float = np.inf,
) -> NearestResult:
    """Cost from every node to its nearest facility, in one multi-source search.

    Parameters
    ----------
    network
        The road network.
    facility_nodes
        Node index of each facility (duplicates allowed).
    direction
        ``to_facility`` (node → facility) or ``from_facility`` (facility → node).
    facility_offset_s
        Extra cost per facility (e.g. its snap connector time), same unit as ``weight``.
    weight
        ``time`` (seconds) or ``length`` (metres).
    limit
        Stop searching beyond this cost (nodes beyond get ``inf``).

    Returns
    -------
    NearestResult
    """
    nodes = _check_nodes(network, facility_nodes, "facility_nodes")
    n = network.n_nodes
    if nodes.size == 0:
        return NearestResult(np.full(n, np.inf), np.full(n, -1, np.int64))
    offsets = (
        np.zeros(len(nodes)) if facility_offset_s is None else np.asarray(facility_offset_s, float)
    )
    if not (offsets > 0).any():
        return _nearest_without_offsets(network, nodes, direction, weight, limit)
    graph = _with_virtual_sources(_graph(network, direction, weight), nodes, offsets)
    virtual = np.arange(n, n + len(nodes))
    dist, _, sources = csgraph.dijkstra(
        graph, directed=True, indices=virtual, min_only=True, return_predecessors=True, limit=limit
    )
    dist = dist[:n]
    sources = sources[:n]
    index = np.where(sources >= 0, sources - n, -1).astype(np.int64)
    # Offsets are exact except the MIN_WEIGHT floor on zero offsets; remove it.
    zero = offsets <= 0
    if zero.any():
        found = index >= 0
        dist[found] -= np.where(zero[index[found]], MIN_WEIGHT, 0.0)
    return NearestResult(time_s=dist, facility_index=index)


def _nearest_without_offsets(
    network: RoadNetwork, nodes: np.ndarray, direction: Direction, weight: Weight, limit: float
) -> NearestResult:
    """Facilities on their nodes (no connector times): SciPy's multi-source search from the
    nodes themselves, with no virtual source nodes (no copy of the graph)."""
    n = network.n_nodes
    dist, _, sources = csgraph.dijkstra(
        _graph(network, direction, weight),
        directed=True,
        indices=np.unique(nodes),
        min_only=True,
        return_predecessors=True,
        limit=limit,
    )
    first = np.full(n, -1, np.int64)  # the first facility listed at each node
    first[nodes[::-1]] = np.arange(len(nodes) - 1, -1, -1)
    index = np.where(sources >= 0, first[np.clip(sources, 0, None)], -1).astype(np.int64)
    return NearestResult(time_s=dist, facility_index=index)


# Searches run slightly past their limit so a time exactly at it is never lost to rounding.
LIMIT_SLACK = 1e-9


def run_search(
    network: RoadNetwork, search: Search, *, node_map: np.ndarray | None = None
) -> NearestResult:
    """Run one :class:`Search`; ``facility_index`` holds the winning facility's ``rows`` entry.

    Parameters
    ----------
    network
        The network searched (a whole network, or a partition tile's subgraph).
    search
        The search; its ``nodes`` are nodes of the whole network.
    node_map
        Whole-network node -> node of ``network`` (-1 where absent), for subgraphs; facilities
        outside the subgraph are skipped.
    """
    nodes = np.asarray(search.nodes, np.int64)
    inside = np.ones(len(nodes), bool) if node_map is None else node_map[nodes] >= 0
    n = network.n_nodes
    if not inside.any():
        return NearestResult(np.full(n, np.inf), np.full(n, -1, np.int64))
    local = nodes[inside] if node_map is None else node_map[nodes[inside]]
    limit_s = search.limit_min * 60.0 * (1 + LIMIT_SLACK)
    found = nearest_facility(
        network,
        local,
        direction=search.direction,
        facility_offset_s=np.asarray(search.offset_s, float)[inside],
        limit=limit_s,
    )
    rows = np.asarray(search.rows, np.int64)[inside]
    index = found.facility_index
    return NearestResult(found.time_s, np.where(index >= 0, rows[np.clip(index, 0, None)], -1))


def combine_nearest(parts: list[NearestResult], *, n_nodes: int) -> NearestResult:
    """Element-wise minimum over several searches' node times, keeping the winning facility.

    No searches at all (no facility of that kind exists, e.g. no team that takes non-cancer
    referrals) reach no node: every time is ``inf``.
    """
    if not parts:
        return NearestResult(np.full(n_nodes, np.inf), np.full(n_nodes, -1, np.int64))
    if len(parts) == 1:
        return parts[0]
    times = np.vstack([p.time_s for p in parts])
    rows = np.vstack([p.facility_index for p in parts])
    best = np.argmin(times, axis=0)
    cols = np.arange(times.shape[1])
    return NearestResult(times[best, cols], rows[best, cols])


def times_at_nodes(
    result: NearestResult, nodes: np.ndarray, offset_s: np.ndarray, *, limit_s: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes and nearest facility row at points attached to ``nodes`` with ``offset_s``.

    Returns ``inf`` and -1 where no facility is within ``limit_s`` seconds (or none at all).
    """
    seconds = result.time_s[nodes] + offset_s
    rows = result.facility_index[nodes]
    within = np.isfinite(seconds) & (rows >= 0) & (seconds <= limit_s)
    return np.where(within, seconds / 60.0, np.inf), np.where(within, rows, -1)


def _chunk_rows(n_nodes: int, budget_bytes: int = CHUNK_BUDGET_BYTES) -> int:
    return max(1, int(budget_bytes // (8 * max(n_nodes, 1))))


def od_table(
    network: RoadNetwork,
    origin_nodes: np.ndarray,
    facility_nodes: np.ndarray,
    *,
    max_time_s: float = np.inf,
    direction: Direction = "to_facility",
    origin_ids: np.ndarray | None = None,
    facility_ids: np.ndarray | None = None,
    origin_offset_s: np.ndarray | None = None,
    facility_offset_s: np.ndarray | None = None,
    chunk_size: int | None = None,
    sort: bool = False,
) -> pd.DataFrame:
    """Bounded one-to-many travel times as a sparse long table.

    One bounded search per facility, run in chunks so memory stays at about
    ``chunk_size × n_nodes × 8`` bytes whatever the number of facilities.

    Parameters
    ----------
    network
        The road network.
    origin_nodes, facility_nodes
        Node indices of origins and facilities.
    max_time_s
        Pairs slower than this are left out of the table.
    direction
        ``to_facility`` (origin → facility) or ``from_facility`` (facility → origin).
    origin_ids, facility_ids
        Ids written to the table (default: positions).
    origin_offset_s, facility_offset_s
        Connector times added at each end.
    chunk_size
        Facilities per search batch (default from a 256 MB budget).
    sort
        Sort the table by origin, then travel time (costs about as much as the searches on
        big tables; off by default).

    Returns
    -------
    pandas.DataFrame
        ``origin_id``, ``facility_id``, ``travel_time_min`` for every pair within
        ``max_time_s``, in facility order unless ``sort``.
    """
    o_ids = np.arange(len(origin_nodes)) if origin_ids is None else np.asarray(origin_ids)
    f_ids = np.arange(len(facility_nodes)) if facility_ids is None else np.asarray(facility_ids)
    org_parts, fac_parts, time_parts = [], [], []
    for fac, org, seconds in od_pairs(
        network,
        origin_nodes,
        facility_nodes,
        max_time_s=max_time_s,
        direction=direction,
        origin_offset_s=origin_offset_s,
        facility_offset_s=facility_offset_s,
        chunk_size=chunk_size,
    ):
        org_parts.append(org)
        fac_parts.append(fac)
        time_parts.append(seconds)
    org = np.concatenate(org_parts) if org_parts else np.zeros(0, np.int64)
    fac = np.concatenate(fac_parts) if fac_parts else np.zeros(0, np.int64)
    minutes = (np.concatenate(time_parts) if time_parts else np.zeros(0)) / 60.0
    if sort:
        order = np.lexsort((minutes, org))
        org, fac, minutes = org[order], fac[order], minutes[order]
    return pd.DataFrame(
        {"origin_id": o_ids[org], "facility_id": f_ids[fac], "travel_time_min": minutes}
    )


# Below this many origins per road node, od_pairs expands reached nodes to their origins.
SPARSE_ORIGINS_SHARE = 0.25


def od_pairs(
    network: RoadNetwork,
    origin_nodes: np.ndarray,
    facility_nodes: np.ndarray,
    *,
    max_time_s: float = np.inf,
    direction: Direction = "to_facility",
    origin_offset_s: np.ndarray | None = None,
    facility_offset_s: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The pairs of :func:`od_table`, one chunk of facilities at a time.

    Every pair of a facility is in its chunk, so per-facility sums (a floating catchment's
    first step) can be taken chunk by chunk without ever holding the whole table.

    Yields
    ------
    tuple of numpy.ndarray
        Facility positions, origin positions and seconds (``<= max_time_s``, offsets added).
    """
    o_nodes = _check_nodes(network, origin_nodes, "origin_nodes")
    f_nodes = _check_nodes(network, facility_nodes, "facility_nodes")
    o_off = np.zeros(len(o_nodes)) if origin_offset_s is None else np.asarray(origin_offset_s)
    f_off = np.zeros(len(f_nodes)) if facility_offset_s is None else np.asarray(facility_offset_s)
    has_offsets = bool(f_off.any() or o_off.any())
    graph = _graph(network, direction, "time")
    chunk = chunk_size or _chunk_rows(network.n_nodes)
    # Few origins per node: read each row at the origins' nodes. Origins much sparser than
    # nodes: expand the reached nodes to the origins on them instead.
    sparse_origins = len(o_nodes) < network.n_nodes * SPARSE_ORIGINS_SHARE
    at_node = _origins_by_node(o_nodes, network.n_nodes) if sparse_origins else None
    for start in range(0, len(f_nodes), chunk):
        rows = slice(start, start + chunk)
        dist = csgraph.dijkstra(graph, directed=True, indices=f_nodes[rows], limit=max_time_s)
        if at_node is None:
            times = np.atleast_2d(dist)[:, o_nodes]
            fac, org = np.nonzero(times <= max_time_s)
            fac, org, seconds = fac.astype(np.int64), org.astype(np.int64), times[fac, org]
        else:
            fac, org, seconds = _pairs_within(dist, at_node, max_time_s)
        if has_offsets:
            seconds += f_off[rows][fac] + o_off[org]
            keep = seconds <= max_time_s
            fac, org, seconds = fac[keep], org[keep], seconds[keep]
        yield fac + start, org, seconds


def _origins_by_node(o_nodes: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Origins grouped by road node: ``(order, indptr)`` with the origins at node ``v`` being
    ``order[indptr[v]:indptr[v + 1]]`` (ascending)."""
    order = np.argsort(o_nodes, kind="stable")
    indptr = np.searchsorted(o_nodes[order], np.arange(n_nodes + 1))
    return order, indptr


def _pairs_within(
    dist: np.ndarray, at_node: tuple[np.ndarray, np.ndarray], max_time_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(facility row, origin, seconds) of every origin at a node within ``max_time_s`` of each
    row of ``dist``, in row order: the reached nodes are expanded to the origins snapped to
    them, so the work follows the pairs found, not rows × origins."""
    order, indptr = at_node
    fac, node = np.nonzero(np.atleast_2d(dist) <= max_time_s)
    counts = indptr[node + 1] - indptr[node]
    first = np.repeat(indptr[node], counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    org = order[first + within]
    fac = np.repeat(fac, counts)
    times = np.atleast_2d(dist)[fac, np.repeat(node, counts)]
    return fac.astype(np.int64), org.astype(np.int64), times


def k_nearest(
    network: RoadNetwork,
    origin_nodes: np.ndarray,
    facility_nodes: np.ndarray,
    k: int,
    **kwargs,
) -> pd.DataFrame:
    """The ``k`` fastest facilities for each origin (fewer where fewer are within reach).

    Parameters
    ----------
    network, origin_nodes, facility_nodes
        As :func:`od_table`.
    k
        Facilities per origin.
    **kwargs
        Passed to :func:`od_table` (``max_time_s``, ``direction``, ids, offsets).

    Returns
    -------
    pandas.DataFrame
        ``origin_id``, ``facility_id``, ``travel_time_min``, ``rank`` (1 = nearest).
    """
    if k < 1:
        raise NetworkError("k must be at least 1")
    table = od_table(network, origin_nodes, facility_nodes, sort=True, **kwargs)
    table["rank"] = table.groupby("origin_id").cumcount() + 1
    return table[table["rank"] <= k].reset_index(drop=True)
