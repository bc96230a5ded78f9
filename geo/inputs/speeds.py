"""Speed model: OSM ``maxspeed`` parsing, country speed profiles, urban/rural and surface rules.

Every edge gets a free-flow speed in this order of precedence:

1. a user override for its highway class (``roads.speeds_kph`` in the config);
2. its ``maxspeed`` tag, when it parses (km/h, ``mph``, ``knots``, implicit codes such as
   ``AU:rural`` or ``GB:nsl_single`` from ``geo/reference/maxspeed_codes.csv``, lists such as
   ``50;80`` taking the lowest, ``none`` meaning the profile's motorway speed);
3. the country profile (``geo/reference/speeds_<profile>.csv``), urban or rural by the road
   density around the edge.

Then unsealed surfaces are slowed by ``unsealed_factor`` and everything is scaled by
``freeflow_factor`` (the share of the posted limit actually driven). Ferries take their
``duration`` tag, else ``ferry_speed_kph``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from geo.errors import ConfigError
from geo.reference import read_reference

log = logging.getLogger(__name__)

PROFILES = ("au", "gb", "generic")
MPH_TO_KPH = 1.609344
KNOT_TO_KPH = 1.852
UNSEALED_SURFACES = frozenset(
    {
        "unpaved",
        "gravel",
        "fine_gravel",
        "dirt",
        "earth",
        "ground",
        "sand",
        "mud",
        "grass",
        "compacted",
        "pebblestone",
        "rock",
        "dirt/sand",
        "clay",
        "salt",
        "unsealed",
        "woodchips",
    }
)
UNSEALED_TRACKTYPES = frozenset({"grade2", "grade3", "grade4", "grade5"})
URBAN_CELL_M = 1000.0
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)

DEFAULT_DRIVABLE = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "track",
    "road",
)


@dataclass(frozen=True)
class SpeedSettings:
    """Settings of the speed model (all overridable from the region config).

    Attributes
    ----------
    profile
        Country profile of default speeds: ``au``, ``gb`` or ``generic``.
    speeds_kph
        Overrides by highway class, applied before ``maxspeed`` (e.g. ``{"track": 30}``).
    unsealed_factor
        Multiplier for unsealed surfaces (``surface=gravel``, ``tracktype=grade2+``...).
    freeflow_factor
        Multiplier from posted/default speed to the speed actually driven.
    ferry_speed_kph
        Ferry speed when a ferry route has no ``duration`` tag.
    include_tracks
        Keep ``highway=track`` (farm and station tracks matter in remote areas).
    urban_density_km_per_km2
        Road length per km² above which a 1 km cell counts as built-up (urban defaults).
    drivable_highways
        Highway classes kept as drivable.
    """

    profile: str = "generic"
    speeds_kph: Mapping[str, float] = field(default_factory=dict)
    unsealed_factor: float = 0.6
    freeflow_factor: float = 1.0
    ferry_speed_kph: float = 20.0
    include_tracks: bool = True
    urban_density_km_per_km2: float = 8.0
    drivable_highways: frozenset[str] = frozenset(DEFAULT_DRIVABLE)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(
                f"unknown speed profile {self.profile!r}; use one of {', '.join(PROFILES)}"
            )
        bad = {k: v for k, v in self.speeds_kph.items() if not 0 < float(v) <= 200}
        if bad:
            raise ConfigError(f"roads.speeds_kph values must be in (0, 200] km/h: {bad}")

    def cache_key(self) -> dict:
        """A JSON-able description used to key the network cache."""
        return {
            "profile": self.profile,
            "speeds_kph": dict(sorted(self.speeds_kph.items())),
            "unsealed_factor": self.unsealed_factor,
            "freeflow_factor": self.freeflow_factor,
            "ferry_speed_kph": self.ferry_speed_kph,
            "include_tracks": self.include_tracks,
            "urban_density_km_per_km2": self.urban_density_km_per_km2,
            "drivable_highways": sorted(self.drivable_highways),
            "profile_table": load_profile(self.profile).to_dict(orient="index"),
        }


@lru_cache(maxsize=8)
def load_profile(profile: str) -> pd.DataFrame:
    """Default urban/rural speeds by highway class (index ``highway``) for a country profile."""
    table = read_reference(f"speeds_{profile}").set_index("highway")
    return table[["urban_kph", "rural_kph"]].astype(float)


@lru_cache(maxsize=1)
def load_maxspeed_codes() -> dict[str, tuple[float, bool]]:
    """Implicit ``maxspeed`` codes (``AU:rural``...) → (km/h, urban?)."""
    table = read_reference("maxspeed_codes")
    urban = table["urban"].astype(str).str.lower() == "true"
    return {
        c.lower(): (float(k), bool(u))
        for c, k, u in zip(table["code"], table["kph"], urban, strict=True)
    }


def parse_maxspeed(value: str | None, *, motorway_kph: float = 110.0) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h.

    Parameters
    ----------
    value
        The tag value, e.g. ``"50"``, ``"30 mph"``, ``"AU:rural"``, ``"50;80"``, ``"none"``.
    motorway_kph
        Speed used for ``none`` (no limit), normally the profile's motorway speed.

    Returns
    -------
    float or None
        km/h, or None when the value is absent or cannot be understood.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    parts = [p for p in re.split(r"[;|]", text) if p.strip()]
    if len(parts) > 1:  # several limits (lanes, times of day): the lowest is the safe choice
        speeds = [parse_maxspeed(p, motorway_kph=motorway_kph) for p in parts]
        known = [s for s in speeds if s is not None]
        return min(known) if known else None
    lower = text.lower()
    if lower in {"none", "unlimited"}:
        return motorway_kph
    if lower in {"walk", "walking"}:
        return 7.0
    code = load_maxspeed_codes().get(lower)
    if code is not None:
        return code[0]
    match = _NUMBER.match(lower)
    if not match:
        return None
    number = float(match.group(1))
    unit = (match.group(2) or "").lower()
    if unit == "mph":
        number *= MPH_TO_KPH
    elif unit == "knots":
        number *= KNOT_TO_KPH
    return number if 0 < number <= 200 else None


def is_unsealed(tags: Mapping[str, str]) -> bool:
    """Whether a way is unsealed (surface or track grade), so driven slower than its limit."""
    surface = (tags.get("surface") or "").lower()
    if surface:
        return surface in UNSEALED_SURFACES
    return (tags.get("tracktype") or "").lower() in UNSEALED_TRACKTYPES


def parse_duration_s(value: str | None) -> float | None:
    """Parse an OSM ``duration`` (``HH:MM``, ``HH:MM:SS``, ``MM`` minutes, ISO ``PT1H30M``)."""
    if not value:
        return None
    text = str(value).strip().upper()
    iso = re.fullmatch(r"PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?", text)
    if iso and any(iso.groups()):
        h, m, s = (float(g) if g else 0.0 for g in iso.groups())
        return h * 3600 + m * 60 + s
    parts = text.split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    if len(numbers) == 1:
        seconds = numbers[0] * 60
    elif len(numbers) == 2:
        seconds = numbers[0] * 3600 + numbers[1] * 60
    elif len(numbers) == 3:
        seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    else:
        return None
    return seconds if seconds > 0 else None


def urban_mask(
    x_m: np.ndarray, y_m: np.ndarray, length_m: np.ndarray, *, threshold_km_per_km2: float
) -> np.ndarray:
    """Mark edges whose 1 km cell holds more road than ``threshold_km_per_km2`` as urban.

    Road density is a robust, data-only proxy for built-up areas where no urban boundary is
    given: towns have dense street grids, the countryside has sparse roads.
    """
    if len(x_m) == 0:
        return np.zeros(0, bool)
    ix = np.floor((x_m - x_m.min()) / URBAN_CELL_M).astype(np.int64)
    iy = np.floor((y_m - y_m.min()) / URBAN_CELL_M).astype(np.int64)
    cell = ix * (int(iy.max()) + 1) + iy
    _, inverse = np.unique(cell, return_inverse=True)
    km = np.bincount(inverse, weights=length_m) / 1000.0 / 2.0  # both directions counted
    return km[inverse] > threshold_km_per_km2


def assign_speeds(
    edges: pd.DataFrame,
    way_tags: Sequence[Mapping[str, str]],
    settings: SpeedSettings,
    *,
    mid_x_m: np.ndarray | None = None,
    mid_y_m: np.ndarray | None = None,
) -> pd.DataFrame:
    """Add ``speed_kph``, ``travel_time_s`` and the speed attributes to directed edges.

    Parameters
    ----------
    edges
        Columns ``length_m`` and ``way_index`` (row in ``way_tags``).
    way_tags
        Tags of every kept way.
    settings
        The speed model settings.
    mid_x_m, mid_y_m
        Edge midpoints in a metric CRS for the urban test (default: none are urban-tested and
        every edge without ``maxspeed`` takes the rural default... unless given).

    Returns
    -------
    pandas.DataFrame
        ``edges`` with ``highway``, ``unsealed``, ``is_ferry``, ``urban``, ``speed_kph``,
        ``travel_time_s``, ``maxspeed_source`` (``override``/``tag``/``profile``/``ferry``);
        ``attrs["speed_stats"]`` holds counts of each source and of unparsed ``maxspeed``.
    """
    profile = load_profile(settings.profile)
    motorway_kph = float(profile.loc["motorway", "rural_kph"])
    per_way = _per_way_attributes(way_tags, settings, motorway_kph)
    w = edges["way_index"].to_numpy()
    out = edges.copy()
    for col in ("highway", "unsealed", "is_ferry", "tag_kph", "override_kph", "ferry_s"):
        out[col] = per_way[col].to_numpy()[w]
    if mid_x_m is not None and mid_y_m is not None:
        out["urban"] = urban_mask(
            mid_x_m,
            mid_y_m,
            out["length_m"].to_numpy(),
            threshold_km_per_km2=settings.urban_density_km_per_km2,
        )
    else:
        out["urban"] = False
    return _finish_speeds(out, per_way, profile, settings)


def _per_way_attributes(
    way_tags: Sequence[Mapping[str, str]], settings: SpeedSettings, motorway_kph: float
) -> pd.DataFrame:
    rows = []
    for tags in way_tags:
        ferry = tags.get("route") == "ferry" and "highway" not in tags
        highway = "ferry" if ferry else tags.get("highway", "road")
        raw = tags.get("maxspeed")
        rows.append(
            {
                "highway": highway,
                "unsealed": (not ferry) and is_unsealed(tags),
                "is_ferry": ferry,
                "tag_kph": parse_maxspeed(raw, motorway_kph=motorway_kph) if raw else None,
                "maxspeed_raw": raw,
                "override_kph": settings.speeds_kph.get(highway),
                "ferry_s": parse_duration_s(tags.get("duration")) if ferry else None,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "highway",
            "unsealed",
            "is_ferry",
            "tag_kph",
            "maxspeed_raw",
            "override_kph",
            "ferry_s",
        ],
    )
    for col in ("tag_kph", "override_kph", "ferry_s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def _finish_speeds(
    out: pd.DataFrame, per_way: pd.DataFrame, profile: pd.DataFrame, settings: SpeedSettings
) -> pd.DataFrame:
    generic = load_profile("generic")
    table = profile.reindex(profile.index.union(generic.index))
    table = table.fillna(generic.reindex(table.index))
    urban_kph = out["highway"].map(table["urban_kph"]).fillna(table.loc["road", "urban_kph"])
    rural_kph = out["highway"].map(table["rural_kph"]).fillna(table.loc["road", "rural_kph"])
    default_kph = np.where(out["urban"], urban_kph, rural_kph)
    source = np.where(
        out["override_kph"].notna(), "override", np.where(out["tag_kph"].notna(), "tag", "profile")
    )
    speed = (
        out["override_kph"].fillna(out["tag_kph"]).fillna(pd.Series(default_kph, index=out.index))
    )
    speed = speed.to_numpy(float)
    speed = np.where(
        out["unsealed"] & (source != "override"), speed * settings.unsealed_factor, speed
    )
    speed = speed * settings.freeflow_factor
    ferry = out["is_ferry"].to_numpy(bool)
    speed = np.where(ferry, settings.ferry_speed_kph, speed)
    time_s = out["length_m"].to_numpy(float) / (speed / 3.6)
    # A ferry's duration tag is for the whole route: share it over its segments by length.
    if ferry.any():
        # Per way and direction: a two-way ferry's duration applies to each crossing.
        keys = [out["way_index"]] + ([out["forward"]] if "forward" in out else [])
        way_len = out["length_m"].groupby(keys).transform("sum")[ferry]
        dur = out.loc[ferry, "ferry_s"]
        tagged = dur.notna().to_numpy()
        idx = np.flatnonzero(ferry)[tagged]
        share = out.loc[ferry, "length_m"][tagged] / way_len[tagged]
        time_s[idx] = (dur[tagged] * share).to_numpy()
        speed[idx] = out["length_m"].to_numpy()[idx] / time_s[idx] * 3.6
        source = np.where(ferry, "ferry", source)
    out["speed_kph"] = speed
    out["travel_time_s"] = time_s
    out["maxspeed_source"] = source
    out.attrs["speed_stats"] = _speed_stats(per_way, out)
    return out.drop(columns=["tag_kph", "override_kph", "ferry_s"])


def _speed_stats(per_way: pd.DataFrame, edges: pd.DataFrame) -> dict[str, int]:
    has_tag = per_way["maxspeed_raw"].notna()
    unparsed = has_tag & per_way["tag_kph"].isna()
    examples = Counter(per_way.loc[unparsed, "maxspeed_raw"].astype(str)).most_common(5)
    if unparsed.any():
        log.warning(
            "%d ways have a maxspeed we could not read (profile speed used), e.g. %s",
            int(unparsed.sum()),
            ", ".join(f"{v!r}" for v, _ in examples),
        )
    counts = edges["maxspeed_source"].value_counts()
    return {
        "ways_maxspeed_tagged": int(has_tag.sum()),
        "ways_maxspeed_unparsed": int(unparsed.sum()),
        "maxspeed_unparsed_examples": [v for v, _ in examples],
        "edges_speed_from_tag": int(counts.get("tag", 0)),
        "edges_speed_from_profile": int(counts.get("profile", 0)),
        "edges_speed_from_override": int(counts.get("override", 0)),
        "edges_ferry": int(counts.get("ferry", 0)),
        "edges_unsealed": int(edges["unsealed"].sum()),
        "edges_urban": int(edges["urban"].sum()),
    }
