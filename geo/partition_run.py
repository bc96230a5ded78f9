"""The pipeline's travel-time stage by partition, for regions too big for one process's searches.

With ``partition:`` in a region config, :func:`geo.pipeline.analyse` takes its travel times from
:func:`partitioned_times` instead of :func:`geo.service_times.compute_service_times`: the same
columns, computed tile by tile on Dask (:mod:`geo.partition_services`). Every search is bounded
by :func:`search_limit_min` (the largest threshold or band edge), so coverage classes, bands and
every table are those of a whole-network run; times beyond the limit are ``inf``.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np

from geo.config import RegionConfig
from geo.dask_cluster import dask_client
from geo.network import RoadNetwork, SnapResult
from geo.partition_services import partitioned_service_times
from geo.service_times import ServiceTimes, _snapper, _with_snap, unreachable_reasons

log = logging.getLogger(__name__)


def search_limit_min(config: RegionConfig) -> float:
    """The longest time any table or class reads: thresholds, per-class thresholds, bands."""
    th = config.thresholds
    values = [th.gp_min, th.spc_min, th.isolated_gp_min, *th.bands_min]
    values += [v for per_class in th.by_remoteness.values() for v in per_class.values()]
    return float(max(values))


def partitioned_times(
    config: RegionConfig,
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    gp_practices: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
) -> ServiceTimes:
    """Travel times of origins and GP practices (their SPC link) by partition.

    Returns
    -------
    ServiceTimes
        As :func:`~geo.service_times.compute_service_times`, without ``node_time_s`` (no
        whole-network search is made, so no catchment surface).
    """
    part = config.partition
    roads = config.roads
    snap = _snapper(network, roads.max_snap_distance_m, roads.offroad_speed_kph)
    gp_snap, spc_snap = snap(gp_practices), snap(services)
    gps = _with_snap(gp_practices, gp_snap, "GP practice", roads.max_snap_distance_m)
    spcs = _with_snap(services, spc_snap, "specialist service", roads.max_snap_distance_m)
    # GP practices ride along as extra points: their SPC time is the GP-specialist link.
    n = len(origins)
    x = np.concatenate([origins.geometry.x.to_numpy(), gps.geometry.x.to_numpy()])
    y = np.concatenate([origins.geometry.y.to_numpy(), gps.geometry.y.to_numpy()])
    points_snap = network.snap(
        x,
        y,
        max_snap_distance_m=roads.max_snap_distance_m,
        offroad_speed_kph=roads.offroad_speed_kph,
    )
    o_snap = SnapResult(
        points_snap.node[:n],
        points_snap.snap_distance_m[:n],
        points_snap.connector_time_s[:n],
        points_snap.reachable[:n],
    )
    limit = search_limit_min(config)
    with dask_client(part.scheduler, n_workers=part.workers) as client:
        columns, run = partitioned_service_times(
            network,
            x,
            y,
            gps,
            spcs,
            gp_threshold_min=limit,
            spc_threshold_min=limit,
            max_snap_distance_m=roads.max_snap_distance_m,
            offroad_speed_kph=roads.offroad_speed_kph,
            tile_size_m=part.tile_size_km * 1000.0,
            client=client,
            origin_snap=points_snap,
        )
    log.info("partitioned travel times: %d tiles, search limit %g min", len(run.tiles), limit)
    gps["spc_travel_time_min"] = columns["spc_travel_time_min"][n:]
    gps["nearest_spc_id"] = columns["nearest_spc_id"][n:]
    origin_columns = {name: values[:n] for name, values in columns.items()}
    origin_columns["unreachable_reason"] = unreachable_reasons(o_snap, roads.max_snap_distance_m)
    return ServiceTimes(
        origin_columns=origin_columns,
        gp_practices=gps,
        specialist_services=spcs,
        node_time_s=None,
        facility_snaps={"gp": gp_snap, "spc": spc_snap, "origins": o_snap},
    )
