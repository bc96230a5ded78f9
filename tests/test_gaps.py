"""Coverage classes and gap tables on hand-worked cases; totals always add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.access import COVERAGE_CLASSES, coverage_class, thresholds_per_origin
from geo.gaps import (
    band_labels,
    coverage_by_remoteness,
    coverage_by_subarea,
    gp_specialist_links,
    travel_time_bands,
)


def _origins() -> pd.DataFrame:
    # Five hand-worked origins; thresholds GP 30, SPC 60 (Remote GP 54).
    return pd.DataFrame(
        {
            "origin_id": range(5),
            "pop_count": [100.0, 50.0, 20.0, 10.0, 5.0],
            "need_cancer": [1.0, 0.5, 0.2, 0.1, 0.05],
            "need_non_cancer": [2.0, 1.0, 0.4, 0.2, 0.1],
            "remoteness_class": [
                "Major Cities",
                "Inner Regional",
                "Remote",
                "Remote",
                "Very Remote",
            ],
            "area_id": ["A", "A", "B", "B", None],
            "gp_travel_time_min": [5.0, 25.0, 50.0, 70.0, np.nan],
            "spc_travel_time_min": [10.0, 90.0, 60.0, 30.0, np.nan],
            "spc_non_cancer_travel_time_min": [10.0, 90.0, 120.0, 30.0, np.nan],
        }
    )


def _classified() -> pd.DataFrame:
    o = _origins()
    gp_th = thresholds_per_origin(
        o["remoteness_class"], default_min=30, by_remoteness={"Remote": 54}
    )
    o["coverage_class"] = coverage_class(
        o["gp_travel_time_min"],
        o["spc_travel_time_min"],
        gp_threshold_min=gp_th,
        spc_threshold_min=60,
    )
    o["coverage_class_non_cancer"] = coverage_class(
        o["gp_travel_time_min"],
        o["spc_non_cancer_travel_time_min"],
        gp_threshold_min=gp_th,
        spc_threshold_min=60,
    )
    return o


def test_coverage_classes_by_hand():
    o = _classified()
    # 50 min to a GP is covered in a Remote area (54) but 70 is not; exactly 60 to SPC counts.
    assert list(o["coverage_class"]) == ["both", "gp_only", "both", "spc_only", "neither"]
    assert list(o["coverage_class_non_cancer"]) == [
        "both",
        "gp_only",
        "gp_only",
        "spc_only",
        "neither",
    ]


def test_thresholds_per_origin():
    th = thresholds_per_origin(pd.Series(["a", "b", "a"]), default_min=30, by_remoteness={"b": 5})
    np.testing.assert_array_equal(th, [30, 5, 30])


def test_coverage_by_remoteness_counts_and_totals():
    o = _classified()
    order = ["Major Cities", "Inner Regional", "Outer Regional", "Remote", "Very Remote"]
    table = coverage_by_remoteness(o, class_order=order)
    assert len(table) == (len(order) + 1) * len(COVERAGE_CLASSES)
    remote = table[table["remoteness_class"] == "Remote"].set_index("coverage_class")
    assert remote.loc["both", "pop_count"] == 20.0
    assert remote.loc["spc_only", "pop_count"] == 10.0
    # Non-cancer need of origin 2 is gp_only (its nearest non-cancer SPC is 120 min away).
    assert remote.loc["both", "need_non_cancer"] == 0.0
    assert remote.loc["gp_only", "need_non_cancer"] == pytest.approx(0.4)
    assert remote.loc["both", "need_total"] == pytest.approx(0.2)
    outer = table[table["remoteness_class"] == "Outer Regional"]
    assert (outer["pop_count"] == 0).all() and outer["pop_pct"].isna().all()
    everything = table[table["remoteness_class"] == "All"]
    for col in ("pop_count", "need_cancer", "need_non_cancer"):
        assert everything[col].sum() == pytest.approx(o[col].sum())
        assert table.loc[table["remoteness_class"] != "All", col].sum() == pytest.approx(
            o[col].sum()
        )
    assert everything["pop_pct"].sum() == pytest.approx(100.0)


def test_coverage_by_subarea_outside_and_small_counts():
    o = _classified()
    subareas = pd.DataFrame({"area_id": ["A", "B", "C"], "area_name": ["Alpha", "Beta", "Gamma"]})
    table = coverage_by_subarea(o, subareas, suppress_below=5)
    assert set(table["area_id"]) == {"A", "B", "C", "(outside sub-areas)", "All"}
    assert table.loc[table["area_id"] == "All", "pop_count"].sum() == pytest.approx(185.0)
    assert table.loc[table["area_id"] == "(outside sub-areas)", "pop_count"].sum() == 5.0
    # Every sub-area's need here is under 5, except empty Gamma (zero need is not "small").
    flags = table.groupby("area_id")["small_count"].first()
    assert flags["A"] and flags["B"] and not flags["C"]
    assert table.loc[table["area_id"] == "A", "area_name"].iloc[0] == "Alpha"


def test_travel_time_bands_edges_and_unreachable():
    o = _classified()
    table = travel_time_bands(
        o, service_columns={"gp": "gp_travel_time_min"}, bands_min=[15, 30, 60]
    )
    assert list(table["band"]) == ["0-15", "15-30", "30-60", "60+", "unreachable"]
    np.testing.assert_allclose(table["pop_count"], [100, 50, 20, 10, 5])
    assert table["pop_pct"].sum() == pytest.approx(100.0)
    exact = o.assign(gp_travel_time_min=[15.0, 15.0001, 0.0, 60.0, 61.0])
    table = travel_time_bands(
        exact, service_columns={"gp": "gp_travel_time_min"}, bands_min=[15, 30, 60]
    )
    np.testing.assert_allclose(table["pop_count"], [120, 50, 10, 5, 0])


def test_band_labels():
    assert band_labels([15, 30, 60, 120]) == ["0-15", "15-30", "30-60", "60-120", "120+"]
    assert band_labels([7.5]) == ["0-7.5", "7.5+"]


def test_gp_specialist_links_sorted_worst_first():
    gps = pd.DataFrame(
        {
            "facility_id": ["G1", "G2", "G3"],
            "name": ["One", "Two", "Three"],
            "nearest_spc_id": ["S1", "S1", None],
            "spc_travel_time_min": [12.0, 95.0, np.nan],
            "pop_served": [10.0, 5.0, 1.0],
            "need_cancer_served": [1.0, 0.5, 0.1],
            "need_non_cancer_served": [2.0, 1.0, 0.2],
            "isolated": [False, True, True],
        }
    )
    spcs = pd.DataFrame({"facility_id": ["S1"], "name": ["Hospice"]})
    table = gp_specialist_links(gps, spcs)
    assert list(table["facility_id"]) == ["G3", "G2", "G1"]
    assert table.loc[table["facility_id"] == "G2", "nearest_spc_name"].iloc[0] == "Hospice"


def test_hotspots_cluster_uncovered_need():
    import geopandas as gpd
    from shapely.geometry import Point

    from geo.gaps import hotspots

    # Two tight groups 50 km apart plus a lone origin with tiny need.
    pts = [(0, 0), (1000, 0), (0, 1000), (50_000, 0), (51_000, 500), (100_000, 100_000)]
    need = [1.0, 1.0, 1.0, 0.5, 0.4, 0.05]
    origins = gpd.GeoDataFrame(
        {"pop_count": [100.0] * 6, "need_cancer": np.zeros(6), "need_non_cancer": need},
        geometry=[Point(p) for p in pts],
        crs="EPSG:7855",
    )
    uncovered = np.array([True, True, True, True, True, True])
    spots = hotspots(origins, uncovered=uncovered, eps_m=5000, min_need=0.5)
    assert list(spots["hotspot_id"]) == [1, 2]
    np.testing.assert_allclose(spots["need_total"], [3.0, 0.9])
    np.testing.assert_allclose(spots["pop_count"], [300.0, 200.0])
    assert spots.geometry.iloc[0].contains(Point(500, 300))
    assert not spots.geometry.union_all().contains(Point(100_000, 100_000))
    # Covered origins never form hotspots; none uncovered gives an empty layer.
    none = hotspots(origins, uncovered=np.zeros(6, bool), eps_m=5000, min_need=0.5)
    assert none.empty and "need_total" in none.columns
