"""Stored results: a run's results read back equal the ones it wrote from, and ``gapmap report``
reuses them only when the inputs and settings are unchanged."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import yaml
from geopandas.testing import assert_geodataframe_equal

from geo.cli import main
from geo.render.report import render_report
from geo.store import STORE_DIR, load_results
from tests.conftest import DEMO_CONFIG, DEMO_DIR


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
    assert "reusing the results" in said and f"wrote 1 file to {out}" in said
    assert (out / "report.html").read_text(encoding="utf-8") == render_report(demo_outcome.results)
    assert main(["report", str(DEMO_CONFIG), "--out", str(out), "--by", "subarea"]) == 0
    assert "reusing the results" in capsys.readouterr().out
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
