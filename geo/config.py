"""Region configuration: a validated YAML file naming a region's inputs and settings.

Unknown keys and wrong types are errors that name the key and suggest the nearest valid one.
Paths are relative to the config file, or to ``$GEO_DATA_ROOT`` when written as
``${GEO_DATA_ROOT}/...`` (any ``${VAR}`` is expanded from the environment).

Defaults and where they come from (see ``data/reference/README.md``):

* GP threshold 30 min: rural residents tolerate about 32 min to their usual doctor in closely
  settled areas (BMC Health Services Research 2015, doi:10.1186/s12913-015-0880-6).
* SPC threshold 60 min: one-hour road travel is a common specialist palliative care planning
  catchment (Cinnamon, Schuurman & Crooks 2008, British Columbia).
* Off-network speed 15 km/h and snapping limit 5 km: assumptions of this toolkit (a farm track or
  driveway is driven slowly; a home more than 5 km from any mapped road is reported as unreachable
  rather than silently attached to a far road).
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from geo.errors import ConfigError, InputErrors

__all__ = [
    "FacilitiesConfig",
    "NeedConfig",
    "PopulationConfig",
    "RegionConfig",
    "RemotenessConfig",
    "load_config",
]

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ``${VAR}`` and make the path absolute.

    A relative path written in the config is relative to the config file's folder; a relative
    folder given in an environment variable is relative to the current directory (where the
    user typed it).
    """
    text = str(value)
    missing = [name for name in _ENV_VAR.findall(text) if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"environment variable {missing[0]} is not set; set it to the folder that holds "
            f"the data (e.g. export {missing[0]}=../shared/data) or write the path out in full"
        )
    text = _ENV_VAR.sub(lambda m: os.path.abspath(os.environ[m.group(1)]), text)
    path = Path(text).expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return Path(os.path.normpath(path))


