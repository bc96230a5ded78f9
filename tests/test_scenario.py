"""Scenarios: the shipped files run, change tables add up, bad files fail cleanly."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

import geo.workflows.scenario as scenario_module
from geo.cli import main
from geo.config import load_config
from geo.config.scenario import WORKING_DAYS_PER_MONTH, ScenarioConfig, load_scenario
from geo.errors import InputError, InputErrors
from geo.store import STORE_DIR
from geo.workflows.scenario import analyse_scenario, run_scenario, scenario_config
from tests.conftest import DEMO_CONFIG, DEMO_DIR, IOW_CONFIG, REPO_ROOT, spy_background

SCENARIOS = REPO_ROOT / "scripts" / "scenarios"
COUNTS = ("pop_count", "need")
COVERED = {"gp": ("both", "gp_only"), "spc": ("both", "spc_only"), "both": ("both",)}


def _covered_totals(folder, measure: str) -> pd.DataFrame:
    """A run's own coverage table, summed over the classes that count as covered, per need
    group and remoteness class (each group's need by its own class)."""
    table = pd.read_csv(folder / "tables" / "coverage_by_remoteness.csv")
    table = table[table["coverage_class"].isin(COVERED[measure])]
    return table.groupby(["need_group", "remoteness_class"])[["pop_count", "need"]].sum()


def _check_adds_up(out) -> pd.DataFrame:
    changes = pd.read_csv(out / "tables" / "scenario_changes.csv")
    totals = pd.read_csv(out / "tables" / "scenario_change_totals.csv")
    for table in (changes, totals):
        for col in COUNTS:
            net = table[f"{col}_gained"] - table[f"{col}_lost"]
            diff = table[f"{col}_scenario"] - table[f"{col}_baseline"]
            np.testing.assert_allclose(net, diff, atol=1e-6)
    by_class = changes.groupby(["coverage", "need_group"])[[f"{c}_gained" for c in COUNTS]].sum()
    np.testing.assert_allclose(
        by_class.to_numpy(),
        totals.set_index(["coverage", "need_group"]).loc[by_class.index, by_class.columns],
        atol=1e-6,
    )
    for measure in COVERED:  # and equals the difference of the two runs' own tables
        before = _covered_totals(out / "baseline", measure)
        after = _covered_totals(out / "scenario", measure)
        rows = changes[changes["coverage"] == measure].set_index(["need_group", "remoteness_class"])
        for col in COUNTS:
            net = rows[f"{col}_gained"] - rows[f"{col}_lost"]
            expected = after[col].reindex(net.index, fill_value=0.0) - before[col].reindex(
                net.index, fill_value=0.0
            )
            np.testing.assert_allclose(net, expected, atol=1e-4, err_msg=f"{measure} {col}")
    return totals


@pytest.fixture(scope="module")
def demo_run(demo_scenario):
    return demo_scenario.out_dir


@pytest.mark.xdist_group("scenario")
def test_demo_scenario_writes_both_runs_and_a_map(demo_run):
    for name in ("baseline", "scenario"):
        assert (demo_run / name / "map.html").is_file()
        assert (demo_run / name / "report.html").is_file()
    page = (demo_run / "scenario_map.html").read_text(encoding="utf-8")
    for layer in (
        "Before the scenario: people by coverage class",
        "Gained specialist coverage",
        "Lost specialist coverage",
        "Virtual (telehealth) coverage",
        "Scenario: services added, moved or removed",
    ):
        assert layer in page


@pytest.mark.xdist_group("scenario")
def test_change_rings_are_drawn_above_the_coverage_dots(demo_run):
    """The gained, lost and virtual rings circle coverage dots: raised after them whenever a
    layer is turned on (else the dots, drawn later, cover the rings)."""
    page = (demo_run / "scenario_map.html").read_text(encoding="utf-8")
    layers = re.findall(r'data-layer="(\w+)" data-name="([^"]+)"', page)
    names = {name: var for var, name in layers}
    front = json.loads(re.search(r"var front = (\[[^\]]*\]);", page).group(1))
    dots = ["People by coverage class", "Before the scenario: people by coverage class"]
    rings = ["Gained specialist coverage", "Lost specialist coverage"]
    rings.append("Virtual (telehealth) coverage")
    assert max(front.index(names[d]) for d in dots) < min(front.index(names[r]) for r in rings)


@pytest.mark.xdist_group("scenario")
def test_demo_change_table_adds_up(demo_run):
    totals = _check_adds_up(demo_run).set_index(["coverage", "need_group"])
    spc = totals.loc[("spc", "cancer")]
    assert spc["pop_count_gained"] > 0  # outreach in the west reaches people
    assert spc["pop_count_lost"] > 0  # the cancer-only Coolabah team closes
    changes = pd.read_csv(demo_run / "tables" / "scenario_changes.csv")
    remote = changes[
        (changes["coverage"] == "spc")
        & (changes["need_group"] == "non_cancer")
        & changes["remoteness_class"].isin(["Remote", "Very Remote"])
    ]
    assert remote["need_gained"].sum() > 0


@pytest.mark.xdist_group("scenario")
def test_outreach_clinics_and_virtual_coverage(demo_run):
    services = pd.read_csv(demo_run / "scenario" / "tables" / "gp_specialist_links.csv")
    assert not services.empty
    import geopandas as gpd

    spc = gpd.read_file(demo_run / "scenario" / "layers.gpkg", layer="specialist_services")
    outreach = spc[spc["service_type"] == "outreach"].set_index("facility_id")
    assert sorted(outreach.index) == ["outreach:SPC02@GP013", "outreach:SPC02@GP016"]
    base = gpd.read_file(demo_run / "baseline" / "layers.gpkg", layer="specialist_services")
    visitor = float(base.set_index("facility_id").loc["SPC02", "capacity"])
    assert outreach.loc["outreach:SPC02@GP013", "capacity"] == pytest.approx(
        visitor * 2 / WORKING_DAYS_PER_MONTH
    )
    assert "SPC05" not in set(spc["facility_id"]) and "SPC06" in set(spc["facility_id"])
    origins = gpd.read_file(demo_run / "scenario" / "layers.gpkg", layer="origins")
    virtual = origins["virtual_coverage"].astype(bool)
    assert virtual.any()
    assert (origins.loc[virtual, "coverage_class"] == "gp_only").all()  # never road coverage


def test_telehealth_alone_changes_no_road_coverage(demo_config, demo_inputs):
    scenario = ScenarioConfig(name="links only", telehealth={"practices": ["GP013", "GP016"]})
    outcome = analyse_scenario(demo_config, demo_inputs, scenario)
    for measure in ("gp", "spc", "both"):
        rows = outcome.changes[outcome.changes["coverage"] == measure]
        assert (rows["pop_count_gained"] == 0).all() and (rows["pop_count_lost"] == 0).all()
    origins = outcome.scenario.origins
    virtual = origins["virtual_coverage"]
    linked = origins.loc[virtual, "nearest_gp_id"]
    assert set(linked) <= {"GP013", "GP016"} and virtual.any()
    # Virtual non-cancer coverage only for people whose non-cancer need has no road coverage.
    nc = origins["virtual_coverage_non_cancer"]
    assert (origins.loc[nc, "coverage_class_non_cancer"] == "gp_only").all()


def test_network_is_loaded_once(tmp_path, monkeypatch):
    calls = []
    real = scenario_module.load_inputs

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(scenario_module, "load_inputs", counting)
    scenario = ScenarioConfig(name="close Coolabah", remove_facilities=["SPC05"])
    outcome = run_scenario(
        load_config(DEMO_CONFIG), scenario, write_outputs=False, cache_dir=tmp_path
    )
    assert len(calls) == 1
    assert outcome.baseline.origins["origin_id"].equals(outcome.scenario.origins["origin_id"])


def test_home_visit_reach_counts_community_teams(demo_config, demo_inputs):
    """Hand check: with a long shift every home a community team reaches within
    (shift - visit) / 2 minutes counts as within specialist reach."""
    scenario = ScenarioConfig(name="long shifts", home_visits={"shift_min": 600, "visit_min": 60})
    config = scenario_config(demo_config, scenario)
    outcome = analyse_scenario(config, demo_inputs, scenario)
    origins = outcome.scenario.origins
    community = np.nan_to_num(origins["spc_community_travel_time_min"].to_numpy(float), nan=np.inf)
    within = community <= 270.0
    assert within.any()
    assert origins.loc[within, "coverage_class"].isin(["both", "spc_only"]).all()
    # Non-cancer need counts only teams that take non-cancer referrals (Coolabah does not).
    nc = np.nan_to_num(origins["spc_community_non_cancer_travel_time_min"].to_numpy(), nan=np.inf)
    assert origins.loc[nc <= 270.0, "coverage_class_non_cancer"].isin(["both", "spc_only"]).all()
    only_cancer_team = within & (nc > 270.0) & ~(origins["spc_non_cancer_travel_time_min"] <= 60)
    assert (
        not origins.loc[only_cancer_team, "coverage_class_non_cancer"]
        .isin(["both", "spc_only"])
        .any()
    )


def test_isle_of_wight_scenario_adds_up(tmp_path, geo_data_root_env, capsys):
    out = tmp_path / "iow"
    scenario = SCENARIOS / "isle_of_wight_west_wight.yml"
    assert main(["scenario", str(IOW_CONFIG), str(scenario), "--out", str(out)]) == 0
    totals = _check_adds_up(out).set_index(["coverage", "need_group"])
    spc = totals.loc[("spc", "cancer")]
    assert spc["pop_count_gained"] > 0 and spc["pop_count_lost"] == 0
    # The summary names the scenario's own standard (10 min), not the region's 60.
    gained = f"+{spc['pop_count_gained']:,.0f} / -0 people"
    assert f"specialist coverage by road within 10 min: {gained}" in capsys.readouterr().out


BAD = """name: bad
remove_facilities: [SPC99]
outreach_clinics:
  - {site: GP999, service: SPC01, days_per_month: 2}
  - {site: GP013, service: GP001, days_per_month: 2}
add_facilities:
  - {facility_id: X1, kind: spc, service_type: community, name: Sydney, x: 151.2, y: -33.85}
  - {facility_id: GP001, kind: gp, name: Clash, x: 148.43, y: -31.98}
telehealth: {practices: [GP404]}
"""


def test_bad_scenario_lists_every_problem_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "bad.yml"
    path.write_text(BAD)
    out = tmp_path / "out"
    assert main(["scenario", str(DEMO_CONFIG), str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for text in (
        "SPC99",
        "GP999",
        "'GP001' is not an SPC",
        "road network",
        "already exists",
        "GP404",
        "bad.yml",
    ):
        assert text in err, text
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "name: x\noutreach_clinics:\n  - {site: GP013, service: SPC02, days_per_month: -1}\n",
            "days_per_month",
        ),
        ("name: x\nhome_visits: {shift_min: 60, visit_min: 90}\n", "shorter than shift_min"),
        (
            "name: x\nadd_facilities:\n  - {facility_id: A, kind: spc, name: A, x: 1, y: 2}\n",
            "needs a service_type",
        ),
        ("name: x\nremove_facility: [SPC01]\n", "remove_facility"),
    ],
)
def test_invalid_scenario_files(tmp_path, text, match):
    path = tmp_path / "s.yml"
    path.write_text(text)
    with pytest.raises((InputError, InputErrors), match=match):
        load_scenario(path)


