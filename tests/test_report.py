"""The regional report and workshop packs: numbers from the tables, packs that add up, PDF."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from geo.analysis.findings import remote_classes
from geo.cli import main
from geo.errors import GeoError
from geo.render.packs import pack_file_name, subarea_results, write_workshop_packs
from geo.render.pages import html_to_pdf, write_page
from geo.render.report import key_findings, render_report, write_report
from tests.conftest import DEMO_CONFIG, spy_background
from tests.results_factory import REMOTENESS_CLASSES, make_results


class _Tables(HTMLParser):
    """Every <table> of a page as a list of rows of cell text (stdlib only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _page_tables(page: str) -> list[pd.DataFrame]:
    parser = _Tables()
    parser.feed(page)
    return [pd.DataFrame(t[1:], columns=t[0]) for t in parser.tables if len(t) > 1]


def _number(text: str) -> float:
    """A printed count (NaN for a suppressed ``<5`` or an empty cell)."""
    return float(text.replace(",", "")) if text and not text.startswith("<") else float("nan")


@pytest.fixture(scope="module")
def results():
    return make_results(400, seed=11)


def _stacked(page: str, column: str) -> pd.DataFrame:
    """The shown rows and the folded rest of the page's table with ``column``, as one."""
    return pd.concat([t for t in _page_tables(page) if column in t], ignore_index=True)


def test_report_tables_are_the_result_tables(results):
    page = render_report(results)
    shown = _stacked(page, "Remoteness")
    table = results.tables["coverage_by_remoteness"]
    present = table.groupby("remoteness_class")["pop_count"].sum()
    order = [c for c in REMOTENESS_CLASSES if present.get(c, 0) > 0]
    assert list(dict.fromkeys(shown["Remoteness"])) == order
    labels = {"both": "GP and SPC", "gp_only": "GP only", "spc_only": "SPC only"}
    labels |= {"neither": "Neither", "unknown": "Unknown"}
    rows = {"People": ("cancer", "pop_count", 0.5)}
    rows |= {"Cancer need / yr": ("cancer", "need", 0.051)}
    rows |= {"Non-cancer need / yr": ("non_cancer", "need", 0.051)}
    for _, line in shown.iterrows():
        group, col, tol = rows[line["Counts"]]
        for cls, label in labels.items():
            truth = table.loc[
                (table["remoteness_class"] == line["Remoteness"])
                & (table["need_group"] == group)
                & (table["coverage_class"] == cls),
                col,
            ].sum()
            printed = _number(line[label])
            if np.isnan(printed):  # hidden: only small non-zero cells or their complements
                continue
            assert abs(printed - truth) <= tol, (line["Remoteness"], line["Counts"], cls)
            assert not (0 < truth < 5), f"a small {col} cell is shown"
    links = _stacked(page, "Nearest SPC service")
    expected = results.tables["gp_specialist_links"].copy()
    rank = {"isolated": 0, "off_network": 1, "unknown": 2, "linked": 3}
    expected["rank"] = expected["link_status"].map(rank)
    expected["minutes"] = -expected["spc_travel_time_min"].fillna(np.inf)
    expected = expected.sort_values(["rank", "minutes", "name"], kind="stable")
    assert list(links["GP practice"]) == list(expected["name"])
    people = links["People served"].map(_number).to_numpy()
    np.testing.assert_allclose(people, expected["pop_served"].round().to_numpy())


def test_bands_table_labels_every_service_and_prints_whole_people(demo_results):
    page = render_report(demo_results)
    shown = _stacked(page, "Minutes")
    table = demo_results.tables["travel_time_bands"]
    assert len(shown) == len(table) and {"gp", "spc", "spc_community"} <= set(table["service_kind"])
    expected = {"gp": "GP", "spc": "SPC", "spc_community": "SPC (community)"}
    expected |= {"spc_non_cancer": "SPC (non-cancer referrals)"}
    for (_, line), (_, row) in zip(shown.iterrows(), table.iterrows(), strict=True):
        assert line["Service"] == expected.get(row["service_kind"], line["Service"]) != ""
        assert line["Minutes"] == row["band"]
        if not line["People"].startswith("<"):
            assert line["People"] == f"{row['pop_count']:,.0f}"


def test_tables_with_unnamed_practices_and_sub_areas_render(results):
    """Names missing from the inputs print blank and sort last among equals, not crash."""
    links = results.tables["gp_specialist_links"].copy()
    links.loc[links.index[:2], "name"] = None
    subareas = results.tables["coverage_by_subarea"].copy()
    subareas.loc[subareas["area_id"] == subareas["area_id"].iloc[0], "area_name"] = None
    tables = {**results.tables, "gp_specialist_links": links, "coverage_by_subarea": subareas}
    page = render_report(dataclasses.replace(results, tables=tables))
    shown = _stacked(page, "Nearest SPC service")
    assert len(shown) == len(links) and (shown["GP practice"] == "").sum() == 2
    assert (_stacked(page, "Sub-area")["Sub-area"] == "").sum() == 3  # people, cancer, non-cancer


def test_findings_equal_a_direct_computation(results):
    findings = key_findings(results)
    o = results.origins
    need = o["need_cancer"].sum() + o["need_non_cancer"].sum()
    off = ~o["reachable"]
    assert findings[0] == (
        f"{off.sum()} populated places ({o.loc[off, 'pop_count'].sum():,.0f} people) lie beyond "
        "the snapping limit of any mapped road; their access is unknown."
    )
    assert findings[1].startswith(f"{o['pop_count'].sum():,.0f} people live in the region")
    assert f"an estimated {need:,.1f} of them need palliative care" in findings[1]
    beyond_c = o.loc[o["coverage_class"].isin(["gp_only", "neither"]), "need_cancer"].sum()
    beyond_nc = o.loc[
        o["coverage_class_non_cancer"].isin(["gp_only", "neither"]), "need_non_cancer"
    ].sum()
    beyond = next(f for f in findings if "lives beyond" in f)
    assert beyond.startswith(
        f"{beyond_c + beyond_nc:,.1f} a year of that need ({beyond_c:,.1f} cancer, "
        f"{beyond_nc:,.1f} non-cancer)"
    )
    remote = o["remoteness_class"].isin(["Remote Australia", "Very Remote Australia"])
    in_remote = (
        o.loc[remote & o["coverage_class"].isin(["gp_only", "neither"]), "need_cancer"].sum()
        + o.loc[
            remote & o["coverage_class_non_cancer"].isin(["gp_only", "neither"]),
            "need_non_cancer",
        ].sum()
    )
    share = 100 * in_remote / (beyond_c + beyond_nc)
    assert f"{share:.1f}% of it in Remote Australia or Very Remote Australia areas" in beyond
    gap = next(f for f in findings if f.startswith("The integration gap"))
    people = o.loc[o["coverage_class"] == "gp_only", "pop_count"].sum()
    assert f"The integration gap: {people:,.0f} people" in gap


def test_remote_classes_for_each_scheme():
    assert remote_classes(REMOTENESS_CLASSES) == ["Remote Australia", "Very Remote Australia"]
    england = ["Urban major conurbation", "Rural village and dispersed in a sparse setting"]
    assert remote_classes(england) == [england[-1]]
    # Only classes the area has are ever named.
    assert remote_classes(england, present=[england[0]]) == [england[0]]
    assert remote_classes(REMOTENESS_CLASSES, present=REMOTENESS_CLASSES[:2]) == [
        REMOTENESS_CLASSES[1]
    ]


def test_report_renders_every_chart_and_empty_sections():
    bare = make_results(120, seed=2, with_hotspots=False, with_catchments=False)
    for link in bare.findings.gp_links:
        link["link_status"] = "linked"
    page = render_report(bare)
    # 6 charts, and 2 maps each with its legend
    assert page.count('<svg class="chart"') == 10
    assert "No GP practice is isolated" in page
    assert "<h2>Uncertainty</h2>" not in page  # no uncertainty table, no empty section


def test_packs_add_up_to_the_region(results):
    table = results.tables["coverage_by_subarea"]
    for area_id in results.subareas["area_id"]:
        pack = subarea_results(results, area_id)
        totals = pack.tables["coverage_totals"].set_index(["need_group", "coverage_class"])
        region = table[table["area_id"] == area_id].set_index(["need_group", "coverage_class"])
        for key in region.index:
            assert totals.loc[key, "pop_count"] == pytest.approx(region.loc[key, "pop_count"])
            assert totals.loc[key, "need"] == pytest.approx(region.loc[key, "need"])
        assert set(pack.gp_practices.within(pack.subareas.union_all())) <= {True}
        # The pack speaks of the sub-area, with the sub-area's own people.
        people = pack.origins["pop_count"].sum()
        assert any(
            f.startswith(f"{people:,.0f} people live in this sub-area") for f in key_findings(pack)
        )
    page = html.unescape(render_report(pack))  # its charts' shares are of the sub-area
    assert "% of the sub-area's need" in page and "The sub-area's cancer" in page
    assert "% of the region's" not in page and "The region's" not in page
    in_areas = results.origins["area_id"].notna()
    assert sum(
        len(subarea_results(results, a).origins) for a in results.subareas["area_id"]
    ) == int(in_areas.sum())


def test_pack_errors_and_file_names(results):
    with pytest.raises(GeoError, match="no sub-area with area_id 'nope'"):
        subarea_results(results, "nope")
    assert pack_file_name("A/1", '<script>"x"</script> 東') == "report_a_1_script_x_script.html"


def test_workshop_packs_are_written_atomically(results, tmp_path, monkeypatch):
    files = write_workshop_packs(results, tmp_path / "packs")
    index = pd.read_csv(tmp_path / "packs" / "index.csv")
    assert len(index) == 2 and all((tmp_path / "packs" / f).is_file() for f in index["file"])
    assert files[-1].name == "index.csv"
    page = (tmp_path / "packs" / index["file"][0]).read_text(encoding="utf-8")
    assert "Workshop pack: one sub-area of" in page and "<script>alert" not in page
    calls = []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise GeoError("disk full")
        return write_page(*args, **kwargs)

    monkeypatch.setattr("geo.render.pages.write_page", fail_second)
    with pytest.raises(GeoError, match="disk full"):
        write_workshop_packs(make_results(60, seed=1), tmp_path / "packs")
    assert len(pd.read_csv(tmp_path / "packs" / "index.csv")) == 2  # old packs untouched
    assert [p.name for p in tmp_path.iterdir()] == ["packs"]  # no half-written folder left


def test_packs_shared_with_the_worker_process_match_one_process(results, tmp_path, monkeypatch):
    import geo.render.packs as packs_module
    from geo.parallel import WORKERS_ENV

    # A fixed start time: the page prints it, and "now" may change minute between the two writes.
    started = {**results.provenance, "started_utc": "2026-01-02T03:04:05+00:00"}
    results = dataclasses.replace(results, provenance=started)
    calls = spy_background(monkeypatch, packs_module)
    two = write_workshop_packs(results, tmp_path / "two")
    assert len(calls) == 1 and len(calls[0][2]) == 1  # the second of the two packs
    monkeypatch.setenv(WORKERS_ENV, "1")
    one = write_workshop_packs(results, tmp_path / "one")
    assert [p.name for p in two] == [p.name for p in one]
    for got, expected in zip(two, one, strict=True):
        assert got.read_bytes() == expected.read_bytes(), got.name


def test_a_failing_pack_beside_the_worker_leaves_nothing(results, tmp_path, monkeypatch):
    import geo.render.packs as packs_module

    def disk_full(*args, **kwargs):
        raise GeoError("disk full")

    # This process fails; the worker, which computes the other pack, does not.
    monkeypatch.setattr("geo.render.packs.report_content", disk_full)
    spy_background(monkeypatch, packs_module)
    with pytest.raises(GeoError, match="disk full"):
        write_workshop_packs(results, tmp_path / "packs")
    assert list(tmp_path.iterdir()) == []


def test_cli_report_by_subarea(tmp_path, capsys):
    code = main(["report", str(DEMO_CONFIG), "--by", "subarea", "--out", str(tmp_path), "-q"])
    assert code == 0
    index = pd.read_csv(tmp_path / "workshop_packs" / "index.csv")
    assert len(index) >= 5
    assert not (tmp_path / "map.html").exists()  # only reports are written


def test_pdf_is_written_beside_the_report(results, tmp_path):
    pytest.importorskip("weasyprint")
    path = write_report(results, tmp_path / "report.html", pdf=True)
    assert path.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_missing_weasyprint_is_a_clear_error(results, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(GeoError, match="pip install weasyprint"):
        html_to_pdf("<p>x</p>")
    with pytest.raises(GeoError):
        write_report(results, tmp_path / "report.html", pdf=True)
    assert not (tmp_path / "report.html").exists()  # nothing written


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        ({}, "model etkind from deaths: deaths by underlying cause."),
        (
            {"method": "crude all-age rates (no age bands in the population)"},
            "model etkind from rates: crude all-age rates (no age bands in the population).",
        ),
        (
            {"causes": "deaths of all causes, split by national shares"},
            "model etkind from deaths: deaths of all causes, split by national shares.",
        ),
    ],
)
def test_the_need_model_reads_as_one_sentence(stats, expected):
    from geo.render.report import need_text

    source = "rates" if "method" in stats else "deaths"
    assert need_text({"model": "etkind", "source": source, "stats": stats}) == expected


