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

import numpy as np
import pytest

from geo.render.map_view import VIEW_BANDS, default_view
from geo.render.maps import has_bands, write_map
from geo.render.palette import FEW_PLACES
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
    "Sub-areas: cancer need without SPC access",
    "Sub-areas: non-cancer need without SPC access",
    "People by coverage class",
    "Non-cancer need by coverage class",
    "GP catchments (travel-time bands)",
    "SPC catchments (travel-time bands)",
    "Hotspots of uncovered need",
    "Isolated GP practices: link to nearest SPC",
    "GP practices",
    "Specialist palliative care services",
)
# Overlays that always hold something, so toggling them must change what is on the map.
NEVER_EMPTY = (
    "People by coverage class",
    "Non-cancer need by coverage class",
    "GP practices",
    "Specialist palliative care services",
)
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
# Whether the legend block of a layer (by its name in the control) is displayed.
LEGEND_SHOWN = """(name) => { const block = [...document.querySelectorAll('#gm-legend .gm-block')]
    .find(b => b.dataset.name === name);
    return block ? getComputedStyle(block).display !== 'none' : null; }"""
# The page-pixel box of [[south, west], [north, east]] at the current view.
DATA_BOX = """(bounds) => { let map = null;
    for (const k in window) { if (window[k] instanceof L.Map) { map = window[k]; } }
    const rect = map.getContainer().getBoundingClientRect();
    const a = map.latLngToContainerPoint(bounds[0]), b = map.latLngToContainerPoint(bounds[1]);
    return {left: rect.left + Math.min(a.x, b.x), right: rect.left + Math.max(a.x, b.x),
            top: rect.top + Math.min(a.y, b.y), bottom: rect.top + Math.max(a.y, b.y)}; }"""
# The coverage class (``c``) of every place drawn by a coverage layer, in drawing order.
LAYER_CLASSES = """(name) => { const block = [...document.querySelectorAll('.gm-block')]
    .find(b => b.dataset.name === name);
    const out = []; window[block.dataset.layer].eachLayer(function (geojson) {
        if (geojson.eachLayer) { geojson.eachLayer(function (l) {
            if (l.feature) { out.push(l.feature.properties.c); } }); } });
    return out; }"""

# Centre the map on the GP practice whose tooltip is ``gp`` (zoom 13) and return the page
# pixels of the practice and of the SPC icon whose tooltip is ``spc``.
SITE_PIXELS = """([gp, spc]) => { let map = null, practice = null, service = null;
    const text = (layer) => { if (!layer.getTooltip || !layer.getTooltip()) { return null; }
        const div = document.createElement('div');
        div.innerHTML = layer.getTooltip().getContent(); return div.textContent.trim(); };
    for (const k in window) { const v = window[k];
        if (v instanceof L.Map) { map = v; }
        if (v instanceof L.CircleMarker && text(v) === gp) { practice = v; }
        if (v instanceof L.Marker && text(v) === spc) { service = v; } }
    map.closePopup(); map.setView(practice.getLatLng(), 13, {animate: false});
    const rect = map.getContainer().getBoundingClientRect();
    const p = map.latLngToContainerPoint(practice.getLatLng());
    const icon = service._icon.getBoundingClientRect();
    return {gp: [rect.left + p.x, rect.top + p.y],
            spc: [(icon.left + icon.right) / 2, (icon.top + icon.bottom) / 2]}; }"""


@pytest.fixture(scope="module")
def hostile_results():
    return make_results(300, seed=5)


