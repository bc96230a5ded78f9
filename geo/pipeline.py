"""The one orchestrator: ``run(config) -> Results``, stage by stage, with timings and provenance.

Stages (each timed, reported to an optional progress callback, and recorded in run.json):
``roads`` → ``facilities`` → ``population`` → ``remoteness`` → ``need`` → ``travel`` →
``coverage`` → ``tables`` → ``outputs``. No stage reaches into another's internals: they exchange
(Geo)DataFrames with documented columns.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo import __version__, gaps
from geo.access import coverage_class, thresholds_per_origin
from geo.access_run import access_equity, access_scores, uncovered_hotspots
from geo.catchments_run import build_catchments
from geo.config import RegionConfig
from geo.errors import InputError
from geo.facilities import SPC_SERVICE_TYPES
from geo.layers import (
    assign_subareas,
    load_need,
    load_population,
    load_remoteness,
    load_subareas,
)
from geo.network import RoadNetwork
from geo.outputs import sha256_file, write_outputs
from geo.results import Results
from geo.roads import SpeedSettings
from geo.service_times import ServiceTimes, compute_service_times
from geo.uncertainty import monte_carlo

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives stage events (the CLI draws progress bars from them)."""

    def stage_started(self, stage: str, description: str) -> None:
        """A stage begins."""

    def stage_finished(self, stage: str, seconds: float) -> None:
        """A stage ended after ``seconds``."""


@dataclass
class _Timer:
    progress: Progress | None
    timings_s: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str, description: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress.stage_started(name, description)
        log.info("stage %s: %s", name, description)
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings_s[name] = round(seconds, 3)
        if self.progress is not None:
            self.progress.stage_finished(name, seconds)


@dataclass
class RunOutcome:
    """What a run produced: its results and the files it wrote."""

    results: Results
    out_dir: Path | None
    files: list[Path]


def run(
    config: RegionConfig,
    *,
    out_dir: str | Path | None = None,
    online: bool = False,
    progress: Progress | None = None,
    write: bool = True,
    cache_dir: str | Path | None = None,
) -> RunOutcome:
    """Run one region end to end and (by default) write its output folder.

    Parameters
    ----------
    config
        The validated region config.
    out_dir
        Output folder; default ``config.output.dir``, else ``maps/<region name>``.
    online
        Allow downloading the road network (only used when the config names a place/polygon).
    progress
        Optional stage-event receiver.
    write
        Write outputs (map, report, layers, tables, run.json); False returns results only.
    cache_dir
        Where built road networks are cached; default ``.cache/`` next to the config.

    Returns
    -------
    RunOutcome
        The results and the written files.
    """
    timer = _Timer(progress)
    started = datetime.now(timezone.utc)
    crs = _analysis_crs(config)
    cache = Path(cache_dir) if cache_dir else _default_cache(config)
    inputs = load_inputs(config, crs=crs, cache_dir=cache, online=online, timer=timer)
    results = analyse_with_provenance(config, inputs, timer=timer, started=started)
    target = output_dir(config, out_dir)
    files: list[Path] = []
    if write:
        with timer.stage("outputs", "writing map, report, layers and tables"):
            files = write_region(results, target, config)
    results.provenance["timings_s"] = dict(timer.timings_s)
    return RunOutcome(results=results, out_dir=target if write else None, files=files)


def analyse_with_provenance(
    config: RegionConfig,
    inputs: RegionInputs,
    *,
    timer: _Timer | None = None,
    started: datetime | None = None,
) -> Results:
    """:func:`analyse`, plus the provenance (``run.json``) a written run carries."""
    timer = timer or _Timer(None)
    started = started or datetime.now(timezone.utc)
    results = analyse(config, inputs, timer=timer)
    results.provenance = _provenance(
        config,
        results,
        inputs.road_info,
        inputs.remoteness,
        inputs.need,
        timer,
        started,
        inputs.crs,
    )
    if "uncertainty" in results.tables:
        results.provenance["uncertainty"] = results.tables["uncertainty"].to_dict(orient="records")
    return results


