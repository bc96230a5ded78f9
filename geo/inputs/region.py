"""The inputs stage: everything a region's analysis starts from, read once and aligned.

:func:`load_inputs` reads the roads into a :class:`~geo.routing.network.RoadNetwork`, the GP
practices and specialist services (once, in the analysis CRS), the population as origins with
their sub-area, remoteness class and palliative need, and snaps every point set to the network
once (:class:`~geo.routing.network.Snaps`); later stages reuse those snaps and never snap again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from pyproj import CRS

from geo.config import FacilitiesConfig, RegionConfig
from geo.errors import InputError, NetworkError
from geo.inputs.checks import (
    Problems,
    check_class_keys,
    check_density,
    check_network_size,
    check_on_network,
)
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
    subareas_within,
)
from geo.inputs.need import NeedResult
from geo.inputs.readers import parse_crs
from geo.inputs.remoteness import RemotenessResult
from geo.inputs.roads import BuiltNetwork, build_network, download_roads
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
    """Where built road networks (and geocoder answers) are cached: ``$GAPMAP_CACHE`` when
    that variable is set, else ``.cache/`` next to the config file."""
    shared = os.environ.get("GAPMAP_CACHE")
    if shared:
        return Path(shared)
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
    config: RegionConfig,
    crs: CRS,
    *,
    cache_dir: Path,
    online: bool = False,
) -> BuiltNetwork:
    """The region's road network (read from its OSM file or the cache, or downloaded if
    allowed); a new build is not cached yet (:meth:`BuiltNetwork.save_to_cache`)."""
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
    try:
        built = build_network(
            path,
            speed_settings(config),
            crs,
            cache_dir=cache_dir if roads.cache else None,
            write_cache=False,
        )
    except NetworkError as exc:  # e.g. every edge in a tiny disconnected fragment
        raise InputError(f"the road network cannot be built: {exc}", path=path) from None
    check_network_size(built.network.n_nodes, path)
    return built


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


def analysis_crs(config: RegionConfig) -> CRS | None:
    """``region.crs`` (which must be projected), or None to take the GP practices' UTM zone."""
    configured = config.region.crs
    if not configured:
        return None
    crs = parse_crs(configured, path=config.source_path, key="region.crs")
    if not crs.is_projected:
        raise InputError(
            f"region.crs {configured} is not projected; distances need metres. Use a "
            "projected CRS (e.g. the local UTM or MGA zone) or leave it out to use UTM",
            path=config.source_path,
        )
    return crs


def read_region_facilities(
    config: RegionConfig,
    *,
    crs: CRS | None = None,
    cache_dir: Path | None = None,
    online: bool = False,
) -> RegionFacilities:
    """GP practices and specialist services, read once, and the analysis CRS.

    The analysis CRS is ``crs``, else ``region.crs`` (:func:`analysis_crs`), else the UTM zone
    of the GP practices as read. Rows given by postcode are placed through the configured
    postcode directory; ``online`` (the command's ``--online``) lets a section with
    ``geocode.online: true`` look addresses up online. Problems in both files are reported
    together.
    """
    if crs is None:
        crs = analysis_crs(config)
    read_crs = crs or CRS.from_epsg(4326)
    cache = cache_dir if cache_dir is not None else default_cache_dir(config)
    problems = Problems()
    reads = {
        section: problems.attempt(
            _facilities, getattr(config, section), kind, read_crs, cache_dir=cache, online=online
        )
        for section, kind in (("gp_practices", "gp"), ("specialist_services", "spc"))
    }
    problems.raise_any()
    gps, spcs = reads["gp_practices"].frame, reads["specialist_services"].frame
    if crs is None:
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
    write_cache: bool = True,
) -> RegionInputs:
    """Read roads, facilities, population, remoteness and need for a region; snap them once.

    Every section that can be read is read and every problem kept; the stage then stops with
    all of them (:class:`~geo.errors.InputErrors`), so ``gapmap validate`` (which runs this
    stage and nothing else) and ``gapmap run`` report the same problems.

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
    write_cache
        Save a newly built road network to the cache once every input has loaded (False,
        as ``gapmap validate`` does, writes nothing).

    Returns
    -------
    RegionInputs
    """
    timer = timer or StageTimer()
    cache = cache_dir if cache_dir is not None else default_cache_dir(config)
    problems = Problems()
    with timer.stage("facilities", "reading GP practices and specialist services"):
        crs, gps, spcs, sources = _read_facilities_stage(
            config, problems, cache=cache, online=online
        )
    if crs is None:  # nothing else can be read without an analysis CRS
        problems.raise_any()
    with timer.stage("roads", "reading roads and building the network"):
        built = problems.attempt(
            build_region_network,
            config,
            crs,
            cache_dir=cache,
            online=online,
        )
        network, road_info = (built.network, built.info) if built is not None else (None, {})
    with timer.stage("population", "placing the population"):
        boundary, origins, subareas = _read_population_stage(
            config, problems, crs, network, sources, cache=cache, online=online
        )
    snaps = edge = None
    if network is not None and origins is not None and gps is not None and spcs is not None:
        snaps, edge = _snap_and_measure_edges(
            config, problems, network, origins, gps, spcs, boundary
        )
    remoteness = need = None
    if origins is not None:
        remoteness, need = _classify_origins(
            config, problems, timer, origins, crs, network, snaps, boundary
        )
    problems.raise_any()
    if write_cache and built is not None:
        built.save_to_cache()
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