@pytest.fixture(scope="module")
def hostile_pages(tmp_path_factory, hostile_results) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("hostile")
    return (
        write_map(hostile_results, out / "map.html", offline=True),
        write_report(hostile_results, out / "report.html"),
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


def _check_map(browser, path: Path, results, *, tiles: bool, overlays=OVERLAYS) -> None:
    page, events = _open(browser, path)
    page.wait_for_selector(".leaflet-control-layers")
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    labels = [label.strip() for label in labels]
    assert sorted(labels) == sorted(overlays)
    _check_default_view(page, results)
    _check_layout(page, results)
    for name in overlays:  # every overlay toggles on and off again, and its legend with it
        box = page.get_by_role("checkbox", name=name, exact=True)
        checked, before = box.is_checked(), page.evaluate(COUNT_LAYERS)
        assert page.evaluate(LEGEND_SHOWN, name) is checked, name
        box.click()
        during = page.evaluate(COUNT_LAYERS)
        assert box.is_checked() != checked, name
        assert page.evaluate(LEGEND_SHOWN, name) is (not checked), name
        if name in NEVER_EMPTY:
            assert during != before, name
        box.click()
        assert box.is_checked() == checked and page.evaluate(COUNT_LAYERS) == before, name
        assert page.evaluate(LEGEND_SHOWN, name) is checked, name
    for kind in ("gp", "spc"):
        assert page.evaluate(OPEN_POPUP, kind)
        _one_popup(page)
        text = page.locator(".leaflet-popup-content").inner_text()
        assert text.strip() and "nan" not in text.lower().split()
    assert page.locator(".leaflet-control-zoom-fullscreen, .leaflet-control-measure").count() >= 2
    assert events["errors"] == [] and events["dialogs"] == [] and events["remote"] == []
    assert (events["tiles"] > 0) is tiles
    shot = page.screenshot()
    assert len(set(shot[::97])) > 50  # not a blank page
    page.close()


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }"
    )


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


def _extent(results) -> list[list[float]]:
    """Every place, facility and sub-area of the run, in degrees (from the results frames)."""
    frames = [results.origins, results.gp_practices, results.specialist_services]
    frames += [results.subareas] if results.subareas is not None else []
    boxes = np.array([f.to_crs(4326).total_bounds for f in frames if len(f)])
    return [[boxes[:, 1].min(), boxes[:, 0].min()], [boxes[:, 3].max(), boxes[:, 2].max()]]


def _check_layout(page, results) -> None:
    """At the default view the legend panel and the layer control leave the data's extent
    clear, and the scale bar stays off the panel."""
    data = page.evaluate(DATA_BOX, _extent(results))
    viewport = page.viewport_size
    assert data["left"] >= 0 and data["top"] >= 0  # the whole extent is in view
    assert data["right"] <= viewport["width"] and data["bottom"] <= viewport["height"]
    panel = _box(page, "#gm-side")
    assert not _overlap(panel, data), (panel, data)
    assert not _overlap(_box(page, ".leaflet-control-layers"), data)
    assert not _overlap(_box(page, ".leaflet-control-scale"), panel)


def _check_default_view(page, results) -> None:
    """Bands on and coverage off when nearly everyone is covered, else the reverse (the
    rule of :func:`geo.render.map_view.default_view`), and the headline says which."""
    view = default_view(results.findings, has_bands=has_bands(results))
    bands = page.get_by_role("checkbox", name="Travel time to nearest SPC (minutes)", exact=True)
    coverage = page.get_by_role("checkbox", name="People by coverage class", exact=True)
    headline = page.locator("#gm-headline").inner_text()
    if view == VIEW_BANDS:
        assert bands.is_checked() is (results.travel_time_surface is not None)
        assert not coverage.is_checked() and "the bands show how far" in headline
    else:
        assert coverage.is_checked() and not bands.is_checked()
        assert "of people have a GP within" in headline


def _one_popup(page) -> None:
    """Wait until the previous popup has faded out and exactly one is open."""
    page.wait_for_function("document.querySelectorAll('.leaflet-popup-content').length === 1")


def _check_report(browser, path: Path, places: int) -> None:
    page, events = _open(browser, path)
    assert page.locator("h2", has_text="Key findings").count() == 1
    charts = page.locator("svg.chart")
    assert charts.count() >= 8
    widths = [
        charts.nth(i).evaluate("c => c.getBoundingClientRect().width")
        for i in range(charts.count())
    ]
    assert min(widths) > 100  # every chart laid out
    if places >= FEW_PLACES:
        images = page.locator("svg.chart image")  # the coverage map's raster decodes
        assert images.count() == 1 and images.first.evaluate("i => i.getBBox().width") > 100
    else:  # area points are drawn as dots, every one laid out
        dots = page.locator('svg.chart circle[stroke="#333"]')
        assert dots.count() == places and page.locator("svg.chart image").count() == 0
        assert dots.first.evaluate("c => c.getBBox().width") > 0
    assert events["errors"] == [] and events["dialogs"] == [] and events["remote"] == []
    page.close()


def test_demo_map_and_report(browser, demo_outcome):
    _check_map(browser, demo_outcome.out_dir / "map.html", demo_outcome.results, tiles=True)
    _check_report(browser, demo_outcome.out_dir / "report.html", len(demo_outcome.results.origins))


