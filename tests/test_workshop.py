"""The workshop page's tables and model: exactly ``gapmap scenario``'s figures, valid YAML,
a self-contained page with every input text escaped, and the command's exit codes.

The page's JavaScript is tested against the same choices in ``test_workshop_browser.py``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from geo.analysis.sites import gp_candidates
from geo.analysis.workshop import (
    WorkshopSettings,
    build_workshop,
    choose_codes_per_min,
    time_codes,
)
from geo.analysis.workshop_model import (
    WorkshopChoice,
    check_choice,
    choice_changes,
    choice_scenario,
)
from geo.cli import main
from geo.config import load_scenario
from geo.config.region import ThresholdsConfig
from geo.errors import GeoError, InputError
from geo.render.workshop import build_workshop_page
from geo.workflows.pipeline import analyse
from geo.workflows.scenario import analyse_scenario, scenario_config
from geo.workflows.workshop import check_against_baseline, coverage_only, prepare_workshop
from tests.conftest import DEMO_CONFIG
from tests.results_factory import GP_NAMES, HOSTILE_SCRIPT, REGION_NAME, SPC_NAMES


@pytest.fixture(scope="module")
def light_config(demo_config):
    return coverage_only(demo_config)


@pytest.fixture(scope="module")
def baseline(light_config, demo_inputs):
    return analyse(light_config, demo_inputs)


@pytest.fixture(scope="module")
def demo_workshop(light_config, demo_inputs, baseline):
    return prepare_workshop(light_config, demo_inputs, baseline)


def random_choices(data, n: int, seed: int) -> list[WorkshopChoice]:
    """``n`` valid choices mixing services off, candidates on, telehealth links (including
    practices whose patients have a GP but no specialist service in reach, so virtual coverage
    appears) and thresholds; at least one turns off a chosen clinic's visiting service."""
    rng = random.Random(seed)
    fac = data.facilities
    services = fac.loc[fac["role"] == "service", "facility_id"].tolist()
    candidates = fac.loc[fac["role"] == "candidate"]
    practices = data.practices["facility_id"].tolist()
    gp_only = data.origins["nearest_gp"][data.origins["gp_code"] != data.unknown]
    serving = sorted({practices[i] for i in gp_only.unique() if i >= 0})
    lo_gp, hi_gp = int(data.gp_slider[0]), int(data.gp_slider[1])
    lo_spc, hi_spc = int(data.spc_slider[0]), int(data.spc_slider[1])
    choices: list[WorkshopChoice] = []
    while len(choices) < n:
        on = rng.sample(candidates["facility_id"].tolist(), rng.randint(1, min(4, len(candidates))))
        off = set(rng.sample(services, rng.randint(0, 2)))
        if len(choices) == 0:  # a chosen clinic's visitor is lost: the clinic is exported as added
            off.add(candidates.set_index("facility_id").loc[on[0], "visitor_id"])
        tele = set(rng.sample(serving, min(len(serving), rng.randint(0, 6))))
        tele |= set(rng.sample(practices, rng.randint(0, 2)))
        choice = WorkshopChoice(
            services_off=frozenset(off),
            candidates_on=frozenset(on),
            telehealth=frozenset(tele),
            gp_min=rng.randint(max(lo_gp, 10), hi_gp),
            spc_min=rng.randint(max(lo_spc, 15), hi_spc),
        )
        try:
            check_choice(data, choice)
        except InputError:
            continue
        choices.append(choice)
    return choices


