"""The report's SVG charts and its integrated-care actions, against direct computations."""

from __future__ import annotations

import re

import numpy as np
import pytest

from geo.render.charts import all_charts, cancer_chart, coverage_by_remoteness_charts
from geo.render.findings_text import integration_actions
from geo.render.report import cancer_only_services
from geo.render.suppression import protected_coverage
from geo.text import count, listing
from tests.results_factory import make_results

SEGMENT = re.compile(r"<rect [^>]*><title>([^<]*): ([0-9.]+)%?</title></rect>")
GROUPS = {"cancer": "Cancer need", "non_cancer": "Non-cancer need"}
LABELS = {"both": "GP and SPC", "gp_only": "GP only", "spc_only": "SPC only"}
LABELS |= {"neither": "Neither", "unknown": "Unknown"}


def _segments(svg: str) -> dict[str, float]:
    """Each bar segment's ``category, series`` and its value (from its tooltip)."""
    return {key.replace("&amp;", "&"): float(value) for key, value in SEGMENT.findall(svg)}


@pytest.fixture(scope="module")
def small():
    """A region with many small cells (so suppression hides some)."""
    return make_results(400, seed=11)


def test_region_bars_are_the_coverage_shares(demo_results):
    segments = _segments(cancer_chart(demo_results))
    table = demo_results.tables["coverage_totals"]
    shown, _ = protected_coverage(demo_results.tables, 5)
    hidden = shown["coverage_totals"]["need"].astype(str).str.startswith("<").to_numpy()
    for (group, label), part in zip(GROUPS.items(), ("cancer", "non_cancer"), strict=True):
        rows = (table["need_group"] == part).to_numpy()
        total = table.loc[rows, "need"].sum()
        for cls, name in LABELS.items():
            at = rows & (table["coverage_class"] == cls).to_numpy()
            key = f"{label}, {name}"
            value = table.loc[at, "need"].sum()
            if hidden[at].any() or value == 0:
                assert key not in segments, f"{key}: a hidden or empty cell drawn"
            else:
                assert segments[key] == pytest.approx(100 * value / total, abs=0.05), key
        assert group in GROUPS


def test_hidden_cells_are_never_drawn_alone(small):
    shown, _ = protected_coverage(small.tables, 5)
    flags = shown["coverage_by_remoteness"]["need"].astype(str).str.startswith("<").to_numpy()
    table = small.tables["coverage_by_remoteness"]
    charts = coverage_by_remoteness_charts(small)
    assert flags.any()
    for group in ("cancer", "non_cancer"):
        segments = _segments(charts[group])
        rows = (table["need_group"] == group).to_numpy()
        for i in np.flatnonzero(rows & flags):
            key = f"{table['remoteness_class'][i]}, {LABELS[table['coverage_class'][i]]}"
            assert key not in segments
        withheld = [k for k in segments if k.endswith("withheld (small numbers)")]
        hidden_rows = set(table.loc[rows & flags, "remoteness_class"])
        assert {k.split(",")[0] for k in withheld} == hidden_rows


def test_every_chart_is_inline_svg_with_escaped_text(small):
    charts = all_charts(small)
    assert set(charts) == {
        "coverage_cancer",
        "coverage_non_cancer",
        "cancer",
        "bands",
        "bands_remoteness",
        "links",
        "map",
        "subareas",
    }
    for name, svg in charts.items():
        assert svg.startswith("<svg") or svg.startswith("<p>"), name
        assert "<script" not in svg
    # sub-area names with markup stay text
    assert "<title>" in charts["subareas"]


def _need(o, classes, group):
    column = "coverage_class" if group == "cancer" else "coverage_class_non_cancer"
    return o.loc[o[column].isin(classes), f"need_{group}"].sum()


def test_integration_actions_follow_the_origins(demo_results):
    o = demo_results.origins
    actions = integration_actions(demo_results.findings, cancer_only_services(demo_results))
    total = o["need_cancer"].sum() + o["need_non_cancer"].sum()
    gp_only = _need(o, ["gp_only"], "cancer") + _need(o, ["gp_only"], "non_cancer")
    first = next(a for a in actions if a.startswith("Bring specialist input"))
    assert f"{gp_only:,.1f} a year of need ({100 * gp_only / total:.1f}%)" in first
    isolated = demo_results.gp_practices.loc[
        demo_results.gp_practices["link_status"] == "isolated", "name"
    ]
    assert isolated.size and all(name in first for name in isolated)
    within = ["both", "spc_only"]
    nc = _need(o, within, "non_cancer") / o["need_non_cancer"].sum()
    ca = _need(o, within, "cancer") / o["need_cancer"].sum()
    second = next(a for a in actions if a.startswith("Open specialist care"))
    assert f"{100 * nc:.1f}% of non-cancer need" in second and f"{100 * ca:.1f}%" in second
    spc = demo_results.specialist_services
    cancer_only = spc.loc[~spc["accepts_non_cancer"], "name"]
    for name in cancer_only:
        assert name in second
    n = len(cancer_only)
    assert f"{n} {'service takes' if n == 1 else 'services take'} cancer referrals only" in second
    neither = _need(o, ["neither"], "cancer") + _need(o, ["neither"], "non_cancer")
    third = next(a for a in actions if a.startswith("Reach the places with neither"))
    assert f"{neither:,.1f} a year of need" in third


