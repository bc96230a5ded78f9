"""Stored results: a run's results read back equal the ones it wrote from, and ``gapmap report``
reuses them (and the page content stored beside them) only when the inputs and settings are
unchanged; pages laid out from the stored content equal pages rendered from the results."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from geopandas.testing import assert_geodataframe_equal

from geo.cli import main
from geo.render.report import render_report
from geo.store import PAGES_FILE, STORE_DIR, load_pages, load_results
from tests.conftest import DEMO_CONFIG, DEMO_DIR, spy_background


def test_stored_results_read_back_equal_the_run(demo_outcome):
    results = demo_outcome.results
    key = results.provenance["results_key"]
    loaded = load_results(demo_outcome.out_dir, key=key)
    assert loaded is not None
    for name in ("origins", "gp_practices", "specialist_services", "subareas", "catchments"):
        assert_geodataframe_equal(getattr(loaded, name), getattr(results, name), check_like=False)
    assert sorted(loaded.tables) == sorted(results.tables)
    for name, table in results.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name], table, check_dtype=True)
    assert dataclasses.asdict(loaded.findings) == dataclasses.asdict(results.findings)
    assert loaded.crs == results.crs
    surface, again = results.travel_time_surface, loaded.travel_time_surface
    np.testing.assert_array_equal(again["array"], surface["array"])
    assert again["transform"] == surface["transform"] and again["crs"] == surface["crs"]
    assert render_report(loaded) == render_report(results)


def test_a_report_reads_only_what_it_draws(demo_outcome):
    from geo.render.packs import subarea_results
    from geo.workflows.pipeline import NOT_IN_REPORTS

    results = demo_outcome.results
    key = results.provenance["results_key"]
    loaded = load_results(demo_outcome.out_dir, key=key, skip=NOT_IN_REPORTS)
    assert loaded is not None
    for name in NOT_IN_REPORTS:
        assert getattr(loaded, name) is None and getattr(results, name) is not None, name
    assert_geodataframe_equal(loaded.origins, results.origins)
    assert render_report(loaded) == render_report(results)
    area_id = results.origins["area_id"].dropna().iloc[0]
    pack, expected = (subarea_results(r, area_id) for r in (loaded, results))
    assert render_report(pack, csv_links=False) == render_report(expected, csv_links=False)


def test_other_inputs_never_read_stored_results(demo_outcome, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_outcome.out_dir, out)
    assert load_results(out, key="0" * 64) is None
    shutil.rmtree(out / STORE_DIR)
    assert load_results(out, key=demo_outcome.results.provenance["results_key"]) is None


def test_report_reuses_a_run_only_while_its_inputs_are_unchanged(demo_outcome, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(demo_outcome.out_dir, out)
    (out / "report.html").unlink()
    assert main(["report", str(DEMO_CONFIG), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "reusing the run" in said and f"wrote 1 file to {out}" in said
    assert (out / "report.html").read_text(encoding="utf-8") == render_report(demo_outcome.results)
    assert main(["report", str(DEMO_CONFIG), "--out", str(out), "--by", "subarea"]) == 0
    assert "reusing the run" in capsys.readouterr().out
    assert list((out / "workshop_packs").glob("*.html"))

    # another threshold: the same files, other settings, so the analysis runs again
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["thresholds"]["spc_min"] = 45
    text = yaml.safe_dump(raw, sort_keys=False).replace("../../data/demo/", f"{DEMO_DIR}/")
    changed = tmp_path / "changed.yml"
    changed.write_text(text, encoding="utf-8")
    assert main(["report", str(changed), "--out", str(out), "-q"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "45 min" in page and page != render_report(demo_outcome.results)


def _own_copy(results):
    """The demo results with their own provenance (writing a folder adds to it)."""
    return dataclasses.replace(results, provenance=copy.deepcopy(results.provenance))


def _written(results, folder, **kwargs):
    from geo.render.region import write_region_folder

    write_region_folder(_own_copy(results), folder, offline=True, pages=True, **kwargs)
    return folder


@pytest.fixture(scope="module")
def packed_run(demo_outcome, tmp_path_factory):
    """The demo run's folder as a run that prepared its packs writes it (one process)."""
    out = tmp_path_factory.mktemp("packed") / "out"
    shutil.copytree(demo_outcome.out_dir, out)
    return _written(demo_outcome.results, out, packs=True)


def test_pages_from_the_store_equal_pages_rendered_from_the_results(packed_run, tmp_path):
    """Byte for byte: the run's report, the report and packs laid out from the stored page
    content, and the report and packs rendered afresh from the stored results."""
    out = tmp_path / "out"
    shutil.copytree(packed_run, out)
    written_by_run = (out / "report.html").read_bytes()
    args = ["report", str(DEMO_CONFIG), "--out", str(out), "--force", "-q"]

    def pages() -> dict[str, bytes]:
        assert main(args) == 0 and main([*args, "--by", "subarea"]) == 0
        packs = sorted(
            p for p in (out / "workshop_packs").iterdir() if p.suffix in {".html", ".csv"}
        )
        return {"report.html": (out / "report.html").read_bytes()} | {
            f"packs/{p.name}": p.read_bytes() for p in packs
        }

    from_pages = pages()
    assert from_pages["report.html"] == written_by_run
    assert len(from_pages) == 2 + 12  # the report, 12 packs and their index
    (out / STORE_DIR / PAGES_FILE).unlink()
    assert pages() == from_pages


