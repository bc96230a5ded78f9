"""End to end on the demo region and the real Isle of Wight: the output contract holds and
every table's totals equal the region's totals."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo.config import load_config
from geo.pipeline import run

from .conftest import DEMO_CONFIG, IOW_CONFIG

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
    "coverage_by_remoteness",
    "coverage_by_subarea",
    "gp_specialist_links",
    "travel_time_bands",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    outcome = run(load_config(DEMO_CONFIG), out_dir=out, cache_dir=tmp_path_factory.mktemp("cache"))
    return outcome, out


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
    assert set(origins["coverage_class"]) <= {"both", "gp_only", "spc_only", "neither"}
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
    ):
        assert key in provenance, key
    assert all(v["sha256"] for v in provenance["inputs"].values())
    return results


def _check_totals(results, out):
    origins = results.origins
    totals = {c: origins[c].sum() for c in ("pop_count", "need_cancer", "need_non_cancer")}
    rem = pd.read_csv(out / "tables" / "coverage_by_remoteness.csv")
    sub = pd.read_csv(out / "tables" / "coverage_by_subarea.csv")
    bands = pd.read_csv(out / "tables" / "travel_time_bands.csv")
    for col, total in totals.items():
        assert rem.loc[rem["remoteness_class"] == "All", col].sum() == pytest.approx(total)
        assert rem.loc[rem["remoteness_class"] != "All", col].sum() == pytest.approx(total)
        assert sub.loc[sub["area_id"] == "All", col].sum() == pytest.approx(total)
        assert sub.loc[sub["area_id"] != "All", col].sum() == pytest.approx(total)
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
    fastest = np.nanmin(origins[per_type].to_numpy(), axis=1)
    np.testing.assert_allclose(spc[reachable], fastest[reachable])
    assert (origins.loc[reachable, "gp_travel_time_min"] >= 0).all()
    assert np.isnan(spc[~reachable]).all()


@pytest.mark.realdata
def test_isle_of_wight_end_to_end(tmp_path, geo_data_root_env):
    out = tmp_path / "iow"
    outcome = run(load_config(IOW_CONFIG), out_dir=out, cache_dir=tmp_path / "cache")
    results = _check_contract(outcome, out)
    _check_totals(results, out)
    origins = results.origins
    assert origins["pop_count"].sum() == pytest.approx(140_984)
    assert len(results.gp_practices) == 12
    assert origins["reachable"].all()
    # A small island with services in Newport: everyone is within an hour of SPC.
    assert origins["spc_travel_time_min"].max() < 60
    assert outcome.results.provenance["osm_data_date"].startswith("2015-01-01")


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
    equity = results.tables["access_equity"].set_index("measure")
    assert (
        equity.loc["access_spc_e2sfca", "mean_Major Cities"]
        > equity.loc["access_spc_e2sfca", "mean_Very Remote"]
    )
    spots = results.hotspots
    assert len(spots) > 0 and spots["need_total"].is_monotonic_decreasing
    uncovered = ~(origins["spc_travel_time_min"].fillna(np.inf) <= results.thresholds_min["spc"])
    uncovered_need = need[uncovered].sum()
    assert 0 < spots["need_total"].sum() <= uncovered_need + 1e-9