def test_long_name_lists_say_how_many_more():
    assert listing(["A"]) == "A"
    assert listing(list("ABCDE")) == "A, B, C, D, E"
    assert listing(list("ABCDEFG")) == "A, B, C, D, E and 2 more"
    assert count(1, "service takes", "services take") == "1 service takes"
    assert count(0, "service takes", "services take") == "0 services take"


@pytest.mark.realdata
@pytest.mark.xdist_group("iow")
def test_where_everyone_is_covered_distance_is_not_the_gap(iow_outcome):
    results = iow_outcome.results
    o = results.origins
    assert not o["coverage_class"].isin(["gp_only", "neither"]).any()
    actions = integration_actions(results.findings, cancer_only_services(results))
    assert len(actions) == 1 and actions[0].startswith("Distance is not the gap here")


@pytest.mark.parametrize(
    "top",
    [
        1e-6,
        0.03,
        0.3,
        0.7,
        1.0,
        2.4,
        3.0,
        7.0,
        9.99,
        10.0,
        12.5,
        17.0,
        49.0,
        50.0,
        100.0,
        101.0,
        333.3,
        999.0,
        1000.0,
        2500.0,
        50_588.9,
        123_456.0,
        9.8e6,
    ],
)
def test_nice_ticks_match_matplotlib_max_n_locator(top):
    """The report's tick rule gives matplotlib's MaxNLocator ticks (the reference it follows)."""
    ticker = pytest.importorskip("matplotlib.ticker")
    from geo.render.svg_charts import nice_ticks

    reference = ticker.MaxNLocator(nbins=5, min_n_ticks=3).tick_values(0.0, top)
    reference = reference[(reference >= 0) & (reference <= top * (1 + 1e-9))]
    ticks = nice_ticks(top)
    assert ticks.shape == reference.shape
    np.testing.assert_allclose(ticks, reference, rtol=1e-9, atol=top * 1e-12)


@pytest.mark.parametrize("width", [320, 480, 640])
def test_bar_labels_are_cut_only_when_their_column_is_full(width):
    """A label is shortened (with an ellipsis) only when the label column reached its cap;
    19 characters, for one, once lost its last letter to rounding."""
    from geo.render.svg_charts import CHAR_PX, Series, stacked_bars

    for length in range(1, 60):
        label = "x" * length
        chart = stacked_bars(
            [label], [Series("a", "#000", [1.0])], title="t", axis_label="a", width=width
        )
        fits = CHAR_PX * length + 10 <= 0.42 * width
        assert (f"<title>{label}</title>{label}<" in chart) is fits, length
        assert ("…" in chart) is not fits, length


@pytest.mark.parametrize(("longest_min", "anchor"), [(200.0, "start"), (12.0, "end")])
def test_the_isolation_marker_label_stays_inside_the_chart(longest_min, anchor):
    """Every practice within the limit puts the marker at the axis's end: its label then
    reads leftwards instead of running off the chart."""
    import re

    from geo.render.svg_charts import histogram

    label = "isolated beyond 60 min"
    chart = histogram(
        np.array([3.0, 8.0, longest_min]),
        bin_width=10.0,
        title="t",
        axis_label="a",
        count_label="c",
        colour="#000",
        marker=(60.0, label),
    )
    x, found = re.search(
        rf'<text x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)" [^>]*>{label}<', chart
    ).groups()
    assert found == anchor
    assert float(x) + (6.6 * len(label) if anchor == "start" else 0) <= 640


def test_pack_maps_hold_the_sub_area_and_draw_few_places_as_dots():
    """A pack's maps frame its sub-area (the region's services do not stretch them) and draw
    only the services in view; a few hundred area points are dots, a grid's cells an image."""
    from geo.render import charts
    from geo.render.packs import subarea_results

    region = make_results(60, 1)
    spc = region.specialist_services
    out_of_view = 0
    for area_id in region.subareas["area_id"]:
        pack = subarea_results(region, area_id)
        layers = [pack.origins, pack.gp_practices, pack.subareas]
        boxes = np.array([layer.total_bounds for layer in layers if len(layer)])
        expected = [*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)]
        np.testing.assert_allclose(charts._bounds(pack), expected)
        frame, marks = charts._map_base(pack)
        x, y = frame.xy(spc.geometry.x.to_numpy(), spc.geometry.y.to_numpy())
        in_view = int(((x >= 0) & (x <= frame.width) & (y >= 0) & (y <= frame.height)).sum())
        assert marks.count('fill="#54278f"') == in_view
        out_of_view += len(spc) - in_view
        page = charts.static_map(pack)
        assert page.count('r="3.5" stroke="#333"') == len(pack.origins) and "<image" not in page
    assert out_of_view  # some pack has region services outside its view
    region_bounds = charts._bounds(region)  # a region's maps hold its services too
    assert (region_bounds[:2] <= spc.total_bounds[:2]).all()
    assert (region_bounds[2:] >= spc.total_bounds[2:]).all()
    many = charts.static_map(make_results(1500, 3))
    assert "<image" in many and 'r="3.5" stroke="#333"' not in many


def test_report_charts_do_not_import_matplotlib():
    """Drawing every chart never pays matplotlib's import (a fifth of `gapmap report`'s time)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from geo.render.charts import all_charts\n"
        "from tests.results_factory import make_results\n"
        "assert len(all_charts(make_results(200, seed=3))) > 3\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