def test_keeping_only_a_cancer_only_team_leaves_non_cancer_need_beyond_specialist_reach(
    demo_config, demo_inputs
):
    """No service takes non-cancer referrals: nobody's non-cancer need is within SPC reach
    (a claim: no eligible service exists), while cancer need keeps the team's reach."""
    services = demo_inputs.specialist_services
    takes_all = services.loc[services["accepts_non_cancer"], "facility_id"].tolist()
    scenario = ScenarioConfig(name="cancer only", remove_facilities=takes_all)
    outcome = analyse_scenario(demo_config, demo_inputs, scenario)
    origins = outcome.scenario.origins
    on_roads = origins["reachable"]
    assert np.isinf(origins.loc[on_roads, "spc_non_cancer_travel_time_min"]).all()
    findings = outcome.scenario.findings
    assert findings.need_in(("both", "spc_only"), "non_cancer") == 0
    cancer_within = origins.loc[origins["reachable"], "spc_travel_time_min"].le(
        demo_config.thresholds.spc_min
    )
    assert findings.need_in(("both", "spc_only"), "cancer") > 0 and cancer_within.any()


def _demo_config_in(folder, **thresholds):
    """The demo config written into ``folder``, its outputs there too (``region/``)."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["output"]["dir"] = str(folder / "region")
    raw["thresholds"].update(thresholds)
    text = yaml.safe_dump(raw, sort_keys=False).replace("../../data/demo/", f"{DEMO_DIR}/")
    config = folder / "demo.yml"
    config.write_text(text, encoding="utf-8")
    return config


def test_a_scenario_after_a_run_reuses_its_baseline(tmp_path, capsys):
    """A workshop runs the region once, then scenarios that change services only: the
    baseline is that run's (its stored results, and its files copied), and the changes equal
    those of the scenario analysed from scratch; a region file edited since the run is drawn
    again, not copied."""
    shipped = REPO_ROOT / "scripts" / "scenarios" / "demo_west_outreach.yml"
    raw = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    raw.pop("home_visits")  # the region's own settings: its run is the baseline
    what_if = tmp_path / "what_if.yml"
    what_if.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    config = _demo_config_in(tmp_path)
    region = tmp_path / "region"
    assert main(["run", str(config), "-q"]) == 0
    capsys.readouterr()

    assert main(["scenario", str(config), str(what_if), "--out", str(tmp_path / "s")]) == 0
    assert f"the baseline is the run in {region}" in capsys.readouterr().out
    for name in (
        "map.html",
        "report.html",
        "layers.gpkg",
        "run.json",
        "tables/coverage_totals.csv",
    ):
        assert (tmp_path / "s" / "baseline" / name).read_bytes() == (region / name).read_bytes()
    shutil.rmtree(region / STORE_DIR)  # no stored results now: the baseline is analysed afresh
    assert main(["scenario", str(config), str(what_if), "--out", str(tmp_path / "fresh")]) == 0
    assert "the baseline is the run" not in capsys.readouterr().out
    for name in ("scenario_changes", "scenario_change_totals"):
        got = pd.read_csv(tmp_path / "s" / "tables" / f"{name}.csv")
        fresh = pd.read_csv(tmp_path / "fresh" / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(got, fresh)


def test_a_region_file_edited_since_the_run_is_drawn_again(tmp_path):
    config = _demo_config_in(tmp_path)
    region = tmp_path / "region"
    assert main(["run", str(config), "-q"]) == 0
    edited = (region / "report.html").read_bytes() + b"<!-- edited -->"
    (region / "report.html").write_bytes(edited)
    target = tmp_path / "baseline"
    assert not scenario_module.copy_region_outputs(region, target)
    assert not target.exists()
    (region / "report.html").write_bytes(edited[: -len(b"<!-- edited -->")])
    assert scenario_module.copy_region_outputs(region, target)
    assert (target / "report.html").read_bytes() == (region / "report.html").read_bytes()


def test_a_scenario_never_takes_a_baseline_from_other_settings(tmp_path, capsys):
    """The shipped scenario changes the home-visit shift: its baseline differs from the run."""
    config = _demo_config_in(tmp_path)
    assert main(["run", str(config), "-q"]) == 0
    capsys.readouterr()
    what_if = REPO_ROOT / "scripts" / "scenarios" / "demo_west_outreach.yml"
    assert main(["scenario", str(config), str(what_if), "--out", str(tmp_path / "s")]) == 0
    assert "the baseline is the run" not in capsys.readouterr().out
    run = json.loads((tmp_path / "s" / "baseline" / "run.json").read_text(encoding="utf-8"))
    assert run["thresholds"]["home_visits"]["shift_min"] == 240


def _comparable(path) -> bytes:
    """A written file's content with the moments of writing masked (they differ by run)."""
    if path.suffix == ".gpkg":
        import pyogrio

        frames = [pyogrio.read_dataframe(path, layer=name) for name, _ in pyogrio.list_layers(path)]
        data = "".join(getattr(f, "to_wkt", lambda f=f: f)().to_csv(index=False) for f in frames)
        data = data.encode()
    else:
        data = path.read_bytes()
    if path.suffix in (".html", ".json", ".gpkg"):
        stamp = rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(\+00:00| UTC)?"
        data = re.sub(stamp, b"<time>", data)
        data = re.sub(rb'"(seconds|[a-z_]+_s)": [0-9.e-]+', rb'"\1": <s>', data)
        data = re.sub(rb'"[0-9a-f]{64}"', b"<sha256>", data)  # hashes of files that hold times
        data = re.sub(rb"_[0-9a-f]{32}(?![0-9a-f])", b"_<id>", data)  # folium's random ids
    return data


