"""The inputs stage: everything a region's analysis starts from, read once and aligned.

:func:`load_inputs` reads the roads into a :class:`~geo.routing.network.RoadNetwork`, the GP
practices and specialist services (once, in the analysis CRS), the population as origins with
their sub-area, remoteness class and palliative need, and snaps every point set to the network
once (:class:`~geo.routing.network.Snaps`); later stages reuse those snaps and never snap again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from pyproj import CRS

from geo.config import FacilitiesConfig, RegionConfig
from geo.errors import InputError
from geo.inputs.edges import edge_effects
from geo.inputs.facilities import FacilityRead, read_facilities
from geo.inputs.layers import (
    assign_subareas,
    capacity_table_of,
    geocoded_population,
    geocoding_of,
    load_need,
    load_population,
    load_remoteness,
    load_subareas,
    read_boundary,
)
from geo.inputs.need import NeedResult
from geo.inputs.readers import parse_crs
from geo.inputs.remoteness import RemotenessResult
from geo.inputs.roads import build_network, download_roads
from geo.inputs.speeds import SpeedSettings
from geo.progress import StageTimer
from geo.routing.network import RoadNetwork, Snaps

log = logging.getLogger(__name__)


@dataclass
class RegionInputs:
    """Everything a region's analysis starts from, in one projected analysis CRS.

    Attributes
    ----------
    network
        The road network.
    gp_practices, specialist_services
        Facilities in the schema of :mod:`geo.inputs.facilities`.
    origins
        Populated places with ``area_id``, ``remoteness_class``, ``need_cancer`` and
        ``need_non_cancer``.
    subareas
        Reporting sub-areas (``area_id``, ``area_name``) or None.
    remoteness, need
        The remoteness classification and need model results (provenance and statistics).
    crs
        The analysis CRS.
    snaps
        How origins and facilities attach to the network (computed once, reused by every
        stage).
    boundary
        The region polygon, or None.
    road_info
        Provenance of the road network (source, data date, statistics, cache).
    edge
        Edge effects (:func:`geo.inputs.edges.edge_effects`): how far services can matter,
        how far the extract reaches, services left out of routing that could matter.
    sources
        What reading the inputs did, for ``run.json``: ``geocoding`` (per config section:
        rows placed by postcode or online, unmatched rows) and ``capacity`` (per facility
        section: units and source, e.g. registered patients from a list-size table).
    """

    network: RoadNetwork
    gp_practices: gpd.GeoDataFrame
    specialist_services: gpd.GeoDataFrame
    origins: gpd.GeoDataFrame
    subareas: gpd.GeoDataFrame | None
    remoteness: RemotenessResult
    need: NeedResult
    crs: CRS
    snaps: Snaps
    boundary: shapely.Geometry | None = None
    road_info: dict[str, Any] = field(default_factory=dict)
    edge: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)


@dataclass
class RegionFacilities:
    """GP practices and specialist services as read, the analysis CRS, and what reading them
    did (``sources``: ``geocoding`` and ``capacity`` per config section)."""

    gp_practices: gpd.GeoDataFrame
    specialist_services: gpd.GeoDataFrame
    crs: CRS
    sources: dict[str, Any] = field(default_factory=dict)


def default_cache_dir(config: RegionConfig) -> Path:
    """Where built road networks are cached: ``.cache/`` next to the config file."""
    base = config.source_path.parent if config.source_path else Path.cwd()
    return base / ".cache"


def speed_settings(config: RegionConfig) -> SpeedSettings:
    """The speed model of a region config."""
    roads = config.roads
    return SpeedSettings(
        profile=roads.speed_profile or config.region.country,
        speeds_kph=dict(roads.speeds_kph),
        unsealed_factor=roads.unsealed_factor,
        freeflow_factor=roads.freeflow_factor,
        ferry_speed_kph=roads.ferry_speed_kph,
        include_tracks=roads.include_tracks,
        urban_density_km_per_km2=roads.urban_density_km_per_km2,
    )


def build_region_network(
    config: RegionConfig, crs: CRS, *, cache_dir: Path, online: bool = False
) -> tuple[RoadNetwork, dict[str, Any]]:
    """The region's road network (read from its OSM file, the cache, or downloaded if allowed)."""
    roads = config.roads
    path = roads.path
    if path is None:
        if not online:
            raise InputError(
                "the config asks to download roads (roads.place/polygon) but downloading is "
                "off: run with --online, or set roads.path to a local OSM file",
                path=config.source_path,
            )
        path = download_roads(roads.place, roads.polygon, cache_dir=cache_dir)
    built = build_network(
        path, speed_settings(config), crs, cache_dir=cache_dir if roads.cache else None
    )
    return built.network, built.info


def _facilities(
    cfg: FacilitiesConfig, kind: str, crs: CRS | str, *, cache_dir: Path, online: bool
) -> FacilityRead:
    return read_facilities(
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
        geocoding=geocoding_of(cfg.geocode, cache_dir=cache_dir, online=online),
        capacity_table=capacity_table_of(cfg.capacity_table),
        capacity_units=cfg.capacity_units,
    )