InputPath = Annotated[Path, AfterValidator(_resolve_path)]
ServiceType = Literal["inpatient", "community", "hospital", "outreach"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionInfo(_Strict):
    """The region: its name, analysis CRS and country (which sets speed and need defaults)."""

    name: str = Field(min_length=1)
    crs: str | None = Field(
        default=None, description="Projected analysis CRS, e.g. EPSG:7855; default: local UTM zone."
    )
    country: Literal["au", "gb", "generic"] = "generic"
    boundary: InputPath | None = Field(default=None, description="Region polygon file (optional).")


class RoadsConfig(_Strict):
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
    max_snap_distance_m: float = Field(default=5000.0, gt=0)
    offroad_speed_kph: float = Field(default=15.0, gt=0)
    cache: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> RoadsConfig:
        if self.path is None and self.place is None and self.polygon is None:
            raise ValueError("give roads.path (an OSM file), or roads.place / roads.polygon")
        return self


class FacilityColumns(_Strict):
    """Which input columns hold each facility attribute."""

    id: str
    name: str
    x: str | None = Field(default=None, description="Longitude/easting column (CSV inputs).")
    y: str | None = Field(default=None, description="Latitude/northing column (CSV inputs).")
    capacity: str | None = None
    service_type: str | None = None
    accepts_non_cancer: str | None = None


class FacilitiesConfig(_Strict):
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


class PopulationConfig(_Strict):
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
    density_raster: InputPath | None = None
    aggregate_factor: int = Field(default=1, ge=1)
    cell_size_m: float = Field(default=1000.0, gt=0)


class RemotenessConfig(_Strict):
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


class DeathsConfig(_Strict):
    """Deaths by underlying cause per area."""

    path: InputPath
    area_column: str = "area_id"
    cause_column: str = "cause"
    count_column: str = "deaths"


class NeedConfig(_Strict):
    """The palliative need model and its inputs."""

    model: Literal["etkind", "rosenwax", "flat75"] = "etkind"
    source: Literal["deaths", "rates"] = "rates"
    deaths: DeathsConfig | None = None
    country: Literal["au", "england"] | None = None
    suppress_below: float = Field(default=5, ge=0)

    @model_validator(mode="after")
    def _deaths_given(self) -> NeedConfig:
        if self.source == "deaths" and self.deaths is None:
            raise ValueError("need.source 'deaths' needs a need.deaths section")
        return self


class SubareasConfig(_Strict):
    """Reporting sub-areas (e.g. SA2, MSOA, wards)."""

    path: InputPath
    layer: str | None = None
    id_column: str
    name_column: str | None = None


class HomeVisitsConfig(_Strict):
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


class ThresholdsConfig(_Strict):
    """Coverage thresholds in minutes, per service kind and optionally per remoteness class."""

    gp_min: float = Field(default=30.0, gt=0)
    spc_min: float = Field(default=60.0, gt=0)
    by_remoteness: dict[str, dict[Literal["gp_min", "spc_min"], float]] = Field(
        default_factory=dict
    )
    bands_min: list[float] = Field(default_factory=lambda: [15.0, 30.0, 60.0, 120.0])
    isolated_gp_min: float = Field(
        default=60.0, gt=0, description="A GP practice farther than this from SPC is isolated."
    )
    home_visits: HomeVisitsConfig | None = Field(
        default=None,
        description="When set, community SPC teams also cover homes within their home-visit "
        "reach, whatever the SPC threshold.",
    )

    @model_validator(mode="after")
    def _bands_increase(self) -> ThresholdsConfig:
        if any(b <= a for a, b in itertools.pairwise(self.bands_min)):
            raise ValueError("thresholds.bands_min must increase strictly")
        return self


class CatchmentsConfig(_Strict):
    """Travel-time surface and isochrone polygons (the ``catchments`` layer)."""

    enabled: bool = True
    thresholds_min: list[float] = Field(default_factory=lambda: [15.0, 30.0, 60.0, 120.0])
    cell_size_m: float = Field(default=250.0, gt=0)
    max_offroad_m: float = Field(
        default=5000.0, gt=0, description="Cells farther from every road are unreachable."
    )
    per_facility: bool = Field(
        default=True, description="Also one set of isochrones per facility (not only per kind)."
    )

    @model_validator(mode="after")
    def _positive_thresholds(self) -> CatchmentsConfig:
        if not self.thresholds_min or min(self.thresholds_min) <= 0:
            raise ValueError("catchments.thresholds_min must be positive minutes")
        return self


class UncertaintyConfig(_Strict):
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


class OutputConfig(_Strict):
    """Where and how outputs are written."""

    dir: InputPath | None = None
    offline_map: bool = False
    tiles: str | None = "OpenStreetMap"


class PartitionConfig(_Strict):
    """Route a big region tile by tile on Dask (see the README's Scaling section).

    Each tile is searched on the roads inside it plus a buffer wide enough for the largest
    threshold, so every time within the thresholds and bands is exactly the whole-network
    time; beyond the last band, times are ``inf`` (counted in the last, open band).
    """

    tile_size_km: float = Field(gt=0, description="Side of the square tiles.")
    workers: int = Field(default=2, ge=1, description="Local cluster worker processes.")
    scheduler: str | None = Field(default=None, description="A running Dask scheduler address.")


class RegionConfig(_Strict):
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


M = TypeVar("M", bound=BaseModel)


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
    raw = read_yaml(path)
    return parse_config(raw, path=path)


def parse_config(raw: dict[str, Any], *, path: Path) -> RegionConfig:
    """Validate an already-parsed config mapping (see :func:`load_config`)."""
    return validate_file_model(RegionConfig, raw, path)


def validate_file_model(model: type[M], raw: Any, path: Path) -> M:
    """Validate a YAML file's mapping against ``model`` (relative paths resolved against the
    file's folder) and record the file as ``source_path``.

    Raises
    ------
    ConfigError, InputErrors
        One invalid entry, or several (each named with its key).
    """
    try:
        obj = model.model_validate(raw, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        problems = validation_problems(exc, model, path)
        raise (problems[0] if len(problems) == 1 else InputErrors(problems)) from None
    return obj.model_copy(update={"source_path": path.resolve()})


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError("config file not found; check the path", path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", exc)
        raise ConfigError(f"not valid YAML: {problem}", path=path, row=row) from None
    except UnicodeDecodeError:
        raise ConfigError("not a UTF-8 text file", path=path) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            "the config must be a mapping of sections (region:, roads:, ...)", path=path
        )
    return raw


def validation_problems(
    exc: ValidationError, model: type[BaseModel], path: Path
) -> list[ConfigError]:
    """Turn a pydantic error into one :class:`ConfigError` per problem, with key suggestions."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            valid = sorted(_fields_at(model, err["loc"][:-1]))
            near = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"valid keys: {', '.join(valid)}"
            message = f"unknown key '{key}'; {hint}"
        elif err["type"] == "missing":
            message = f"missing required key '{key}'"
        else:
            given = err.get("input")
            shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
            message = f"key '{key}': {_clean_message(err['msg'])}{shown}"
        problems.append(ConfigError(message, path=path, column=None))
    return problems


def _clean_message(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The valid keys of the (nested) model found at ``loc`` below ``model``."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return set()
        field = current.model_fields.get(str(part))
        if field is None:
            return set()
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {n for n, f in current.model_fields.items() if not f.exclude}
    return set()


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation such as ``Foo | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
