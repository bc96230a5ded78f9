"""The coverage model and the tidy gap tables on hand-worked cases; totals always add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.analysis.coverage import (
    COVERAGE_CLASSES,
    CoverageRule,
    classify_origins,
    gp_link_status,
    reach,
    spc_reach,
)
from geo.analysis.gaps import (
    band_labels,
    coverage_by_remoteness,
    coverage_by_subarea,
    coverage_totals,
    gp_specialist_links,
    travel_time_bands,
)

RULE = CoverageRule(gp_min=30, spc_min=60, by_remoteness={"Remote": {"gp_min": 54}})


def _origins() -> pd.DataFrame:
    # Six hand-worked origins; thresholds GP 30, SPC 60 (Remote GP 54). Origin 4 is off the
    # road network (every time NaN); origin 5's SPC time is unknown (no service placed).
    return pd.DataFrame(
        {
            "origin_id": range(6),
            "pop_count": [100.0, 50.0, 20.0, 10.0, 5.0, 8.0],
            "need_cancer": [1.0, 0.5, 0.2, 0.1, 0.05, 0.08],
            "need_non_cancer": [2.0, 1.0, 0.4, 0.2, 0.1, 0.16],
            "remoteness_class": [
                "Major Cities",
                "Inner Regional",
                "Remote",
                "Remote",
                "Very Remote",
                "Inner Regional",
            ],
            "area_id": ["A", "A", "B", "B", None, "A"],
            "gp_travel_time_min": [5.0, 25.0, 50.0, 70.0, np.nan, 10.0],
            "spc_travel_time_min": [10.0, 90.0, 60.0, 30.0, np.nan, np.nan],
            "spc_non_cancer_travel_time_min": [10.0, np.inf, 120.0, 30.0, np.nan, np.nan],
        }
    )


def _classified(rule: CoverageRule = RULE) -> pd.DataFrame:
    o = _origins()
    classes = classify_origins(o, o["remoteness_class"], rule)
    return pd.concat([o, classes], axis=1)


def test_coverage_classes_by_hand():
    o = _classified()
    # 50 min to a GP is covered in a Remote area (54) but 70 is not; exactly 60 to SPC counts;
    # NaN is unknown, never "beyond"; inf (no service accepting non-cancer referrals) is beyond.
    assert list(o["coverage_class"]) == [
        "both",
        "gp_only",
        "both",
        "spc_only",
        "unknown",
        "unknown",
    ]
    assert list(o["coverage_class_non_cancer"]) == [
        "both",
        "gp_only",
        "gp_only",
        "spc_only",
        "unknown",
        "unknown",
    ]
    np.testing.assert_array_equal(o["gp_threshold_min"], [30, 30, 54, 54, 30, 30])


def test_reach_distinguishes_unknown_from_beyond():
    r = reach(np.array([10.0, 61.0, np.inf, np.nan]), 60.0)
    np.testing.assert_array_equal(r.within, [True, False, False, False])
    np.testing.assert_array_equal(r.unknown, [False, False, False, True])


def test_home_visits_reach_beyond_the_threshold_and_resolve_unknown():
    # A community team 100 min away with a 240-min reach covers the home; one beyond it does
    # not; a home the team reaches is covered even when the overall SPC time is unknown.
    r = spc_reach(
        np.array([100.0, 300.0, np.nan]),
        60.0,
        community_min=np.array([100.0, 300.0, 50.0]),
        home_visit_reach_min=240.0,
    )
    np.testing.assert_array_equal(r.within, [True, False, True])
    np.testing.assert_array_equal(r.unknown, [False, False, False])


def test_non_cancer_home_visits_need_a_team_taking_non_cancer_referrals():
    o = _origins().iloc[[1]].reset_index(drop=True)
    o["spc_community_travel_time_min"] = 100.0
    rule = CoverageRule(gp_min=30, spc_min=60, home_visit_reach_min=240.0)
    # The only community team within reach takes cancer referrals only.
    o["spc_community_non_cancer_travel_time_min"] = np.inf
    classes = classify_origins(o, o["remoteness_class"], rule)
    assert classes["coverage_class"].iloc[0] == "both"
    assert classes["coverage_class_non_cancer"].iloc[0] == "gp_only"


def test_tidy_tables_never_mix_populations_and_add_up():
    o = _classified()
    order = ["Major Cities", "Inner Regional", "Outer Regional", "Remote", "Very Remote"]
    table = coverage_by_remoteness(o, class_order=order)
    assert len(table) == len(order) * 2 * len(COVERAGE_CLASSES)
    assert "All" not in set(table["remoteness_class"])
    remote = table[table["remoteness_class"] == "Remote"].set_index(
        ["need_group", "coverage_class"]
    )
    assert remote.loc[("cancer", "both"), "pop_count"] == 20.0
    assert remote.loc[("cancer", "spc_only"), "pop_count"] == 10.0
    # Origin 2's non-cancer need is gp_only (its nearest non-cancer SPC is 120 min away):
    # that row carries origin 2's people and its non-cancer need, nothing else.
    assert remote.loc[("non_cancer", "gp_only"), "pop_count"] == 20.0
    assert remote.loc[("non_cancer", "gp_only"), "need"] == pytest.approx(0.4)
    assert remote.loc[("non_cancer", "both"), "need"] == 0.0
    # No row has need without people.
    assert not ((table["pop_count"] == 0) & (table["need"] > 0)).any()
    outer = table[table["remoteness_class"] == "Outer Regional"]
    assert (outer["pop_count"] == 0).all() and outer["pop_pct"].isna().all()
    for group, column in (("cancer", "need_cancer"), ("non_cancer", "need_non_cancer")):
        part = table[table["need_group"] == group]
        assert part["pop_count"].sum() == pytest.approx(o["pop_count"].sum())
        assert part["need"].sum() == pytest.approx(o[column].sum())
    totals = coverage_totals(o).set_index(["need_group", "coverage_class"])
    assert totals.loc[("cancer", "unknown"), "pop_count"] == 13.0
    assert totals.loc[("non_cancer", "gp_only"), "need"] == pytest.approx(1.4)
    assert totals["pop_pct"].groupby(level=0).sum().to_numpy() == pytest.approx([100, 100])


def test_coverage_by_subarea_outside_and_small_counts():
    o = _classified()
    subareas = pd.DataFrame({"area_id": ["A", "B", "C"], "area_name": ["Alpha", "Beta", "Gamma"]})
    table = coverage_by_subarea(o, subareas, suppress_below=5)
    assert set(table["area_id"]) == {"A", "B", "C", "(outside sub-areas)"}
    cancer = table[table["need_group"] == "cancer"]
    assert cancer["pop_count"].sum() == pytest.approx(193.0)
    assert cancer.loc[cancer["area_id"] == "(outside sub-areas)", "pop_count"].sum() == 5.0
    # Small cells are flagged cell by cell (people or need above 0 and below 5); zeros are not.
    assert (
        table.loc[(table["pop_count"] == 0) & (table["need"] == 0), "small_count"].eq(False).all()
    )
    assert table.loc[table["need"].between(1e-9, 4.999), "small_count"].all()
    assert table.loc[table["area_id"] == "A", "area_name"].iloc[0] == "Alpha"


def test_travel_time_bands_edges_and_unknown():
    o = _classified()
    table = travel_time_bands(
        o, service_columns={"gp": "gp_travel_time_min"}, bands_min=[15, 30, 60]
    )
    assert list(table["band"]) == ["0-15", "15-30", "30-60", "60+", "unknown"]
    np.testing.assert_allclose(table["pop_count"], [108, 50, 20, 10, 5])
    np.testing.assert_allclose(table["lower_min"].iloc[:4], [0, 15, 30, 60])
    assert np.isnan(table["upper_min"].iloc[3])
    assert table["pop_pct"].sum() == pytest.approx(100.0)
    exact = o.assign(gp_travel_time_min=[15.0, 15.0001, 0.0, 60.0, 61.0, np.inf])
    table = travel_time_bands(
        exact, service_columns={"gp": "gp_travel_time_min"}, bands_min=[15, 30, 60]
    )
    # inf (nothing reachable) is beyond the last edge, not unknown.
    np.testing.assert_allclose(table["pop_count"], [120, 50, 10, 13, 0])


def test_band_labels():
    assert band_labels([15, 30, 60, 120]) == ["0-15", "15-30", "30-60", "60-120", "120+"]
    assert band_labels([7.5]) == ["0-7.5", "7.5+"]


def test_gp_links_never_call_a_left_out_practice_isolated():
    gps = pd.DataFrame(
        {
            "facility_id": ["G1", "G2", "G3", "G4"],
            "name": ["One", "Two", "Three", "Four"],
            "nearest_spc_id": ["S1", "S1", None, None],
            "spc_travel_time_min": [12.0, 95.0, np.nan, np.nan],
            "reachable": [True, True, False, True],
            "snap_distance_m": [10.0, 20.0, 9000.0, 30.0],
            "pop_served": [10.0, 5.0, 0.0, 1.0],
            "need_cancer_served": [1.0, 0.5, 0.0, 0.1],
            "need_non_cancer_served": [2.0, 1.0, 0.0, 0.2],
        }
    )
    gps["link_status"] = gp_link_status(gps, isolated_gp_min=60)
    assert list(gps["link_status"]) == ["linked", "isolated", "off_network", "unknown"]
    spcs = pd.DataFrame({"facility_id": ["S1"], "name": ["Hospice"]})
    table = gp_specialist_links(gps, spcs)
    assert list(table["facility_id"][:2]) in (["G3", "G4"], ["G4", "G3"])
    assert table.loc[table["facility_id"] == "G2", "nearest_spc_name"].iloc[0] == "Hospice"


def test_hotspots_cluster_need_beyond_reach_by_group():
    import geopandas as gpd
    from shapely.geometry import Point

    from geo.analysis.gaps import hotspots

    # Two tight groups 50 km apart plus a lone origin with tiny need.
    pts = [(0, 0), (1000, 0), (0, 1000), (50_000, 0), (51_000, 500), (100_000, 100_000)]
    need = [1.0, 1.0, 1.0, 0.5, 0.4, 0.05]
    origins = gpd.GeoDataFrame(
        {
            "pop_count": [100.0] * 6,
            "need_cancer": [2.0] * 6,
            "need_non_cancer": need,
            # Cancer need is covered everywhere (a cancer-only team); non-cancer need is not.
            "coverage_class": ["both"] * 6,
            "coverage_class_non_cancer": ["gp_only"] * 6,
        },
        geometry=[Point(p) for p in pts],
        crs="EPSG:7855",
    )
    spots = hotspots(origins, eps_m=5000, min_need=0.5)
    assert list(spots["hotspot_id"]) == [1, 2]
    np.testing.assert_allclose(spots["need_beyond_spc"], [3.0, 0.9])
    np.testing.assert_allclose(spots["need_cancer_beyond_spc"], [0.0, 0.0])
    np.testing.assert_allclose(spots["pop_count"], [300.0, 200.0])
    assert spots.geometry.iloc[0].contains(Point(500, 300))
    assert not spots.geometry.union_all().contains(Point(100_000, 100_000))
    # Covered origins never form hotspots; none beyond reach gives an empty, typed layer.
    none = hotspots(origins.assign(coverage_class_non_cancer="both"), eps_m=5000)
    assert none.empty and none["need_beyond_spc"].dtype == float
    assert none.geometry.crs == origins.crs
