"""The workshop page in a real headless Chromium, opened from disk with every network request
blocked: its controls change the figures and the map, and for random choices its ``totals()``
equal ``gapmap scenario`` run on the YAML it exports (people exactly, need to 1e-6)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from geo.analysis.workshop_model import choice_changes
from geo.config import load_scenario
from geo.render.workshop import write_workshop_page
from geo.workflows.scenario import analyse_scenario, run_scenario, scenario_config
from tests import test_browser as shared_browser
from tests import test_workshop as shared
from tests.results_factory import HOSTILE_SCRIPT

# Fixtures shared with the browser and workshop tests (re-exported so pytest finds them here).
browser = shared_browser.browser
light_config = shared.light_config
baseline = shared.baseline
demo_workshop = shared.demo_workshop
hostile_workshop = shared.hostile_workshop
home_visit_config = shared.home_visit_config
home_visit_workshop = shared.home_visit_workshop
_open = shared_browser._open  # the pages' network blocker and error collector

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("workshop_browser")]
API = "window.gapmapWorkshop"
# Pixels of the points layer, to see the map recoloured.
CANVAS_PIXELS = "() => document.querySelector('canvas.gm-points').toDataURL()"


@pytest.fixture(scope="module")
def demo_page(demo_workshop, tmp_path_factory):
    return write_workshop_page(demo_workshop, tmp_path_factory.mktemp("ws") / "workshop.html")


@pytest.fixture()
def page(browser, demo_page):
    page, events = _open(browser, demo_page)
    page.wait_for_function(f"{API} && {API}.loaded", timeout=60_000)
    yield page
    assert events["errors"] == [] and events["dialogs"] == []
    assert events["remote"] == [] and events["tiles"] == 0  # no request left the page
    page.close()


def _spc_totals(page) -> dict:
    rows = page.evaluate(f"{API}.totals()")["totals"]
    return {(r["coverage"], r["need_group"]): r for r in rows}


def _apply(page, choice) -> None:
    """Set a choice through the API (clinics first, so no step leaves nothing on)."""
    page.evaluate(f"{API}.reset()")
    for cid in sorted(choice.candidates_on):
        assert page.evaluate(f"([id]) => {API}.setCandidate(id, true)", [cid])
    for sid in sorted(choice.services_off):
        assert page.evaluate(f"([id]) => {API}.setService(id, false)", [sid])
    for pid in sorted(choice.telehealth):
        assert page.evaluate(f"([id]) => {API}.setTelehealth(id, true)", [pid])
    page.evaluate(f"([g, s]) => {API}.setThresholds(g, s)", [choice.gp_min, choice.spc_min])


def _assert_equal_tables(rows: list[dict], expected: pd.DataFrame) -> None:
    got = pd.DataFrame(rows)[list(expected.columns)]
    assert len(got) == len(expected)
    for col in expected.columns:
        if col.startswith("pop_count"):
            assert got[col].tolist() == expected[col].tolist(), col  # exactly
        elif col.startswith("need_") and col != "need_group":
            assert all(
                math.isclose(a, b, rel_tol=0, abs_tol=1e-6)
                for a, b in zip(got[col], expected[col], strict=True)
            ), col
        else:
            assert got[col].tolist() == expected[col].tolist(), col


def test_panel_controls_change_totals_and_map(page):
    before, pixels = _spc_totals(page), page.evaluate(CANVAS_PIXELS)
    signature = page.evaluate(f"{API}.mapSignature()")
    # Lose the community team: its checkbox in the panel.
    box = page.locator("#gm-services input[type=checkbox]").nth(2)
    box.uncheck()
    after = _spc_totals(page)
    assert after[("spc", "cancer")]["pop_count_lost"] > 0
    assert "−" in page.locator("#gm-changes").inner_text()  # the loss is shown
    assert after != before
    assert page.evaluate(f"{API}.mapSignature()") != signature
    assert page.evaluate(CANVAS_PIXELS) != pixels
    assert "SPC03" in page.locator("#gm-yaml").inner_text()  # remove_facilities
    # A clinic at the remote practice, through its checkbox.
    page.locator("#gm-candidates label", has_text="Tindarra").locator("input").check()
    gained = _spc_totals(page)[("spc", "non_cancer")]["need_gained"]
    assert gained > 0
    # Telehealth for every practice: virtual coverage appears.
    page.locator("#gm-tele-all").click()
    assert _spc_totals(page)[("virtual", "cancer")]["pop_count_scenario"] > 0
    # The SPC slider: a stricter standard moves the baseline and the scenario alike.
    spc_before = _spc_totals(page)[("spc", "cancer")]["pop_count_baseline"]
    page.locator("#gm-spc").fill("30")
    assert page.evaluate(f"{API}.thresholds()")["spcMin"] == 30
    assert _spc_totals(page)[("spc", "cancer")]["pop_count_baseline"] < spc_before
    assert page.locator("#gm-spc-value").inner_text() == "30 min"
    # The change colouring redraws the map.
    pixels = page.evaluate(CANVAS_PIXELS)
    page.locator("#gm-colour").select_option("change")
    assert page.evaluate(CANVAS_PIXELS) != pixels
    assert "Gained specialist coverage" in page.locator(".legend").inner_text()
    # The download button saves the choice shown.
    page.locator("#gm-name").fill("West clinic")
    with page.expect_download() as download:
        page.locator("#gm-download").click()
    assert download.value.suggested_filename == "west_clinic.yml"
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert saved == page.evaluate(f"{API}.scenarioYaml()") and 'name: "West clinic"' in saved
    page.evaluate(f"{API}.reset()")
    shown = page.locator("#gm-changes").inner_text()
    assert "+" not in shown and "−" not in shown  # nothing gained or lost at the baseline


def _popup_toggle(page, marker, label: str) -> None:
    """Open a marker's popup and click its checkbox named ``label`` (the click is sent to the
    marker itself: in the city, practices' markers lie over the services')."""
    marker.dispatch_event("click")
    shared_browser._one_popup(page)  # the previous popup has faded out
    popup = page.locator(".leaflet-popup-content")
    popup.locator("label", has_text=label).locator("input").click()


def test_fixed_thresholds_are_named_as_in_the_report(page, demo_workshop):
    note = page.locator("#gm-fixed").inner_text()
    for name, values in demo_workshop.thresholds["by_remoteness"].items():
        assert f"{name}: GP {values['gp_min']:g} min" in note  # "GP", not the key "gp_min"


def test_marker_popups_toggle_services_and_links(page):
    first_service = page.evaluate(f"{API}.services()")[0]["id"]
    markers = page.locator("path.leaflet-interactive")
    _popup_toggle(page, markers.first, "Service running")  # services are drawn first
    assert page.evaluate(f"{API}.state()")["servicesOff"] == [first_service]
    assert first_service in page.locator("#gm-yaml").inner_text()
    assert not page.locator(f'#gm-services label[title="{first_service}"] input').is_checked()
    _popup_toggle(page, markers.last, "Telehealth link")  # practices are drawn last
    assert len(page.evaluate(f"{API}.state()")["telehealth"]) == 1


def test_refusals_keep_a_runnable_scenario(page):
    services = page.evaluate(f"{API}.services()")
    non_cancer = [s["id"] for s in services if s["acceptsNonCancer"]]
    results = [page.evaluate(f"([id]) => {API}.setService(id, false)", [i]) for i in non_cancer]
    assert results[:-1] == [True] * (len(non_cancer) - 1) and results[-1] is False
    assert "non-cancer" in page.locator("#gm-message").inner_text()
    last = page.locator(f'#gm-services label[title="{non_cancer[-1]}"] input')
    assert last.is_checked()  # the refused switch stays on
    with pytest.raises(Exception, match="unknown service id"):
        page.evaluate(f"{API}.setService('nope', false)")
    with pytest.raises(Exception, match=r"multiple of|minutes in"):
        page.evaluate(f"{API}.setThresholds(30.5, 60)")


@pytest.mark.slow
def test_random_choices_equal_gapmap_scenario(
    page,
    demo_workshop,
    light_config,
    demo_inputs,
    tmp_path,
):
    choices = shared.random_choices(demo_workshop, 6, seed=2026)
    for i, choice in enumerate(choices):
        _apply(page, choice)
        path = tmp_path / f"page{i}.yml"
        path.write_text(page.evaluate(f"{API}.scenarioYaml()"), encoding="utf-8")
        scenario = load_scenario(path)  # the page's file, as `gapmap scenario` reads it
        outcome = analyse_scenario(scenario_config(light_config, scenario), demo_inputs, scenario)
        totals = page.evaluate(f"{API}.totals()")
        _assert_equal_tables(totals["totals"], outcome.change_totals)
        _assert_equal_tables(totals["changes"], outcome.changes)
    # The last one written as `gapmap scenario` writes it (the command's workflow, without
    # its speed-uncertainty draws and catchments, which change no coverage figure).
    out = run_scenario(
        scenario_config(light_config, scenario),
        scenario,
        out_dir=tmp_path / "report",
        cache_dir=tmp_path / "cache",
    ).out_dir
    written = pd.read_csv(out / "tables" / "scenario_change_totals.csv")
    got = pd.DataFrame(page.evaluate(f"{API}.totals()")["totals"])[list(written.columns)]
    pd.testing.assert_frame_equal(got, written, check_exact=False, rtol=1e-9)


def test_home_visits_wide_codes_and_double_people_match_the_model(
    browser, home_visit_workshop, tmp_path
):
    """Two codes a minute in 16 bits, a half-minute home-visit reach, a fixed class threshold,
    and people that need float64: the page equals the Python model (itself equal to
    ``gapmap scenario``, see test_workshop.py)."""
    rng = np.random.default_rng(1)
    origins = home_visit_workshop.origins
    people = origins["pop_count"] + rng.uniform(0, 1e-3, len(origins))
    data = dataclasses.replace(home_visit_workshop, origins=origins.assign(pop_count=people))
    path = write_workshop_page(data, tmp_path / "workshop.html")
    assert '"codeType": "u16"' in path.read_text(encoding="utf-8")
    page, events = _open(browser, path)
    page.wait_for_function(f"{API} && {API}.loaded", timeout=60_000)
    for choice in shared.random_choices(data, 3, seed=11):
        _apply(page, choice)
        changes, totals = choice_changes(data, choice)
        got = page.evaluate(f"{API}.totals()")
        _assert_equal_tables(got["totals"], totals)
        _assert_equal_tables(got["changes"], changes)
    assert events["errors"] == [] and events["remote"] == []
    page.close()


def test_hostile_names_show_as_text(browser, hostile_workshop, tmp_path):
    path = write_workshop_page(hostile_workshop, tmp_path / "workshop.html")
    page, events = _open(browser, path)
    page.wait_for_function(f"{API} && {API}.loaded", timeout=60_000)
    assert HOSTILE_SCRIPT in page.locator("#gm-title").inner_text()
    assert HOSTILE_SCRIPT in page.locator("#gm-services").inner_text()
    assert 'O\'Brien & Partners "Family" Clinic' in page.locator("#gm-practices").inner_text()
    names = [s["name"] for s in page.evaluate(f"{API}.services()")]
    assert any(HOSTILE_SCRIPT in n for n in names)
    candidate = page.evaluate(f"{API}.candidates()")[0]
    assert page.evaluate(f"([id]) => {API}.setCandidate(id, true)", [candidate["id"]])
    assert page.evaluate(f"([id]) => {API}.setService(id, false)", [candidate["visitorId"]])
    scenario = yaml.safe_load(page.evaluate(f"{API}.scenarioYaml()"))  # exported as added
    assert HOSTILE_SCRIPT in scenario["add_facilities"][0]["name"] + scenario["description"]
    assert "ギップスランド" in scenario["description"]
    assert events["dialogs"] == [] and events["errors"] == [] and events["remote"] == []
    page.close()


def test_isle_of_wight_page_loads_and_exports_unknown_capacities(
    browser, geo_data_root_env, tmp_path
):
    """Real data whose services have no capacity: the page loads (one NaN in its data once
    left it stuck on "Loading"), and a clinic exported as a new facility because its visitor
    is off carries an unknown capacity that ``gapmap scenario`` reads."""
    from geo.cli import main
    from tests.conftest import IOW_CONFIG

    out = tmp_path / "iow"
    assert main(["workshop", str(IOW_CONFIG), "--out", str(out), "-q"]) == 0
    page, events = _open(browser, out / "workshop.html")
    page.wait_for_function(f"{API} && {API}.loaded", timeout=60_000)
    # The island's whole outline is in view when the page opens (The Needles included).
    west, south, east, north = page.evaluate(f"{API}.viewBounds()")
    meta = page.evaluate("JSON.parse(document.getElementById('gm-meta').textContent)")
    outline = np.array([c for ring in meta["boundary"] for c in ring])
    assert len(outline) and (outline[:, 0] >= west).all() and (outline[:, 0] <= east).all()
    assert (outline[:, 1] >= south).all() and (outline[:, 1] <= north).all()
    # 89 area points are marked large enough to see (7 px squares, not 2 px specks).
    painted = page.evaluate(
        "() => { const c = document.querySelector('canvas.gm-points');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; } return n; }"
    )
    assert painted >= 20 * meta["n"]
    candidate = page.evaluate(f"{API}.candidates()")[0]
    services = [s["id"] for s in page.evaluate(f"{API}.services()")]
    visitor = page.evaluate(
        "([id]) => JSON.parse(document.getElementById('gm-meta').textContent)"
        ".facilities.find(f => f.id === id).visitorId",
        [candidate["id"]],
    )
    assert visitor in services
    assert page.evaluate(f"([id]) => {API}.setCandidate(id, true)", [candidate["id"]])
    assert page.evaluate(f"([id]) => {API}.setService(id, false)", [visitor])
    path = tmp_path / "choice.yml"
    path.write_text(page.evaluate(f"{API}.scenarioYaml('IoW')"), encoding="utf-8")
    totals = page.evaluate(f"{API}.totals()")["totals"]
    page.close()
    assert events["errors"] == [] and events["remote"] == []
    scenario = load_scenario(path)  # no per-remoteness thresholds: `by_remoteness: {}`
    assert [f.capacity for f in scenario.add_facilities] == [None]
    assert scenario.thresholds.by_remoteness == {}
    # The exported file runs as `gapmap scenario`, with the page's figures.
    report = tmp_path / "scenario"
    assert main(["scenario", str(IOW_CONFIG), str(path), "--out", str(report), "-q"]) == 0
    written = pd.read_csv(report / "tables" / "scenario_change_totals.csv")
    got = pd.DataFrame(totals)[list(written.columns)]
    pd.testing.assert_frame_equal(got, written, check_exact=False, rtol=1e-9)
