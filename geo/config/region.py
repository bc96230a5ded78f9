"""Region configs: a validated YAML file naming a region's inputs and settings.

Unknown keys and wrong types are errors that name the key and suggest the nearest valid one.
Paths are relative to the config file, or to ``$GEO_DATA_ROOT`` when written as
``${GEO_DATA_ROOT}/...`` (any ``${VAR}`` is expanded from the environment).

Defaults and where they come from (see ``geo/reference/README.md``):

* GP threshold 30 min: rural residents tolerate about 32 min to their usual doctor in closely
  settled areas (BMC Health Services Research 2015, doi:10.1186/s12913-015-0880-6).
* SPC threshold 60 min: one-hour road travel is a common specialist palliative care planning
  catchment (Cinnamon, Schuurman & Crooks 2008, British Columbia).
* Off-network speed 15 km/h and snapping limit 5 km: assumptions of this toolkit (a farm track or
  driveway is driven slowly; a home more than 5 km from any mapped road is reported as unreachable
  rather than silently attached to a far road).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from geo.config.files import (
    InputPath,
    ServiceType,
    StrictModel,
    read_yaml,
    validate_file_model,
)
from geo.config.sources import CapacityTableConfig, GeocodeConfig, SmrConfig

__all__ = [
    "FacilitiesConfig",
    "NeedConfig",
    "PopulationConfig",
    "RegionConfig",
    "RemotenessConfig",
    "load_config",
    "parse_config",
]


class RegionInfo(StrictModel):
    """The region: its name, analysis CRS and country (which sets speed and need defaults)."""

    name: str = Field(min_length=1)
    crs: str | None = Field(
        default=None, description="Projected analysis CRS, e.g. EPSG:7855; default: local UTM zone."
    )
    country: Literal["au", "gb", "generic"] = "generic"
    boundary: InputPath | None = Field(default=None, description="Region polygon file (optional).")


class RoadsConfig(StrictModel):
    """The road network source and the speed model."""

    path: InputPath | None = Field(default=None, description=".osm.pbf, .osm or .osm.bz2 file.")
    place: str | None = Field(default=None, description="Place name to download (with --online).")
    polygon: InputPath | None = Field(default=None, description="Polygon to download (--online).")
    speed_profile: Literal["au", "gb", "generic"] | None = None
    speeds_kph: dict[str, float] = Field(default_factory=dict)
    unsealed_factor: float = Field(default=0.6, gt=0, le=1)
    freeflow_factor: float = Field(default=1.0, gt=0, le=1.5)
    ferry_speed_kph: float = Field(default=20.0, gt=0)
    include_tracks: bool = True
    urban_density_km_per_km2: float = Field(default=8.0, gt=0)
    max_snap_distance_m: float = Field(
        default=5000.0,
        gt=0,
        description="Homes farther than this from any road are off the network (unknown).",
    )
    max_facility_snap_distance_m: float = Field(
        default=2000.0,
        gt=0,
        description="Services and practices farther than this from any road are left out of "
        "routing (services sit on roads: farther means outside the extract or misplaced).",
    )
    warn_snap_distance_m: float = Field(
        default=500.0,
        gt=0,
        description="Facilities attached from farther than this are reported as long snaps.",
    )
    offroad_speed_kph: float = Field(default=15.0, gt=0)
    cache: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> RoadsConfig:
        if self.path is None and self.place is None and self.polygon is None:
            raise ValueError("give roads.path (an OSM file), or roads.place / roads.polygon")
        return self


class FacilityColumns(StrictModel):
    """Which input columns hold each facility attribute."""

    id: str
    name: str
    x: str | None = Field(default=None, description="Longitude/easting column (CSV inputs).")
    y: str | None = Field(default=None, description="Latitude/northing column (CSV inputs).")
    postcode: str | None = Field(
        default=None, description="Postcode column, placed through geocode.postcodes."
    )
    address: str | None = Field(
        default=None, description="Address column, placed by the online geocoder (opt-in)."
    )
    capacity: str | None = None
    service_type: str | None = None
    accepts_non_cancer: str | None = None


class FacilitiesConfig(StrictModel):
    """A facility file (GP practices or SPC services) and how to read it."""

    path: InputPath
    layer: str | None = None
    crs: str | None = Field(
        default=None, description="CRS of the coordinates; required for CSV inputs."
    )
    columns: FacilityColumns
    where: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict, description="Keep rows whose column value is in the list."
    )
    service_types: dict[str, ServiceType] = Field(
        default_factory=dict, description="Map raw service-type values to canonical types."
    )
    default_service_type: ServiceType | None = None
    default_capacity: float | None = Field(default=None, ge=0)
    capacity_units: str | None = Field(
        default=None, description="What capacity counts (FTE, beds, registered patients)."
    )
    capacity_table: CapacityTableConfig | None = Field(
        default=None, description="Capacity from a separate table joined by id (list sizes)."
    )
    geocode: GeocodeConfig | None = Field(
        default=None, description="Place rows by postcode (or address) instead of x/y."
    )

    @model_validator(mode="after")
    def _placed_and_sized_once(self) -> FacilitiesConfig:
        check_geocoding(self.columns.postcode, self.columns.address, self.geocode)
        if self.capacity_table is not None and self.columns.capacity is not None:
            raise ValueError("give columns.capacity or capacity_table, not both")
        return self


def check_geocoding(
    postcode: str | None, address: str | None, geocode: GeocodeConfig | None
) -> None:
    """A postcode column needs a postcode directory, an address column the online geocoder,
    and a ``geocode`` section needs one of them to act on."""
    if geocode is None:
        if postcode or address:
            raise ValueError("a postcode or address column needs a geocode section")
        return
    if not (postcode or address):
        raise ValueError("geocode needs a postcode (or address) column to place rows by")
    if postcode and geocode.postcodes is None and not address:
        raise ValueError("a postcode column needs geocode.postcodes (a postcode directory)")
    if address and not postcode and not geocode.online:
        raise ValueError("an address column is placed only online: set geocode.online: true")


class PopulationConfig(StrictModel):
    """Where people live: a raster, polygons with counts, or points with counts."""

    kind: Literal["raster", "points", "polygons"]
    path: InputPath
    layer: str | None = None
    crs: str | None = Field(default=None, description="Input CRS for CSV points.")
    count: str | int = Field(description="Count column, or raster band number (1-based).")
    age_bands: dict[str, str | int] = Field(
        default_factory=dict, description="e.g. {pop_65plus: 2} (band) or {pop_65plus: age65}."
    )
    id_column: str | None = None
    x: str | None = None
    y: str | None = None
    postcode: str | None = Field(
        default=None, description="Points: postcode column, placed through geocode.postcodes."
    )
    geocode: GeocodeConfig | None = None
    density_raster: InputPath | None = None
    aggregate_factor: int = Field(default=1, ge=1)
    cell_size_m: float = Field(default=1000.0, gt=0)

    @model_validator(mode="after")
    def _postcodes_for_points(self) -> PopulationConfig:
        if (self.postcode or self.geocode) and self.kind != "points":
            raise ValueError("population.postcode and geocode apply to kind: points only")
        check_geocoding(self.postcode, None, self.geocode)
        return self


class RemotenessConfig(StrictModel):
    """The remoteness classification of every origin."""

    scheme: Literal[
        "abs_ra",
        "abs_ra_2016",
        "abs_ra_2021",
        "mmm2019",
        "ruc2011",
        "ruc2021",
        "categorical",
        "computed",
    ]
    path: InputPath | None = None
    layer: str | None = None
    class_column: str | None = None
    code_column: str | None = Field(default=None, description="Lookup: the area-code column.")
    order: list[str] | None = Field(default=None, description="Class order, least remote first.")
    aggregate_code_length: int | None = Field(
        default=None,
        gt=0,
        description="Lookup finer than the origins' areas: match on this many leading "
        "characters and take the modal class (MMM by SA1 to SA2: 9).",
    )

    @model_validator(mode="after")
    def _needs_path(self) -> RemotenessConfig:
        if self.scheme != "computed" and (self.path is None or self.class_column is None):
            raise ValueError(f"scheme '{self.scheme}' needs remoteness.path and class_column")
        if self.scheme in {"mmm2019", "ruc2011", "ruc2021"} and self.code_column is None:
            raise ValueError(f"scheme '{self.scheme}' is a lookup: give remoteness.code_column")
        if self.scheme == "categorical" and not self.order:
            raise ValueError("scheme 'categorical' needs remoteness.order (least remote first)")
        return self


class DeathsConfig(StrictModel):
    """Deaths per area: by underlying cause, or all causes (``cause_column: null``)."""

    path: InputPath
    area_column: str = "area_id"
    cause_column: str | None = Field(
        default="cause",
        description="Underlying-cause column; null when the file counts deaths of all causes "
        "(split by the need model's national shares).",
    )
    count_column: str = "deaths"
    years: float = Field(
        default=1.0, gt=0, description="Years the counts cover (need is per year)."
    )
    age_band: Literal["all", "under_65", "65_plus"] = Field(
        default="all", description="Ages the all-cause counts cover (which national shares apply)."
    )


class NeedConfig(StrictModel):
    """The palliative need model and its inputs."""

    model: Literal["etkind", "rosenwax", "flat75"] = "etkind"
    source: Literal["deaths", "rates"] = "rates"
    deaths: DeathsConfig | None = None
    country: Literal["au", "england"] | None = None
    smr: SmrConfig | None = Field(
        default=None, description="Adjust national rates by local SMRs (source: rates)."
    )
    suppress_below: float = Field(default=5, ge=0)

    @model_validator(mode="after")
    def _deaths_given(self) -> NeedConfig:
        if self.source == "deaths" and self.deaths is None:
            raise ValueError("need.source 'deaths' needs a need.deaths section")
        if self.smr is not None and self.source != "rates":
            raise ValueError("need.smr adjusts national rates: use it with need.source 'rates'")
        return self


class SubareasConfig(StrictModel):
    """Reporting sub-areas (e.g. SA2, MSOA, wards)."""

    path: InputPath
    layer: str | None = None
    id_column: str
    name_column: str | None = None


class HomeVisitsConfig(StrictModel):
    """Community SPC teams' home-visit reach: a round trip and a visit fit in one shift.

    A home is within reach when ``2 × travel time + visit_min ≤ shift_min``.
    """

    shift_min: float = Field(default=480.0, gt=0, description="Length of a team's shift.")
    visit_min: float = Field(default=60.0, ge=0, description="Time spent at the home.")

    @model_validator(mode="after")
    def _visit_fits(self) -> HomeVisitsConfig:
        if self.visit_min >= self.shift_min:
            raise ValueError("home_visits.visit_min must be shorter than shift_min")
        return self

    @property
    def reach_min(self) -> float:
        """One-way travel time a team can cover: ``(shift_min - visit_min) / 2``."""
        return (self.shift_min - self.visit_min) / 2.0


# Thresholds and band edges are whole minutes (integer columns in the outputs); 30.0 reads as
# 30, 22.5 is an error.
WholeMinutes = Annotated[int, Field(gt=0)]


class ThresholdsConfig(StrictModel):
    """Coverage thresholds in whole minutes, per service kind and optionally per remoteness
    class."""

    gp_min: WholeMinutes = 30
    spc_min: WholeMinutes = 60
    by_remoteness: dict[str, dict[Literal["gp_min", "spc_min"], WholeMinutes]] = Field(
        default_factory=dict
    )
    bands_min: list[WholeMinutes] = Field(default_factory=lambda: [15, 30, 60, 120], min_length=1)
    isolated_gp_min: WholeMinutes = Field(
        default=60, description="A GP practice farther than this from SPC is isolated."
    )
    home_visits: HomeVisitsConfig | None = Field(
        default=None,
        description="When set, community SPC teams also cover homes within their home-visit "
        "reach, whatever the SPC threshold.",
    )

    @property
    def longest_class_min(self) -> float:
        """The longest time a coverage class reads (thresholds, per-class thresholds and the
        home-visit reach; not the bands or the isolation threshold)."""
        values = [self.gp_min, self.spc_min]
        values += [v for per_class in self.by_remoteness.values() for v in per_class.values()]
        if self.home_visits is not None:
            values.append(self.home_visits.reach_min)
        return float(max(values))

    @property
    def longest_min(self) -> float:
        """The longest time any class, table or band reads: thresholds, per-class thresholds,
        band edges, the isolation threshold and the home-visit reach."""
        values = [self.gp_min, self.spc_min, self.isolated_gp_min, *self.bands_min]
        values += [v for per_class in self.by_remoteness.values() for v in per_class.values()]
        if self.home_visits is not None:
            values.append(self.home_visits.reach_min)
        return float(max(values))

    @model_validator(mode="after")
    def _bands_increase(self) -> ThresholdsConfig:
        if any(b <= a for a, b in itertools.pairwise(self.bands_min)):
            raise ValueError("thresholds.bands_min must increase strictly")
        return self


class CatchmentsConfig(StrictModel):
    """Travel-time surface and isochrone polygons (the ``catchments`` layer)."""

    enabled: bool = True
    thresholds_min: list[WholeMinutes] = Field(default_factory=lambda: [15, 30, 60, 120])
    cell_size_m: float = Field(default=250.0, gt=0)
    max_offroad_m: float = Field(
        default=5000.0, gt=0, description="Cells farther from every road are unreachable."
    )
    per_facility: bool = Field(
        default=True, description="Also one set of isochrones per facility (not only per kind)."
    )
    max_cells: int = Field(
        default=4_000_000,
        ge=1,
        description="Most cells of the travel-time grid: a larger region gets coarser cells "
        "(with a warning) so the grid fits in memory (about 100 bytes a cell).",
    )
    per_facility_max: int = Field(
        default=300,
        ge=0,
        description="Above this many facilities, per-facility isochrones are skipped with a "
        "note (they take about 0.05 s each and grow the GeoPackage); the per-kind bands stay.",
    )

    @model_validator(mode="after")
    def _positive_thresholds(self) -> CatchmentsConfig:
        if not self.thresholds_min or min(self.thresholds_min) <= 0:
            raise ValueError("catchments.thresholds_min must be positive minutes")
        return self


class UncertaintyConfig(StrictModel):
    """Monte Carlo over road speeds: 90% intervals for the headline shares."""

    enabled: bool = True
    draws: int = Field(default=30, ge=2, le=10_000)
    spread: float = Field(
        default=0.15,
        ge=0,
        le=2,
        description="Lognormal sigma of speed multipliers on sealed urban roads "
        "(x2 unsealed, x1.5 rural).",
    )
    seed: int = 20261125


class OutputConfig(StrictModel):
    """Where and how outputs are written."""

    dir: InputPath | None = None
    offline_map: bool = False
    tiles: str | None = "OpenStreetMap"
    workshop_packs: bool | Literal["auto"] = Field(
        default="auto",
        description="Whether a run prepares its workshop packs for `gapmap report --by "
        "subarea`: true, false, or auto (when a second process can prepare them while the run "
        "writes its files, for at most 24 populated sub-areas).",
    )


class PartitionConfig(StrictModel):
    """Route a big region tile by tile on Dask (see the README's Scaling section).

    Each tile is searched on the roads inside it plus a buffer wide enough for the largest
    threshold, so every time within the thresholds and bands is exactly the whole-network
    time; beyond the last band, times are ``inf`` (counted in the last, open band).
    """

    tile_size_km: float = Field(gt=0, description="Side of the square tiles.")
    workers: int = Field(default=2, ge=1, description="Local cluster worker processes.")
    scheduler: str | None = Field(default=None, description="A running Dask scheduler address.")


class RegionConfig(StrictModel):
    """A whole region run. See the README's config walk-through."""

    region: RegionInfo
    roads: RoadsConfig
    gp_practices: FacilitiesConfig
    specialist_services: FacilitiesConfig
    population: PopulationConfig
    remoteness: RemotenessConfig | None = None
    need: NeedConfig = Field(default_factory=NeedConfig)
    subareas: SubareasConfig | None = None
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    catchments: CatchmentsConfig = Field(default_factory=CatchmentsConfig)
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    partition: PartitionConfig | None = None
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _partition_without_catchments(self) -> RegionConfig:
        if self.partition is not None and self.catchments.enabled:
            raise ValueError(
                "catchments need whole-network searches: with partition, set "
                "catchments: {enabled: false}"
            )
        return self


def load_config(path: str | Path) -> RegionConfig:
    """Read and validate a region config.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    RegionConfig
        The validated config, with every path absolute.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, or holds a single invalid entry.
    InputErrors
        Several entries are invalid; each is listed with its key.
    """
    path = Path(path)
    return parse_config(read_yaml(path), path=path)


def parse_config(raw: dict[str, Any], *, path: Path) -> RegionConfig:
    """Validate an already-parsed config mapping (see :func:`load_config`)."""
    return validate_file_model(RegionConfig, raw, path)
