"""The map's default view and headline, popups, facilities at one site, densities and bands.

The view rule reads the run's Findings (headline shares), so these tests change the coverage
columns, recompute the findings the way the pipeline does, and check which layers open on.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from geo.analysis.findings import compute_findings
from geo.render.map_facilities import same_site
from geo.render.map_layers import time_band_edges
from geo.render.map_rasters import band_index, density_raster, nice_cell_m, spacing_m
from geo.render.map_style import capacity_text, gp_popup, spc_popup
from geo.render.map_view import (
    NEARLY_ALL_SHARE,
    VIEW_BANDS,
    VIEW_COVERAGE,
    default_view,
    headline,
)
from geo.render.maps import build_map, has_bands, render_html
from geo.render.palette import time_colours
from geo.render.suppression import protected_coverage, protected_subareas
from tests.results_factory import REMOTENESS_CLASSES, make_results


def _with_classes(results, both_share: float, non_cancer_share: float | None = None):
    """A copy whose first ``both_share`` of people are ``both`` (the rest ``gp_only``) for
    cancer, and ``non_cancer_share`` for non-cancer; findings recomputed from the columns."""
    out = copy.deepcopy(results)
    origins = out.origins
    people = origins["pop_count"].to_numpy(float)
    share_before = np.cumsum(people) / people.sum() - people / people.sum()
    for column, share in (
        ("coverage_class", both_share),
        ("coverage_class_non_cancer", both_share if non_cancer_share is None else non_cancer_share),
    ):
        origins[column] = np.where(share_before < share - 1e-12, "both", "gp_only").astype(object)
    out.findings = compute_findings(
        origins,
        gp_practices=out.gp_practices,
        class_order=REMOTENESS_CLASSES,
        thresholds=results.findings.thresholds,
    )
    return out


@pytest.fixture(scope="module")
def factory():
    return make_results(400, seed=11)


def test_everyone_covered_opens_on_the_bands(factory):
    results = _with_classes(factory, 1.0)
    shares = results.findings.headline_shares()
    assert shares["people_both_share"] == 1.0
    assert default_view(results.findings, has_bands=True) == VIEW_BANDS
    assert headline(results, VIEW_BANDS) == (
        "Everyone is within 30 min of a GP and 60 min of specialist palliative care by road; "
        "the bands show how far."
    )
    page = render_html(build_map(results, offline=True))
    # The factory has no surface: the SPC catchment bands open instead of coverage.
    assert _shown(page, "SPC catchments (travel-time bands)")
    assert not _shown(page, "People by coverage class")
    assert "Everyone is within" in page


def _shown(page: str, name: str) -> bool:
    """Whether the layer named ``name`` is on when the page opens (folium adds it to the map
    only when ``show`` is true)."""
    var = re.search(rf'data-layer="([a-z_0-9]+)" data-name="{re.escape(name)}"', page).group(1)
    return re.search(rf"\b{var}\.addTo\(", page) is not None


@pytest.mark.parametrize(
    ("both", "non_cancer", "view"),
    [
        (NEARLY_ALL_SHARE + 0.005, None, VIEW_BANDS),  # nearly everyone: bands
        (NEARLY_ALL_SHARE - 0.02, None, VIEW_COVERAGE),  # a real gap: coverage
        (1.0, 0.9, VIEW_COVERAGE),  # everyone, but non-cancer need is underserved
    ],
)
def test_view_rule_reads_the_headline_shares(factory, both, non_cancer, view):
    results = _with_classes(factory, both, non_cancer)
    shares = results.findings.headline_shares()
    nearly = (
        shares["people_both_share"] >= NEARLY_ALL_SHARE
        and shares["non_cancer_need_within_spc_share"] >= NEARLY_ALL_SHARE
    )
    assert (view == VIEW_BANDS) is nearly  # the parametrised case is what the shares say
    assert default_view(results.findings, has_bands=True) == view
    assert default_view(results.findings, has_bands=False) == VIEW_COVERAGE
    text = headline(results, view)
    if view == VIEW_BANDS:
        assert text.startswith(f"{100 * shares['people_both_share']:.1f}% of people are within")
    else:
        assert text.startswith(f"{100 * shares['people_both_share']:.1f}% of people have a GP")
        assert f"{100 * shares['people_gp_only_share']:.1f}% have a GP only" in text


def test_the_headline_counts_people_whose_access_is_unknown(factory):
    """Places off the road network: their share is stated, not left to read as covered."""
    results = _with_classes(factory, 0.5)
    origins = results.origins
    off = origins.index[::3]
    origins.loc[off, ["coverage_class", "coverage_class_non_cancer"]] = "unknown"
    results.findings = compute_findings(
        origins,
        gp_practices=results.gp_practices,
        class_order=REMOTENESS_CLASSES,
        thresholds=factory.findings.thresholds,
    )
    share = origins.loc[off, "pop_count"].sum() / origins["pop_count"].sum()
    text = headline(results, VIEW_COVERAGE)
    assert text.endswith(f"neither; access could not be computed for {100 * share:.1f}%.")
    assert headline(_with_classes(factory, 0.5), VIEW_COVERAGE).endswith("neither.")


def test_unknown_specialist_access_opens_on_coverage(factory):
    results = _with_classes(factory, 1.0)
    results.findings.unknown_kinds["spc_travel_time_min"] = "every SPC service off the network"
    assert default_view(results.findings, has_bands=True) == VIEW_COVERAGE
    assert "could not be computed" in headline(results, VIEW_COVERAGE)


def test_demo_opens_on_coverage_with_the_non_cancer_gap(demo_results):
    shares = demo_results.findings.headline_shares()
    assert shares["people_both_share"] < NEARLY_ALL_SHARE
    assert default_view(demo_results.findings, has_bands=has_bands(demo_results)) == VIEW_COVERAGE
    text = headline(demo_results, VIEW_COVERAGE)
    # per-remoteness GP thresholds are stated
    assert "30 min (54 min in Remote and Very Remote areas)" in text
    assert f"{100 * shares['non_cancer_need_within_spc_share']:.1f}%" in text


@pytest.mark.realdata
@pytest.mark.xdist_group("iow")
def test_isle_of_wight_opens_on_the_bands(iow_outcome):
    results = iow_outcome.results
    assert results.findings.headline_shares()["people_both_share"] == 1.0
    assert default_view(results.findings, has_bands=has_bands(results)) == VIEW_BANDS
    page = (iow_outcome.out_dir / "map.html").read_text(encoding="utf-8")
    assert "Everyone is within 30 min of a GP and 60 min of specialist palliative care" in page
    assert _shown(page, "Travel time to nearest SPC (minutes)")
    assert not _shown(page, "People by coverage class")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (float("nan"), "not given"),
        (None, "not given"),
        (0.09216589861751152, "0.0922"),
        (4.5, "4.5"),
        (12.0, "12"),
        (23758.0, "23,758"),
        (0.0, "0"),
    ],
)
def test_capacity_is_rounded_or_not_given(value, text):
    assert capacity_text(value) == text


def test_popups_give_capacity_with_units_and_never_nan():
    row = {"name": "Outreach", "service_type": "outreach", "capacity": 0.09216589861751152}
    assert "Capacity: 0.0922<br>" in spc_popup(row)
    assert "Capacity: 0.0922 FTE<br>" in spc_popup({**row, "capacity_units": "FTE"})
    unknown = spc_popup({**row, "capacity": float("nan"), "capacity_units": "beds"})
    assert "Capacity: not given<br>" in unknown and "nan" not in unknown
    assert "Capacity" not in gp_popup({"name": "GP", "capacity": float("nan")})


@pytest.mark.xdist_group("scenario")
def test_outreach_clinic_at_a_practice_hides_neither(demo_scenario):
    """The scenario's outreach clinic stands on its GP practice: both are grouped as one site,
    each popup also shows the other, and the clinic's icon is set off the practice."""
    scenario = demo_scenario.scenario
    gps, spcs = scenario.gp_practices, scenario.specialist_services
    groups = same_site(gps, spcs)
    clinic = spcs.index.get_loc(spcs.index[spcs["service_type"] == "outreach"][0])
    site = next(g for g in groups if ("spc", clinic) in g)
    practice = next(i for kind, i in site if kind == "gp")
    assert gps.geometry.iloc[practice].distance(spcs.geometry.iloc[clinic]) < 1.0
    page = (demo_scenario.out_dir / "scenario_map.html").read_text(encoding="utf-8")
    assert page.count("Also at this site:") >= 2
    assert '"iconAnchor": [-3, 25]' in page  # one step up and right of the practice


