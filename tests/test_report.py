"""The regional report and workshop packs: numbers from the tables, packs that add up, PDF."""

from __future__ import annotations

import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from geo.cli import main
from geo.errors import GeoError
from geo.report import html_to_pdf, key_findings, remote_classes, render_report, write_report
from geo.workshop_packs import pack_file_name, subarea_results, write_workshop_packs
from tests.conftest import DEMO_CONFIG
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
    return float(text.replace(",", "")) if text else float("nan")


@pytest.fixture(scope="module")
def results():
    return make_results(400, seed=11)


def test_report_tables_are_the_result_tables(results):
    page = render_report(results)
    shown = [t for t in _page_tables(page) if "remoteness_class" in t and "coverage_class" in t]
    assert len(shown) == 1
    table = results.tables["coverage_by_remoteness"]
    assert list(shown[0]["remoteness_class"]) == list(table["remoteness_class"])
    for col in ("pop_count", "need_cancer", "need_non_cancer", "need_total_pct"):
        np.testing.assert_allclose(
            shown[0][col].map(_number), table[col], atol=0.051, err_msg=col
        )  # one decimal in the page
    links = next(t for t in _page_tables(page) if "nearest_spc_name" in t)
    assert list(links["name"]) == list(results.tables["gp_specialist_links"]["name"])


def test_findings_quote_the_tables(results):
    findings = key_findings(results)
    table = results.tables["coverage_by_remoteness"]
    total = table[table["remoteness_class"] == "All"].set_index("coverage_class")
    no_spc = total.loc[["gp_only", "neither"]]
    assert findings[0].startswith(f"{total['pop_count'].sum():,.0f} people live in the region")
    assert (
        f"{no_spc['pop_count'].sum():,.0f} people, with {no_spc['need_total'].sum():,.1f}"
        in (findings[1])
    )
    by = table[table["remoteness_class"].isin(["Remote Australia", "Very Remote Australia"])]
    remote = by[by["coverage_class"].isin(["gp_only", "neither"])]["need_total"].sum()
    share = remote / no_spc["need_total"].sum() * 100
    assert (
        f"{share:.0f}% of that need is in Remote Australia or Very Remote Australia"
        in (findings[1])
    )


def test_remote_classes_for_each_scheme():
    assert remote_classes(REMOTENESS_CLASSES)[0] == ["Remote Australia", "Very Remote Australia"]
    england = ["Urban major conurbation", "Rural village and dispersed in a sparse setting"]
    names, label = remote_classes(england)
    assert names == [england[-1]] and "most remote class" in label


def test_report_renders_every_chart_and_empty_sections():
    bare = make_results(120, seed=2, with_hotspots=False, with_catchments=False)
    bare.tables["gp_specialist_links"]["isolated"] = False
    page = render_report(bare)
    assert page.count("data:image/png;base64,") == 7
    assert "No GP practice is isolated" in page
    assert "<h2>Uncertainty</h2>" not in page  # no uncertainty table, no empty section


def test_packs_add_up_to_the_region(results):
    table = results.tables["coverage_by_subarea"]
    for area_id in results.subareas["area_id"]:
        pack = subarea_results(results, area_id)
        totals = pack.tables["coverage_by_remoteness"]
        totals = totals[totals["remoteness_class"] == "All"].set_index("coverage_class")
        region = table[table["area_id"] == area_id].set_index("coverage_class")
        for cls in region.index:
            assert totals.loc[cls, "pop_count"] == pytest.approx(region.loc[cls, "pop_count"])
            assert totals.loc[cls, "need_total"] == pytest.approx(region.loc[cls, "need_total"])
        assert set(pack.gp_practices.within(pack.subareas.union_all())) <= {True}
    in_areas = results.origins["area_id"].notna()
    assert sum(
        len(subarea_results(results, a).origins) for a in results.subareas["area_id"]
    ) == int(in_areas.sum())


def test_pack_errors_and_file_names(results):
    with pytest.raises(GeoError, match="no sub-area with area_id 'nope'"):
        subarea_results(results, "nope")
    assert pack_file_name("A/1", '<script>"x"</script> 東') == "report_A_1_script_x_script.html"


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
        return write_report(*args, **kwargs)

    monkeypatch.setattr("geo.workshop_packs.write_report", fail_second)
    with pytest.raises(GeoError, match="disk full"):
        write_workshop_packs(make_results(60, seed=1), tmp_path / "packs")
    assert len(pd.read_csv(tmp_path / "packs" / "index.csv")) == 2  # old packs untouched
    assert [p.name for p in tmp_path.iterdir()] == ["packs"]  # no half-written folder left


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