def _read_facilities_stage(
    config: RegionConfig, problems: Problems, *, cache: Path, online: bool
) -> tuple[CRS | None, gpd.GeoDataFrame | None, gpd.GeoDataFrame | None, dict[str, Any]]:
    """The analysis CRS, GP practices, specialist services and ``sources`` (problems kept)."""
    crs = problems.attempt(analysis_crs, config)
    facilities = problems.attempt(
        read_region_facilities, config, crs=crs, cache_dir=cache, online=online
    )
    gps = spcs = None
    sources: dict[str, Any] = {"geocoding": {}, "capacity": {}}
    if facilities is not None:
        gps, spcs, crs = facilities.gp_practices, facilities.specialist_services, facilities.crs
        sources = facilities.sources
    return crs, gps, spcs, sources


def _read_population_stage(
    config: RegionConfig,
    problems: Problems,
    crs: CRS,
    network: RoadNetwork | None,
    sources: dict[str, Any],
    *,
    cache: Path,
    online: bool,
) -> tuple[shapely.Geometry | None, gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """The boundary, the origins (with their sub-area) and the sub-areas (problems kept).

    Records population geocoding in ``sources``.
    """
    boundary = problems.attempt(read_boundary, config.region.boundary, crs=crs)
    placing = problems.attempt(
        geocoded_population, config.population, cache_dir=cache, online=online
    )
    points, placed = placing if placing is not None else (None, None)
    if placed is not None:
        sources["geocoding"]["population"] = placed.as_dict()
    origins = None
    if placing is not None:
        origins = problems.attempt(
            load_population,
            config.population,
            crs=crs,
            region=boundary,
            network=network,
            points=points,
        )
    subareas = problems.attempt(load_subareas, config.subareas, crs=crs)
    if origins is not None:
        # as for remoteness polygons: the boundary, else the hull of the places
        region = boundary if boundary is not None else origins.geometry.union_all().convex_hull
        where = config.subareas.path if config.subareas else None
        subareas = problems.attempt(subareas_within, subareas, region, path=where)
        origins = assign_subareas(origins, subareas)
        problems.attempt(check_density, origins, config.population)
    return boundary, origins, subareas


def _snap_and_measure_edges(
    config: RegionConfig,
    problems: Problems,
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    gps: gpd.GeoDataFrame,
    spcs: gpd.GeoDataFrame,
    boundary: shapely.Geometry | None,
) -> tuple[Snaps, dict[str, Any]]:
    """Snap origins and facilities once, check the origins reach the network, and measure
    edge effects (against the boundary, else the origins' convex hull)."""
    snaps = snap_region(network, origins, gps, spcs, config)
    problems.attempt(check_on_network, origins, snaps, config)
    region = boundary if boundary is not None else origins.geometry.union_all().convex_hull
    edge = edge_effects(
        network,
        region,
        {"gp": gps, "spc": spcs},
        snaps,
        reach_min=config.thresholds.longest_min,
    )
    return snaps, edge


def _classify_origins(
    config: RegionConfig,
    problems: Problems,
    timer: StageTimer,
    origins: gpd.GeoDataFrame,
    crs: CRS,
    network: RoadNetwork | None,
    snaps: Snaps | None,
    boundary: shapely.Geometry | None,
) -> tuple[RemotenessResult | None, NeedResult | None]:
    """Add ``remoteness_class`` and the need columns to ``origins`` (in place; problems kept).

    Returns the remoteness and need results, None where they could not be read.
    """
    with timer.stage("remoteness", "classifying remoteness"):
        remoteness = problems.attempt(
            load_remoteness,
            config.remoteness,
            origins,
            crs=crs,
            network=network,
            snap=None if snaps is None else snaps.origins,
            region=boundary,
        )
    if remoteness is not None:
        origins["remoteness_class"] = remoteness.classes.to_numpy()
        problems.attempt(check_class_keys, config, remoteness)
    with timer.stage("need", "estimating palliative care need"):
        need = problems.attempt(load_need, config.need, origins, country=config.region.country)
    if need is not None:
        origins["need_cancer"] = need.origins["need_cancer"].to_numpy()
        origins["need_non_cancer"] = need.origins["need_non_cancer"].to_numpy()
    return remoteness, need
