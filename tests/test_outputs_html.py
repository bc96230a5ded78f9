"""Map and report HTML: layers present, text escaped, offline pages self-contained, numbers true."""

from __future__ import annotations

import copy
import html
import json
import re

import pytest

from geo.render import map_facilities
from geo.render.maps import build_map, render_html, write_map
from geo.render.pages import content_from_json, content_json, render_page
from geo.render.report import key_findings, render_report, report_content, write_report

HOSTILE = "<script>alert('x')</script> & \"Ngurra\" 北区 `${alert(3)}`"
# Anything the browser would fetch: scripts, stylesheets, images, frames, CSS urls (plain
# <a href> links such as Leaflet's attribution are not fetched).
REMOTE_REF = re.compile(
    r"""<(?:script|link|img|iframe)[^>]+(?:src|href)\s*=\s*["']https?://"""
    r"""|url\(\s*["']?https?://""",
    re.I,
)


@pytest.fixture(scope="module")
def results(demo_results):
    return demo_results


@pytest.fixture(scope="module")
def hostile(results):
    bad = copy.deepcopy(results)
    bad.region_name = HOSTILE
    bad.gp_practices.loc[bad.gp_practices.index[0], "name"] = HOSTILE
    bad.specialist_services.loc[bad.specialist_services.index[0], "name"] = HOSTILE
    bad.subareas.loc[bad.subareas.index[0], "area_name"] = HOSTILE
    bad.tables["coverage_by_subarea"]["area_name"] = HOSTILE
    bad.tables["gp_specialist_links"]["name"] = HOSTILE
    return bad


def test_map_has_every_layer(results):
    page = render_html(build_map(results))
    for name in (
        "People by coverage class",
        "Non-cancer need by coverage class",
        "GP practices",
        "Specialist palliative care services",
        "Sub-areas: need without SPC access",
        "Sub-areas: cancer need without SPC access",
        "Sub-areas: non-cancer need without SPC access",
        "Remoteness",
        "Isolated GP practices: link to nearest SPC",
        "SPC catchments (travel-time bands)",
        "GP catchments (travel-time bands)",
        "Travel time to nearest SPC (minutes)",
        "Palliative care need density (cancer + non-cancer)",
        "Population density",
        "Hotspots of uncovered need",
    ):
        assert f'data-name="{name}"' in page, name  # each layer has its legend block
    assert "Hotspot 1:" in page  # hotspots of need beyond SPC reach are drawn
    assert "SPC within 60 min" in page  # nearest-SPC catchment bands
    assert "Tindarra Bush Practice" in page


def test_map_time_bands_are_the_reports(results):
    """The travel-time legend lists exactly the bands of the report's table (one source:
    ``thresholds.bands_min``), in minutes."""
    page = render_html(build_map(results))
    block = re.search(r'data-name="Travel time to nearest SPC \(minutes\)">(.*?)</div></div>', page)
    legend = re.findall(r"</span>([^<]+)</div>", block.group(0))
    table = results.tables["travel_time_bands"]
    bands = table[(table["service_kind"] == "spc") & table["upper_min"].notna()]
    open_band = table[(table["service_kind"] == "spc") & table["lower_min"].notna()]
    expected = [*bands.sort_values("band_order")["band"], open_band["band"].iloc[-1]]
    assert legend == [f"{band} min" for band in expected]
    assert "90 min" not in block.group(0)  # the old map-only edges are gone


@pytest.mark.parametrize("offline", [False, True])
def test_map_escapes_input_text(hostile, offline):
    page = render_html(build_map(hostile, offline=offline))
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page
    assert "${alert(3)}" not in page  # no template-literal injection in folium's popup JS


def test_offline_map_loads_nothing_remote(results, tmp_path):
    path = write_map(results, tmp_path / "map.html", offline=True)
    page = path.read_text(encoding="utf-8")
    assert not REMOTE_REF.findall(page)
    assert "L.map(" in page and "Leaflet" in page  # Leaflet itself is inline


def test_empty_layers_render_with_a_note(results):
    empty = copy.deepcopy(results)
    empty.hotspots = empty.hotspots.iloc[0:0]
    empty.catchments = None
    empty.travel_time_surface = None
    for gp in (empty.gp_practices, empty.tables["gp_specialist_links"]):
        gp["link_status"] = "linked"
    page = render_html(build_map(empty, offline=True))
    assert "No hotspots of uncovered need found." in page
    assert "No SPC catchments computed in this run." in page
    assert "No travel-time surface computed in this run." in page
    assert "No isolated GP practices." in page


def test_online_map_needs_the_network_only_for_tiles(results, monkeypatch):
    monkeypatch.setattr(map_facilities, "CLUSTER_ABOVE", 0)  # cluster even a few practices
    page = render_html(build_map(results, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" in page
    assert not REMOTE_REF.findall(page)  # Leaflet and plugins inline even with tiles
    assert "L.markerClusterGroup" in page and "L.Control.Measure" in page
    cdn = '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
    assert REMOTE_REF.findall(cdn)  # the check itself does detect a CDN link


def test_report_numbers_come_from_the_tables(results):
    page = render_report(results)
    origins = results.origins
    assert f"{origins['pop_count'].sum():,.0f} people live in the region" in page
    gp_only = origins.loc[origins["coverage_class"] == "gp_only", "pop_count"].sum()
    assert f"{gp_only:,.0f} people" in page
    links = results.tables["gp_specialist_links"]
    isolated = (links["link_status"] == "isolated").sum()
    routed = links["link_status"].isin(["linked", "isolated"]).sum()
    verb = "is" if isolated == 1 else "are"
    assert f"{isolated} of {routed} GP practices {verb} isolated" in page
    for finding in key_findings(results):
        assert html.escape(finding)[:60] in page


def test_report_is_self_contained_and_escaped(hostile, tmp_path):
    page = write_report(hostile, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert not REMOTE_REF.findall(page)
    assert page.count('<svg class="chart"') == 10  # 6 charts, 2 maps with their legends
    assert "OpenStreetMap contributors" in page


def test_stored_page_content_lays_out_the_same_escaped_page(hostile):
    """The store's plain JSON of a page (what `gapmap report` reads back) gives the same page:
    hostile text stays escaped, and only gapmap's own drawings are marked safe again."""
    content = report_content(hostile)
    stored = json.loads(json.dumps(content_json(content), allow_nan=False))
    page = render_page(content_from_json(stored))
    assert page == render_page(content) and "<script" not in page
    plain = {name: value for name, value in stored.items() if name != "charts"}
    assert "<script" in json.dumps(plain)  # the hostile names are stored as text, unescaped


def test_report_suppresses_small_counts(results):
    page = render_report(results)
    sub = results.tables["coverage_by_subarea"]
    small = ((sub["pop_count"] > 0) & (sub["pop_count"] < 5)).any()
    assert small  # the demo has tiny sub-area cells
    assert "&lt;5" in page