def test_every_remoteness_scheme_has_a_name():
    from typing import get_args

    from geo.config.region import RemotenessConfig
    from geo.render.report import SCHEME_NAMES, remoteness_text

    schemes = get_args(RemotenessConfig.model_fields["scheme"].annotation)
    assert set(SCHEME_NAMES) == set(schemes)
    assert remoteness_text({"scheme": "ruc2011"}) == (
        "2011 Rural-Urban Classification for England and Wales (ONS); config scheme ruc2011."
    )


def test_a_pack_without_practices_says_so_rather_than_none_reaches_specialist_care(results):
    """Sub-areas holding no practice (8 of the Isle of Wight's 18): the pack says the
    residents' practices are elsewhere, with no empty chart or table."""
    first = results.subareas.geometry.iloc[0]
    gps = results.gp_practices[~results.gp_practices.within(first)]  # none left in the first
    links = results.tables["gp_specialist_links"]
    results = dataclasses.replace(
        results,
        gp_practices=gps,
        tables={
            **results.tables,
            "gp_specialist_links": links[links["facility_id"].isin(gps["facility_id"])],
        },
    )
    packs = [subarea_results(results, a) for a in results.subareas["area_id"]]
    without = [p for p in packs if p.gp_practices.empty]
    with_some = [p for p in packs if not p.gp_practices.empty]
    assert without and with_some
    for pack in without:
        page = html.unescape(render_report(pack))
        assert "No GP practice lies in this sub-area: its residents' practices are" in page
        assert "No GP practice reaches" not in page
        assert "Isolated practices and those farthest" not in page
    page = html.unescape(render_report(with_some[0]))
    assert "Isolated practices and those farthest" in page and "No GP practice lies" not in page