def test_same_site_groups_only_close_facilities(factory):
    gps, spcs = factory.gp_practices.copy(), factory.specialist_services.copy()
    assert same_site(gps, spcs) == []  # the factory's facilities are kilometres apart
    spcs.loc[spcs.index[1], "geometry"] = gps.geometry.iloc[2]
    assert same_site(gps, spcs) == [[("gp", 2), ("spc", 1)]]


def test_density_is_per_km2_in_round_cells(factory):
    merc = factory.origins.to_crs(3857)
    xy = np.column_stack([merc.geometry.x, merc.geometry.y])
    cell_m, cell_merc = nice_cell_m(merc.total_bounds, 220)
    assert cell_m in {m * 10**k for m in (1, 2, 2.5, 5) for k in range(0, 6)}
    # Web-Mercator metres are ground metres / cos(latitude), within the region's latitudes.
    lats = np.cos(np.radians(factory.origins.to_crs(4326).geometry.y))
    assert lats.min() <= cell_m / cell_merc <= lats.max()
    image = density_raster(xy, merc.total_bounds, factory.origins["pop_count"].to_numpy())
    assert image.cell_m == cell_m
    # The busiest cell's people per km² is at most the people in it over the cell's km².
    assert max(image.breaks_per_km2) <= factory.origins["pop_count"].sum() / (cell_m / 1000) ** 2
    # People counted at area centroids: cells at least as wide as the places' spacing.
    coarse = density_raster(xy, merc.total_bounds, factory.origins["pop_count"], centroids=True)
    assert coarse.cell_m >= spacing_m(xy) * lats.min()  # ground = Web-Mercator × cos(lat)
    assert coarse.cell_m >= cell_m
    page = render_html(build_map(factory, offline=True))
    side = f"{cell_m / 1000:g} km" if cell_m >= 1000 else f"{cell_m:g} m"
    assert f"Summed in {side} × {side} cells" in page and "People per km²" in page