def test_a_report_from_stored_pages_loads_no_scientific_stack(packed_run, tmp_path):
    """`gapmap report` after a run lays pages out with Jinja2 alone (the reason it is fast)."""
    out = tmp_path / "out"
    shutil.copytree(packed_run, out)
    script = (
        "import sys, json\n"
        "from geo.cli import main\n"
        f"args = ['report', {str(DEMO_CONFIG)!r}, '--out', {str(out)!r}, '--force', '-q']\n"
        "codes = [main(args), main([*args, '--by', 'subarea'])]\n"
        "heavy = ['pandas', 'geopandas', 'pyproj', 'pyarrow', 'scipy', 'folium']\n"
        "print(json.dumps([codes, [m for m in heavy if m in sys.modules]]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    codes, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert codes == [0, 0] and loaded == []
    assert len(list((out / "workshop_packs").glob("*.html"))) == 12


def test_stored_pages_hold_only_for_their_key(packed_run, tmp_path):
    stored = json.loads((packed_run / STORE_DIR / PAGES_FILE).read_text(encoding="utf-8"))
    assert load_pages(packed_run, key=stored["key"]) == stored and len(stored["packs"]) == 12
    assert load_pages(packed_run, key="0" * 64) is None
    out = tmp_path / "out"
    shutil.copytree(packed_run, out)
    (out / STORE_DIR / PAGES_FILE).write_text("{not json", encoding="utf-8")
    assert load_pages(out, key=stored["key"]) is None


def test_packs_computed_beside_the_writing_equal_one_process(
    demo_outcome, packed_run, tmp_path, monkeypatch
):
    import geo.render.region as region_module

    calls = spy_background(monkeypatch, region_module)
    _written(demo_outcome.results, tmp_path / "two")  # auto: 12 packs, beside a worker
    assert len(calls) == 1  # the packs went to the worker
    key = demo_outcome.results.provenance["results_key"]
    in_worker = load_pages(tmp_path / "two", key=key)
    one_process = load_pages(packed_run, key=key)
    assert in_worker is not None and one_process is not None
    assert in_worker["packs"] == one_process["packs"]


def test_packs_failing_in_the_run_cost_only_their_cache(
    demo_outcome, tmp_path, monkeypatch, caplog
):
    from geo.errors import GeoError

    def broken(results):
        raise GeoError("a pack could not be drawn")

    monkeypatch.setattr("geo.render.region.pack_pages", broken)
    folder = _written(demo_outcome.results, tmp_path / "run", packs=True)
    assert (folder / "report.html").is_file() and (folder / "run.json").is_file()
    assert "workshop packs were not prepared" in caplog.text
    stored = load_pages(folder, key=demo_outcome.results.provenance["results_key"])
    assert stored is not None and stored["packs"] is None and stored["report"]
    monkeypatch.undo()
    # --by subarea finds no stored packs and computes them from the stored results
    assert main(["report", str(DEMO_CONFIG), "--out", str(folder), "--by", "subarea", "-q"]) == 0
    assert len(list((folder / "workshop_packs").glob("*.html"))) == 12


@pytest.mark.parametrize(
    ("setting", "worker", "cap", "stored"),
    [
        ("auto", True, 24, True),
        ("auto", True, 5, False),  # more populated sub-areas than the cap
        ("auto", False, 24, False),  # one process: the packs would cost the run
        (True, False, 5, True),
        (False, True, 24, False),
    ],
)
def test_a_run_prepares_packs_as_its_config_says(
    demo_outcome, tmp_path, monkeypatch, setting, worker, cap, stored
):
    import geo.render.region as region_module

    monkeypatch.setattr("geo.render.region.AUTO_PACKS_MAX", cap)
    if worker:
        spy_background(monkeypatch, region_module)
    folder = _written(demo_outcome.results, tmp_path, packs=setting)
    pages = load_pages(folder, key=demo_outcome.results.provenance["results_key"])
    assert pages is not None and pages["report"]
    assert (pages["packs"] is not None) == stored
    if stored:
        assert len(pages["packs"]) == 12


def test_a_library_run_leaves_the_packs_to_the_report_command(demo_outcome):
    """The demo run of the test session is a library call: one process, so `auto` skips."""
    stored = load_pages(demo_outcome.out_dir, key=demo_outcome.results.provenance["results_key"])
    assert stored is not None and stored["report"] and stored["packs"] is None


def test_the_packs_setting_is_checked():
    from geo.config import parse_config
    from geo.errors import InputError

    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw["output"]["workshop_packs"] = "sometimes"
    with pytest.raises(InputError, match="workshop_packs"):
        parse_config(raw, path=DEMO_CONFIG)
    raw["output"]["workshop_packs"] = True
    assert parse_config(raw, path=DEMO_CONFIG).output.workshop_packs is True


def test_pdfs_from_stored_pages_are_counted(packed_run, tmp_path, capsys):
    pytest.importorskip("weasyprint")
    out = tmp_path / "out"
    shutil.copytree(packed_run, out)
    assert main(["report", str(DEMO_CONFIG), "--out", str(out), "--force", "--pdf"]) == 0
    assert "wrote 2 files" in capsys.readouterr().out
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
