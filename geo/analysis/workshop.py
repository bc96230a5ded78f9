"""What-if workshop tables: everything the workshop page needs to recompute coverage itself.

``gapmap workshop`` writes one self-contained page on which a room switches specialist
services off and on, switches candidate outreach clinics on, links GP practices by telehealth
and moves the GP and SPC thresholds, and sees coverage change at once. The page never routes:
this module precomputes, once, what every such choice can read.

* For every specialist service and every candidate clinic, the travel time to (or, for a
  community team, from) every origin within the longest SPC threshold the page can ask for,
  and to every GP practice within the telehealth link time.
* For every origin, its nearest-GP time (the page does not change GP practices), its nearest
  practice, its remoteness class and thresholds, its people and need.

Times are stored as **decision codes**: the code of a time ``t`` is the smallest integer ``q``
with ``t <= q / per_min`` (``per_min`` codes per minute, chosen so that every threshold the page
can use, slider minutes and the config's fixed ones, is some ``K / per_min``). Then
``q <= K  ⇔  t <= K / per_min`` exactly, so the page's within/beyond decisions equal the
coverage model's on the full-precision times (:mod:`geo.analysis.coverage`) — quantised to whole
minutes whenever the thresholds are whole minutes. Each facility's times come from its own
single-source search with the search plan's arithmetic (:func:`~geo.routing.travel.run_search`,
:func:`~geo.routing.travel.times_at_nodes`); the minimum over any set of them is bit for bit the
multi-source time a ``gapmap scenario`` run computes.

A candidate clinic is an SPC service of type ``outreach`` at the site (people travel to it),
run by its *visiting service*: the existing service nearest to the site by road (for a GP
practice, the practice's GP–specialist link), whose acceptance of non-cancer referrals it
shares. :mod:`geo.analysis.workshop_model` evaluates a choice on these tables (the page's
computation, in Python) and turns it into a scenario file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.analysis.coverage import CoverageRule
from geo.analysis.service_times import SPC_DIRECTIONS
from geo.analysis.sites import file_candidates, gp_candidates, grid_candidates, unmet_weight
from geo.config import RegionConfig
from geo.config.scenario import WORKING_DAYS_PER_MONTH
from geo.errors import InputError
from geo.inputs.region import RegionInputs
from geo.results import Results
from geo.routing.network import SnapResult
from geo.routing.travel import Search, run_search, times_at_nodes

log = logging.getLogger(__name__)

# Codes per minute tried in turn: the first that puts every fixed threshold on the code grid.
CODES_PER_MIN = (1, 2, 4, 5, 10, 20, 60, 100, 600)
SLIDER_MIN_MIN = 5.0
CANDIDATE_KINDS = ("gp_practices", "grid", "file")


@dataclass(frozen=True)
class WorkshopSettings:
    """What the page lets a room change, and how a candidate clinic is exported.

    Attributes
    ----------
    gp_max_min, spc_max_min
        Largest value of the GP and SPC threshold sliders (default: twice the region's
        threshold, at least 60 and 120 minutes).
    telehealth_within_min
        A telehealth-linked practice counts when an eligible SPC service is within this road
        time of it (``telehealth.within_min`` of the exported scenario).
    days_per_month
        Clinic days a month of a candidate outreach clinic (its capacity in the scenario).
    """

    gp_max_min: float | None = None
    spc_max_min: float | None = None
    telehealth_within_min: float = 120.0
    days_per_month: float = 4.0


@dataclass
class WorkshopData:
    """The precomputed tables of a workshop page (see the module docstring).

    Attributes
    ----------
    region_name, crs
        The region and its analysis CRS (``crs`` is written into exported sites).
    per_min, beyond, unknown
        Codes per minute; the code of a time beyond every table limit; the code of an unknown
        (NaN) time.
    gp_slider, spc_slider
        ``(min, max, default)`` minutes of each threshold slider.
    thresholds
        The region's thresholds (``ThresholdsConfig`` as JSON), exported with the sliders'
        values.
    home_reach_code
        Home-visit reach of a community team as a code, or None.
    within_min, within_code
        The telehealth link time.
    days_per_month
        Candidate clinics' days a month.
    origins
        One row per origin: ``origin_id``, ``remoteness_class``, ``pop_count``,
        ``need_cancer``, ``need_non_cancer``, ``gp_code``, ``nearest_gp`` (practice row, -1
        for none), ``cls`` (row of ``classes``), ``lon``, ``lat``.
    classes
        Threshold-and-report groups: ``report`` (position in ``report_classes`` or -1),
        ``gp_code``/``spc_code`` (the class's fixed threshold as a code, or -1 for the slider).
    report_classes
        The remoteness classes the change table reports, in order.
    remoteness_classes
        The region's full class order (for :func:`~geo.analysis.scenario.scenario_changes`).
    facilities
        Services then candidates: ``facility_id`` (services; candidates: their site id),
        ``name``, ``role`` (``service``/``candidate``), ``service_type``,
        ``accepts_non_cancer``, ``community``, ``on_network``, ``lon``, ``lat``, and for
        candidates ``site_kind``, ``visitor_id``, ``visitor_name``, ``x``, ``y``,
        ``capacity``, ``export_id``.
    facility_origins
        Per facility: origin rows (increasing) and their codes, within the table limit.
    practices
        GP practices: ``facility_id``, ``name``, ``lon``, ``lat``, ``on_network``.
    practice_codes
        Practices × facilities codes (``beyond`` past the telehealth link time).
    boundary_lonlat
        The region outline as lists of ``[lon, lat]`` rings, or empty.
    candidate_kind
        How the candidate sites were chosen: ``gp_practices``, ``grid`` or ``file``.
    """

    region_name: str
    crs: str
    per_min: int
    beyond: int
    unknown: int
    gp_slider: tuple[float, float, float]
    spc_slider: tuple[float, float, float]
    thresholds: dict[str, Any]
    home_reach_code: int | None
    within_min: float
    within_code: int
    days_per_month: float
    origins: pd.DataFrame
    classes: list[dict[str, int]]
    report_classes: list[str]
    remoteness_classes: list[str]
    facilities: pd.DataFrame
    facility_origins: list[tuple[np.ndarray, np.ndarray]]
    practices: pd.DataFrame
    practice_codes: np.ndarray
    boundary_lonlat: list = field(default_factory=list)
    candidate_kind: str = "gp_practices"

    @property
    def code_dtype(self) -> np.dtype:
        """uint8 when every code fits, else uint16."""
        return np.dtype(np.uint8 if self.unknown <= 255 else np.uint16)

    def code_of(self, minutes: float) -> int:
        """The code ``K`` of a threshold on the grid (``K / per_min == minutes``)."""
        return round(float(minutes) * self.per_min)


def choose_codes_per_min(fixed_min: list[float], limit_min: float) -> int:
    """The fewest codes per minute putting every fixed threshold on the code grid.

    Codes must stay below 65,000 up to ``limit_min``. When no resolution puts every threshold
    on the grid (a threshold finer than 1/600 minute), the finest that fits is used with a
    warning: decisions at exactly such a threshold may then differ by a fraction of a second.
    """
    fits = [r for r in CODES_PER_MIN if limit_min * r < 65_000] or [1]
    for per_min in fits:
        if all(round(k * per_min) / per_min == k for k in fixed_min):
            return per_min
    log.warning(
        "thresholds %s are not whole multiples of 1/%d minute; the workshop page rounds them",
        fixed_min,
        fits[-1],
    )
    return fits[-1]


@dataclass(frozen=True)
class _Grid:
    """The page's code grid and the longest time each table reads."""

    per_min: int
    gp_limit_min: float
    spc_limit_min: float
    within_min: float
    beyond: int
    unknown: int

    def code(self, minutes: float) -> int:
        return round(float(minutes) * self.per_min)


def _grid(th, gp_slider, spc_slider, within_min: float, reach_min: float | None) -> _Grid:
    fixed = {k: [v[k] for v in th.by_remoteness.values() if k in v] for k in ("gp_min", "spc_min")}
    reach = [] if reach_min is None else [reach_min]
    gp_limit = max([gp_slider[1], *fixed["gp_min"]])
    spc_limit = max([spc_slider[1], *fixed["spc_min"], *reach])
    longest = max(gp_limit, spc_limit, within_min)
    thresholds = [th.gp_min, th.spc_min, within_min, *fixed["gp_min"], *fixed["spc_min"], *reach]
    per_min = choose_codes_per_min(thresholds, longest)
    beyond, unknown = (254, 255) if longest * per_min <= 253 else (65534, 65535)
    return _Grid(per_min, gp_limit, spc_limit, within_min, beyond, unknown)


def time_codes(minutes: np.ndarray, per_min: int) -> np.ndarray:
    """The decision code of each time: the smallest integer ``q`` with ``t <= q / per_min``.

    NaN and infinite times give -1 (the caller stores its own sentinels).
    """
    t = np.asarray(minutes, float)
    finite = np.isfinite(t)
    tf = np.where(finite, t, 0.0)
    q = np.ceil(tf * per_min)
    q = np.where(tf <= (q - 1) / per_min, q - 1, q)  # ceil of a rounded product may be high
    q = np.where(tf > q / per_min, q + 1, q)  # ... or low
    return np.where(finite, q, -1).astype(np.int64)


def _lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    if frame.empty:
        return np.zeros(0), np.zeros(0)
    geo = frame.geometry.to_crs(4326)
    return geo.x.to_numpy(float), geo.y.to_numpy(float)


def _slider(
    default: float, maximum: float | None, floor: float, what: str
) -> tuple[float, float, float]:
    top = float(maximum) if maximum is not None else max(2.0 * default, floor)
    if top < default:
        raise InputError(
            f"--{what}-max-min ({top:g} min) is below the region's {what.upper()} threshold "
            f"({default:g} min); give a larger maximum"
        )
    return (min(SLIDER_MIN_MIN, float(default)), top, float(default))


def _class_table(
    remoteness: pd.Series, rule: CoverageRule, order: list[str], per_min: int
) -> tuple[np.ndarray, list[dict[str, int]], list[str]]:
    """Each origin's threshold-and-report group, the groups, and the reported class names.

    A group is a reported remoteness class (``scenario_changes`` reports the classes of
    ``order`` present, by their text) with its fixed GP and SPC thresholds (``by_remoteness``,
    matched as the coverage model matches them), or -1 where the slider applies.
    """
    fixed = CoverageRule(gp_min=np.nan, spc_min=np.nan, by_remoteness=rule.by_remoteness)
    gp_min, spc_min = fixed.thresholds(remoteness)

    def codes(minutes: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(minutes), -1, np.round(np.nan_to_num(minutes) * per_min))

    names = remoteness.astype(str).to_numpy()
    reported = [c for c in order if (names == c).any()]
    position = {name: i for i, name in enumerate(reported)}
    report = np.array([position.get(n, -1) for n in names], np.int64)
    keys = np.column_stack([report, codes(gp_min), codes(spc_min)]).astype(np.int64)
    unique, cls = np.unique(keys, axis=0, return_inverse=True)
    classes = [{"report": int(r), "gp_code": int(g), "spc_code": int(s)} for r, g, s in unique]
    return cls.ravel().astype(np.int64), classes, reported


def _visitors(
    services: pd.DataFrame, site_minutes: np.ndarray, sites: gpd.GeoDataFrame
) -> np.ndarray:
    """Row of each site's visiting service: nearest by road, else by straight line."""
    if not len(services):
        raise InputError("the region has no specialist service to run outreach clinics")
    by_road = np.where(np.isfinite(site_minutes), site_minutes, np.inf)
    rows = np.argmin(by_road, axis=0) if by_road.size else np.zeros(0, np.int64)
    none = ~np.isfinite(by_road.min(axis=0)) if by_road.size else np.zeros(0, bool)
    if none.any():
        sx, sy = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
        fx, fy = services.geometry.x.to_numpy(), services.geometry.y.to_numpy()
        dist = np.hypot(sx[none][:, None] - fx[None, :], sy[none][:, None] - fy[None, :])
        rows[none] = np.argmin(dist, axis=1)
    return rows


def _candidate_frame(
    candidates: gpd.GeoDataFrame,
    kind: str,
    services: pd.DataFrame,
    visitor_rows: np.ndarray,
    settings: WorkshopSettings,
    taken_ids: set[str],
) -> pd.DataFrame:
    visitors = services.iloc[visitor_rows]
    share = min(settings.days_per_month / WORKING_DAYS_PER_MONTH, 1.0)
    export = []
    for site, visitor in zip(candidates["site_id"], visitors["facility_id"], strict=True):
        fid = f"outreach:{visitor}@{site}"
        while fid in taken_ids:
            fid += "+"
        taken_ids.add(fid)
        export.append(fid)
    lon, lat = _lonlat(candidates)
    return pd.DataFrame(
        {
            "facility_id": candidates["site_id"].astype(str).to_numpy(),
            "name": candidates["name"].astype(str).to_numpy(),
            "role": "candidate",
            "service_type": "outreach",
            "accepts_non_cancer": visitors["accepts_non_cancer"].to_numpy(bool),
            "community": False,
            "lon": lon,
            "lat": lat,
            "site_kind": kind,
            "visitor_id": visitors["facility_id"].astype(str).to_numpy(),
            "visitor_name": visitors["name"].astype(str).to_numpy(),
            "x": candidates.geometry.x.to_numpy(float),
            "y": candidates.geometry.y.to_numpy(float),
            "capacity": visitors["capacity"].to_numpy(float) * share,
            "export_id": export,
        }
    )


def _search_all(
    inputs: RegionInputs,
    snap: SnapResult,
    directions: list[str],
    points: dict[str, SnapResult],
    limit_min: float,
) -> dict[str, np.ndarray]:
    """Minutes between each facility and every point set (facilities × points; NaN off-road)."""
    out = {name: np.full((len(snap.node), len(p.node)), np.nan) for name, p in points.items()}
    for f in np.flatnonzero(snap.reachable):
        search = Search(
            snap.node[f : f + 1],
            snap.connector_time_s[f : f + 1],
            np.zeros(1, np.int64),
            directions[f],
            limit_min,
        )
        node_time = run_search(inputs.network, search)
        for name, p in points.items():
            ok = p.reachable
            out[name][f, ok] = times_at_nodes(node_time, p.node[ok], p.connector_time_s[ok])[0]
    return out


def build_workshop(
    config: RegionConfig,
    inputs: RegionInputs,
    baseline: Results,
    candidates: gpd.GeoDataFrame,
    *,
    candidate_kind: str = "gp_practices",
    settings: WorkshopSettings | None = None,
) -> WorkshopData:
    """Precompute a workshop page's tables from a region's inputs and its baseline run.

    Parameters
    ----------
    config
        The region config (thresholds, snapping limits).
    inputs
        The loaded inputs (:func:`geo.workflows.pipeline.load_inputs`), snapped once.
    baseline
        The region analysed with ``config`` (nearest-GP times and practices, classes).
    candidates
        Candidate sites (``site_id``, ``name``, points in the analysis CRS), from
        :mod:`geo.analysis.sites`.
    candidate_kind
        ``gp_practices``, ``grid`` or ``file`` (how a chosen candidate is exported).
    settings
        Slider ranges, telehealth link time and clinic days.

    Raises
    ------
    InputError
        Candidate sites off the road network, or a slider maximum below its default.
    """
    settings = settings or WorkshopSettings()
    th = config.thresholds
    rule = CoverageRule.from_config(th)
    gp_slider = _slider(th.gp_min, settings.gp_max_min, 60.0, "gp")
    spc_slider = _slider(th.spc_min, settings.spc_max_min, 120.0, "spc")
    reach = rule.home_visit_reach_min
    grid = _grid(th, gp_slider, spc_slider, float(settings.telehealth_within_min), reach)
    facilities, origin_minutes, practice_minutes = _facility_times(
        inputs, candidates, candidate_kind, settings, max(grid.spc_limit_min, grid.within_min)
    )
    facility_origins = _facility_origins(origin_minutes, grid)
    p_codes = time_codes(practice_minutes.T, grid.per_min)
    within = (p_codes >= 0) & (p_codes <= grid.code(grid.within_min))
    table, classes, reported = _origin_table(baseline, inputs, rule, grid)
    practices = _practice_frame(inputs)
    data = WorkshopData(
        region_name=config.region.name,
        crs=inputs.crs.to_string(),
        per_min=grid.per_min,
        beyond=grid.beyond,
        unknown=grid.unknown,
        gp_slider=gp_slider,
        spc_slider=spc_slider,
        thresholds=th.model_dump(mode="json"),
        home_reach_code=None if reach is None else grid.code(reach),
        within_min=grid.within_min,
        within_code=grid.code(grid.within_min),
        days_per_month=settings.days_per_month,
        origins=table,
        classes=classes,
        report_classes=reported,
        remoteness_classes=list(baseline.remoteness_classes),
        facilities=facilities,
        facility_origins=facility_origins,
        practices=practices,
        practice_codes=np.where(within, p_codes, grid.beyond).astype(np.int64),
        boundary_lonlat=_boundary(inputs),
        candidate_kind=candidate_kind,
    )
    log.info(
        "workshop tables: %d origins, %d facilities (services and candidates), %d "
        "origin-facility pairs within %g min, %d codes per minute",
        len(table),
        len(facilities),
        sum(len(r) for r, _ in facility_origins),
        grid.spc_limit_min,
        grid.per_min,
    )
    return data


def _facility_origins(
    origin_minutes: np.ndarray, grid: _Grid
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per facility, the origin rows it reaches within the table limit and their codes."""
    facility_origins = []
    for row in origin_minutes:
        codes = time_codes(row, grid.per_min)
        keep = np.flatnonzero((codes >= 0) & (codes <= grid.code(grid.spc_limit_min)))
        facility_origins.append((keep.astype(np.int64), codes[keep]))
    return facility_origins


def _practice_frame(inputs: RegionInputs) -> pd.DataFrame:
    """The GP practices as the page lists them (id, name, lon/lat, on the network)."""
    gps = inputs.gp_practices
    g_lon, g_lat = _lonlat(gps)
    return pd.DataFrame(
        {
            "facility_id": gps["facility_id"].astype(str).to_numpy(),
            "name": gps["name"].astype(str).to_numpy(),
            "lon": g_lon,
            "lat": g_lat,
            "on_network": inputs.snaps.gp.reachable,
        }
    )


def _facility_times(
    inputs: RegionInputs,
    candidates: gpd.GeoDataFrame,
    candidate_kind: str,
    settings: WorkshopSettings,
    limit_min: float,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The facilities (services, then candidates) and their minutes to every origin and GP
    practice (facilities × points; NaN off the road network, ``inf`` beyond ``limit_min`` for
    candidates)."""
    services = inputs.specialist_services.reset_index(drop=True)
    snaps = inputs.snaps
    cand_snap = inputs.network.snap_points(
        candidates,
        max_snap_distance_m=snaps.facility_limit_m,
        offroad_speed_kph=snaps.offroad_speed_kph,
    )
    if not cand_snap.reachable.all():
        off = candidates.loc[~cand_snap.reachable, "site_id"].astype(str).tolist()
        raise InputError(
            f"{len(off)} candidate site(s) lie more than {snaps.facility_limit_m:g} m from the "
            f"road network (e.g. {', '.join(off[:5])}): check their coordinates and CRS"
        )
    points = {"origins": snaps.origins, "practices": snaps.gp}
    directions = [SPC_DIRECTIONS[t] for t in services["service_type"]]
    # Unbounded for services: their times to the candidate sites choose each visitor.
    s_times = _search_all(inputs, snaps.spc, directions, {**points, "sites": cand_snap}, np.inf)
    visitor_rows = _visitors(services, s_times["sites"], candidates)
    taken = set(services["facility_id"].astype(str)) | set(
        inputs.gp_practices["facility_id"].astype(str)
    )
    cands = _candidate_frame(candidates, candidate_kind, services, visitor_rows, settings, taken)
    outreach = ["to_facility"] * len(cands)  # people travel to an outreach clinic
    c_times = _search_all(inputs, cand_snap, outreach, points, limit_min)
    lon, lat = _lonlat(services)
    service_frame = pd.DataFrame(
        {
            "facility_id": services["facility_id"].astype(str).to_numpy(),
            "name": services["name"].astype(str).to_numpy(),
            "role": "service",
            "service_type": services["service_type"].astype(str).to_numpy(),
            "accepts_non_cancer": services["accepts_non_cancer"].to_numpy(bool),
            "community": (services["service_type"] == "community").to_numpy(),
            "lon": lon,
            "lat": lat,
        }
    )
    facilities = pd.concat([service_frame, cands], ignore_index=True)
    facilities["on_network"] = np.concatenate([snaps.spc.reachable, cand_snap.reachable])
    return (
        facilities,
        np.vstack([s_times["origins"], c_times["origins"]]),
        np.vstack([s_times["practices"], c_times["practices"]]),
    )


def _origin_table(
    baseline: Results, inputs: RegionInputs, rule: CoverageRule, grid: _Grid
) -> tuple[pd.DataFrame, list[dict[str, int]], list[str]]:
    """One row per origin: people, need, nearest-GP code and practice, class group, position."""
    origins = baseline.origins
    gp_minutes = origins["gp_travel_time_min"].to_numpy(float)
    gp_codes = time_codes(gp_minutes, grid.per_min)
    beyond = (gp_codes < 0) | (gp_codes > grid.code(grid.gp_limit_min))
    gp_codes = np.where(np.isnan(gp_minutes), grid.unknown, np.where(beyond, grid.beyond, gp_codes))
    practice_row = {fid: i for i, fid in enumerate(inputs.gp_practices["facility_id"])}
    nearest = np.array(
        [-1 if fid is None else practice_row.get(fid, -1) for fid in origins["nearest_gp_id"]],
        np.int64,
    )
    cls, classes, reported = _class_table(
        origins["remoteness_class"], rule, list(baseline.remoteness_classes), grid.per_min
    )
    lon, lat = _lonlat(origins)
    table = pd.DataFrame(
        {
            "origin_id": origins["origin_id"].to_numpy(),
            "remoteness_class": origins["remoteness_class"].to_numpy(),
            "pop_count": origins["pop_count"].to_numpy(float),
            "need_cancer": origins["need_cancer"].to_numpy(float),
            "need_non_cancer": origins["need_non_cancer"].to_numpy(float),
            "gp_code": gp_codes.astype(np.int64),
            "nearest_gp": nearest,
            "cls": cls,
            "lon": lon,
            "lat": lat,
        }
    )
    return table, classes, reported


def workshop_candidates(
    spec: str, inputs: RegionInputs, baseline: Results
) -> tuple[gpd.GeoDataFrame, str]:
    """Candidate outreach sites and their kind: ``gp_practices`` (every practice on the road
    network), ``grid`` (need-weighted k-means centres of the need beyond specialist reach) or
    a CSV/vector file of sites (``id``, ``name``, ``x``, ``y`` in longitude/latitude).

    Raises
    ------
    InputError
        ``spec`` is none of these, or names a file that does not exist.
    """
    if spec == "gp_practices":
        gps = baseline.gp_practices
        return gp_candidates(gps[gps["reachable"].to_numpy(bool)]), "gp_practices"
    if spec == "grid":
        weight = unmet_weight(baseline.origins)
        return grid_candidates(baseline.origins, weight, inputs.network), "grid"
    path = Path(spec)
    if not path.is_file():
        raise InputError(
            f"--candidates must be gp_practices, grid or a file of sites; {spec!r} is none"
        )
    return file_candidates(path, inputs.crs), "file"


def _boundary(inputs: RegionInputs, tolerance_m: float = 200.0) -> list:
    """The region outline (simplified) as ``[lon, lat]`` rings for the page's map."""
    if inputs.boundary is None:
        return []
    shape = gpd.GeoSeries([inputs.boundary], crs=inputs.crs).simplify(tolerance_m).to_crs(4326)
    rings = []
    for geom in getattr(shape.iloc[0], "geoms", [shape.iloc[0]]):
        exterior = getattr(geom, "exterior", None)
        if exterior is not None:
            rings.append([[round(x, 5), round(y, 5)] for x, y in exterior.coords])
    return rings


__all__ = [
    "CANDIDATE_KINDS",
    "WorkshopData",
    "WorkshopSettings",
    "build_workshop",
    "choose_codes_per_min",
    "time_codes",
    "workshop_candidates",
]