@dataclass
class RegionInputs:
    """Everything a region's analysis starts from, loaded and aligned in the analysis CRS.

    ``origins`` already carry ``area_id``, ``remoteness_class``, ``need_cancer`` and
    ``need_non_cancer``. Scripts and benchmarks may build one directly and call
    :func:`analyse`.
    """

    network: RoadNetwork
    gp_practices: gpd.GeoDataFrame
    specialist_services: gpd.GeoDataFrame
    origins: gpd.GeoDataFrame
    subareas: gpd.GeoDataFrame | None
    remoteness: Any
    need: Any
    crs: CRS
    road_info: dict[str, Any] = field(default_factory=dict)


def load_inputs(
    config: RegionConfig,
    *,
    crs: CRS,
    cache_dir: Path,
    online: bool = False,
    timer: _Timer | None = None,
) -> RegionInputs:
    """Read roads, facilities, population, remoteness and need for a region."""
    timer = timer or _Timer(None)
    with timer.stage("roads", "reading roads and building the network"):
        network, road_info = _build_network(config, crs, cache_dir, online=online)
    with timer.stage("facilities", "reading GP practices and specialist services"):
        gps, spcs = _load_facilities(config, crs)
    with timer.stage("population", "placing the population"):
        origins = load_population(
            config.population, crs=crs, boundary=config.region.boundary, network=network
        )
        subareas = load_subareas(config.subareas, crs=crs)
        origins = assign_subareas(origins, subareas)
    with timer.stage("remoteness", "classifying remoteness"):
        remoteness = load_remoteness(config.remoteness, origins, crs=crs, network=network)
        origins["remoteness_class"] = remoteness.classes.to_numpy()
    with timer.stage("need", "estimating palliative care need"):
        need = load_need(config.need, origins, country=config.region.country)
        origins["need_cancer"] = need.origins["need_cancer"].to_numpy()
        origins["need_non_cancer"] = need.origins["need_non_cancer"].to_numpy()
    return RegionInputs(network, gps, spcs, origins, subareas, remoteness, need, crs, road_info)


def analyse(config: RegionConfig, inputs: RegionInputs, *, timer: _Timer | None = None) -> Results:
    """Travel times, coverage, catchments, uncertainty, access and tables (no files written)."""
    timer = timer or _Timer(None)
    network, origins, gps, spcs = (
        inputs.network,
        inputs.origins,
        inputs.gp_practices,
        inputs.specialist_services,
    )
    with timer.stage("travel", "computing road travel times"):
        times = _service_times(config, network, origins, gps, spcs)
    catchments, surface = None, None
    if config.catchments.enabled:
        with timer.stage("catchments", "drawing travel-time catchments"):
            catchments, surface = build_catchments(config, network, times, inputs.crs)
    with timer.stage("coverage", "classifying coverage"):
        origins, gps = _classify(config, origins, gps, times)
    uncertainty = None
    if config.uncertainty.enabled:
        with timer.stage("uncertainty", "speed uncertainty (Monte Carlo)"):
            uncertainty = _uncertainty(config, network, origins, gps, spcs, times)
    with timer.stage("access", "need-weighted access scores and hotspots"):
        origins, hotspots = _access(config, network, origins, times)
    order = tuple(inputs.remoteness.class_order)
    with timer.stage("tables", "building gap tables"):
        tables = _tables(config, origins, gps, spcs, inputs.subareas, order)
        tables["access_equity"] = access_equity(origins, order)
        if uncertainty is not None:
            tables["uncertainty"] = uncertainty
    return Results(
        region_name=config.region.name,
        crs=inputs.crs,
        origins=origins,
        gp_practices=gps,
        specialist_services=times.specialist_services,
        tables=tables,
        thresholds_min={"gp": config.thresholds.gp_min, "spc": config.thresholds.spc_min},
        remoteness_classes=list(order),
        subareas=inputs.subareas,
        remoteness_areas=inputs.remoteness.areas,
        catchments=catchments,
        hotspots=hotspots,
        travel_time_surface=surface,
    )


