"""The analysis stage: a region's inputs to its :class:`~geo.results.Results`, nothing written.

:func:`analyse` runs travel times (one search plan, in process or partitioned), the coverage
model, catchments, speed uncertainty, access scores and hotspots, the gap tables and the
findings, each as a timed stage. Scenario, site selection, batch and benchmark code call it on
:class:`~geo.inputs.region.RegionInputs` and never re-run a stage themselves.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.analysis import gaps
from geo.analysis.access import access_equity, access_scores
from geo.analysis.catchments import build_catchments
from geo.analysis.coverage import (
    CoverageRule,
    classify_origins,
    gp_link_status,
    served_by_practice,
)
from geo.analysis.findings import compute_findings, headline_findings
from geo.analysis.service_times import (
    COMMUNITY_NON_CANCER_COLUMN,
    GP_COLUMN,
    SPC_COLUMN,
    SPC_NON_CANCER_COLUMN,
    ServiceTimes,
    compute_service_times,
    run_plan,
    type_column,
)
from geo.analysis.uncertainty import monte_carlo
from geo.config import RegionConfig
from geo.inputs.facilities import SPC_SERVICE_TYPES
from geo.inputs.region import RegionInputs
from geo.progress import StageTimer, pause_point
from geo.results import Findings, Results
from geo.routing.network import RoadNetwork

log = logging.getLogger(__name__)

# The time columns the coverage model reads (the uncertainty draws compute only these).
COVERAGE_TIME_COLUMNS = (
    GP_COLUMN,
    SPC_COLUMN,
    SPC_NON_CANCER_COLUMN,
    type_column("community"),
    COMMUNITY_NON_CANCER_COLUMN,
)


def search_limit_min(config: RegionConfig) -> float:
    """The longest time any table or class reads: thresholds, per-class thresholds, bands."""
    return config.thresholds.longest_min


def travel_times(config: RegionConfig, inputs: RegionInputs) -> ServiceTimes:
    """Nearest GP and SPC times: whole-network searches, or tile by tile with ``partition``."""
    part = config.partition
    with contextlib.ExitStack() as stack:
        partition = None
        if part is not None:
            from geo.routing.cluster import dask_client

            client = stack.enter_context(dask_client(part.scheduler, n_workers=part.workers))
            partition = {"tile_size_m": part.tile_size_km * 1000.0, "client": client}
        return compute_service_times(
            inputs.network,
            inputs.gp_practices,
            inputs.specialist_services,
            inputs.snaps,
            partition=partition,
            limit_min=search_limit_min(config),
        )


def classify(
    config: RegionConfig, origins: gpd.GeoDataFrame, times: ServiceTimes
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Attach travel times and coverage classes to origins, and link figures to GP practices."""
    rule = CoverageRule.from_config(config.thresholds)
    origins = origins.copy()
    for col, values in times.origin_columns.items():
        origins[col] = values
    classes = classify_origins(times.origin_columns, origins["remoteness_class"], rule)
    for col in classes.columns:
        origins[col] = classes[col].to_numpy()
    gps = times.gp_practices.copy()
    served = served_by_practice(origins, gps["facility_id"])
    for col in served.columns:
        gps[col] = served[col].to_numpy()
    gps["link_status"] = gp_link_status(gps, isolated_gp_min=rule.isolated_gp_min)
    gps["isolated"] = gps["link_status"] == "isolated"
    return origins, gps


def thresholds_summary(config: RegionConfig) -> dict[str, Any]:
    """The thresholds findings and reports quote."""
    th = config.thresholds
    return {
        "gp_min": th.gp_min,
        "spc_min": th.spc_min,
        "isolated_gp_min": th.isolated_gp_min,
        "by_remoteness": {k: dict(v) for k, v in th.by_remoteness.items()},
        "home_visit_reach_min": None if th.home_visits is None else th.home_visits.reach_min,
        "bands_min": list(th.bands_min),
    }


def findings_of(
    config: RegionConfig,
    origins: pd.DataFrame,
    gps: pd.DataFrame | None,
    spcs: pd.DataFrame | None,
    class_order: tuple[str, ...],
    unknown_kinds: dict[str, str],
    *,
    scope: str = "region",
    edge: dict | None = None,
) -> Findings:
    """:func:`~geo.analysis.findings.compute_findings` with a region config's thresholds."""
    findings = compute_findings(
        origins,
        gp_practices=gps,
        specialist_services=spcs,
        class_order=class_order,
        thresholds=thresholds_summary(config),
        unknown_kinds=unknown_kinds,
        scope=scope,
        edge=edge,
        warn_snap_distance_m=config.roads.warn_snap_distance_m,
    )
    if findings.long_snaps:
        log.warning(
            "%d facilities are attached to the network from more than %g m (a straight "
            "%g km/h leg stands in for the missing road; check their coordinates): %s",
            len(findings.long_snaps),
            config.roads.warn_snap_distance_m,
            config.roads.offroad_speed_kph,
            ", ".join(
                f"{f['name']} ({f['snap_distance_m']:,.0f} m)" for f in findings.long_snaps[:10]
            ),
        )
    return findings