def read_region_facilities(
    config: RegionConfig, *, cache_dir: Path | None = None, online: bool = False
) -> RegionFacilities:
    """GP practices and specialist services, read once, and the analysis CRS.

    The analysis CRS is ``region.crs`` (which must be projected), or else the UTM zone of the
    GP practices, estimated from the facilities as read. Rows given by postcode are placed
    through the configured postcode directory; ``online`` (the command's ``--online``) lets a
    section with ``geocode.online: true`` look addresses up online.
    """
    configured = config.region.crs
    if configured:
        crs = parse_crs(configured, path=config.source_path, key="region.crs")
        if not crs.is_projected:
            raise InputError(
                f"region.crs {configured} is not projected; distances need metres. Use a "
                "projected CRS (e.g. the local UTM or MGA zone) or leave it out to use UTM",
                path=config.source_path,
            )
    else:
        crs = CRS.from_epsg(4326)
    cache = cache_dir if cache_dir is not None else default_cache_dir(config)
    reads = {
        "gp_practices": _facilities(config.gp_practices, "gp", crs, cache_dir=cache, online=online),
        "specialist_services": _facilities(
            config.specialist_services, "spc", crs, cache_dir=cache, online=online
        ),
    }
    gps, spcs = reads["gp_practices"].frame, reads["specialist_services"].frame
    if not configured:
        crs = gps.estimate_utm_crs()
        log.info("no region.crs configured: using %s", crs.name)
        gps, spcs = gps.to_crs(crs), spcs.to_crs(crs)
    sources: dict[str, Any] = {"geocoding": {}, "capacity": {}}
    for section, read in reads.items():
        if read.geocoding is not None:
            sources["geocoding"][section] = read.geocoding.as_dict()
        if any(v for v in read.capacity.values()):
            sources["capacity"][section] = read.capacity
    return RegionFacilities(gps, spcs, crs, sources)


def load_region_facilities(
    config: RegionConfig,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, CRS]:
    """GP practices, specialist services and the analysis CRS (:func:`read_region_facilities`
    without what reading them did)."""
    read = read_region_facilities(config)
    return read.gp_practices, read.specialist_services, read.crs


def snap_region(
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    gps: gpd.GeoDataFrame,
    spcs: gpd.GeoDataFrame,
    config: RegionConfig,
) -> Snaps:
    """Snap origins, GP practices and specialist services once, with the config's settings."""
    return Snaps.of(
        network,
        origins,
        gps,
        spcs,
        max_snap_distance_m=config.roads.max_snap_distance_m,
        offroad_speed_kph=config.roads.offroad_speed_kph,
        max_facility_snap_distance_m=config.roads.max_facility_snap_distance_m,
    )


def load_inputs(
    config: RegionConfig,
    *,
    cache_dir: Path | None = None,
    online: bool = False,
    timer: StageTimer | None = None,
) -> RegionInputs:
    """Read roads, facilities, population, remoteness and need for a region; snap them once.

    Parameters
    ----------
    config
        The validated region config.
    cache_dir
        Where built road networks are cached; default ``.cache/`` next to the config.
    online
        Allow downloading roads (only used when the config names a place or polygon) and
        looking addresses up online (only for sections with ``geocode.online: true``).
    timer
        Receives the stages ``facilities``, ``roads``, ``population``, ``remoteness``, ``need``.

    Returns
    -------
    RegionInputs
    """
    timer = timer or StageTimer()
    cache = cache_dir if cache_dir is not None else default_cache_dir(config)
    with timer.stage("facilities", "reading GP practices and specialist services"):
        facilities = read_region_facilities(config, cache_dir=cache, online=online)
        gps, spcs, crs = facilities.gp_practices, facilities.specialist_services, facilities.crs
        sources = facilities.sources
    with timer.stage("roads", "reading roads and building the network"):
        network, road_info = build_region_network(config, crs, cache_dir=cache, online=online)
    with timer.stage("population", "placing the population"):
        boundary = read_boundary(config.region.boundary, crs=crs)
        points, placed = geocoded_population(config.population, cache_dir=cache, online=online)
        if placed is not None:
            sources["geocoding"]["population"] = placed.as_dict()
        origins = load_population(
            config.population, crs=crs, region=boundary, network=network, points=points
        )
        subareas = load_subareas(config.subareas, crs=crs)
        origins = assign_subareas(origins, subareas)
        snaps = snap_region(network, origins, gps, spcs, config)
        region = boundary if boundary is not None else origins.geometry.union_all().convex_hull
        edge = edge_effects(
            network,
            region,
            {"gp": gps, "spc": spcs},
            snaps,
            reach_min=config.thresholds.longest_min,
        )
    with timer.stage("remoteness", "classifying remoteness"):
        remoteness = load_remoteness(
            config.remoteness, origins, crs=crs, network=network, snap=snaps.origins
        )
        origins["remoteness_class"] = remoteness.classes.to_numpy()
    with timer.stage("need", "estimating palliative care need"):
        need = load_need(config.need, origins, country=config.region.country)
        origins["need_cancer"] = need.origins["need_cancer"].to_numpy()
        origins["need_non_cancer"] = need.origins["need_non_cancer"].to_numpy()
    return RegionInputs(
        network=network,
        gp_practices=gps,
        specialist_services=spcs,
        origins=origins,
        subareas=subareas,
        remoteness=remoteness,
        need=need,
        crs=crs,
        snaps=snaps,
        boundary=boundary,
        road_info=road_info,
        edge=edge,
        sources=sources,
    )
