"""What-if scenario edits: a region's inputs with a changed service set, and what changed.

:func:`apply_scenario` turns a :class:`~geo.config.ScenarioConfig` into changed facility layers
(validated first: unknown ids, clashing ids and sites off the road network are reported together
and nothing runs); :func:`scenario_changes` compares the baseline's and the scenario's coverage
columns (the one coverage model's). :mod:`geo.workflows.scenario` runs both.

Telehealth links never change road coverage: patients of linked GP practices who have a GP but
no eligible specialist service within reach by road have ``virtual`` coverage, reported apart.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.analysis.coverage import CLASS_COLUMN, GP_WITHIN, NEED_COLUMN, NEED_GROUPS, SPC_WITHIN
from geo.config import ScenarioConfig
from geo.config.scenario import CommunityBase, NewFacility, Site
from geo.errors import InputError, InputErrors
from geo.inputs.region import RegionInputs
from geo.results import Results

log = logging.getLogger(__name__)

# Coverage measures compared between the runs, as the coverage classes that count as covered
# (for each need group, its own class); ``virtual`` is telehealth coverage.
MEASURES: dict[str, tuple[str, ...] | None] = {
    "gp": GP_WITHIN,
    "spc": SPC_WITHIN,
    "both": ("both",),
    "virtual": None,
}
VIRTUAL_COLUMN = {"cancer": "virtual_coverage", "non_cancer": "virtual_coverage_non_cancer"}


def covered(origins: pd.DataFrame, measure: str, *, group: str = "cancer") -> np.ndarray:
    """Whether each origin is covered under ``measure`` for the need ``group`` (``cancer``, whose
    class also counts the people, or ``non_cancer``)."""
    classes = MEASURES[measure]
    if classes is None:
        flag = origins.get(VIRTUAL_COLUMN[group], pd.Series(False, index=origins.index))
        return flag.fillna(False).to_numpy(bool)
    return origins[CLASS_COLUMN[group]].isin(classes).to_numpy()


class _Problems:
    """Collects every problem with a scenario so they are reported together."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.items: list[InputError] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(InputError(f"{key}: {message}", path=self.path))

    def raise_any(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            raise InputErrors(self.items)


def _point(site: Site, crs) -> tuple[float, float]:
    point = gpd.GeoSeries(gpd.points_from_xy([site.x], [site.y]), crs=site.crs).to_crs(crs)
    return float(point.x.iloc[0]), float(point.y.iloc[0])


def _facility_row(
    frame: gpd.GeoDataFrame, values: dict, xy: tuple[float, float]
) -> gpd.GeoDataFrame:
    row = {c: values.get(c, np.nan) for c in frame.columns if c != "geometry"}
    return gpd.GeoDataFrame([row], geometry=gpd.points_from_xy([xy[0]], [xy[1]]), crs=frame.crs)


def _on_network(inputs: RegionInputs, xy, max_snap_m: float) -> bool:
    if not np.isfinite(xy).all():  # the point has no place in the analysis CRS
        return False
    snap = inputs.network.snap(np.array([xy[0]]), np.array([xy[1]]), max_snap_distance_m=max_snap_m)
    return bool(snap.reachable[0])


def apply_scenario(
    inputs: RegionInputs, scenario: ScenarioConfig, *, max_snap_distance_m: float
) -> RegionInputs:
    """The region's inputs with the scenario's facility changes applied.

    Raises
    ------
    InputError, InputErrors
        Unknown facility ids, ids that clash, outreach at a non-GP site or by a non-SPC
        service, a moved base that is not a community team, or any site farther than
        ``max_snap_distance_m`` from the road network. Every problem is listed.
    """
    problems = _Problems(scenario.source_path)
    gps = inputs.gp_practices.copy()
    spcs = inputs.specialist_services.copy()
    gp_ids, spc_ids = set(gps["facility_id"]), set(spcs["facility_id"])
    for i, fid in enumerate(scenario.remove_facilities):
        if fid not in gp_ids | spc_ids:
            problems.add(f"remove_facilities[{i}]", f"unknown facility id {fid!r}")
    gps = gps[~gps["facility_id"].isin(scenario.remove_facilities)]
    spcs = spcs[~spcs["facility_id"].isin(scenario.remove_facilities)]
    added_gp, added_spc = _added(inputs, scenario, problems, max_snap_distance_m)
    outreach = _outreach(gps, spcs, scenario, problems)
    spcs = _community_bases(inputs, spcs, scenario, problems, max_snap_distance_m)
    _check_telehealth(gps, added_gp, scenario, problems)
    problems.raise_any()
    gps = pd.concat([gps, *added_gp], ignore_index=True)
    spcs = pd.concat([spcs, *added_spc, *outreach], ignore_index=True)
    if spcs.empty:
        raise InputError(
            "the scenario removes every specialist service: nothing would be left to reach; "
            "keep at least one, or add one with add_facilities",
            path=scenario.source_path,
        )
    if gps.empty:
        raise InputError(
            "the scenario removes every GP practice; keep at least one",
            path=scenario.source_path,
        )
    # The facility sets changed: snap them again (the origins keep the run's snapping).
    snaps = dataclasses.replace(
        inputs.snaps,
        gp=inputs.network.snap_points(gps, **_snap_settings(inputs)),
        spc=inputs.network.snap_points(spcs, **_snap_settings(inputs)),
    )
    return dataclasses.replace(inputs, gp_practices=gps, specialist_services=spcs, snaps=snaps)


def _snap_settings(inputs: RegionInputs) -> dict[str, float]:
    return {
        "max_snap_distance_m": inputs.snaps.facility_limit_m,
        "offroad_speed_kph": inputs.snaps.offroad_speed_kph,
    }


def _added(inputs, scenario, problems: _Problems, max_snap_m: float):
    existing = set(inputs.gp_practices["facility_id"]) | set(
        inputs.specialist_services["facility_id"]
    )
    gps, spcs = [], []
    for i, new in enumerate(scenario.add_facilities):
        key = f"add_facilities[{i}]"
        if new.facility_id in existing:
            problems.add(key, f"facility id {new.facility_id!r} already exists; choose a new id")
            continue
        xy = _point(new, inputs.crs)
        if not _on_network(inputs, xy, max_snap_m):
            problems.add(key, _off_network(new, max_snap_m))
            continue
        frame = inputs.gp_practices if new.kind == "gp" else inputs.specialist_services
        values = _new_values(new)
        (gps if new.kind == "gp" else spcs).append(_facility_row(frame, values, xy))
    return gps, spcs


def _new_values(new: NewFacility) -> dict:
    return {
        "facility_id": new.facility_id,
        "name": new.name,
        "kind": new.kind,
        "service_type": "gp" if new.kind == "gp" else new.service_type,
        "capacity": np.nan if new.capacity is None else new.capacity,  # unknown, as read
        "accepts_non_cancer": True if new.kind == "gp" else new.accepts_non_cancer,
    }


def _off_network(site: Site, max_snap_m: float) -> str:
    return (
        f"site ({site.x}, {site.y}) in {site.crs} is more than {max_snap_m:g} m from the road "
        "network (outside the region, or wrong coordinate order / CRS?)"
    )


def _outreach(gps, spcs, scenario: ScenarioConfig, problems: _Problems) -> list:
    rows = []
    gp_by_id = gps.set_index("facility_id")
    spc_by_id = spcs.set_index("facility_id")
    for i, clinic in enumerate(scenario.outreach_clinics):
        key = f"outreach_clinics[{i}]"
        if clinic.site not in gp_by_id.index:
            problems.add(key, f"site {clinic.site!r} is not a GP practice id of this region")
            continue
        if clinic.service not in spc_by_id.index:
            problems.add(key, f"service {clinic.service!r} is not an SPC service id")
            continue
        host, visitor = gp_by_id.loc[clinic.site], spc_by_id.loc[clinic.service]
        values = {
            "facility_id": f"outreach:{clinic.service}@{clinic.site}",
            "name": f"{visitor['name']} outreach clinic at {host['name']}",
            "kind": "spc",
            "service_type": "outreach",
            "capacity": float(visitor["capacity"]) * clinic.capacity_share(),
            "accepts_non_cancer": bool(visitor["accepts_non_cancer"]),
        }
        geom = host.geometry
        rows.append(_facility_row(spcs, values, (geom.x, geom.y)))
    return rows


def _community_bases(inputs, spcs, scenario: ScenarioConfig, problems, max_snap_m: float):
    spcs = spcs.copy()
    for i, base in enumerate(scenario.community_bases):
        key = f"community_bases[{i}]"
        xy = _point(base, inputs.crs)
        if not _on_network(inputs, xy, max_snap_m):
            problems.add(key, _off_network(base, max_snap_m))
            continue
        match = spcs["facility_id"] == base.facility_id
        if match.any():
            if (spcs.loc[match, "service_type"] != "community").any():
                problems.add(key, f"{base.facility_id!r} is not a community SPC team")
                continue
            spcs.loc[match, "geometry"] = gpd.points_from_xy([xy[0]], [xy[1]])[0]
            _update(spcs, match, base)
        else:
            values = _base_values(base)
            spcs = pd.concat([spcs, _facility_row(spcs, values, xy)], ignore_index=True)
    return spcs


def _update(spcs, match, base: CommunityBase) -> None:
    if base.name:
        spcs.loc[match, "name"] = base.name
    if base.capacity is not None:
        spcs.loc[match, "capacity"] = base.capacity


def _base_values(base: CommunityBase) -> dict:
    return {
        "facility_id": base.facility_id,
        "name": base.name or f"Community SPC team {base.facility_id}",
        "kind": "spc",
        "service_type": "community",
        "capacity": 1.0 if base.capacity is None else base.capacity,
        "accepts_non_cancer": base.accepts_non_cancer,
    }


def _check_telehealth(gps, added_gp, scenario: ScenarioConfig, problems: _Problems) -> None:
    tele = scenario.telehealth
    if tele is None or tele.practices == "all":
        return
    known = set(gps["facility_id"]) | {f["facility_id"].iloc[0] for f in added_gp}
    for i, fid in enumerate(tele.practices):
        if fid not in known:
            problems.add(f"telehealth.practices[{i}]", f"unknown GP practice id {fid!r}")


def virtual_coverage(results: Results, scenario: ScenarioConfig) -> pd.DataFrame:
    """Telehealth (``virtual``) coverage of each origin, per need group.

    An origin has virtual coverage for a need group when its class for that group is
    ``gp_only`` (a GP within reach, no eligible specialist service by road) and its nearest GP
    practice is linked: chosen in ``telehealth.practices`` and within ``telehealth.within_min``
    by road of an eligible SPC team (one taking non-cancer referrals, for non-cancer need).

    Returns
    -------
    pandas.DataFrame
        ``virtual_coverage`` and ``virtual_coverage_non_cancer`` (bool), aligned to origins.
    """
    origins = results.origins
    out = pd.DataFrame(False, index=origins.index, columns=list(VIRTUAL_COLUMN.values()))
    tele = scenario.telehealth
    if tele is None:
        return out
    gps = results.gp_practices
    chosen = (
        gps["facility_id"]
        .isin(gps["facility_id"] if tele.practices == "all" else tele.practices)
        .to_numpy()
    )
    link_columns = {"cancer": "spc_travel_time_min", "non_cancer": "spc_non_cancer_travel_time_min"}
    for group in NEED_GROUPS:
        link_min = np.nan_to_num(gps[link_columns[group]].to_numpy(float), nan=np.inf)
        linked = set(gps.loc[chosen & (link_min <= tele.within_min), "facility_id"])
        gp_only = origins[CLASS_COLUMN[group]] == "gp_only"
        out[VIRTUAL_COLUMN[group]] = (gp_only & origins["nearest_gp_id"].isin(linked)).to_numpy()
    return out


CHANGE_COLUMNS = ("pop_count", "need")


def scenario_changes(
    baseline: pd.DataFrame, scenario: pd.DataFrame, class_order: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People and need gaining or losing each coverage measure, per need group.

    A row counts, for one measure and need group, the people and that group's need whose
    coverage for that group changed (tidy, as the coverage tables). ``*_gained - *_lost ==
    *_scenario - *_baseline`` holds row by row.

    Returns
    -------
    tuple of pandas.DataFrame
        By remoteness class (``coverage``, ``need_group``, ``remoteness_class``, then
        ``pop_count_*`` and ``need_*`` for ``baseline``, ``scenario``, ``gained``, ``lost``),
        and the region totals (the same without ``remoteness_class``).
    """
    if not baseline["origin_id"].equals(scenario["origin_id"]):
        raise ValueError("baseline and scenario origins differ; they must come from one region")
    classes = baseline["remoteness_class"].astype(str).to_numpy()
    names = [c for c in class_order if (classes == c).any()]
    rows, totals = [], []
    for measure in MEASURES:
        for group in NEED_GROUPS:
            before = covered(baseline, measure, group=group)
            after = covered(scenario, measure, group=group)
            values = {
                "pop_count": baseline["pop_count"].to_numpy(float),
                "need": baseline[NEED_COLUMN[group]].to_numpy(float),
            }
            key = {"coverage": measure, "need_group": group}
            totals.append({**key, **_changes(values, before, after, np.ones(len(before), bool))})
            for name in names:
                in_class = classes == name
                rows.append(
                    {**key, "remoteness_class": name, **_changes(values, before, after, in_class)}
                )
    return pd.DataFrame(rows), pd.DataFrame(totals)


def _changes(values: dict, before: np.ndarray, after: np.ndarray, where: np.ndarray) -> dict:
    row = {}
    for col, v in values.items():
        row[f"{col}_baseline"] = float(v[before & where].sum())
        row[f"{col}_scenario"] = float(v[after & where].sum())
        row[f"{col}_gained"] = float(v[after & ~before & where].sum())
        row[f"{col}_lost"] = float(v[before & ~after & where].sum())
    return row