def test_uncertainty_and_equity_tables_show_labels_not_codes(demo_results):
    from geo.render.report_tables import equity_table, uncertainty_table
    from geo.results import _SPC_SHARES

    shares = uncertainty_table(demo_results)
    measures = [row[0] for row in shares.head + shares.rest]
    assert set(demo_results.tables["uncertainty"]["measure"]) == set(_SPC_SHARES)
    assert len(measures) == len(_SPC_SHARES) and not [m for m in measures if "_" in m]
    assert "People with a GP only in reach (the integration gap)" in measures
    equity = equity_table(demo_results)
    assert "_" not in "".join(equity.columns) and "Need-weighted mean" in equity.columns
    shown = {row[0] for row in equity.head + equity.rest}
    assert shown == {
        "GP access (E2SFCA)",
        "SPC access (E2SFCA)",
        "GP capacity within the GP threshold",
    }


def test_the_small_number_rule_is_stated_as_configured():
    protected = html.unescape(render_report(make_results(60, 1, suppress_below=10)))
    assert "Counts below 10 are hidden (shown as <10)" in protected
    off = html.unescape(render_report(make_results(60, 1, suppress_below=0)))
    assert "below 0" not in off and "<0" not in off
    assert "small-number protection is off" in off and "published as computed" in off


