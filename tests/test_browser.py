"""The map and report in a real headless Chromium with the network blocked."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from geo.config import load_config
from geo.maps import write_map
from geo.pipeline import run
from geo.report import write_report
from tests.conftest import DEMO_CONFIG

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

OVERLAYS = (
    "People by coverage class",
    "GP practices",
    "Specialist palliative care services",
    "Sub-areas: need without SPC access",
    "Remoteness",
)


# Layers on the map (vectors draw on a canvas, so count Leaflet's layers, not DOM nodes).
COUNT_LAYERS = """() => { for (const k in window) { const m = window[k];
    if (m instanceof L.Map) { return Object.keys(m._layers).length; } } return -1; }"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    results = run(
        load_config(DEMO_CONFIG), write=False, cache_dir=tmp_path_factory.mktemp("cache")
    ).results
    hostile = copy.deepcopy(results)
    name = "<img src=x onerror=alert(1)><script>alert(2)</script>`${alert(3)}`"
    hostile.gp_practices.loc[hostile.gp_practices.index[0], "name"] = name
    hostile.tables["gp_specialist_links"]["name"] = name
    return (
        write_map(hostile, out / "map.html", offline=True, tiles=None),
        write_report(hostile, out / "report.html"),
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
    events = {"errors": [], "dialogs": [], "remote": []}
    page.on("console", lambda m: m.type == "error" and events["errors"].append(m.text))
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))

    def block(route):
        if route.request.url.startswith(("file:", "data:", "about:")):
            return route.continue_()
        events["remote"].append(route.request.url)
        return route.abort()

    page.route("**/*", block)
    page.goto(path.as_uri(), wait_until="load")
    return page, events


def test_offline_map_works_with_no_network(browser, pages):
    page, events = _open(browser, pages[0])
    page.wait_for_selector(".leaflet-control-layers")
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    for overlay in OVERLAYS:
        assert any(overlay in label for label in labels), (overlay, labels)
    # Toggling an overlay removes and restores its features.
    gp_box = page.get_by_role("checkbox", name="GP practices", exact=True)
    before = page.evaluate(COUNT_LAYERS)
    gp_box.click()
    after = page.evaluate(COUNT_LAYERS)
    gp_box.click()
    n_gps = 16
    assert after <= before - n_gps and page.evaluate(COUNT_LAYERS) == before
    assert events["errors"] == [] and events["dialogs"] == [] and events["remote"] == []
    shot = page.screenshot()
    assert len(set(shot[::97])) > 50  # not a blank page
    page.close()


def test_map_popup_shows_escaped_name(browser, pages):
    page, events = _open(browser, pages[0])
    page.wait_for_selector(".leaflet-control-layers")
    page.evaluate("""() => { for (const k in window) { const m = window[k];
        if (m && m instanceof L.Map) { m.eachLayer(l => { if (l.getPopup && l.getPopup()
            && l.getLatLng && l.options.radius === 7) { l.openPopup(); } }); } } }""")
    text = page.locator(".leaflet-popup-content").first.inner_text()
    assert "<script>alert(2)</script>" in text  # shown as text, not run
    assert events["dialogs"] == []
    page.close()


def test_report_renders_offline(browser, pages):
    page, events = _open(browser, pages[1])
    assert page.locator("h2", has_text="Key findings").count() == 1
    images = page.locator("img")
    assert images.count() == 3
    widths = [images.nth(i).evaluate("i => i.naturalWidth") for i in range(3)]
    assert min(widths) > 100  # embedded charts decoded
    assert events["errors"] == [] and events["dialogs"] == [] and events["remote"] == []
    page.close()
