"""Road travel time from every origin (and every GP practice) to each kind of service.

Directions follow how care is delivered: people travel to their GP, to an inpatient unit and to
a hospital consultancy (home → service), while community SPC teams travel to people's homes
(service → home). On one-way streets the two differ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np

from geo.network import RoadNetwork, SnapResult
from geo.travel import nearest_facility

log = logging.getLogger(__name__)

SPC_DIRECTIONS = {
    "inpatient": "to_facility",
    "hospital": "to_facility",
    "community": "from_facility",
    "outreach": "to_facility",  # a visiting specialist clinic held at a GP practice
}


@dataclass(frozen=True)
class _NodeTimes:
    """Seconds from every network node to the nearest facility, and which facility (row index)."""

    time_s: np.ndarray
    facility_row: np.ndarray


@dataclass
class ServiceTimes:
    """Travel times for origins and facilities.

    Attributes
    ----------
    origin_columns
        Arrays aligned to origins: ``gp_travel_time_min``, ``nearest_gp_id``,
        ``spc_travel_time_min``, ``nearest_spc_id``, ``spc_<type>_travel_time_min`` per service
        type present, ``spc_non_cancer_travel_time_min``, ``snap_distance_m``, ``reachable``,
        ``unreachable_reason``.
    gp_practices
        GP practices with ``snap_distance_m``, ``reachable``, ``spc_travel_time_min`` and
        ``nearest_spc_id`` (the GP–specialist link).
    specialist_services
        SPC services with ``snap_distance_m`` and ``reachable``.
    node_time_s
        Seconds between every road node and the nearest facility of each kind (``gp``,
        ``spc``, ``spc_<type>``), for catchments and surfaces.
    facility_snaps
        How GP practices (``gp``) and SPC services (``spc``) attach to the network.
    """

    origin_columns: dict[str, np.ndarray]
    gp_practices: gpd.GeoDataFrame
    specialist_services: gpd.GeoDataFrame
    node_time_s: dict[str, np.ndarray] | None = None
    facility_snaps: dict[str, SnapResult] | None = None


def compute_service_times(
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    gp_practices: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    max_snap_distance_m: float,
    offroad_speed_kph: float,
    snaps: tuple[SnapResult, SnapResult, SnapResult] | None = None,
) -> ServiceTimes:
    """Nearest GP and SPC travel times for origins and GP practices.

    Parameters
    ----------
    network
        The road network, in the same CRS as the layers.
    origins, gp_practices, services
        Points in the network's CRS; facilities in the schema of :mod:`geo.facilities`.
    max_snap_distance_m
        Points farther than this from the nearest road node are unreachable by road.
    offroad_speed_kph
        Speed of the straight-line connector between a point and its road node.
    snaps
        Origins', GP practices' and services' snapping from an earlier call on a network with
        the same nodes (speed scenarios), to skip snapping again.

    Returns
    -------
    ServiceTimes
        Times in minutes (NaN where unreachable) and nearest-facility ids.
    """
    if snaps is None:
        snap = _snapper(network, max_snap_distance_m, offroad_speed_kph)
        snaps = (snap(origins), snap(gp_practices), snap(services))
    o_snap, gp_snap, spc_snap = snaps
    gps = _with_snap(gp_practices, gp_snap, "GP practice", max_snap_distance_m)
    spcs = _with_snap(services, spc_snap, "specialist service", max_snap_distance_m)
    gp_times = _nearest(network, gp_snap, np.ones(len(gps), bool), "to_facility")
    columns = {
        "snap_distance_m": o_snap.snap_distance_m,
        "reachable": o_snap.reachable,
        "unreachable_reason": unreachable_reasons(o_snap, max_snap_distance_m),
    }
    columns["gp_travel_time_min"], columns["nearest_gp_id"] = _at_points(
        gp_times, o_snap, gps["facility_id"].to_numpy()
    )
    spc_ids = spcs["facility_id"].to_numpy()
    per_type = {
        stype: _nearest(network, spc_snap, (spcs["service_type"] == stype).to_numpy(), direction)
        for stype, direction in SPC_DIRECTIONS.items()
        if (spcs["service_type"] == stype).any()
    }
    for stype, node_times in per_type.items():
        columns[f"spc_{stype}_travel_time_min"], _ = _at_points(node_times, o_snap, spc_ids)
    overall = _combine(list(per_type.values()))
    columns["spc_travel_time_min"], columns["nearest_spc_id"] = _at_points(overall, o_snap, spc_ids)
    non_cancer = spcs["accepts_non_cancer"].to_numpy(bool)
    non_cancer_parts = []
    for stype, direction in SPC_DIRECTIONS.items():
        of_type = (spcs["service_type"] == stype).to_numpy()
        if stype in per_type and not (of_type & ~non_cancer).any():
            non_cancer_parts.append(per_type[stype])  # same services: reuse the search
        else:
            non_cancer_parts.append(_nearest(network, spc_snap, of_type & non_cancer, direction))
    non_cancer_times = _combine(non_cancer_parts)
    columns["spc_non_cancer_travel_time_min"], _ = _at_points(non_cancer_times, o_snap, spc_ids)
    gps["spc_travel_time_min"], gps["nearest_spc_id"] = _at_points(overall, gp_snap, spc_ids)
    node_time_s = {"gp": gp_times.time_s, "spc": overall.time_s}
    node_time_s.update({f"spc_{stype}": t.time_s for stype, t in per_type.items()})
    return ServiceTimes(
        origin_columns=columns,
        gp_practices=gps,
        specialist_services=spcs,
        node_time_s=node_time_s,
        facility_snaps={"gp": gp_snap, "spc": spc_snap, "origins": o_snap},
    )


def _snapper(network: RoadNetwork, max_snap_distance_m: float, offroad_speed_kph: float):
    def snap(points: gpd.GeoDataFrame) -> SnapResult:
        return network.snap(
            points.geometry.x.to_numpy(),
            points.geometry.y.to_numpy(),
            max_snap_distance_m=max_snap_distance_m,
            offroad_speed_kph=offroad_speed_kph,
        )

    return snap


def unreachable_reasons(snap: SnapResult, max_snap_distance_m: float) -> np.ndarray:
    """Why each point has no travel time (None where it has one)."""
    reasons = np.full(len(snap.node), None, dtype=object)
    far = ~snap.reachable
    reasons[far] = [
        f"no road within {max_snap_distance_m:g} m (nearest {d:,.0f} m)"
        for d in snap.snap_distance_m[far]
    ]
    return reasons


def _with_snap(
    facilities: gpd.GeoDataFrame, snap: SnapResult, label: str, max_snap_distance_m: float
) -> gpd.GeoDataFrame:
    out = facilities.copy()
    out["snap_distance_m"] = snap.snap_distance_m
    out["reachable"] = snap.reachable
    out["unreachable_reason"] = unreachable_reasons(snap, max_snap_distance_m)
    if not snap.reachable.all():
        names = ", ".join(out.loc[~snap.reachable, "name"].astype(str).head(10))
        log.warning(
            "%d %s(s) lie farther from any road than the snapping limit and are left out of "
            "travel times: %s",
            int((~snap.reachable).sum()),
            label,
            names,
        )
    return out


def _nearest(network: RoadNetwork, snap: SnapResult, mask: np.ndarray, direction: str):
    """Multi-source search from the selected facilities (unreachable ones skipped)."""
    rows = np.flatnonzero(mask & snap.reachable)
    n = network.n_nodes
    if rows.size == 0:
        return _NodeTimes(np.full(n, np.inf), np.full(n, -1, dtype=np.int64))
    result = nearest_facility(
        network,
        snap.node[rows],
        direction=direction,
        facility_offset_s=snap.connector_time_s[rows],
    )
    fac = np.asarray(result.facility_index)
    row = np.where(fac >= 0, rows[np.clip(fac, 0, None)], -1)
    return _NodeTimes(np.asarray(result.time_s, float), row)


def _combine(parts: list[_NodeTimes]) -> _NodeTimes:
    """Element-wise minimum over several node-time arrays, keeping the winning facility."""
    parts = [p for p in parts if p is not None]
    times = np.vstack([p.time_s for p in parts])
    rows = np.vstack([p.facility_row for p in parts])
    best = np.argmin(times, axis=0)
    cols = np.arange(times.shape[1])
    return _NodeTimes(times[best, cols], rows[best, cols])


def _at_points(
    node_times: _NodeTimes, snap: SnapResult, facility_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes and nearest facility id at snapped points (NaN/None where unreachable)."""
    minutes = np.full(len(snap.node), np.nan)
    ids = np.full(len(snap.node), None, dtype=object)
    ok = snap.reachable
    nodes = snap.node[ok]
    seconds = node_times.time_s[nodes] + snap.connector_time_s[ok]
    row = node_times.facility_row[nodes]
    found = np.isfinite(seconds) & (row >= 0)
    idx = np.flatnonzero(ok)
    minutes[idx[found]] = seconds[found] / 60.0
    ids[idx[found]] = facility_ids[row[found]]
    return minutes, ids
