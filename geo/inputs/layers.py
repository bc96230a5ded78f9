"""Config → layer loaders: population origins, sub-areas, remoteness and need for a region run.

The loaders in :mod:`~geo.inputs.population`, :mod:`~geo.inputs.remoteness` and
:mod:`~geo.inputs.need` know nothing of
the config; this module maps a config section onto their keyword arguments, so each stays
usable on its own from scripts and notebooks.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.config import (
    CapacityTableConfig,
    GeocodeConfig,
    NeedConfig,
    PopulationConfig,
    RemotenessConfig,
    SubareasConfig,
)
from geo.errors import InputError
from geo.inputs import need as need_mod
from geo.inputs import need_smr
from geo.inputs import population as population_mod
from geo.inputs import remoteness as remoteness_mod
from geo.inputs.facilities import CapacityTable
from geo.inputs.geocode import (
    GeocodeReport,
    Geocoding,
    OnlineGeocoder,
    PostcodeDirectory,
    geocode_table,
)
from geo.inputs.readers import (
    is_csv,
    read_csv_table,
    read_vector,
    require_columns,
    warn_overlaps,
)
from geo.routing.network import RoadNetwork, SnapResult

log = logging.getLogger(__name__)

# Sub-area assignment tolerance: points on a generalised coastline may fall just outside.
SUBAREA_TOLERANCE_M = 1000.0


def read_boundary(path: Path | None, *, crs: CRS) -> shapely.Geometry | None:
    """The region polygon (``region.boundary``) in ``crs``, or None."""
    if path is None:
        return None
    frame = read_vector(path, crs=crs, key="region.boundary")
    return frame.geometry.union_all()


def geocoding_of(cfg: GeocodeConfig | None, *, cache_dir: Path, online: bool) -> Geocoding | None:
    """The geocoding settings of a config section (``online``: the command's ``--online``).

    The online geocoder exists only when the section sets ``online: true``; it makes requests
    only when ``online`` is also True (cached answers are used either way).
    """
    if cfg is None:
        return None
    directory = None
    if cfg.postcodes is not None:
        pc = cfg.postcodes
        directory = PostcodeDirectory.of(
            pc.path,
            format=pc.format,
            postcode=pc.postcode,
            x=pc.x,
            y=pc.y,
            crs=pc.crs,
            precision=pc.precision,
        )
    geocoder = None
    if cfg.online:
        geocoder = OnlineGeocoder(
            cache_path=cfg.cache or Path(cache_dir) / "geocode.json",
            allowed=online,
            url=cfg.url,
            user_agent=cfg.user_agent,
            email=cfg.email,
            country_codes=tuple(cfg.country_codes),
            min_interval_s=cfg.min_interval_s,
            timeout_s=cfg.timeout_s,
        )
    return Geocoding(postcodes=directory, online=geocoder, on_unmatched=cfg.on_unmatched)


def capacity_table_of(cfg: CapacityTableConfig | None) -> CapacityTable | None:
    """The capacity table of a facilities section (e.g. GP list sizes), or None."""
    if cfg is None:
        return None
    return CapacityTable(
        path=cfg.path,
        id_column=cfg.id_column,
        capacity_column=cfg.capacity_column,
        where=dict(cfg.where),
        units=cfg.units,
        on_missing=cfg.on_missing,
    )


def geocoded_population(
    cfg: PopulationConfig, *, cache_dir: Path, online: bool
) -> tuple[gpd.GeoDataFrame | None, GeocodeReport | None]:
    """Population points placed by postcode (None, None when the file has coordinates)."""
    geocoding = geocoding_of(cfg.geocode, cache_dir=cache_dir, online=online)
    if geocoding is None or cfg.postcode is None:
        return None, None
    if not is_csv(cfg.path):
        raise InputError("population: placing points by postcode reads CSV files", path=cfg.path)
    table = read_csv_table(cfg.path)
    return geocode_table(table, geocoding, path=cfg.path, postcode_column=cfg.postcode)


def load_population(
    cfg: PopulationConfig,
    *,
    crs: CRS,
    region: shapely.Geometry | None,
    network: RoadNetwork | None,
    points: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Origins (points with ``pop_count`` and age bands) from the configured population source.

    ``points``: the population file's rows already placed (:func:`geocoded_population`).
    """
    if cfg.kind == "raster":
        if not isinstance(cfg.count, int):
            raise InputError("population.count must be a band number for a raster", path=cfg.path)
        bands = {k: int(v) for k, v in cfg.age_bands.items()}
        return population_mod.origins_from_raster(
            cfg.path,
            crs=crs,
            region=region,
            count_band=cfg.count,
            age_bands=bands or None,
            aggregate_factor=cfg.aggregate_factor,
        )
    columns = {k: str(v) for k, v in cfg.age_bands.items()} or None
    if cfg.kind == "points":
        return population_mod.origins_from_points(
            cfg.path,
            crs=crs,
            count_column=str(cfg.count),
            id_column=cfg.id_column,
            age_columns=columns,
            layer=cfg.layer,
            x_column=cfg.x,
            y_column=cfg.y,
            input_crs=cfg.crs,
            region=region,
            points=points,
        )
    road_xy = None if network is None else np.column_stack([network.node_x, network.node_y])
    return population_mod.origins_from_polygons(
        cfg.path,
        crs=crs,
        count_column=str(cfg.count),
        id_column=cfg.id_column,
        age_columns=columns,
        layer=cfg.layer,
        density_raster=cfg.density_raster,
        road_nodes_xy=road_xy,
        cell_size_m=cfg.cell_size_m,
        region=region,
    )


def load_subareas(cfg: SubareasConfig | None, *, crs: CRS) -> gpd.GeoDataFrame | None:
    """Reporting sub-areas with ``area_id`` and ``area_name`` (ids validated unique)."""
    if cfg is None:
        return None
    frame = read_vector(cfg.path, layer=cfg.layer, crs=crs, key="subareas")
    require_columns(frame, [cfg.id_column, cfg.name_column], cfg.path)
    warn_overlaps(frame, cfg.path, id_column=cfg.id_column)
    ids = frame[cfg.id_column].astype(str)
    dup = ids[ids.duplicated()]
    if not dup.empty:
        raise InputError(
            f"sub-area id {dup.iloc[0]!r} is not unique", path=cfg.path, column=cfg.id_column
        )
    names = frame[cfg.name_column].astype(str) if cfg.name_column else ids
    return gpd.GeoDataFrame(
        {"area_id": ids.to_numpy(), "area_name": names.to_numpy()},
        geometry=frame.geometry.to_numpy(),
        crs=crs,
    )


def subareas_within(
    subareas: gpd.GeoDataFrame | None, region: shapely.Geometry | None, *, path: object = None
) -> gpd.GeoDataFrame | None:
    """The sub-areas that share area with ``region``, whole (their shapes are kept), so a
    statewide or national layer does not bring every far sub-area into the region's maps,
    packs and outputs (a sub-area only touching the region's edge is left out too).

    Raises
    ------
    InputError
        If no sub-area overlaps the region (another place's file, or a wrong CRS).
    """
    if subareas is None or region is None or region.area <= 0:
        return subareas
    near = subareas.iloc[np.sort(subareas.sindex.query(region, predicate="intersects"))]
    inside = near[near.geometry.intersection(region).area > 0]
    if inside.empty:
        raise InputError(
            f"none of the {len(subareas)} sub-areas overlaps the region: is this the sub-area "
            "file of this region, and is its CRS right?",
            path=path,
        )
    if len(inside) < len(subareas):
        log.info(
            "%d of %d sub-areas lie outside the region and are left out",
            len(subareas) - len(inside),
            len(subareas),
        )
    return inside.reset_index(drop=True)


def assign_subareas(
    origins: gpd.GeoDataFrame, subareas: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """Add ``area_id``: the sub-area holding each origin (nearest within 1 km, else None)."""
    origins = origins.copy()
    if subareas is None:
        origins["area_id"] = None
        return origins
    joined = gpd.sjoin_nearest(
        origins[["geometry"]],
        subareas[["area_id", "geometry"]],
        how="left",
        max_distance=SUBAREA_TOLERANCE_M,
    )
    joined = joined[~joined.index.duplicated(keep="first")]
    origins["area_id"] = joined["area_id"].reindex(origins.index).astype(object).to_numpy()
    outside = origins["area_id"].isna()
    if outside.any():
        log.warning(
            "%d origins (%.0f people) lie outside every sub-area",
            int(outside.sum()),
            origins.loc[outside, "pop_count"].sum(),
        )
    return origins


def load_remoteness(
    cfg: RemotenessConfig | None,
    origins: gpd.GeoDataFrame,
    *,
    crs: CRS,
    network: RoadNetwork,
    snap: SnapResult | None = None,
    region: shapely.Geometry | None = None,
) -> remoteness_mod.RemotenessResult:
    """Remoteness class per origin from the configured scheme (computed when none is given).

    ``snap`` is the origins' snapping of this run, reused by the computed index. Remoteness
    polygons are kept (for the map and ``layers.gpkg``) only within ``region`` (the region's
    boundary; default: the convex hull of the origins), so a national layer does not travel
    into every region's outputs; the classes are read before clipping.
    """
    if cfg is None or cfg.scheme == "computed":
        return remoteness_mod.computed_aria(origins, network, snap=snap)
    if cfg.scheme in {"mmm2019", "ruc2011", "ruc2021"}:
        codes = _origin_area_codes(origins, cfg)
        return remoteness_mod.classify_by_lookup(
            origins,
            area_codes=codes,
            path=cfg.path,
            code_column=cfg.code_column,
            class_column=cfg.class_column,
            scheme=cfg.scheme,
            aggregate_code_length=cfg.aggregate_code_length,
        )
    result = remoteness_mod.classify_by_polygons(
        origins,
        cfg.path,
        class_column=cfg.class_column,
        scheme=cfg.scheme,
        layer=cfg.layer,
        order=cfg.order,
        crs=crs,
    )
    if region is None:
        region = origins.geometry.union_all().convex_hull
    return clip_areas(result, region)


def clip_areas(
    result: remoteness_mod.RemotenessResult, region: shapely.Geometry
) -> remoteness_mod.RemotenessResult:
    """The remoteness result with its polygons cut to ``region`` (unchanged when ``region``
    has no area, e.g. the hull of a single origin)."""
    if result.areas is None or region.area <= 0:
        return result
    areas = result.areas.clip(region, keep_geom_type=True)
    areas = areas[~areas.geometry.is_empty].reset_index(drop=True)
    return replace(result, areas=areas)


def _origin_area_codes(origins: gpd.GeoDataFrame, cfg: RemotenessConfig) -> pd.Series:
    if "source_area_id" not in origins or origins["source_area_id"].isna().all():
        raise InputError(
            f"remoteness scheme '{cfg.scheme}' looks classes up by area code, but the population "
            "carries no area ids: set population.id_column to the area-code column",
            path=cfg.path,
        )
    return origins["source_area_id"].astype(str)


def load_need(cfg: NeedConfig, origins: gpd.GeoDataFrame, *, country: str):
    """Palliative need per origin (cancer and non-cancer) from deaths or national rates.

    Deaths of all causes (``deaths.cause_column: null``) are split by the national shares of
    ``need.country`` (or the region's country); national rates are adjusted by local SMRs
    when ``need.smr`` is given.
    """
    need_country = cfg.country or {"au": "au", "gb": "england"}.get(country)
    if cfg.source == "deaths":
        deaths = cfg.deaths
        return need_mod.need_from_deaths(
            origins,
            deaths.path,
            area_column=deaths.area_column,
            cause_column=deaths.cause_column,
            count_column=deaths.count_column,
            model=cfg.model,
            origin_area_column="area_id",
            suppress_below=cfg.suppress_below,
            country=need_country,
            years=deaths.years,
            age_band=deaths.age_band,
        )
    if need_country is None:
        raise InputError(
            "need.source 'rates' needs national rates: set need.country (au or england), or "
            "region.country, or give deaths with need.source 'deaths'"
        )
    need = need_mod.need_from_rates(origins, country=need_country, model=cfg.model)
    if cfg.smr is None:
        return need
    smr = cfg.smr
    smrs = need_smr.read_smrs(
        smr.path,
        area_column=smr.area_column,
        all_cause_column=smr.all_cause_column,
        cancer_column=smr.cancer_column,
    )
    return need_smr.adjust_by_smr(
        origins,
        need,
        smrs,
        country=need_country,
        reference=smr.reference,
        source=str(smr.path),
    )
