"""Config → catchments for a region run: per service kind and per facility, plus the surface.

Kept apart from :mod:`geo.catchments` (pure raster/graph functions) and from the pipeline
(orchestration), like :mod:`geo.layers` is for the input layers.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.catchments import SurfaceGrid, catchments_by_facility, catchments_by_kind
from geo.config import RegionConfig
from geo.layers import read_vector
from geo.network import RoadNetwork
from geo.service_times import SPC_DIRECTIONS, ServiceTimes

log = logging.getLogger(__name__)


def build_catchments(
    config: RegionConfig, network: RoadNetwork, times: ServiceTimes, crs: CRS
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Isochrones per service kind (and per facility) and the SPC travel-time surface.

    Returns
    -------
    tuple
        The ``catchments`` layer (``kind``, ``facility_id``, ``threshold_min``, ``area_km2``)
        and the travel-time surface to the nearest SPC service (``array`` minutes, ``transform``,
        ``crs``, ``kind``).
    """
    cfg = config.catchments
    bounds = None
    if config.region.boundary is not None:
        bounds = tuple(read_vector(config.region.boundary, layer=None, crs=crs).total_bounds)
    grid = SurfaceGrid.build(
        network,
        cell_size_m=cfg.cell_size_m,
        offroad_speed_kph=config.roads.offroad_speed_kph,
        max_offroad_m=cfg.max_offroad_m,
        bounds=bounds,
    )
    by_kind = {k: times.node_time_s[k] for k in ("gp", "spc")}
    parts = [catchments_by_kind(grid, by_kind, thresholds_min=cfg.thresholds_min)]
    if cfg.per_facility:
        parts += _per_facility(network, grid, times, cfg.thresholds_min)
    layer = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
    layer = layer[~layer.geometry.is_empty].reset_index(drop=True)
    surface = {
        "array": grid.surface_min(times.node_time_s["spc"]),
        "transform": grid.transform,
        "crs": crs,
        "kind": "spc",
    }
    log.info(
        "catchments: %d isochrones on a %d x %d grid of %g m",
        len(layer),
        *grid.shape,
        cfg.cell_size_m,
    )
    return layer, surface


def _per_facility(network, grid, times: ServiceTimes, thresholds) -> list[gpd.GeoDataFrame]:
    parts = []
    gp_snap = times.facility_snaps["gp"]
    gps = times.gp_practices
    ok = gp_snap.reachable
    if ok.any():
        parts.append(
            catchments_by_facility(
                network,
                grid,
                gp_snap.node[ok],
                gps["facility_id"].to_numpy()[ok],
                kind="gp",
                thresholds_min=thresholds,
                direction="to_facility",
                facility_offset_s=gp_snap.connector_time_s[ok],
            )
        )
    spc_snap = times.facility_snaps["spc"]
    spcs = times.specialist_services
    for stype, direction in SPC_DIRECTIONS.items():
        rows = np.flatnonzero((spcs["service_type"] == stype).to_numpy() & spc_snap.reachable)
        if rows.size:
            parts.append(
                catchments_by_facility(
                    network,
                    grid,
                    spc_snap.node[rows],
                    spcs["facility_id"].to_numpy()[rows],
                    kind=f"spc_{stype}",
                    thresholds_min=thresholds,
                    direction=direction,
                    facility_offset_s=spc_snap.connector_time_s[rows],
                )
            )
    return parts