def test_demo_non_cancer_layer_differs_as_the_results_do(browser, demo_outcome):
    """The non-cancer coverage layer draws each place's non-cancer class: it differs from the
    people/all-need layer exactly where the results' two class columns differ (the demo's
    cancer-only community team)."""
    origins = demo_outcome.results.origins
    page, events = _open(browser, demo_outcome.out_dir / "map.html")
    page.wait_for_selector(".leaflet-control-layers")
    people = page.evaluate(LAYER_CLASSES, "People by coverage class")
    non_cancer = page.evaluate(LAYER_CLASSES, "Non-cancer need by coverage class")
    assert people == list(origins["coverage_class"].astype(str))
    assert non_cancer == list(origins["coverage_class_non_cancer"].astype(str))
    differ = sum(a != b for a, b in zip(people, non_cancer, strict=True))
    assert differ > 0
    assert differ == int((origins["coverage_class"] != origins["coverage_class_non_cancer"]).sum())
    assert events["errors"] == [] and events["remote"] == []
    page.close()


@pytest.mark.xdist_group("iow")
def test_isle_of_wight_map_and_report(browser, iow_outcome):
    _check_map(browser, iow_outcome.out_dir / "map.html", iow_outcome.results, tiles=True)
    _check_report(browser, iow_outcome.out_dir / "report.html", len(iow_outcome.results.origins))


def test_offline_map_makes_no_request(browser, hostile_pages, hostile_results):
    _check_map(browser, hostile_pages[0], hostile_results, tiles=False)


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
    _check_map(
        browser,
        out / "scenario_map.html",
        demo_scenario.scenario,
        tiles=True,
        overlays=OVERLAYS + extra,
    )
    _check_same_site_popups(browser, out / "scenario_map.html", demo_scenario.scenario)
    _check_map(
        browser,
        demo_sites[2] / "sites_map.html",
        demo_sites[0],
        tiles=True,
        overlays=(*OVERLAYS, "Chosen outreach sites (ranked)"),
    )


def _check_same_site_popups(browser, path: Path, results) -> None:
    """An outreach clinic held at a GP practice hides neither: clicking the practice opens
    the practice's popup and clicking the clinic's icon the clinic's, each naming the other."""
    gps, spcs = results.gp_practices, results.specialist_services
    clinic = spcs[spcs["service_type"] == "outreach"].iloc[0]
    practice = gps.iloc[int(gps.distance(clinic.geometry).to_numpy().argmin())]
    assert practice.geometry.distance(clinic.geometry) < 1.0  # the same point
    page, events = _open(browser, path)
    page.wait_for_selector(".leaflet-control-layers")
    pixels = page.evaluate(SITE_PIXELS, [practice["name"], clinic["name"]])
    for kind, first, other in (
        ("gp", practice["name"], clinic["name"]),
        ("spc", clinic["name"], practice["name"]),
    ):
        page.mouse.click(*pixels[kind])
        _one_popup(page)
        text = page.locator(".leaflet-popup-content").inner_text()
        assert text.startswith(first) and "Also at this site" in text and other in text, kind
        page.evaluate(SITE_PIXELS, [practice["name"], clinic["name"]])  # closes the popup
        page.wait_for_function("document.querySelectorAll('.leaflet-popup').length === 0")
    assert events["errors"] == []
    page.close()


def test_empty_layers_render_in_the_browser(browser, tmp_path):
    results = make_results(200, seed=8, with_hotspots=False, with_catchments=False)
    for frame in (results.gp_practices, results.tables["gp_specialist_links"]):
        frame["link_status"] = "linked"
    path = write_map(results, tmp_path / "map.html", offline=True)
    _check_map(browser, path, results, tiles=False)
    page, _ = _open(browser, path)
    legend = page.locator("#gm-legend")
    for layer, note in (
        ("Hotspots of uncovered need", "No hotspots of uncovered need found."),
        ("SPC catchments (travel-time bands)", "No SPC catchments computed in this run."),
    ):  # off at first: the note shows with its layer
        assert note not in legend.inner_text()
        page.get_by_role("checkbox", name=layer, exact=True).click()
        assert note in legend.inner_text()
    assert "No isolated GP practices." in legend.inner_text()  # that layer is on
    page.close()