def _analysis_crs(config: RegionConfig) -> CRS:
    """The configured projected CRS, or the local UTM zone of the GP practices."""
    if config.region.crs:
        crs = CRS.from_user_input(config.region.crs)
        if not crs.is_projected:
            raise InputError(
                f"region.crs {config.region.crs} is not projected; distances need metres. Use a "
                "projected CRS (e.g. the local UTM or MGA zone) or leave it out to use UTM",
                path=config.source_path,
            )
        return crs
    gps, _ = _load_facilities(config, CRS.from_epsg(4326))
    crs = gps.estimate_utm_crs()
    log.info("no region.crs configured: using %s", crs.name)
    return crs


def _default_cache(config: RegionConfig) -> Path:
    base = config.source_path.parent if config.source_path else Path.cwd()
    return base / ".cache"


def _build_network(
    config: RegionConfig, crs: CRS, cache: Path, *, online: bool
) -> tuple[RoadNetwork, dict[str, Any]]:
    from geo import network as network_mod
    from geo import roads as roads_mod

    roads_cfg = config.roads
    settings = SpeedSettings(
        profile=roads_cfg.speed_profile or config.region.country,
        speeds_kph=dict(roads_cfg.speeds_kph),
        unsealed_factor=roads_cfg.unsealed_factor,
        freeflow_factor=roads_cfg.freeflow_factor,
        ferry_speed_kph=roads_cfg.ferry_speed_kph,
        include_tracks=roads_cfg.include_tracks,
        urban_density_km_per_km2=roads_cfg.urban_density_km_per_km2,
    )
    path = roads_cfg.path
    if path is None:
        if not online:
            raise InputError(
                "the config asks to download roads (roads.place/polygon) but downloading is "
                "off: run with --online, or set roads.path to a local OSM file",
                path=config.source_path,
            )
        path = roads_mod.download_roads(roads_cfg.place, roads_cfg.polygon, cache_dir=cache)
    built = network_mod.build_network(
        path, settings, crs, cache_dir=cache if roads_cfg.cache else None
    )
    return built.network, built.info


def _load_facilities(config: RegionConfig, crs: CRS) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    from geo.facilities import load_facilities

    out = []
    for kind, cfg in (("gp", config.gp_practices), ("spc", config.specialist_services)):
        out.append(
            load_facilities(
                cfg.path,
                kind=kind,
                columns=cfg.columns.model_dump(),
                crs=crs,
                input_crs=cfg.crs,
                layer=cfg.layer,
                where=cfg.where,
                service_types=cfg.service_types,
                default_service_type=cfg.default_service_type,
                default_capacity=cfg.default_capacity,
            )
        )
    return out[0], out[1]


def _service_times(config: RegionConfig, network, origins, gps, spcs) -> ServiceTimes:
    """Nearest GP and SPC times: whole-network searches, or tile by tile with ``partition``."""
    if config.partition is not None:
        from geo.partition_run import partitioned_times

        return partitioned_times(config, network, origins, gps, spcs)
    return compute_service_times(
        network,
        origins,
        gps,
        spcs,
        max_snap_distance_m=config.roads.max_snap_distance_m,
        offroad_speed_kph=config.roads.offroad_speed_kph,
    )


