"""What-if scenarios: a region's baseline and a changed service set, on the same road network.

:func:`apply_scenario` turns a :class:`~geo.scenario_config.ScenarioConfig` into changed facility
layers (validated first: unknown ids, clashing ids and sites off the road network are reported
together and nothing runs); :func:`run_scenario` analyses baseline and scenario with one loaded
network and writes both result folders, ``tables/scenario_changes.csv`` and a before/after map.

Telehealth links never change road coverage: patients of linked GP practices who have a GP but
no specialist service within reach by road form a separate ``virtual`` coverage class.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.config import RegionConfig
from geo.errors import InputError, InputErrors
from geo.outputs import atomic_directory, write_atomic_text
from geo.pipeline import (
    RegionInputs,
    _analysis_crs,
    _default_cache,
    _Timer,
    analyse_with_provenance,
    load_inputs,
    output_dir,
    write_region,
)
from geo.results import Results
from geo.scenario_config import CommunityBase, NewFacility, ScenarioConfig, Site

log = logging.getLogger(__name__)

COUNTS = ("pop_count", "need_cancer", "need_non_cancer")
# Coverage measures compared between the runs, as the coverage classes that count as covered.
# As in the run's own tables, non-cancer need is counted with ``coverage_class_non_cancer``
# (services taking non-cancer referrals); ``virtual`` is telehealth coverage.
MEASURES: dict[str, tuple[str, ...] | None] = {
    "gp": ("both", "gp_only"),
    "spc": ("both", "spc_only"),
    "both": ("both",),
    "virtual": None,
}


def covered(origins: pd.DataFrame, measure: str, *, non_cancer: bool = False) -> np.ndarray:
    """Whether each origin is covered under ``measure`` (for its non-cancer need if asked)."""
    classes = MEASURES[measure]
    if classes is None:
        flag = origins.get("virtual_coverage", pd.Series(False, index=origins.index))
        return flag.fillna(False).to_numpy(bool)
    column = "coverage_class_non_cancer" if non_cancer else "coverage_class"
    return origins[column].isin(classes).to_numpy()


@dataclass
class ScenarioOutcome:
    """Both runs, the change table, and what was written (``out_dir`` None when not written)."""

    baseline: Results
    scenario: Results
    changes: pd.DataFrame
    out_dir: Path | None
    files: list[Path]


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
    return dataclasses.replace(inputs, gp_practices=gps, specialist_services=spcs)


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
        "capacity": new.capacity,
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


def virtual_coverage(results: Results, scenario: ScenarioConfig) -> pd.Series:
    """Telehealth (``virtual``) coverage of each origin: GP within reach, no SPC by road, and
    their nearest GP practice linked to an SPC team within ``telehealth.within_min``."""
    origins = results.origins
    tele = scenario.telehealth
    if tele is None:
        return pd.Series(False, index=origins.index, name="virtual_coverage")
    gps = results.gp_practices
    link_min = np.nan_to_num(gps["spc_travel_time_min"].to_numpy(float), nan=np.inf)
    chosen = gps["facility_id"].isin(
        gps["facility_id"] if tele.practices == "all" else tele.practices
    )
    linked = set(gps.loc[chosen.to_numpy() & (link_min <= tele.within_min), "facility_id"])
    virtual = (origins["coverage_class"] == "gp_only") & origins["nearest_gp_id"].isin(linked)
    return virtual.rename("virtual_coverage")


def scenario_changes(
    baseline: pd.DataFrame, scenario: pd.DataFrame, class_order: list[str]
) -> pd.DataFrame:
    """People and need gaining or losing each coverage measure, by remoteness class and All.

    ``*_gained - *_lost == *_scenario - *_baseline`` holds row by row.
    """
    if not baseline["origin_id"].equals(scenario["origin_id"]):
        raise ValueError("baseline and scenario origins differ; they must come from one region")
    classes = baseline["remoteness_class"].astype(str)
    names = [*[c for c in class_order if (classes == c).any()], "All"]
    rows = []
    for measure in MEASURES:
        for name in names:
            in_class = (
                np.ones(len(classes), bool) if name == "All" else (classes == name).to_numpy()
            )
            row = {"coverage": measure, "remoteness_class": name}
            for col in COUNTS:
                nc = col == "need_non_cancer"
                before = covered(baseline, measure, non_cancer=nc) & in_class
                after = covered(scenario, measure, non_cancer=nc) & in_class
                values = baseline[col].to_numpy(float)
                row[f"{col}_gained"] = values[after & ~before].sum()
                row[f"{col}_lost"] = values[before & ~after].sum()
                row[f"{col}_baseline"] = values[before].sum()
                row[f"{col}_scenario"] = values[after].sum()
            rows.append(row)
    return pd.DataFrame(rows)


def run_scenario(
    config: RegionConfig,
    scenario: ScenarioConfig,
    *,
    out_dir: str | Path | None = None,
    write: bool = True,
    cache_dir: str | Path | None = None,
    online: bool = False,
) -> ScenarioOutcome:
    """Run baseline and scenario on one loaded road network and write both.

    Output folder (default ``<region output>/scenario_<name>``): ``baseline/`` and
    ``scenario/`` (each a full region folder), ``tables/scenario_changes.csv``,
    ``scenario_map.html`` and ``scenario.json``. Nothing is written if anything fails.
    """
    if scenario.thresholds is not None:
        config = config.model_copy(update={"thresholds": scenario.thresholds})
    if scenario.home_visits is not None:
        th = config.thresholds.model_copy(update={"home_visits": scenario.home_visits})
        config = config.model_copy(update={"thresholds": th})
    started = datetime.now(timezone.utc)
    cache = Path(cache_dir) if cache_dir else _default_cache(config)
    inputs = load_inputs(config, crs=_analysis_crs(config), cache_dir=cache, online=online)
    changed = apply_scenario(inputs, scenario, max_snap_distance_m=config.roads.max_snap_distance_m)
    baseline = analyse_with_provenance(config, inputs, timer=_Timer(None), started=started)
    result = analyse_with_provenance(config, changed, timer=_Timer(None), started=started)
    result.region_name = f"{config.region.name}: {scenario.name}"
    result.origins["virtual_coverage"] = virtual_coverage(result, scenario).to_numpy()
    changes = scenario_changes(baseline.origins, result.origins, baseline.remoteness_classes)
    result.tables["scenario_changes"] = changes
    result.provenance["scenario"] = scenario.model_dump(mode="json")
    if not write:
        return ScenarioOutcome(baseline, result, changes, None, [])
    target = (
        Path(out_dir) if out_dir else output_dir(config, None) / f"scenario_{_slug(scenario.name)}"
    )
    files = _write(config, scenario, baseline, result, changes, target)
    return ScenarioOutcome(baseline, result, changes, target, files)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:60] or "scenario"


def _write(config, scenario, baseline, result, changes, target: Path) -> list[Path]:
    from geo.scenario_map import write_scenario_map

    with atomic_directory(target) as tmp:
        write_region(baseline, tmp / "baseline", config)
        write_region(result, tmp / "scenario", config)
        (tmp / "tables").mkdir()
        changes.to_csv(tmp / "tables" / "scenario_changes.csv", index=False, float_format="%.10g")
        write_scenario_map(baseline, result, scenario, tmp / "scenario_map.html")
        write_atomic_text(
            tmp / "scenario.json", json.dumps(scenario.model_dump(mode="json"), indent=2)
        )
    log.info("scenario %r written to %s", scenario.name, target)
    return sorted(p for p in target.rglob("*") if p.is_file())