def test_a_region_without_sub_areas_says_so_and_shows_no_sub_area_table(demo_config, demo_inputs):
    """No ``subareas`` section: every place is "outside sub-areas", which the report must not
    present as a sub-area table or choropleth."""
    from geo.workflows.pipeline import analyse
    from geo.workflows.workshop import coverage_only

    config = coverage_only(demo_config).model_copy(update={"subareas": None})
    inputs = dataclasses.replace(
        demo_inputs, subareas=None, origins=demo_inputs.origins.assign(area_id=None)
    )
    page = render_report(analyse(config, inputs))
    assert "No sub-areas configured: add a <code>subareas</code> section" in page
    assert "(outside sub-areas)" not in page
    assert "The sub-areas with the most need" not in page
    with_areas = render_report(make_results(60, 1))  # and a region with them keeps its table
    assert "The sub-areas with the most need" in with_areas
    assert "No sub-areas configured" not in with_areas


def test_pack_index_is_safe_in_a_spreadsheet():
    from geo.render.pages import pack_index_csv

    packs = [
        {"area_id": 7, "area_name": '=HYPERLINK("x")', "file": "report_7.html"},
        {"area_id": "A-2", "area_name": None, "file": "report_a_2.html"},
        {"area_id": "B", "area_name": "Hill, North", "file": "report_b.html"},
    ]
    rows = list(csv.reader(io.StringIO(pack_index_csv(packs))))
    assert rows == [
        ["area_id", "area_name", "file"],
        ["7", '\'=HYPERLINK("x")', "report_7.html"],
        ["A-2", "", "report_a_2.html"],
        ["B", "Hill, North", "report_b.html"],
    ]