def _classify(
    config: RegionConfig, origins: gpd.GeoDataFrame, gps: gpd.GeoDataFrame, times: ServiceTimes
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Attach travel times and coverage classes to origins, and link figures to GP practices."""
    th = config.thresholds
    gp_th, spc_th = _thresholds(config, origins)
    origins = origins.copy()
    for col, values in times.origin_columns.items():
        origins[col] = values
    spc_all, spc_nc = _with_home_visits(config, origins, spc_th)
    origins["coverage_class"] = coverage_class(
        origins["gp_travel_time_min"], spc_all, gp_threshold_min=gp_th, spc_threshold_min=spc_th
    )
    origins["coverage_class_non_cancer"] = coverage_class(
        origins["gp_travel_time_min"], spc_nc, gp_threshold_min=gp_th, spc_threshold_min=spc_th
    )
    gps = times.gp_practices.copy()
    served = origins.groupby("nearest_gp_id")[["pop_count", "need_cancer", "need_non_cancer"]].sum()
    gps["pop_served"] = gps["facility_id"].map(served["pop_count"]).fillna(0.0)
    gps["need_cancer_served"] = gps["facility_id"].map(served["need_cancer"]).fillna(0.0)
    gps["need_non_cancer_served"] = gps["facility_id"].map(served["need_non_cancer"]).fillna(0.0)
    link = gps["spc_travel_time_min"].to_numpy(float)
    gps["isolated"] = ~(np.nan_to_num(link, nan=np.inf) <= th.isolated_gp_min)
    return origins, gps


def _with_home_visits(
    config: RegionConfig, origins: pd.DataFrame, spc_th: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SPC times to classify by: homes within a community team's home-visit reach count as
    within the SPC threshold (their time is capped at it for classification only)."""
    spc_all = origins["spc_travel_time_min"].to_numpy(float)
    spc_nc = origins["spc_non_cancer_travel_time_min"].to_numpy(float)
    visits = config.thresholds.home_visits
    if visits is None or "spc_community_travel_time_min" not in origins:
        return spc_all, spc_nc
    community = np.nan_to_num(origins["spc_community_travel_time_min"].to_numpy(float), nan=np.inf)
    reached = community <= visits.reach_min
    spc_all = np.where(reached, np.fmin(spc_all, spc_th), spc_all)
    # Non-cancer: only when a service taking non-cancer referrals is as near as that team
    # (conservative: the per-type times do not say which community team takes non-cancer).
    spc_nc = np.where(reached & (spc_nc <= community), np.fmin(spc_nc, spc_th), spc_nc)
    return spc_all, spc_nc


def _thresholds(config: RegionConfig, origins: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """GP and SPC thresholds (minutes) of every origin, by its remoteness class."""
    th = config.thresholds
    by_class = th.by_remoteness
    classes = origins["remoteness_class"]
    gp = thresholds_per_origin(
        classes,
        default_min=th.gp_min,
        by_remoteness={k: v["gp_min"] for k, v in by_class.items() if "gp_min" in v},
    )
    spc = thresholds_per_origin(
        classes,
        default_min=th.spc_min,
        by_remoteness={k: v["spc_min"] for k, v in by_class.items() if "spc_min" in v},
    )
    return gp, spc


def _uncertainty(config, network, origins, gps, spcs, times: ServiceTimes) -> pd.DataFrame:
    """Headline shares under speed uncertainty (see :mod:`geo.uncertainty`)."""
    gp_th, spc_th = _thresholds(config, origins)
    snaps = tuple(times.facility_snaps[k] for k in ("origins", "gp", "spc"))

    def headline(net: RoadNetwork) -> dict[str, float]:
        times = compute_service_times(
            net,
            origins,
            gps,
            spcs,
            max_snap_distance_m=config.roads.max_snap_distance_m,
            offroad_speed_kph=config.roads.offroad_speed_kph,
            snaps=snaps,
        )
        frame = origins[["pop_count", "need_cancer", "need_non_cancer"]].assign(
            **{
                c: times.origin_columns[c]
                for c in (
                    "gp_travel_time_min",
                    "spc_travel_time_min",
                    "spc_non_cancer_travel_time_min",
                )
            }
        )
        return gaps.headline_shares(frame, gp_threshold_min=gp_th, spc_threshold_min=spc_th)

    u = config.uncertainty
    return monte_carlo(network, headline, draws=u.draws, spread=u.spread, seed=u.seed)


def _access(
    config: RegionConfig, network: RoadNetwork, origins: gpd.GeoDataFrame, times: ServiceTimes
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """E2SFCA access scores per origin, and hotspots of need beyond specialist reach."""
    th = config.thresholds
    scores = access_scores(
        network,
        origins,
        times,
        gp_min=th.gp_min,
        spc_min=th.spc_min,
        max_snap_distance_m=config.roads.max_snap_distance_m,
        offroad_speed_kph=config.roads.offroad_speed_kph,
    )
    origins = origins.copy()
    for col in scores.columns:
        origins[col] = scores[col].to_numpy()
    _, spc_th = _thresholds(config, origins)
    return origins, uncovered_hotspots(origins, spc_th)


def _tables(
    config: RegionConfig,
    origins: gpd.GeoDataFrame,
    gps: gpd.GeoDataFrame,
    spcs: gpd.GeoDataFrame,
    subareas: gpd.GeoDataFrame | None,
    class_order: tuple[str, ...],
) -> dict[str, pd.DataFrame]:
    service_columns = {
        "gp": "gp_travel_time_min",
        "spc": "spc_travel_time_min",
        "spc_non_cancer": "spc_non_cancer_travel_time_min",
    }
    for service_type in SPC_SERVICE_TYPES:
        col = f"spc_{service_type}_travel_time_min"
        if col in origins:
            service_columns[f"spc_{service_type}"] = col
    return {
        "coverage_by_remoteness": gaps.coverage_by_remoteness(origins, class_order=class_order),
        "coverage_by_subarea": gaps.coverage_by_subarea(
            origins, subareas, suppress_below=config.need.suppress_below
        ),
        "gp_specialist_links": gaps.gp_specialist_links(gps, spcs),
        "travel_time_bands": gaps.travel_time_bands(
            origins, service_columns=service_columns, bands_min=config.thresholds.bands_min
        ),
        "spc_bands_by_remoteness": gaps.travel_time_bands_by_remoteness(
            origins,
            column="spc_travel_time_min",
            bands_min=config.thresholds.bands_min,
            class_order=class_order,
        ),
    }


def _input_files(config: RegionConfig) -> dict[str, Path]:
    files = {
        "config": config.source_path,
        "roads": config.roads.path,
        "gp_practices": config.gp_practices.path,
        "specialist_services": config.specialist_services.path,
        "population": config.population.path,
        "population_density": config.population.density_raster,
        "region_boundary": config.region.boundary,
        "remoteness": config.remoteness.path if config.remoteness else None,
        "subareas": config.subareas.path if config.subareas else None,
        "deaths": config.need.deaths.path if config.need.deaths else None,
    }
    return {k: v for k, v in files.items() if v is not None}


def _provenance(config, results, road_info, remoteness, need, timer, started, crs) -> dict:
    origins = results.origins
    inputs = {
        name: {"path": str(path), "sha256": sha256_file(path) if path.is_file() else None}
        for name, path in _input_files(config).items()
    }
    return {
        "tool": "gapmap",
        "version": __version__,
        "python": platform.python_version(),
        "region": config.region.name,
        "started_utc": started.isoformat(timespec="seconds"),
        "analysis_crs": crs.to_string(),
        "inputs": inputs,
        "osm_data_date": road_info.get("data_date"),
        "road_network": road_info,
        "speed_settings": config.roads.model_dump(mode="json"),
        "remoteness": {
            "scheme": remoteness.scheme,
            "version": remoteness.version,
            "classes": list(remoteness.class_order),
            "stats": remoteness.stats,
        },
        "need": {
            "model": config.need.model,
            "source": config.need.source,
            "stats": getattr(need, "stats", {}),
        },
        "thresholds": config.thresholds.model_dump(mode="json"),
        "suppress_below": config.need.suppress_below,
        "totals": {
            "pop_count": float(origins["pop_count"].sum()),
            "need_cancer": float(origins["need_cancer"].sum()),
            "need_non_cancer": float(origins["need_non_cancer"].sum()),
            "origins": len(origins),
            "origins_unreachable": int((~origins["reachable"]).sum()),
            "gp_practices": len(results.gp_practices),
            "specialist_services": len(results.specialist_services),
        },
        "timings_s": timer.timings_s,
    }


def output_dir(config: RegionConfig, out_dir: str | Path | None) -> Path:
    if out_dir is not None:
        return Path(out_dir)
    if config.output.dir is not None:
        return config.output.dir
    slug = "".join(c if c.isalnum() else "_" for c in config.region.name.lower()).strip("_")
    return Path("maps") / (slug or "region")


def write_region(results: Results, target: Path, config: RegionConfig) -> list[Path]:
    """Write a region's output folder (map, report, layers, tables, run.json) atomically."""
    from geo.maps import write_map
    from geo.report import write_report

    return write_outputs(
        results,
        target,
        write_map=lambda r, p: write_map(
            r, p, offline=config.output.offline_map, tiles=config.output.tiles
        ),
        write_report=write_report,
    )