def test_surface_bands_are_the_tables_bands(demo_results):
    """The map bands times with the report's edges and rule (a time equal to an edge falls
    in the band below it): banding the places' times the map's way gives back the report's
    ``travel_time_bands`` table."""
    edges = time_band_edges(demo_results)
    assert edges == [float(e) for e in demo_results.findings.thresholds["bands_min"]]
    assert band_index(np.array([0.0, edges[0], edges[0] + 0.01, np.inf]), edges).tolist() == [
        0,
        0,
        1,
        len(edges),
    ]
    origins = demo_results.origins
    minutes = origins["spc_travel_time_min"].to_numpy(float)
    known = ~np.isnan(minutes)
    people = np.bincount(
        band_index(minutes[known], edges),
        weights=origins["pop_count"].to_numpy(float)[known],
        minlength=len(edges) + 1,
    )
    table = demo_results.tables["travel_time_bands"]
    spc = table[(table["service_kind"] == "spc") & (table["band"] != "unknown")]
    assert people == pytest.approx(spc.sort_values("band_order")["pop_count"].to_numpy())
    assert len(time_colours(len(edges) + 1)) == len(spc)


def test_sub_area_gap_shares_follow_from_published_figures(demo_results):
    """A sub-area's share of need without an eligible SPC service is shown only when the
    published (suppressed) tables already give it: its gap cells and its totals are all
    published, and the share equals what they give (up to their rounding); otherwise it is
    withheld."""
    tables = {k: v.reset_index(drop=True) for k, v in demo_results.tables.items()}
    shown, _ = protected_coverage(tables, 5.0)
    cells = shown["coverage_by_subarea"]
    shares = protected_subareas(demo_results.tables, 5.0)
    seen = {"shown": 0, "withheld": 0}
    for area_id, row in shares.iterrows():
        for column, groups in (
            ("gap_share_cancer", ["cancer"]),
            ("gap_share_non_cancer", ["non_cancer"]),
            ("gap_share", ["cancer", "non_cancer"]),
        ):
            part = cells[(cells["area_id"] == area_id) & cells["need_group"].isin(groups)]
            gap = part[part["coverage_class"].isin(["gp_only", "neither"])]["need"].astype(str)
            totals = [row[f"need_{g}"] for g in groups]
            published = not gap.str.startswith("<").any() and np.isfinite(totals).all()
            assert bool(np.isfinite(row[column])) is bool(published), (area_id, column)
            if published:
                value = gap.str.replace(",", "").astype(float).sum() / sum(totals)
                assert row[column] == pytest.approx(value, abs=0.002)
            seen["shown" if published else "withheld"] += 1
    assert seen["shown"] and seen["withheld"]  # the demo has both kinds