def speed_uncertainty(
    config: RegionConfig, inputs: RegionInputs, origins: pd.DataFrame, times: ServiceTimes
) -> pd.DataFrame:
    """90% intervals of the headline shares under speed uncertainty (same coverage model).

    Each draw reuses the run's snapping and search plan, bounded by the longest time a
    coverage class reads (times beyond it are ``inf``: beyond every threshold, as before), and
    counts only the headline figures (:func:`geo.analysis.findings.headline_findings`).
    """
    rule = CoverageRule.from_config(config.thresholds)
    plan = times.plan.bounded(config.thresholds.longest_class_min)
    base = origins[["pop_count", "need_cancer", "need_non_cancer", "remoteness_class", "reachable"]]
    remoteness = base["remoteness_class"]

    def headline(net: RoadNetwork) -> dict[str, float]:
        drawn = run_plan(net, plan, times.snaps.origins, columns=COVERAGE_TIME_COLUMNS)
        classes = classify_origins(drawn.minutes, remoteness, rule)
        frame = base.assign(**{c: classes[c].to_numpy() for c in classes.columns})
        return headline_findings(frame, unknown_kinds=plan.unknown).headline_shares()

    u = config.uncertainty
    return monte_carlo(
        inputs.network,
        headline,
        draws=u.draws,
        spread=u.spread,
        seed=u.seed,
        searches_per_draw=len(plan.searches),
    )


def gap_tables(
    config: RegionConfig,
    origins: gpd.GeoDataFrame,
    gps: gpd.GeoDataFrame,
    spcs: gpd.GeoDataFrame,
    subareas: gpd.GeoDataFrame | None,
    class_order: tuple[str, ...],
) -> dict[str, pd.DataFrame]:
    """Every coverage and travel-time table of a run (see :mod:`geo.analysis.gaps`)."""
    bands = config.thresholds.bands_min
    service_columns = {"gp": GP_COLUMN, "spc": SPC_COLUMN, "spc_non_cancer": SPC_NON_CANCER_COLUMN}
    for service_type in SPC_SERVICE_TYPES:
        if type_column(service_type) in origins:
            service_columns[f"spc_{service_type}"] = type_column(service_type)
    return {
        "coverage_totals": gaps.coverage_totals(origins),
        "coverage_by_remoteness": gaps.coverage_by_remoteness(origins, class_order=class_order),
        "coverage_by_subarea": gaps.coverage_by_subarea(
            origins, subareas, suppress_below=config.need.suppress_below
        ),
        "gp_specialist_links": gaps.gp_specialist_links(gps, spcs),
        "travel_time_bands": gaps.travel_time_bands(
            origins, service_columns=service_columns, bands_min=bands
        ),
        "spc_bands_by_remoteness": gaps.travel_time_bands_by_remoteness(
            origins, column=SPC_COLUMN, bands_min=bands, class_order=class_order
        ),
    }


def analyse(
    config: RegionConfig, inputs: RegionInputs, *, timer: StageTimer | None = None
) -> Results:
    """Travel times, coverage, catchments, uncertainty, access, tables and findings.

    Parameters
    ----------
    config
        The region config (thresholds, catchments, uncertainty, partition).
    inputs
        The loaded inputs (:func:`geo.inputs.region.load_inputs`), snapped once.
    timer
        Receives the stages ``travel``, ``catchments``, ``coverage``, ``uncertainty``,
        ``access`` and ``tables``.

    Returns
    -------
    Results
        Everything the render layer draws and writes (``provenance`` is left to the caller).
    """
    timer = timer or StageTimer()
    with timer.stage("travel", "computing road travel times"):
        pause_point("routing")
        times = travel_times(config, inputs)
    catchments, surface = None, None
    cfg = config.catchments
    if cfg.enabled and times.node_time_s is not None:
        with timer.stage("catchments", "drawing travel-time catchments"):
            catchments, surface = build_catchments(
                inputs.network,
                times,
                thresholds_min=cfg.thresholds_min,
                cell_size_m=cfg.cell_size_m,
                max_offroad_m=cfg.max_offroad_m,
                offroad_speed_kph=config.roads.offroad_speed_kph,
                per_facility=cfg.per_facility,
                per_facility_max=cfg.per_facility_max,
                bounds=None if inputs.boundary is None else tuple(inputs.boundary.bounds),
                max_cells=cfg.max_cells,
            )
    with timer.stage("coverage", "classifying coverage"):
        origins, gps = classify(config, inputs.origins, times)
    uncertainty = None
    if config.uncertainty.enabled:
        with timer.stage("uncertainty", "speed uncertainty (Monte Carlo)"):
            uncertainty = speed_uncertainty(config, inputs, origins, times)
    with timer.stage("access", "need-weighted access scores and hotspots"):
        th = config.thresholds
        scores = access_scores(inputs.network, origins, times, gp_min=th.gp_min, spc_min=th.spc_min)
        for col in scores.columns:
            origins[col] = scores[col].to_numpy()
        hotspots = gaps.hotspots(origins)
    order = tuple(inputs.remoteness.class_order)
    spcs = times.specialist_services
    with timer.stage("tables", "building gap tables and findings"):
        tables = gap_tables(config, origins, gps, spcs, inputs.subareas, order)
        tables["access_equity"] = access_equity(origins, order)
        if uncertainty is not None:
            tables["uncertainty"] = uncertainty
        findings = findings_of(
            config, origins, gps, spcs, order, times.plan.unknown, edge=inputs.edge
        )
    return Results(
        region_name=config.region.name,
        crs=inputs.crs,
        origins=origins,
        gp_practices=gps,
        specialist_services=spcs,
        tables=tables,
        thresholds_min={"gp": config.thresholds.gp_min, "spc": config.thresholds.spc_min},
        remoteness_classes=list(order),
        subareas=inputs.subareas,
        remoteness_areas=inputs.remoteness.areas,
        catchments=catchments,
        hotspots=hotspots,
        travel_time_surface=surface,
        findings=findings,
    )


__all__ = ["analyse", "classify", "gap_tables", "search_limit_min", "travel_times"]
