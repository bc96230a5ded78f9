"""Road travel time from every origin (and every GP practice) to each kind of service.

ONE search plan (:func:`plan_searches`) says which nearest-facility searches a run needs and how
they combine into the time columns; two executors run it: in process on the whole network
(:func:`run_plan`), or tile by tile on Dask for national regions (:func:`run_plan_partitioned`,
exact within the search limit). Both read the snapping of :class:`~geo.routing.network.Snaps`,
made once per run.

Directions follow how care is delivered: people travel to their GP, to an inpatient unit, to a
hospital consultancy and to an outreach clinic (home → service); community SPC teams travel to
people's homes (service → home). On one-way streets the two differ.

Times are minutes; ``inf`` means no eligible service within reach (or beyond a partitioned
run's search limit), NaN means *unknown*: the origin is off the road network, or every eligible
service of that kind lies off it (so nothing can be said about reaching one).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.analysis.classes import (
    COMMUNITY_NON_CANCER_COLUMN,
    GP_COLUMN,
    SPC_COLUMN,
    SPC_NON_CANCER_COLUMN,
    type_column,
)
from geo.routing.network import RoadNetwork, SnapResult, Snaps
from geo.routing.travel import Search, combine_nearest, run_search, times_at_nodes
from geo.text import listing

log = logging.getLogger(__name__)

SPC_DIRECTIONS = {
    "inpatient": "to_facility",
    "hospital": "to_facility",
    "community": "from_facility",
    "outreach": "to_facility",  # a visiting specialist clinic held at a GP practice
}


@dataclass(frozen=True)
class SearchPlan:
    """The searches a run needs and how they combine into time columns.

    Attributes
    ----------
    searches
        Named searches (``gp``, ``spc_<type>``, ``spc_<type>_non_cancer``).
    outputs
        Time column -> the searches combined (element-wise minimum) into it.
    unknown
        Time column -> why it is unknown everywhere: its eligible services exist but none
        could be placed on the road network. Such columns are NaN.
    nearest
        Time column -> ``gp`` or ``spc``: whose facility ids the nearest-facility rows index.
    """

    searches: dict[str, Search]
    outputs: dict[str, list[str]]
    unknown: dict[str, str] = field(default_factory=dict)
    nearest: dict[str, str] = field(default_factory=dict)

    @property
    def limit_min(self) -> float:
        """The longest time any search reads."""
        return max((s.limit_min for s in self.searches.values()), default=np.inf)

    def bounded(self, limit_min: float) -> SearchPlan:
        """The same plan with every search stopped at ``limit_min`` (times beyond are inf)."""
        searches = {
            name: dataclasses.replace(s, limit_min=min(s.limit_min, limit_min))
            for name, s in self.searches.items()
        }
        return dataclasses.replace(self, searches=searches)


def _search(snap: SnapResult, mask: np.ndarray, direction: str, limit_min: float) -> Search:
    rows = np.flatnonzero(mask & snap.reachable)
    return Search(snap.node[rows], snap.connector_time_s[rows], rows, direction, limit_min)


def plan_searches(
    snaps: Snaps,
    services: pd.DataFrame,
    *,
    limit_min: float = np.inf,
    gp_limit_min: float | None = None,
    gp_names: Any = None,
    spc_names: Any = None,
) -> SearchPlan:
    """The one search plan: GP, each SPC type, all SPC, SPC taking non-cancer referrals.

    Parameters
    ----------
    snaps
        The run's snapping (``snaps.spc`` aligned with ``services``).
    services
        Specialist services with ``service_type`` and ``accepts_non_cancer``.
    limit_min
        Bound every search to this many minutes (partitioned runs; ``inf`` in process).
    gp_limit_min
        A different bound for the GP search (default ``limit_min``).
    gp_names, spc_names
        Facility names aligned with the snaps, for the unknown-kind messages.
    """
    searches: dict[str, Search] = {}
    outputs: dict[str, list[str]] = {}
    unknown: dict[str, str] = {}
    every_gp = np.ones(len(snaps.gp.node), bool)
    gp_limit = limit_min if gp_limit_min is None else gp_limit_min
    searches["gp"] = _search(snaps.gp, every_gp, "to_facility", gp_limit)
    outputs[GP_COLUMN] = ["gp"]
    _mark_unknown(unknown, GP_COLUMN, every_gp, snaps.gp, "GP practices", gp_names)
    types = services["service_type"].to_numpy()
    non_cancer = services["accepts_non_cancer"].to_numpy(bool)
    for stype, direction in SPC_DIRECTIONS.items():
        of_type = types == stype
        if of_type.any():
            searches[f"spc_{stype}"] = _search(snaps.spc, of_type, direction, limit_min)
            outputs[type_column(stype)] = [f"spc_{stype}"]
            what = f"{stype} specialist services"
            _mark_unknown(unknown, type_column(stype), of_type, snaps.spc, what, spc_names)
    outputs[SPC_COLUMN] = [n for n in searches if n.startswith("spc_")]
    every_spc = np.ones(len(types), bool)
    _mark_unknown(unknown, SPC_COLUMN, every_spc, snaps.spc, "specialist services", spc_names)
    parts = []
    for stype, direction in SPC_DIRECTIONS.items():
        of_type = types == stype
        if f"spc_{stype}" in searches and not (of_type & ~non_cancer).any():
            parts.append(f"spc_{stype}")  # the same services: the same search
        elif (of_type & non_cancer).any():
            name = f"spc_{stype}_non_cancer"
            searches[name] = _search(snaps.spc, of_type & non_cancer, direction, limit_min)
            parts.append(name)
    outputs[SPC_NON_CANCER_COLUMN] = parts
    what = "specialist services taking non-cancer referrals"
    _mark_unknown(unknown, SPC_NON_CANCER_COLUMN, non_cancer, snaps.spc, what, spc_names)
    community = [p for p in parts if p.startswith("spc_community")]
    if community:
        outputs[COMMUNITY_NON_CANCER_COLUMN] = community
        mask = (types == "community") & non_cancer
        what = "community teams taking non-cancer referrals"
        _mark_unknown(unknown, COMMUNITY_NON_CANCER_COLUMN, mask, snaps.spc, what, spc_names)
    nearest = {name: ("gp" if name == GP_COLUMN else "spc") for name in outputs}
    return SearchPlan(searches, outputs, unknown, nearest)


def _mark_unknown(
    unknown: dict[str, str],
    column: str,
    eligible: np.ndarray,
    snap: SnapResult,
    what: str,
    names: Any,
) -> None:
    """Record ``column`` as unknown when eligible services exist and none is on the network."""
    if not eligible.any() or (eligible & snap.reachable).any():
        return
    listed = ""
    if names is not None:
        listed = f" ({listing(list(np.asarray(names, dtype=object)[eligible]), limit=10)})"
    unknown[column] = (
        f"all {int(eligible.sum())} {what}{listed} lie farther than "
        f"{snap_limit_text(snap)} from the road network"
    )


def snap_limit_text(snap: SnapResult) -> str:
    """The nearest road distance of the closest of some off-network points, for messages."""
    far = snap.snap_distance_m[~snap.reachable]
    return (
        "the snapping limit" if not far.size else f"the snapping limit (nearest {far.min():,.0f} m)"
    )


@dataclass
class PlanTimes:
    """The plan's time columns at a set of points.

    Attributes
    ----------
    minutes
        Time column -> minutes (``inf`` beyond reach, NaN unknown).
    rows
        Time column -> row of the nearest facility (-1 where none).
    node_time_s
        Search name and ``gp``/``spc`` -> seconds at every road node (in-process runs only).
    partition
        The partitioned run's :class:`~geo.routing.partition.PartitionedTimes` (tiles, buffer).
    """

    minutes: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    node_time_s: dict[str, np.ndarray] | None = None
    partition: Any = None


def run_plan(
    network: RoadNetwork, plan: SearchPlan, points: SnapResult, *, columns: Any = None
) -> PlanTimes:
    """Run the plan in process on the whole network and read the times at ``points``.

    Parameters
    ----------
    columns
        Only these time columns (default: all); searches not needed are skipped.
    """
    outputs = {c: p for c, p in plan.outputs.items() if columns is None or c in columns}
    needed = {name for parts in outputs.values() for name in parts}
    node_times = {name: run_search(network, plan.searches[name]) for name in needed}
    minutes, rows = {}, {}
    ok = points.reachable
    nodes = points.node[ok]
    offset = points.connector_time_s[ok]
    combined_nodes = {}
    for column, parts in outputs.items():
        combined = combine_nearest([node_times[p] for p in parts], n_nodes=network.n_nodes)
        combined_nodes[column] = combined.time_s
        m, r = _unreachable(len(points.node))
        m[ok], r[ok] = times_at_nodes(combined, nodes, offset)
        minutes[column], rows[column] = m, r
    _apply_unknown(plan, minutes, rows)
    node_time_s = {name: t.time_s for name, t in node_times.items()}
    if GP_COLUMN in combined_nodes:
        node_time_s["gp"] = combined_nodes[GP_COLUMN]
    if SPC_COLUMN in combined_nodes:
        node_time_s["spc"] = combined_nodes[SPC_COLUMN]
    return PlanTimes(minutes, rows, node_time_s)


def _unreachable(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, np.nan), np.full(n, -1, np.int64)


def _apply_unknown(plan: SearchPlan, minutes: dict, rows: dict) -> None:
    for column in plan.unknown:
        if column in minutes:
            minutes[column][:] = np.nan
            rows[column][:] = -1


def run_plan_partitioned(
    network: RoadNetwork, plan: SearchPlan, points: SnapResult, **partition: Any
) -> PlanTimes:
    """Run the plan tile by tile (see :mod:`geo.routing.partition`): exact within each search's
    ``limit_min``, ``inf`` beyond it.

    Parameters
    ----------
    **partition
        ``tile_size_m`` or ``tiles``, ``client``, ``buffer_m`` for
        :func:`~geo.routing.partition.partitioned_nearest`.
    """
    from geo.routing.partition import partitioned_nearest

    offsets = np.where(points.reachable, points.connector_time_s, 0.0)
    result = partitioned_nearest(
        network, points.node, offsets, plan.searches, outputs=plan.outputs, **partition
    )
    log.info("partitioned travel times: %d tiles", len(result.tiles))
    minutes = {c: result.time_min[c] for c in plan.outputs}
    rows = {c: result.facility_row[c] for c in plan.outputs}
    _apply_unknown(plan, minutes, rows)
    return PlanTimes(minutes, rows, None, result)


@dataclass
class ServiceTimes:
    """Travel times of a run's origins and GP practices, and how facilities attach.

    Attributes
    ----------
    origin_columns
        Arrays aligned to origins: the plan's time columns, ``nearest_gp_id``,
        ``nearest_spc_id``, ``snap_distance_m``, ``reachable`` (on the road network),
        ``unreachable_reason``.
    gp_practices
        GP practices with ``snap_distance_m``, ``reachable``, ``unreachable_reason``,
        ``spc_travel_time_min``, ``spc_non_cancer_travel_time_min`` and ``nearest_spc_id``
        (the GP–specialist link).
    specialist_services
        SPC services with ``snap_distance_m``, ``reachable`` and ``unreachable_reason``.
    snaps
        The run's snapping (reused by access scores, site selection, uncertainty).
    plan
        The search plan (reused by the uncertainty draws).
    node_time_s
        Seconds between every road node and the nearest facility of each kind (``gp``,
        ``spc``, each search), for catchments; None for partitioned runs.
    partition
        A partitioned run's tiles and buffer (:class:`~geo.routing.partition.PartitionedTimes`).
    """

    origin_columns: dict[str, np.ndarray]
    gp_practices: gpd.GeoDataFrame
    specialist_services: gpd.GeoDataFrame
    snaps: Snaps
    plan: SearchPlan
    node_time_s: dict[str, np.ndarray] | None = None
    partition: Any = None


def off_network_reasons(snap: SnapResult, max_snap_distance_m: float) -> np.ndarray:
    """Why each point has no travel time (None where it is on the network)."""
    reasons = np.full(len(snap.node), None, dtype=object)
    far = ~snap.reachable
    reasons[far] = [
        f"no road within {max_snap_distance_m:g} m (nearest {d:,.0f} m)"
        for d in snap.snap_distance_m[far]
    ]
    return reasons


def _with_snap(
    facilities: gpd.GeoDataFrame, snap: SnapResult, max_snap_distance_m: float, label: str
) -> gpd.GeoDataFrame:
    out = facilities.copy()
    out["snap_distance_m"] = snap.snap_distance_m
    out["reachable"] = snap.reachable
    out["unreachable_reason"] = off_network_reasons(snap, max_snap_distance_m)
    if not snap.reachable.all():
        left_out = out.loc[~snap.reachable]
        names = ", ".join(
            f"{n} ({d:,.0f} m)"
            for n, d in zip(left_out["name"], left_out["snap_distance_m"], strict=True)
        )
        log.warning(
            "%d %s(s) lie farther than %g m from any road and are left out of routing: %s",
            len(left_out),
            label,
            max_snap_distance_m,
            names,
        )
    return out


def _ids(rows: np.ndarray, facilities: pd.DataFrame) -> np.ndarray:
    """Facility ids of rows (None for -1)."""
    values = np.full(len(rows), None, dtype=object)
    ids = facilities["facility_id"].to_numpy()
    values[rows >= 0] = ids[rows[rows >= 0]]
    return values


def compute_service_times(
    network: RoadNetwork,
    gp_practices: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    snaps: Snaps,
    *,
    partition: Mapping[str, Any] | None = None,
    limit_min: float = np.inf,
    gp_limit_min: float | None = None,
) -> ServiceTimes:
    """Nearest GP and SPC travel times for origins and GP practices, from the run's snaps.

    Parameters
    ----------
    network
        The road network, in the same CRS as the layers.
    gp_practices, services
        Facilities in the network's CRS, aligned with ``snaps.gp`` and ``snaps.spc``.
    snaps
        The run's snapping.
    partition
        ``{"tile_size_m": ..., "client": ...}`` (or ``tiles``, ``buffer_m``) to run tile by
        tile (then ``limit_min`` must be finite); None runs in process.
    limit_min
        Longest time any table reads (partitioned runs); beyond it times are ``inf``.
    gp_limit_min
        A shorter bound for the GP search (partitioned runs), default ``limit_min``.

    Returns
    -------
    ServiceTimes
    """
    limit = snaps.facility_limit_m
    gps = _with_snap(gp_practices, snaps.gp, limit, "GP practice")
    spcs = _with_snap(services, snaps.spc, limit, "specialist service")
    plan = plan_searches(
        snaps,
        spcs,
        limit_min=limit_min if partition is not None else np.inf,
        gp_limit_min=gp_limit_min if partition is not None else None,
        gp_names=gps["name"].to_numpy(),
        spc_names=spcs["name"].to_numpy(),
    )
    for column, reason in plan.unknown.items():
        log.warning("%s is unknown: %s", column, reason)
    # GP practices ride along as extra points: their SPC time is the GP-specialist link.
    points = _concat_snaps(snaps.origins, snaps.gp)
    if partition is None:
        times = run_plan(network, plan, points)
    else:
        if not np.isfinite(limit_min):
            raise ValueError("a partitioned run needs a finite search limit (limit_min)")
        times = run_plan_partitioned(network, plan, points, **partition)
    n = len(snaps.origins.node)
    columns: dict[str, np.ndarray] = {c: m[:n] for c, m in times.minutes.items()}
    columns["nearest_gp_id"] = _ids(times.rows[GP_COLUMN][:n], gps)
    columns["nearest_spc_id"] = _ids(times.rows[SPC_COLUMN][:n], spcs)
    columns["snap_distance_m"] = snaps.origins.snap_distance_m
    columns["reachable"] = snaps.origins.reachable
    columns["unreachable_reason"] = off_network_reasons(snaps.origins, snaps.max_snap_distance_m)
    gps["spc_travel_time_min"] = times.minutes[SPC_COLUMN][n:]
    gps["spc_non_cancer_travel_time_min"] = times.minutes[SPC_NON_CANCER_COLUMN][n:]
    gps["nearest_spc_id"] = _ids(times.rows[SPC_COLUMN][n:], spcs)
    return ServiceTimes(columns, gps, spcs, snaps, plan, times.node_time_s, times.partition)


def _concat_snaps(*parts: SnapResult) -> SnapResult:
    return SnapResult(
        np.concatenate([p.node for p in parts]),
        np.concatenate([p.snap_distance_m for p in parts]),
        np.concatenate([p.connector_time_s for p in parts]),
        np.concatenate([p.reachable for p in parts]),
    )