def scenario_outcome(config, inputs, scenario_mapping, tmp_path, name="choice.yml"):
    """``gapmap scenario`` (without writing) on the YAML of a choice, read back from disk."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(scenario_mapping, allow_unicode=True), encoding="utf-8")
    scenario = load_scenario(path)
    return analyse_scenario(scenario_config(config, scenario), inputs, scenario)


def assert_same_changes(data, choice, outcome) -> None:
    changes, totals = choice_changes(data, choice)
    pd.testing.assert_frame_equal(totals, outcome.change_totals, check_exact=True)
    pd.testing.assert_frame_equal(changes, outcome.changes, check_exact=True)


def test_default_choice_reproduces_the_baseline(demo_workshop, baseline):
    check_against_baseline(demo_workshop, baseline)
    _, totals = choice_changes(demo_workshop, WorkshopChoice())
    for kind in ("gained", "lost"):
        assert (totals[f"pop_count_{kind}"] == 0).all()


def test_tampered_tables_fail_the_baseline_check(demo_workshop, baseline):
    origins = demo_workshop.origins.copy()
    origins.loc[origins["gp_code"] < demo_workshop.beyond, "gp_code"] = demo_workshop.beyond
    with pytest.raises(GeoError, match="another coverage_class"):
        check_against_baseline(dataclasses.replace(demo_workshop, origins=origins), baseline)


@pytest.mark.slow
def test_random_choices_equal_gapmap_scenario(demo_workshop, light_config, demo_inputs, tmp_path):
    virtual = 0.0
    for i, choice in enumerate(random_choices(demo_workshop, 6, seed=18)):
        mapping = choice_scenario(demo_workshop, choice)
        outcome = scenario_outcome(light_config, demo_inputs, mapping, tmp_path, f"c{i}.yml")
        assert_same_changes(demo_workshop, choice, outcome)
        totals = outcome.change_totals.set_index(["coverage", "need_group"])
        virtual += totals.loc[("virtual", "cancer"), "pop_count_scenario"]
    assert virtual > 0  # telehealth links were exercised


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["grid", "file"])
def test_grid_and_file_candidates_equal_gapmap_scenario(
    kind, light_config, demo_inputs, baseline, tmp_path
):
    spec = kind
    if kind == "file":
        near = baseline.origins[baseline.origins["snap_distance_m"] < 500]
        sites = near.sample(6, random_state=3).to_crs(4326)
        frame = pd.DataFrame(
            {
                "id": [f"S{i}" for i in range(6)],
                "name": [f"Town hall {i}" for i in range(6)],
                "x": sites.geometry.x.to_numpy(),
                "y": sites.geometry.y.to_numpy(),
            }
        )
        spec = str(tmp_path / "sites.csv")
        frame.to_csv(spec, index=False)
    data = prepare_workshop(light_config, demo_inputs, baseline, candidates=spec)
    assert set(data.facilities.loc[data.facilities["role"] == "candidate", "site_kind"]) == {kind}
    for i, choice in enumerate(random_choices(data, 2, seed=5)):
        mapping = choice_scenario(data, choice)
        assert "add_facilities" in mapping and "outreach_clinics" not in mapping
        outcome = scenario_outcome(light_config, demo_inputs, mapping, tmp_path, f"{kind}{i}.yml")
        assert_same_changes(data, choice, outcome)


@pytest.fixture(scope="module")
def home_visit_config(light_config):
    """The demo with home visits (reach 97.5 min: half minutes) and a per-class SPC threshold."""
    th = ThresholdsConfig.model_validate(
        {
            **light_config.thresholds.model_dump(),
            "by_remoteness": {"Remote": {"gp_min": 54, "spc_min": 75}},
            "home_visits": {"shift_min": 240.0, "visit_min": 45.0},
        }
    )
    return light_config.model_copy(update={"thresholds": th})


@pytest.fixture(scope="module")
def home_visit_workshop(home_visit_config, demo_inputs):
    base = analyse(home_visit_config, demo_inputs)
    settings = WorkshopSettings(telehealth_within_min=90.0, spc_max_min=150.0)
    return prepare_workshop(home_visit_config, demo_inputs, base, settings=settings)


@pytest.mark.slow
def test_home_visits_and_fractional_thresholds_equal_gapmap_scenario(
    home_visit_config, home_visit_workshop, demo_inputs, tmp_path
):
    data = home_visit_workshop
    assert data.per_min == 2 and data.home_reach_code == 195 and data.code_dtype == np.uint16
    for i, choice in enumerate(random_choices(data, 3, seed=7)):
        mapping = choice_scenario(data, choice)
        assert mapping["thresholds"]["home_visits"] == {"shift_min": 240.0, "visit_min": 45.0}
        outcome = scenario_outcome(home_visit_config, demo_inputs, mapping, tmp_path, f"h{i}.yml")
        assert_same_changes(data, choice, outcome)


def test_time_codes_decide_exactly_like_the_coverage_model():
    rng = np.random.default_rng(0)
    for per_min in (1, 2, 10, 60):
        grid = np.arange(0, 200 * per_min) / per_min
        times = np.concatenate(
            [
                rng.uniform(0, 200, 20_000),
                grid,  # exactly on a threshold: within
                np.nextafter(grid, np.inf),  # a hair beyond
                np.nextafter(grid, -np.inf),
            ]
        )
        codes = time_codes(times, per_min)
        for k in rng.integers(0, 200 * per_min, 40):
            threshold = k / per_min
            np.testing.assert_array_equal(codes <= k, times <= threshold)
    assert time_codes(np.array([np.nan, np.inf]), 1).tolist() == [-1, -1]
    assert choose_codes_per_min([30.0, 60.0, 54.0], 120) == 1
    assert choose_codes_per_min([30.0, 75.5], 120) == 2
    assert choose_codes_per_min([30.0, 97.3], 120) == 10


def test_choice_yaml_validates_and_names_each_change(demo_workshop, tmp_path):
    fac = demo_workshop.facilities.set_index("facility_id")
    candidate = fac[fac["role"] == "candidate"].index[0]
    visitor = fac.loc[candidate, "visitor_id"]
    keep = WorkshopChoice(
        services_off=frozenset({"SPC05"}),
        candidates_on=frozenset({candidate}),
        telehealth=frozenset(demo_workshop.practices["facility_id"]),
        gp_min=40,
        spc_min=45,
    )
    mapping = choice_scenario(demo_workshop, keep, name='Hospice "west" & <friends>')
    path = tmp_path / "keep.yml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.name == 'Hospice "west" & <friends>'
    assert scenario.remove_facilities == ["SPC05"]
    assert [(c.site, c.service) for c in scenario.outreach_clinics] == [(candidate, visitor)]
    assert scenario.outreach_clinics[0].days_per_month == demo_workshop.days_per_month
    assert scenario.telehealth.practices == "all"
    assert (scenario.thresholds.gp_min, scenario.thresholds.spc_min) == (40, 45)
    assert scenario.thresholds.by_remoteness == demo_workshop.thresholds["by_remoteness"]
    lost = dataclasses.replace(keep, services_off=frozenset({visitor}))
    added = choice_scenario(demo_workshop, lost)["add_facilities"][0]
    assert added["kind"] == "spc" and added["service_type"] == "outreach"
    assert added["crs"] == demo_workshop.crs


def test_refused_choices(demo_workshop):
    fac = demo_workshop.facilities
    services = fac.loc[fac["role"] == "service", "facility_id"]
    with pytest.raises(InputError, match="must stay on"):
        check_choice(demo_workshop, WorkshopChoice(services_off=frozenset(services)))
    non_cancer = fac.loc[(fac["role"] == "service") & fac["accepts_non_cancer"], "facility_id"]
    with pytest.raises(InputError, match="non-cancer"):
        check_choice(demo_workshop, WorkshopChoice(services_off=frozenset(non_cancer)))
    with pytest.raises(InputError, match="unknown ids"):
        check_choice(demo_workshop, WorkshopChoice(telehealth=frozenset({"nope"})))


@pytest.fixture(scope="module")
def hostile_workshop(light_config, demo_inputs, baseline):
    """The demo with hostile region, practice and service names."""
    inputs = dataclasses.replace(
        demo_inputs,
        gp_practices=demo_inputs.gp_practices.assign(
            name=[GP_NAMES[i % len(GP_NAMES)] for i in range(len(demo_inputs.gp_practices))]
        ),
        specialist_services=demo_inputs.specialist_services.assign(
            name=[
                SPC_NAMES[i % len(SPC_NAMES)] for i in range(len(demo_inputs.specialist_services))
            ]
        ),
    )
    config = light_config.model_copy(
        update={"region": light_config.region.model_copy(update={"name": REGION_NAME})}
    )
    return build_workshop(config, inputs, baseline, gp_candidates(inputs.gp_practices))


def test_page_is_self_contained_and_escapes_every_name(hostile_workshop):
    page = build_workshop_page(hostile_workshop)
    assert HOSTILE_SCRIPT not in page  # in HTML text and in the embedded JSON alike
    assert "Gippsland &lt;script&gt;alert(1)&lt;/script&gt;" in page  # the title, as text
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page, flags=re.IGNORECASE)
    assert tags and not [t for t in tags if re.search(r"\b(?:src|href)\s*=", t)]
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    assert page.count("<script") == page.count("</script>") == 4  # leaflet, meta, data, app
    assert len(page) < 1_000_000


def _strict_json(text: str):
    """JSON as a browser's ``JSON.parse`` reads it: no NaN or Infinity tokens."""

    def refuse(token: str):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_unknown_service_capacities_leave_the_page_readable(
    light_config, demo_inputs, baseline, tmp_path
):
    """Services without a capacity (as on the Isle of Wight): the page's data must still
    parse (one NaN token stopped the page from loading at all) and an exported clinic whose
    visitor is lost carries an unknown capacity that ``gapmap scenario`` accepts."""
    inputs = dataclasses.replace(
        demo_inputs,
        specialist_services=demo_inputs.specialist_services.assign(capacity=np.nan),
    )
    data = build_workshop(light_config, inputs, baseline, gp_candidates(inputs.gp_practices))
    page = build_workshop_page(data)
    meta = re.search(r'<script type="application/json" id="gm-meta">(.*?)</script>', page, re.S)
    candidates = [f for f in _strict_json(meta.group(1))["facilities"] if "capacity" in f]
    assert candidates and all(f["capacity"] is None for f in candidates)
    fac = data.facilities.set_index("facility_id")
    candidate = fac[fac["role"] == "candidate"].index[0]
    lost = WorkshopChoice(
        services_off=frozenset({fac.loc[candidate, "visitor_id"]}),
        candidates_on=frozenset({candidate}),
    )
    mapping = choice_scenario(data, lost)
    assert mapping["add_facilities"][0]["capacity"] is None
    path = tmp_path / "lost.yml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    assert load_scenario(path).add_facilities[0].capacity is None
    outcome = scenario_outcome(light_config, inputs, mapping, tmp_path)
    spc = outcome.scenario.specialist_services.set_index("facility_id")
    added = spc.loc[mapping["add_facilities"][0]["facility_id"], "capacity"]
    assert pd.api.types.is_float_dtype(spc["capacity"]) and np.isnan(added)
    assert_same_changes(data, lost, outcome)  # the page's model agrees with the scenario


