"""End to end on the demo region and the real Isle of Wight: the output contract holds and
every table's totals equal the region's totals."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo.analysis.coverage import COVERAGE_CLASSES

ORIGIN_COLUMNS = {
    "origin_id",
    "pop_count",
    "remoteness_class",
    "need_cancer",
    "need_non_cancer",
    "gp_travel_time_min",
    "spc_travel_time_min",
    "coverage_class",
    "snap_distance_m",
}
TABLES = (
    "coverage_totals",
    "coverage_by_remoteness",
    "coverage_by_subarea",
    "gp_specialist_links",
    "travel_time_bands",
)


@pytest.fixture(scope="module")
def demo_run(demo_outcome):
    return demo_outcome, demo_outcome.out_dir


def _check_contract(outcome, out):
    results = outcome.results
    for name in ("map.html", "report.html", "layers.gpkg", "run.json"):
        assert (out / name).is_file(), name
    for name in TABLES:
        assert (out / "tables" / f"{name}.csv").is_file(), name
    layers = {name for name, _ in pyogrio.list_layers(out / "layers.gpkg")}
    assert {"origins", "gp_practices", "specialist_services"} <= layers
    origins = gpd.read_file(out / "layers.gpkg", layer="origins")
    assert set(origins.columns) >= ORIGIN_COLUMNS
    assert origins["origin_id"].is_unique
    assert set(origins["coverage_class"]) <= set(COVERAGE_CLASSES)
    assert set(origins["coverage_class_non_cancer"]) <= set(COVERAGE_CLASSES)
    provenance = json.loads((out / "run.json").read_text(encoding="utf-8"))
    for key in (
        "inputs",
        "osm_data_date",
        "speed_settings",
        "need",
        "thresholds",
        "version",
        "timings_s",
        "remoteness",
        "findings",
        "headline_shares",
    ):
        assert key in provenance, key
    assert all(v["sha256"] for v in provenance["inputs"].values())
    return results


def _check_totals(results, out):
    origins = results.origins
    totals = {c: origins[c].sum() for c in ("pop_count", "need_cancer", "need_non_cancer")}
    bands = pd.read_csv(out / "tables" / "travel_time_bands.csv")
    for name in ("coverage_totals", "coverage_by_remoteness", "coverage_by_subarea"):
        table = pd.read_csv(out / "tables" / f"{name}.csv")
        assert not (table.filter(like="_class").eq("All").any(axis=None)), name
        assert not ((table["pop_count"] == 0) & (table["need"] > 0)).any(), name
        for group, need in (("cancer", "need_cancer"), ("non_cancer", "need_non_cancer")):
            part = table[table["need_group"] == group]
            assert part["pop_count"].sum() == pytest.approx(totals["pop_count"]), name
            assert part["need"].sum() == pytest.approx(totals[need]), name
    for col, total in totals.items():
        for _, group in bands.groupby("service_kind"):
            assert group[col].sum() == pytest.approx(total, rel=1e-6)
    links = pd.read_csv(out / "tables" / "gp_specialist_links.csv")
    reachable = origins["nearest_gp_id"].notna()
    assert links["pop_served"].sum() == pytest.approx(origins.loc[reachable, "pop_count"].sum())


def test_demo_run_writes_the_contract(demo_run):
    outcome, out = demo_run
    _check_contract(outcome, out)


def test_demo_tables_add_up(demo_run):
    outcome, out = demo_run
    _check_totals(outcome.results, out)


def test_demo_shows_real_gaps(demo_run):
    origins = demo_run[0].results.origins
    share = origins.groupby("coverage_class")["pop_count"].sum() / origins["pop_count"].sum()
    # The demo is built so that every kind of gap appears.
    assert share.get("both", 0) > 0.5
    assert share.get("gp_only", 0) > 0.01
    assert share.get("neither", 0) > 0.001
    remote = origins["remoteness_class"].isin(["Remote", "Very Remote"])
    assert origins.loc[remote, "spc_travel_time_min"].median() > 60
    # The cancer-only service leaves non-cancer need worse off somewhere.
    worse = origins["spc_non_cancer_travel_time_min"] > origins["spc_travel_time_min"] + 1e-9
    assert worse.any()


def test_demo_times_are_consistent(demo_run):
    origins = demo_run[0].results.origins
    reachable = origins["reachable"].to_numpy(bool)
    spc = origins["spc_travel_time_min"].to_numpy()
    per_type = [
        c
        for c in origins.columns
        if c.startswith("spc_")
        and c.endswith("_travel_time_min")
        and c not in {"spc_travel_time_min", "spc_non_cancer_travel_time_min"}
    ]
    assert per_type
    fastest = np.nan_to_num(origins[per_type].to_numpy(), nan=np.inf).min(axis=1)
    np.testing.assert_allclose(spc[reachable], fastest[reachable])
    assert (origins.loc[reachable, "gp_travel_time_min"] >= 0).all()
    assert np.isnan(spc[~reachable]).all()


@pytest.mark.realdata
@pytest.mark.xdist_group("iow")
def test_isle_of_wight_end_to_end(iow_outcome):
    outcome, out = iow_outcome, iow_outcome.out_dir
    results = _check_contract(outcome, out)
    _check_totals(results, out)
    origins = results.origins
    assert origins["pop_count"].sum() == pytest.approx(140_984)
    assert len(results.gp_practices) == 12
    assert origins["reachable"].all()
    # A small island with services in Newport: everyone is within an hour of SPC.
    assert origins["spc_travel_time_min"].max() < 60
    assert outcome.results.provenance["osm_data_date"].startswith("2015-01-01")
    # The report and map give the extract's day, not its timestamp.
    page = (outcome.out_dir / "report.html").read_text(encoding="utf-8")
    assert "Road data date: 2015-01-01." in page and "T21:22" not in page
    assert "OpenStreetMap, 2015-01-01 &copy;" in (outcome.out_dir / "map.html").read_text(
        encoding="utf-8"
    )


def test_demo_access_scores_equity_and_hotspots(demo_run):
    results = demo_run[0].results
    origins = results.origins
    for col in ("access_gp_e2sfca", "access_spc_e2sfca", "gp_fte_within_threshold"):
        assert (origins[col] >= 0).all(), col
    # Nobody beyond every GP catchment has GP FTE within reach, and the reverse.
    far = ~(origins["gp_travel_time_min"].fillna(np.inf) <= results.thresholds_min["gp"])
    assert (origins.loc[far, "gp_fte_within_threshold"] == 0).all()
    assert (origins.loc[~far, "gp_fte_within_threshold"] > 0).all()
    # E2SFCA conserves supply: need-weighted access sums to the SPC capacity that has demand.
    need = origins["need_cancer"] + origins["need_non_cancer"]
    total = (origins["access_spc_e2sfca"] / 100 * need).sum()
    assert total == pytest.approx(results.specialist_services["capacity"].sum(), rel=1e-6)
    equity = results.tables["access_equity"].set_index(["measure", "remoteness_class"])
    assert (
        equity.loc[("access_spc_e2sfca", "Major Cities"), "mean_need_weighted"]
        > equity.loc[("access_spc_e2sfca", "Very Remote"), "mean_need_weighted"]
    )
    spots = results.hotspots
    assert len(spots) > 0 and spots["need_beyond_spc"].is_monotonic_decreasing
    beyond = results.findings.need_in(("gp_only", "neither"))
    assert 0 < spots["need_beyond_spc"].sum() <= beyond + 1e-9
