"""Need-weighted access scores, their equity across remoteness classes, and hotspots.

Kept apart from :mod:`geo.access` (pure measures on an OD table) and the pipeline: this module
builds the bounded OD tables on the region's network and applies the measures with the run's
thresholds, capacities (GP FTE, SPC capacity) and need as demand.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import gaps
from geo.access import (
    concentration_index,
    cumulative_opportunities,
    gaussian_weights,
    gini,
    two_step_fca,
)
from geo.network import RoadNetwork
from geo.service_times import ServiceTimes
from geo.travel import od_table

log = logging.getLogger(__name__)

# E2SFCA decay: Gaussian with sigma = threshold / 2 (weight ~0.14 at the catchment edge).
SIGMA_SHARE = 0.5


def _od(network, origins, o_snap, snap, facilities, max_min, direction) -> pd.DataFrame:
    ok_o = o_snap.reachable
    ok_f = snap.reachable
    return od_table(
        network,
        o_snap.node[ok_o],
        snap.node[ok_f],
        max_time_s=max_min * 60.0,
        direction=direction,
        origin_ids=origins["origin_id"].to_numpy()[ok_o],
        facility_ids=facilities["facility_id"].to_numpy()[ok_f],
        origin_offset_s=o_snap.connector_time_s[ok_o],
        facility_offset_s=snap.connector_time_s[ok_f],
    )


def access_scores(
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    times: ServiceTimes,
    *,
    gp_min: float,
    spc_min: float,
    max_snap_distance_m: float,
    offroad_speed_kph: float,
) -> pd.DataFrame:
    """Per-origin access: GP FTE within reach, GP and SPC E2SFCA with need as demand.

    Returns
    -------
    pandas.DataFrame
        Aligned to ``origins``: ``gp_fte_within_threshold``, ``access_gp_e2sfca`` (GP FTE per
        1,000 people), ``access_spc_e2sfca`` (SPC capacity per 100 people in need a year).
    """
    o_snap = network.snap(
        origins.geometry.x.to_numpy(),
        origins.geometry.y.to_numpy(),
        max_snap_distance_m=max_snap_distance_m,
        offroad_speed_kph=offroad_speed_kph,
    )
    ids = pd.Index(origins["origin_id"].to_numpy())
    gps, spcs = times.gp_practices, times.specialist_services
    gp_od = _od(network, origins, o_snap, times.facility_snaps["gp"], gps, gp_min, "to_facility")
    spc_od = _od(
        network, origins, o_snap, times.facility_snaps["spc"], spcs, spc_min, "to_facility"
    )
    gp_supply = pd.Series(gps["capacity"].fillna(1.0).to_numpy(float), index=gps["facility_id"])
    spc_supply = pd.Series(spcs["capacity"].fillna(1.0).to_numpy(float), index=spcs["facility_id"])
    people = pd.Series(origins["pop_count"].to_numpy(float), index=ids)
    need = pd.Series(
        (origins["need_cancer"] + origins["need_non_cancer"]).to_numpy(float), index=ids
    )
    out = pd.DataFrame(index=origins.index)
    out["gp_fte_within_threshold"] = cumulative_opportunities(
        gp_od, gp_supply, threshold_min=gp_min, origin_ids=ids
    ).to_numpy()
    out["access_gp_e2sfca"] = (
        1000
        * two_step_fca(
            gp_od,
            people,
            gp_supply,
            threshold_min=gp_min,
            weight=gaussian_weights(gp_min * SIGMA_SHARE),
        ).to_numpy()
    )
    out["access_spc_e2sfca"] = (
        100
        * two_step_fca(
            spc_od,
            need,
            spc_supply,
            threshold_min=spc_min,
            weight=gaussian_weights(spc_min * SIGMA_SHARE),
        ).to_numpy()
    )
    return out


def access_equity(origins: pd.DataFrame, class_order: tuple[str, ...]) -> pd.DataFrame:
    """Mean access by remoteness class (need-weighted), Gini and concentration index.

    The concentration index ranks origins from least to most remote: negative means access
    concentrates among the more remote, positive among the less remote.
    """
    need = (origins["need_cancer"] + origins["need_non_cancer"]).to_numpy(float)
    rank = origins["remoteness_class"].map({c: i for i, c in enumerate(class_order)})
    rows = []
    for measure in ("access_gp_e2sfca", "access_spc_e2sfca", "gp_fte_within_threshold"):
        values = origins[measure].to_numpy(float)
        row = {
            "measure": measure,
            "gini": gini(values, need),
            "concentration_index_by_remoteness": concentration_index(
                values, rank.to_numpy(float), need
            ),
        }
        for cls in class_order:
            mask = (origins["remoteness_class"] == cls).to_numpy() & (need > 0)
            row[f"mean_{cls}"] = (
                float(np.average(values[mask], weights=need[mask])) if mask.any() else np.nan
            )
        rows.append(row)
    return pd.DataFrame(rows)


def uncovered_hotspots(
    origins: gpd.GeoDataFrame, spc_threshold_min: np.ndarray, *, eps_m: float = 5000.0
) -> gpd.GeoDataFrame:
    """Clusters of need beyond specialist reach (see :func:`geo.gaps.hotspots`)."""
    spc = origins["spc_travel_time_min"].to_numpy(float)
    uncovered = ~(np.nan_to_num(spc, nan=np.inf) <= spc_threshold_min)
    return gaps.hotspots(origins, uncovered=uncovered, eps_m=eps_m, min_need=1.0)
