"""Partitioned nearest GP and SPC times with the columns of ``compute_service_times``.

:func:`partitioned_service_times` snaps origins and facilities on the whole network, builds the
same searches as :func:`geo.service_times.compute_service_times` (GP practices reached from home;
inpatient units and hospitals reached from home; community teams travelling to homes; the overall
and non-cancer SPC times as minima over service types) and runs them tile by tile with
:func:`geo.partition.partitioned_nearest`. Within the thresholds the columns are identical to the
unpartitioned ones; beyond, times are ``inf`` and nearest ids None (see :mod:`geo.partition`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.network import RoadNetwork, SnapResult
from geo.partition import PartitionedTimes, Search, partitioned_nearest
from geo.service_times import SPC_DIRECTIONS
from geo.travel import Direction


def service_searches(
    gp_snap: SnapResult,
    spc_snap: SnapResult,
    services: pd.DataFrame,
    *,
    gp_threshold_min: float,
    spc_threshold_min: float,
) -> tuple[dict[str, Search], dict[str, list[str]]]:
    """The searches and outputs that give :func:`geo.service_times.compute_service_times`'
    time columns: ``gp_travel_time_min``, ``spc_<type>_travel_time_min``,
    ``spc_travel_time_min`` and ``spc_non_cancer_travel_time_min`` (rows index ``services``)."""
    searches = {
        "gp": _facility_search(
            gp_snap, np.ones(len(gp_snap.node), bool), "to_facility", gp_threshold_min
        )
    }
    outputs = {"gp_travel_time_min": ["gp"]}
    types = services["service_type"].to_numpy()
    non_cancer = services["accepts_non_cancer"].to_numpy(bool)
    for stype, direction in SPC_DIRECTIONS.items():
        if (types == stype).any():
            searches[f"spc_{stype}"] = _facility_search(
                spc_snap, types == stype, direction, spc_threshold_min
            )
            outputs[f"spc_{stype}_travel_time_min"] = [f"spc_{stype}"]
    outputs["spc_travel_time_min"] = [n for n in searches if n.startswith("spc_")]
    non_cancer_parts = []
    for stype, direction in SPC_DIRECTIONS.items():
        of_type = types == stype
        if f"spc_{stype}" in searches and not (of_type & ~non_cancer).any():
            non_cancer_parts.append(f"spc_{stype}")  # the same services: the same search
            continue
        name = f"spc_{stype}_non_cancer"
        searches[name] = _facility_search(
            spc_snap, of_type & non_cancer, direction, spc_threshold_min
        )
        non_cancer_parts.append(name)
    outputs["spc_non_cancer_travel_time_min"] = non_cancer_parts
    return searches, outputs


def _facility_search(
    snap: SnapResult, mask: np.ndarray, direction: Direction, threshold_min: float
) -> Search:
    rows = np.flatnonzero(mask & snap.reachable)
    return Search(snap.node[rows], snap.connector_time_s[rows], rows, direction, threshold_min)


def partitioned_service_times(
    network: RoadNetwork,
    origin_x: np.ndarray,
    origin_y: np.ndarray,
    gp_practices: pd.DataFrame,
    services: pd.DataFrame,
    *,
    gp_threshold_min: float,
    spc_threshold_min: float,
    max_snap_distance_m: float = 5000.0,
    offroad_speed_kph: float = 15.0,
    origin_snap: SnapResult | None = None,
    **partition: Any,
) -> tuple[dict[str, np.ndarray], PartitionedTimes]:
    """Nearest GP and SPC times of origins by partition, as ``compute_service_times`` columns.

    Within ``gp_threshold_min`` (GP) and ``spc_threshold_min`` (SPC) the times and nearest ids
    are those of :func:`geo.service_times.compute_service_times`; beyond, times are ``inf`` and
    ids None. Origins without a road within ``max_snap_distance_m`` get NaN.

    Parameters
    ----------
    network
        The whole road network.
    origin_x, origin_y
        Origin coordinates in the network CRS.
    gp_practices, services
        Facilities (GeoDataFrames in the network CRS, :mod:`geo.facilities` schema).
    gp_threshold_min, spc_threshold_min
        The largest thresholds that will be applied (e.g. remote GP thresholds included).
    max_snap_distance_m, offroad_speed_kph
        Snapping, as in the pipeline.
    origin_snap
        The origins already snapped with those settings (skips snapping them again).
    **partition
        ``tile_size_m``, ``tiles``, ``client``... for :func:`partitioned_nearest`.

    Returns
    -------
    tuple
        The origin columns and the :class:`PartitionedTimes` (tile statistics).
    """
    snap_kw = {"max_snap_distance_m": max_snap_distance_m, "offroad_speed_kph": offroad_speed_kph}
    o_snap = network.snap(origin_x, origin_y, **snap_kw) if origin_snap is None else origin_snap
    searches, outputs = service_searches(
        _snap_points(network, gp_practices, snap_kw),
        _snap_points(network, services, snap_kw),
        services,
        gp_threshold_min=gp_threshold_min,
        spc_threshold_min=spc_threshold_min,
    )
    offsets = np.where(o_snap.reachable, o_snap.connector_time_s, 0.0)
    times = partitioned_nearest(
        network, o_snap.node, offsets, searches, outputs=outputs, **partition
    )
    rows = times.facility_row
    columns = {"snap_distance_m": o_snap.snap_distance_m, "reachable": o_snap.reachable}
    columns.update(times.time_min)
    columns["nearest_gp_id"] = _ids(rows["gp_travel_time_min"], gp_practices)
    columns["nearest_spc_id"] = _ids(rows["spc_travel_time_min"], services)
    return columns, times


def _snap_points(network: RoadNetwork, points: pd.DataFrame, snap_kw: dict) -> SnapResult:
    return network.snap(points.geometry.x.to_numpy(), points.geometry.y.to_numpy(), **snap_kw)


def _ids(rows: np.ndarray, facilities: pd.DataFrame) -> np.ndarray:
    """Facility ids of rows (None for -1)."""
    values = np.full(len(rows), None, dtype=object)
    values[rows >= 0] = facilities["facility_id"].to_numpy()[rows[rows >= 0]]
    return values