def test_cli_writes_the_page_and_rejects_bad_candidates(tmp_path, capsys):
    out = tmp_path / "workshop"
    assert main(["workshop", str(DEMO_CONFIG), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".gapmap-output",
        "workshop.html",
        "workshop.json",
    ]
    assert "wrote" in capsys.readouterr().out
    bad = tmp_path / "bad"
    assert main(["workshop", str(DEMO_CONFIG), "--out", str(bad), "--candidates", "x.csv"]) == 2
    assert main(["workshop", str(DEMO_CONFIG), "--out", str(bad), "--spc-max-min", "30"]) == 2
    assert main(["workshop", str(DEMO_CONFIG), "--out", str(bad), "--days-per-month", "0"]) == 2
    assert not bad.exists()
    assert "--spc-max-min" in capsys.readouterr().err


def test_an_empty_grid_says_why_there_are_no_candidates(light_config, demo_inputs, baseline):
    """Everyone in specialist reach (every unmet weight zero): the grid places no site, and the
    page says why rather than only that there is none."""
    from geo.analysis.sites import grid_candidates

    def said(data) -> str:
        page = build_workshop_page(data)
        meta = re.search(r'<script type="application/json" id="gm-meta">(.*?)</script>', page, re.S)
        return _strict_json(meta.group(1))["noCandidates"]

    none_unmet = np.zeros(len(baseline.origins))
    empty = grid_candidates(baseline.origins, none_unmet, demo_inputs.network)
    assert empty.empty
    grid = build_workshop(light_config, demo_inputs, baseline, empty, candidate_kind="grid")
    assert "need lies beyond specialist reach, and none does here" in said(grid)
    sites = gp_candidates(demo_inputs.gp_practices)
    assert said(build_workshop(light_config, demo_inputs, baseline, sites)) == "No candidate sites."
