"""Scenario files: what-if changes to a region's services, validated like region configs.

A scenario names facilities to add or remove, specialist outreach clinics held at GP practices,
telehealth case-conference links between GP practices and SPC teams, community team bases moved
or added, and optionally the community teams' home-visit shift. See ``scripts/scenarios/`` and
the README's scenario section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.config.files import ServiceType, StrictModel, read_yaml, validate_file_model
from geo.config.region import HomeVisitsConfig, ThresholdsConfig

# Working days in an average month: a clinic held this many days a month runs full time.
WORKING_DAYS_PER_MONTH = 21.7


class Site(StrictModel):
    """A point given in ``crs`` (default WGS84 longitude/latitude)."""

    x: float
    y: float
    crs: str = "EPSG:4326"

    @model_validator(mode="after")
    def _a_real_place(self) -> Site:
        try:
            crs = CRS.from_user_input(self.crs)
        except CRSError:
            raise ValueError(
                f"crs {self.crs!r} is not a CRS pyproj knows (e.g. EPSG:4326)"
            ) from None
        if crs.is_geographic and not (-180 <= self.x <= 180 and -90 <= self.y <= 90):
            raise ValueError(
                f"({self.x}, {self.y}) is not a longitude/latitude in {self.crs}: x is the "
                "longitude (-180 to 180), y the latitude (-90 to 90)"
            )
        return self


class NewFacility(Site):
    """A facility to add: a GP practice or an SPC service."""

    facility_id: str = Field(min_length=1)
    kind: Literal["gp", "spc"]
    name: str = Field(min_length=1)
    service_type: ServiceType | None = Field(
        default=None, description="SPC only: inpatient, community, hospital or outreach."
    )
    capacity: float | None = Field(
        default=1.0, ge=0, description="null: unknown, as an empty cell in a facility file"
    )
    accepts_non_cancer: bool = True

    @model_validator(mode="after")
    def _spc_has_type(self) -> NewFacility:
        if self.kind == "spc" and self.service_type is None:
            raise ValueError(f"new SPC service {self.facility_id!r} needs a service_type")
        return self


class OutreachClinic(StrictModel):
    """A visiting specialist clinic at a GP practice, run by an existing SPC service."""

    site: str = Field(min_length=1, description="facility_id of the host GP practice")
    service: str = Field(min_length=1, description="facility_id of the visiting SPC service")
    days_per_month: float = Field(gt=0, le=31, description="Clinic days a month")

    def capacity_share(self) -> float:
        """Share of the visiting service's capacity the clinic offers (days / working days)."""
        return min(self.days_per_month / WORKING_DAYS_PER_MONTH, 1.0)


class Telehealth(StrictModel):
    """Case-conference links: linked GP practices' patients count as ``virtual`` coverage."""

    practices: Literal["all"] | list[str] = "all"
    within_min: float = Field(
        default=120.0,
        gt=0,
        description="A practice is linked when an SPC team is within this road time of it.",
    )


class CommunityBase(Site):
    """A community SPC team base: ``facility_id`` of an existing team moves; a new id adds one."""

    facility_id: str = Field(min_length=1)
    name: str | None = None
    capacity: float | None = Field(default=None, ge=0)
    accepts_non_cancer: bool = True


class ScenarioConfig(StrictModel):
    """One what-if scenario for a region."""

    name: str = Field(min_length=1)
    description: str = ""
    add_facilities: list[NewFacility] = Field(default_factory=list)
    remove_facilities: list[str] = Field(default_factory=list)
    outreach_clinics: list[OutreachClinic] = Field(default_factory=list)
    telehealth: Telehealth | None = None
    community_bases: list[CommunityBase] = Field(default_factory=list)
    thresholds: ThresholdsConfig | None = Field(
        default=None,
        description="Replaces the region's thresholds in both the baseline and the scenario "
        "(e.g. a workshop testing a stricter access standard).",
    )
    home_visits: HomeVisitsConfig | None = Field(
        default=None, description="Home-visit shift for both the baseline and the scenario."
    )
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_new_ids(self) -> ScenarioConfig:
        ids = [f.facility_id for f in self.add_facilities]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"add_facilities repeats facility_id {', '.join(dupes)}")
        return self


def load_scenario(path: str | Path) -> ScenarioConfig:
    """Read and validate a scenario file.

    Raises
    ------
    ConfigError, InputErrors
        Missing file, bad YAML, or invalid entries (each named by its key).
    """
    path = Path(path)
    raw: dict[str, Any] = read_yaml(path, what="scenario")
    return validate_file_model(ScenarioConfig, raw, path)
