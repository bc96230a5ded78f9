"""Maps and reports in a real headless Chromium, opened from disk with the network blocked.

The demo and Isle of Wight runs write their map.html/report.html through the pipeline, as a user
gets them (with basemap tiles: tile requests are answered locally with a grey PNG and counted;
every other remote request is refused and fails the test). A factory region with hostile names
checks escaping in the offline map and in the report.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from geo.render.maps import write_map
from geo.render.report import write_report
from tests.results_factory import HOSTILE_SCRIPT, make_results

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

OVERLAYS = (
    "Remoteness",
    "Palliative care need density (cancer + non-cancer)",
    "Population density",
    "Travel time to nearest SPC (minutes)",
    "Sub-areas: need without SPC access",
    "People by coverage class",
    "GP catchments (travel-time bands)",
    "SPC catchments (travel-time bands)",
    "Hotspots of uncovered need",
    "Isolated GP practices: link to nearest SPC",
    "GP practices",
    "Specialist palliative care services",
)
# Overlays that always hold something, so toggling them must change what is on the map.
NEVER_EMPTY = ("People by coverage class", "GP practices", "Specialist palliative care services")
GREY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mN8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)
# Leaflet's layers on the map (vectors draw on a canvas, so count layers, not DOM nodes).
COUNT_LAYERS = """() => { for (const k in window) { const m = window[k];
    if (m instanceof L.Map) { return Object.keys(m._layers).length; } } return -1; }"""
# Zoom to a GP practice (radius-7 circle) or SPC marker (gm-spc icon) and open its popup.
OPEN_POPUP = """(kind) => { let map = null, target = null;
    for (const k in window) { const v = window[k];
        if (v instanceof L.Map) { map = v; }
        if (!target && kind === 'gp' && v instanceof L.CircleMarker && v.options.radius === 7) {
            target = v; }
        if (!target && kind === 'spc' && v instanceof L.Marker && v.options.icon
            && v.options.icon.options.className === 'gm-spc') { target = v; } }
    map.closePopup(); map.setView(target.getLatLng(), 14, {animate: false});
    target.openPopup(); return !!target.getPopup(); }"""


@pytest.fixture(scope="module")
def demo_out(demo_outcome) -> Path:
    return demo_outcome.out_dir


@pytest.fixture(scope="module")
def iow_out(iow_outcome) -> Path:
    return iow_outcome.out_dir


@pytest.fixture(scope="module")
def hostile_pages(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("hostile")
    results = make_results(300, seed=5)
    return (
        write_map(results, out / "map.html", offline=True),
        write_report(results, out / "report.html"),
    )


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    events = {"errors": [], "dialogs": [], "remote": [], "tiles": 0}
    page.on("console", lambda m: m.type == "error" and events["errors"].append(m.text))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))

    def block(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "about:")):
            return route.continue_()
        if "tile.openstreetmap.org" in url:  # basemap tiles: answered locally
            events["tiles"] += 1
            return route.fulfill(status=200, content_type="image/png", body=GREY_PNG)
        events["remote"].append(url)
        return route.abort()

    page.route("**/*", block)
    page.goto(path.as_uri(), wait_until="load")
    return page, events


def _check_map(browser, path: Path, *, tiles: bool, overlays=OVERLAYS) -> None:
    page, events = _open(browser, path)
    page.wait_for_selector(".leaflet-control-layers")
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    labels = [label.strip() for label in labels]
    assert sorted(labels) == sorted(overlays)
    for name in overlays:  # every overlay toggles on and off again
        box = page.get_by_role("checkbox", name=name, exact=True)
        checked, before = box.is_checked(), page.evaluate(COUNT_LAYERS)
        box.click()
        during = page.evaluate(COUNT_LAYERS)
        assert box.is_checked() != checked, name
        if name in NEVER_EMPTY:
            assert during != before, name
        box.click()
        assert box.is_checked() == checked and page.evaluate(COUNT_LAYERS) == before, name
    for kind in ("gp", "spc"):
        assert page.evaluate(OPEN_POPUP, kind)
        _one_popup(page)
        assert page.locator(".leaflet-popup-content").inner_text().strip()
    assert page.locator(".leaflet-control-zoom-fullscreen, .leaflet-control-measure").count() >= 2
    assert events["errors"] == [] and events["dialogs"] == [] and events["remote"] == []
    assert (events["tiles"] > 0) is tiles
    shot = page.screenshot()
    assert len(set(shot[::97])) > 50  # not a blank page
    page.close()


def _one_popup(page) -> None:
    """Wait until the previous popup has faded out and exactly one is open."""
    page.wait_for_function("document.querySelectorAll('.leaflet-popup-content').length === 1")


def _check_report(browser, path: Path) -> None:
    page, events = _open(browser, path)
    assert page.locator("h2", has_text="Key findings").count() == 1
    images = page.locator("img")
    assert images.count() >= 5
    widths = [images.nth(i).evaluate("i => i.naturalWidth") for i in range(images.count())]
    assert min(widths) > 100  # every embedded chart decoded
    assert events["errors"] == [] and events["dialogs"] == [] and events["remote"] == []
    page.close()


def test_demo_map_and_report(browser, demo_out):
    _check_map(browser, demo_out / "map.html", tiles=True)
    _check_report(browser, demo_out / "report.html")


@pytest.mark.xdist_group("iow")
def test_isle_of_wight_map_and_report(browser, iow_out):
    _check_map(browser, iow_out / "map.html", tiles=True)
    _check_report(browser, iow_out / "report.html")


def test_offline_map_makes_no_request(browser, hostile_pages):
    _check_map(browser, hostile_pages[0], tiles=False)


def test_hostile_names_show_as_text(browser, hostile_pages):
    page, events = _open(browser, hostile_pages[0])
    page.wait_for_selector(".leaflet-control-layers")
    assert HOSTILE_SCRIPT in page.locator("#gm-title").inner_text()
    assert "ギップスランド" in page.locator("#gm-title").inner_text()
    page.evaluate(OPEN_POPUP, "gp")
    _one_popup(page)
    assert HOSTILE_SCRIPT in page.locator(".leaflet-popup-content").inner_text()
    page.evaluate(OPEN_POPUP, "spc")
    _one_popup(page)
    assert HOSTILE_SCRIPT in page.locator(".leaflet-popup-content").inner_text()
    assert events["dialogs"] == [] and events["errors"] == []
    page.close()
    page, events = _open(browser, hostile_pages[1])
    assert HOSTILE_SCRIPT in page.locator("h1").inner_text()
    assert 'O\'Brien & Partners "Family" Clinic' in page.inner_text("body")
    assert events["dialogs"] == [] and events["errors"] == []
    page.close()


@pytest.mark.xdist_group("scenario")
def test_scenario_and_sites_maps(browser, demo_scenario, demo_sites):
    out = demo_scenario.out_dir
    extra = (
        "Before the scenario: people by coverage class",
        "Gained specialist coverage",
        "Lost specialist coverage",
        "Virtual (telehealth) coverage",
        "Scenario: services added, moved or removed",
    )
    _check_map(browser, out / "scenario_map.html", tiles=True, overlays=OVERLAYS + extra)
    _check_map(
        browser,
        demo_sites[2] / "sites_map.html",
        tiles=True,
        overlays=(*OVERLAYS, "Chosen outreach sites (ranked)"),
    )


def test_empty_layers_render_in_the_browser(browser, tmp_path):
    results = make_results(200, seed=8, with_hotspots=False, with_catchments=False)
    for frame in (results.gp_practices, results.tables["gp_specialist_links"]):
        frame["link_status"] = "linked"
    path = write_map(results, tmp_path / "map.html", offline=True)
    _check_map(browser, path, tiles=False)
    page, _ = _open(browser, path)
    legend = page.locator("#gm-legend").inner_text()
    assert "No hotspots of uncovered need found." in legend
    assert "No isolated GP practices." in legend
    page.close()
