"""RoadNetwork: a directed road graph as CSR arrays, with snapping and an on-disk cache.

Edges are stored once per direction in a :class:`scipy.sparse.csr_matrix` of travel times in
seconds (``graph``), with a matching matrix of lengths (``graph_length_m``) and per-edge
attributes aligned to the CSR data order. Node coordinates are in the analysis CRS. Only the
largest strongly connected component is kept, so every kept node can reach every other; what was
dropped is counted in ``stats``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geo.errors import NetworkError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
# scipy's graph routines must never see a zero weight (it can read as "no edge").
MIN_WEIGHT = 1e-6


@dataclass(frozen=True)
class SnapResult:
    """Points attached to their nearest road node.

    Attributes
    ----------
    node
        Index of the nearest node (-1 where unreachable).
    snap_distance_m
        Straight-line distance from the point to that node.
    connector_time_s
        Off-road time over that distance at the off-road speed.
    reachable
        False where the nearest node is farther than the snapping limit.
    """

    node: np.ndarray
    snap_distance_m: np.ndarray
    connector_time_s: np.ndarray
    reachable: np.ndarray


@dataclass(frozen=True)
class Snaps:
    """How a run's point sets attach to the network: each is snapped once per run.

    Attributes
    ----------
    origins, gp, spc
        Origins, GP practices and specialist services, aligned with their tables' rows.
    max_snap_distance_m, offroad_speed_kph
        The settings they were snapped with.
    """

    origins: SnapResult
    gp: SnapResult
    spc: SnapResult
    max_snap_distance_m: float
    offroad_speed_kph: float
    max_facility_snap_distance_m: float | None = None

    @property
    def facility_limit_m(self) -> float:
        """The snapping limit of facilities (the origins' limit unless set apart)."""
        if self.max_facility_snap_distance_m is None:
            return self.max_snap_distance_m
        return self.max_facility_snap_distance_m

    @classmethod
    def of(
        cls,
        network: RoadNetwork,
        origins: Any,
        gp_practices: Any,
        services: Any,
        *,
        max_snap_distance_m: float = 5000.0,
        offroad_speed_kph: float = 15.0,
        max_facility_snap_distance_m: float | None = None,
    ) -> Snaps:
        """Snap the three point sets (GeoDataFrames in the network CRS)."""
        limit = max_facility_snap_distance_m or max_snap_distance_m
        return cls(
            network.snap_points(
                origins,
                max_snap_distance_m=max_snap_distance_m,
                offroad_speed_kph=offroad_speed_kph,
            ),
            network.snap_points(
                gp_practices, max_snap_distance_m=limit, offroad_speed_kph=offroad_speed_kph
            ),
            network.snap_points(
                services, max_snap_distance_m=limit, offroad_speed_kph=offroad_speed_kph
            ),
            max_snap_distance_m,
            offroad_speed_kph,
            max_facility_snap_distance_m,
        )


class RoadNetwork:
    """A directed road graph in a projected CRS.

    Use :meth:`from_arrays` (tests, benchmarks, other sources) or :meth:`from_roads` (OSM).

    Attributes
    ----------
    graph
        CSR matrix, ``graph[i, j]`` = travel time in seconds of the fastest edge i → j.
    graph_length_m
        CSR matrix with the same sparsity, lengths in metres.
    node_x, node_y
        Node coordinates in ``crs`` (metres).
    node_ids
        External node ids (OSM ids for OSM networks; positions otherwise).
    edge_attributes
        Per-edge columns aligned with ``graph.data`` (e.g. ``highway``, ``speed_kph``).
    crs
        The projected CRS of the coordinates.
    stats
        Counts: nodes and edges kept, duplicates merged, nodes/edges dropped outside the
        largest strongly connected component.
    """

    def __init__(
        self,
        graph: sparse.csr_matrix,
        node_x: np.ndarray,
        node_y: np.ndarray,
        crs: CRS | str,
        *,
        graph_length_m: sparse.csr_matrix | None = None,
        node_ids: np.ndarray | None = None,
        edge_attributes: pd.DataFrame | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        self.graph = graph
        self.node_x = np.asarray(node_x, float)
        self.node_y = np.asarray(node_y, float)
        self.crs = CRS.from_user_input(crs)
        self.graph_length_m = graph_length_m
        self.node_ids = np.arange(len(self.node_x)) if node_ids is None else np.asarray(node_ids)
        self.edge_attributes = edge_attributes
        self.stats = dict(stats or {})

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        source: np.ndarray,
        target: np.ndarray,
        travel_time_s: np.ndarray,
        node_x: np.ndarray,
        node_y: np.ndarray,
        crs: CRS | str,
        *,
        length_m: np.ndarray | None = None,
        node_ids: np.ndarray | None = None,
        edge_attributes: pd.DataFrame | None = None,
        keep_largest_component: bool = True,
    ) -> RoadNetwork:
        """Build from directed edges given as node positions ``0..n-1``.

        Parameters
        ----------
        source, target
            Node positions of each directed edge.
        travel_time_s
            Edge travel times (seconds, non-negative, finite).
        node_x, node_y
            Node coordinates in ``crs`` (projected, metres).
        crs
            The projected CRS.
        length_m
            Edge lengths; default: straight-line length between the end nodes.
        node_ids
            External ids of the nodes (default: positions).
        edge_attributes
            Extra per-edge columns (aligned with ``source``).
        keep_largest_component
            Keep only the largest strongly connected component.

        Returns
        -------
        RoadNetwork

        Raises
        ------
        NetworkError
            Mismatched lengths, negative or non-finite times, out-of-range nodes, a geographic
            CRS, or no edges.
        """
        src, dst, t, x, y = _validated(source, target, travel_time_s, node_x, node_y, crs)
        if length_m is None:
            length_m = np.hypot(x[dst] - x[src], y[dst] - y[src])
        attrs = (
            pd.DataFrame(index=np.arange(len(src)))
            if edge_attributes is None
            else edge_attributes.reset_index(drop=True)
        )
        attrs = attrs.assign(length_m=np.asarray(length_m, float))
        order, n_duplicates = _fastest_unique(src, dst, t)
        src, dst, t, attrs = src[order], dst[order], t[order], attrs.iloc[order]
        stats = {"duplicate_edges_merged": n_duplicates}
        keep_nodes = np.ones(len(x), bool)
        if keep_largest_component:
            keep_nodes = _largest_scc(src, dst, len(x))
            stats["nodes_dropped_outside_largest_component"] = int((~keep_nodes).sum())
        keep_edges = keep_nodes[src] & keep_nodes[dst]
        stats["edges_dropped_outside_largest_component"] = int((~keep_edges).sum())
        new_index = np.cumsum(keep_nodes) - 1
        src, dst = new_index[src[keep_edges]], new_index[dst[keep_edges]]
        t, attrs = t[keep_edges], attrs.iloc[np.flatnonzero(keep_edges)].reset_index(drop=True)
        n = int(keep_nodes.sum())
        graph = _csr(src, dst, t, n)
        length = _csr(src, dst, attrs["length_m"].to_numpy(float), n)
        ids = np.arange(len(x)) if node_ids is None else np.asarray(node_ids)
        stats.update({"nodes": n, "edges": len(src)})
        if stats.get("nodes_dropped_outside_largest_component"):
            log.info(
                "kept the largest strongly connected component: dropped %d nodes and %d "
                "edges (islands, one-way dead ends, clipped fragments)",
                stats["nodes_dropped_outside_largest_component"],
                stats["edges_dropped_outside_largest_component"],
            )
        return cls(
            graph,
            x[keep_nodes],
            y[keep_nodes],
            crs,
            graph_length_m=length,
            node_ids=ids[keep_nodes],
            edge_attributes=attrs,
            stats=stats,
        )

    @classmethod
    def from_roads(cls, roads: Any, crs: CRS | str) -> RoadNetwork:
        """Build from :class:`geo.roads.RoadData`, projecting nodes to ``crs``."""
        nodes = roads.nodes
        position = pd.Series(np.arange(len(nodes)), index=nodes.index)
        transformer = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True)
        x, y = transformer.transform(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
        edges = roads.edges
        attrs = edges[
            [
                "highway",
                "speed_kph",
                "unsealed",
                "is_ferry",
                "urban",
                "maxspeed_source",
                "osm_way_id",
            ]
        ]
        network = cls.from_arrays(
            position.loc[edges["u"]].to_numpy(),
            position.loc[edges["v"]].to_numpy(),
            edges["travel_time_s"].to_numpy(),
            np.asarray(x),
            np.asarray(y),
            crs,
            length_m=edges["length_m"].to_numpy(),
            node_ids=nodes.index.to_numpy(),
            edge_attributes=attrs,
        )
        return network

    # -- properties ------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.graph.nnz)

    @cached_property
    def graph_reversed(self) -> sparse.csr_matrix:
        """The transposed graph: searches on it give times *to* the sources."""
        return self.graph.T.tocsr()

    @cached_property
    def graph_length_reversed(self) -> sparse.csr_matrix:
        """The transposed length graph."""
        return self._length().T.tocsr()

    def _length(self) -> sparse.csr_matrix:
        if self.graph_length_m is None:
            raise NetworkError("this network carries no edge lengths")
        return self.graph_length_m

    @cached_property
    def max_straight_line_speed_m_per_min(self) -> float:
        """The largest straight-line speed of any edge (end-node distance / time), m/min: no
        trip can carry anyone farther from where it started than this speed times its time."""
        src, dst = self.edge_endpoints()
        chord_m = np.hypot(self.node_x[dst] - self.node_x[src], self.node_y[dst] - self.node_y[src])
        time_min = self.graph.data / 60.0
        moving = chord_m > 0
        return float(np.max(chord_m[moving] / time_min[moving])) if moving.any() else 0.0

    @cached_property
    def snappable_nodes(self) -> np.ndarray:
        """Nodes a point may attach to: those on at least one road (not ferry-only nodes).

        Nobody lives or works on a ferry route: a ferry's far terminal at the edge of an extract
        is not a road a place can be reached from.
        """
        attrs = self.edge_attributes
        if attrs is None or "is_ferry" not in attrs:
            return np.arange(self.n_nodes)
        ferry = attrs["is_ferry"].to_numpy(bool)
        src, dst = self.edge_endpoints()
        on_road = np.zeros(self.n_nodes, bool)
        on_road[src[~ferry]] = True
        on_road[dst[~ferry]] = True
        return np.flatnonzero(on_road) if on_road.any() else np.arange(self.n_nodes)

    @cached_property
    def _tree(self) -> cKDTree:
        nodes = self.snappable_nodes
        return cKDTree(np.column_stack([self.node_x[nodes], self.node_y[nodes]]))

    def with_edge_times(self, travel_time_s: np.ndarray) -> RoadNetwork:
        """A copy with new edge times (aligned with ``graph.data``): same nodes, same snapping.

        The copy shares the node arrays and the snapping index (nodes did not move), so
        speed scenarios re-run searches without re-snapping or rebuilding anything else.
        """
        graph = self.graph.copy()
        graph.data = np.maximum(np.asarray(travel_time_s, float), MIN_WEIGHT)
        copy = RoadNetwork(
            graph,
            self.node_x,
            self.node_y,
            self.crs,
            graph_length_m=self.graph_length_m,
            node_ids=self.node_ids,
            edge_attributes=self.edge_attributes,
            stats=self.stats,
        )
        for cached in ("_tree", "snappable_nodes"):  # nodes and edges did not change
            if cached in self.__dict__:
                copy.__dict__[cached] = self.__dict__[cached]
        return copy

    def edge_endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Source and target node of every edge, aligned with ``graph.data``."""
        src = np.repeat(np.arange(self.n_nodes), np.diff(self.graph.indptr))
        return src, self.graph.indices.copy()

    # -- snapping --------------------------------------------------------------------------
    def snap(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        max_snap_distance_m: float = 5000.0,
        offroad_speed_kph: float = 15.0,
    ) -> SnapResult:
        """Attach points (in the network CRS) to their nearest node.

        Parameters
        ----------
        x, y
            Point coordinates in ``self.crs``.
        max_snap_distance_m
            Points farther than this from every node are unreachable by road (never snapped
            to a far road).
        offroad_speed_kph
            Speed of the straight-line connector (walking, farm track, driveway).

        Returns
        -------
        SnapResult
        """
        if offroad_speed_kph <= 0 or max_snap_distance_m <= 0:
            raise NetworkError("offroad_speed_kph and max_snap_distance_m must be positive")
        points = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        if len(points) == 0:
            empty = np.zeros(0)
            return SnapResult(empty.astype(np.int64), empty, empty, empty.astype(bool))
        distance, position = self._tree.query(points, k=1)
        found = np.isfinite(distance)
        node = np.full(len(points), -1, np.int64)
        node[found] = self.snappable_nodes[position[found]]
        reachable = np.isfinite(distance) & (distance <= max_snap_distance_m)
        node = np.where(reachable, node, -1).astype(np.int64)
        return SnapResult(
            node=node,
            snap_distance_m=np.asarray(distance, float),
            connector_time_s=distance / (offroad_speed_kph / 3.6),
            reachable=reachable,
        )

    def snap_points(
        self, points: Any, *, max_snap_distance_m: float, offroad_speed_kph: float
    ) -> SnapResult:
        """:meth:`snap` for a GeoDataFrame (or GeoSeries) of points in the network CRS."""
        geometry = getattr(points, "geometry", points)
        return self.snap(
            geometry.x.to_numpy(),
            geometry.y.to_numpy(),
            max_snap_distance_m=max_snap_distance_m,
            offroad_speed_kph=offroad_speed_kph,
        )

    # -- export ----------------------------------------------------------------------------
    def edges_frame(self) -> pd.DataFrame:
        """Edges as a table: ``source``, ``target``, ``travel_time_s``, attributes."""
        src, dst = self.edge_endpoints()
        frame = pd.DataFrame({"source": src, "target": dst, "travel_time_s": self.graph.data})
        if self.edge_attributes is not None:
            frame = pd.concat([frame, self.edge_attributes.reset_index(drop=True)], axis=1)
        return frame

    def save(self, path: Path) -> None:
        """Write the network to an ``.npz`` file (atomically)."""
        attrs = self.edge_attributes if self.edge_attributes is not None else pd.DataFrame()
        arrays = {
            "indptr": self.graph.indptr,
            "indices": self.graph.indices,
            "time": self.graph.data,
            "length": self._length().data,
            "node_x": self.node_x,
            "node_y": self.node_y,
            "node_ids": self.node_ids,
        }
        for col in attrs.columns:
            values = attrs[col].to_numpy()
            arrays[f"attr_{col}"] = values.astype(str) if values.dtype == object else values
        meta = json.dumps({"crs": self.crs.to_wkt(), "stats": self.stats, "format": CACHE_FORMAT})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(meta), **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> RoadNetwork:
        """Read a network written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            n = len(data["node_x"])
            shape = (n, n)
            graph = sparse.csr_matrix((data["time"], data["indices"], data["indptr"]), shape)
            length = sparse.csr_matrix((data["length"], data["indices"], data["indptr"]), shape)
            attrs = pd.DataFrame({k[5:]: data[k] for k in data.files if k.startswith("attr_")})
            return cls(
                graph,
                data["node_x"],
                data["node_y"],
                CRS.from_wkt(meta["crs"]),
                graph_length_m=length,
                node_ids=data["node_ids"],
                edge_attributes=attrs,
                stats=meta["stats"],
            )


def _validated(source, target, travel_time_s, node_x, node_y, crs):
    src = np.asarray(source, np.int64)
    dst = np.asarray(target, np.int64)
    t = np.asarray(travel_time_s, float)
    x = np.asarray(node_x, float)
    y = np.asarray(node_y, float)
    if not (len(src) == len(dst) == len(t)):
        raise NetworkError("source, target and travel_time_s must have the same length")
    if len(x) != len(y):
        raise NetworkError("node_x and node_y must have the same length")
    if len(src) == 0:
        raise NetworkError("the network has no edges")
    if src.min() < 0 or dst.min() < 0 or max(src.max(), dst.max()) >= len(x):
        raise NetworkError("edge endpoints must be node positions 0..len(node_x)-1")
    if not np.all(np.isfinite(t)) or (t < 0).any():
        raise NetworkError("travel_time_s must be finite and non-negative")
    if not CRS.from_user_input(crs).is_projected:
        raise NetworkError(f"network CRS {crs} is not projected; node coordinates must be metres")
    return src, dst, t, x, y


def _fastest_unique(src: np.ndarray, dst: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, int]:
    """Order edges by (source, target, time) and keep the fastest of parallel edges."""
    order = np.lexsort((t, dst, src))
    s, d = src[order], dst[order]
    first = np.ones(len(order), bool)
    first[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
    return order[first], int((~first).sum())


def _largest_scc(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    graph = sparse.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=True, connection="strong")
    # Isolated nodes (no edges at all) form their own components and are dropped too.
    largest = np.bincount(labels).argmax()
    return labels == largest


def _csr(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, n: int) -> sparse.csr_matrix:
    """CSR from edges sorted by (src, dst) with unique pairs: data order = edge order."""
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    data = np.maximum(np.asarray(weight, float), MIN_WEIGHT)
    return sparse.csr_matrix((data, dst.astype(np.int32), indptr), shape=(n, n))