@pytest.mark.xdist_group("scenario")
def test_a_baseline_written_by_a_worker_process_equals_one_written_here(
    demo_config, demo_scenario, tmp_path, monkeypatch
):
    """The baseline's folder is written by a worker process while this one writes the
    scenario's; written here instead (``GAPMAP_WORKERS=1``) it holds the same files."""
    from geo.parallel import WORKERS_ENV
    from geo.workflows.scenario import write_scenario

    scenario = load_scenario(SCENARIOS / "demo_west_outreach.yml")
    config = scenario_config(demo_config, scenario)
    calls = spy_background(monkeypatch, scenario_module)
    write_scenario(config, scenario, demo_scenario, tmp_path / "two")
    assert [call[0] for call in calls] == [scenario_module.write_region_folder]
    monkeypatch.setenv(WORKERS_ENV, "1")
    write_scenario(config, scenario, demo_scenario, tmp_path / "one")
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*"))
    assert one == two and any(p.parts[0] == "baseline" for p in one)
    for name in one:
        if (tmp_path / "one" / name).is_file():
            got, expected = (_comparable(tmp_path / run / name) for run in ("two", "one"))
            assert got == expected, name


@pytest.mark.xdist_group("scenario")
def test_a_failing_baseline_worker_fails_the_scenario_and_leaves_nothing(
    demo_config, demo_scenario, tmp_path, monkeypatch
):
    from geo.parallel import WORKERS_ENV
    from geo.workflows.scenario import write_scenario

    scenario = load_scenario(SCENARIOS / "demo_west_outreach.yml")
    config = scenario_config(demo_config, scenario)
    # Origins without geometry: the worker cannot draw the baseline (this process, which
    # draws the scenario's folder and skips the comparison map here, has nothing to fail).
    origins = pd.DataFrame(demo_scenario.baseline.origins.drop(columns="geometry"))
    baseline = dataclasses.replace(demo_scenario.baseline, origins=origins)
    broken = dataclasses.replace(demo_scenario, baseline=baseline)
    monkeypatch.setattr(scenario_module, "write_scenario_map", lambda *a, **k: None)
    monkeypatch.setattr("geo.parallel._BACKGROUND_ENABLED", [True])  # as the CLI does
    monkeypatch.setenv(WORKERS_ENV, "2")
    with pytest.raises(Exception) as failure:
        write_scenario(config, scenario, broken, tmp_path / "out")
    assert "geometry" in str(failure.value).lower() or failure.type is AttributeError
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
