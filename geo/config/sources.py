"""Config models for the inputs planners hold: postcode lists, list sizes, SMRs.

* :class:`GeocodeConfig`: where a facility or point-population file gives a postcode (or an
  address) instead of coordinates, the postcode directory that places it and, opt-in, an online
  geocoder for addresses;
* :class:`CapacityTableConfig`: a capacity per facility from a separate table joined by id
  (e.g. registered patients per GP practice);
* :class:`SmrConfig`: local standardised mortality ratios that adjust national need rates.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from geo.config.files import InputPath, StrictModel

__all__ = [
    "NOMINATIM_URL",
    "CapacityTableConfig",
    "GeocodeConfig",
    "PostcodeDirectoryConfig",
    "SmrConfig",
]

# The public Nominatim search endpoint. Its usage policy asks for at most one request per
# second, an identifying User-Agent, and cached results
# (https://operations.osmfoundation.org/policies/nominatim/).
NOMINATIM_URL = "https://nominatim.openstreetmap.org/search"


class PostcodeDirectoryConfig(StrictModel):
    """A postcode directory: each postcode's coordinates.

    ``format`` fills in the column names and CRS of the two common British products:
    ``codepoint`` (OS Code-Point Open: ``Postcode``, ``Eastings``, ``Northings``,
    EPSG:27700; the raw files have no header row, which is recognised) and ``onspd`` (ONS
    Postcode Directory: ``pcds``, ``oseast1m``, ``osnrth1m``, EPSG:27700). ``csv`` is any
    table with a postcode column and coordinates: give ``postcode``, ``x``, ``y`` and ``crs``.
    """

    path: InputPath = Field(description="A CSV file, or a folder of CSV files (Code-Point Open).")
    format: Literal["csv", "codepoint", "onspd"] = "csv"
    postcode: str | None = Field(default=None, description="Postcode column.")
    x: str | None = Field(default=None, description="Easting/longitude column.")
    y: str | None = Field(default=None, description="Northing/latitude column.")
    crs: str | None = Field(default=None, description="CRS of x and y (e.g. EPSG:27700).")
    precision: str = Field(
        default="postcode unit centroid",
        description="What a matched point stands for (shown in popups and run.json).",
    )

    @model_validator(mode="after")
    def _columns_known(self) -> PostcodeDirectoryConfig:
        if self.format == "csv" and not (self.postcode and self.x and self.y and self.crs):
            raise ValueError(
                "a postcode directory of format 'csv' needs postcode, x, y and crs "
                "(or set format: codepoint or onspd)"
            )
        return self


class GeocodeConfig(StrictModel):
    """How rows without coordinates are placed: by postcode lookup, offline, or online.

    A row is placed by its postcode when ``columns.postcode`` is mapped and a directory is
    given; rows still unplaced with an ``columns.address`` go to the online geocoder when
    ``online: true`` and the command runs with ``--online`` (cached answers are reused
    offline). Rows left unplaced stop the run (``on_unmatched: error``) or are dropped with a
    warning (``drop``).
    """

    postcodes: PostcodeDirectoryConfig | None = None
    on_unmatched: Literal["error", "drop"] = "error"
    online: bool = Field(
        default=False, description="Allow the online geocoder (also needs --online)."
    )
    url: str = Field(default=NOMINATIM_URL, description="A Nominatim-compatible search URL.")
    user_agent: str = Field(
        default="gapmap palliative-care access planning (offline-first; cached lookups)",
        min_length=5,
        description="Identifies the application to the geocoder (Nominatim policy).",
    )
    email: str | None = Field(default=None, description="Contact sent with each request.")
    country_codes: list[str] = Field(
        default_factory=list, description="Limit results to these ISO 3166-1 codes (au, gb)."
    )
    min_interval_s: float = Field(
        default=1.0, ge=0, description="Seconds between requests (Nominatim: at least 1)."
    )
    timeout_s: float = Field(default=30.0, gt=0)
    cache: InputPath | None = Field(
        default=None, description="JSON cache of answers; default .cache/geocode.json."
    )

    @model_validator(mode="after")
    def _some_method(self) -> GeocodeConfig:
        if self.postcodes is None and not self.online:
            raise ValueError("geocode needs a postcode directory (postcodes:) or online: true")
        return self


class CapacityTableConfig(StrictModel):
    """A capacity per facility from its own table, joined by the facility id.

    For GP practices this is the registered list size (NHS "Patients Registered at a GP
    Practice": ``CODE``, ``NUMBER_OF_PATIENTS``, one row per practice with ``SEX`` and ``AGE``
    ``ALL``); access scores then count registered patients, not FTE.
    """

    path: InputPath
    id_column: str = Field(description="Column holding the facility id (e.g. CODE).")
    capacity_column: str = Field(description="Column holding the capacity (NUMBER_OF_PATIENTS).")
    where: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict, description="Keep rows whose column value is in the list."
    )
    units: str = Field(default="registered patients", min_length=1)
    on_missing: Literal["error", "median"] = Field(
        default="error",
        description="A facility without a row: stop (error) or take the median (median).",
    )


class SmrConfig(StrictModel):
    """Local standardised mortality ratios (national = 100) per sub-area.

    National need rates are multiplied by the area's cancer SMR (cancer need) and by its
    non-cancer SMR, derived from the all-cause and cancer SMRs (non-cancer need).
    """

    path: InputPath
    area_column: str = Field(description="Sub-area code column (matched to subareas.id_column).")
    all_cause_column: str
    cancer_column: str
    reference: float = Field(default=100.0, gt=0, description="The national SMR (100).")
