"""Remoteness: ABS polygons (2016/2021 naming), categorical layers, code lookups, computed ARIA."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.errors import InputError
from geo.inputs.population import origins_from_raster
from geo.inputs.remoteness import (
    ABS_CLASSES,
    classify_by_lookup,
    classify_by_polygons,
    computed_aria,
    normalise_abs_class,
)
from geo.inputs.roads import build_network
from geo.inputs.speeds import SpeedSettings
from tests.conftest import DEMO_DIR

CRS = "EPSG:7855"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Major Cities of Australia", "Major Cities"),
        ("Inner Regional Australia", "Inner Regional"),
        ("Very Remote Australia", "Very Remote"),
        ("Outer Regional", "Outer Regional"),
        ("remote australia", "Remote"),
        (0, "Major Cities"),
        ("14", "Very Remote"),
        ("3.0", "Remote"),
        ("Migratory - Offshore - Shipping", None),
        ("9", None),
    ],
)
def test_abs_names_and_codes_normalise(value, expected):
    assert normalise_abs_class(value) == expected


def _polygons(tmp_path, values, column="ra_name"):
    frame = gpd.GeoDataFrame(
        {column: values},
        geometry=[box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(len(values))],
        crs=CRS,
    )
    path = tmp_path / "classes.gpkg"
    frame.to_file(path)
    return path


def _points(xs):
    return gpd.GeoDataFrame(
        {"pop_count": [1.0] * len(xs)}, geometry=gpd.points_from_xy(xs, [500] * len(xs)), crs=CRS
    )


def test_points_in_abs_polygons_with_a_small_tolerance(tmp_path):
    path = _polygons(tmp_path, ["Major Cities of Australia", "Remote Australia"])
    result = classify_by_polygons(
        _points([500, 1500, 2400]), path, class_column="ra_name", scheme="abs_ra_2016"
    )
    assert result.classes.tolist() == ["Major Cities", "Remote", "Remote"]
    assert result.stats["origins_nearest_polygon"] == 1
    assert result.class_order == ABS_CLASSES and result.version == "2016"
    with pytest.raises(InputError, match="outside every remoteness polygon"):
        classify_by_polygons(_points([9000]), path, class_column="ra_name")


def test_bad_abs_class_names_the_row(tmp_path):
    path = _polygons(tmp_path, ["Major Cities of Australia", "Metro-ish"])
    with pytest.raises(InputError) as err:
        classify_by_polygons(_points([500]), path, class_column="ra_name")
    assert "Metro-ish" in str(err.value) and err.value.column == "ra_name"


def test_categorical_layer_needs_an_order(tmp_path):
    path = _polygons(tmp_path, ["core", "fringe"], column="zone")
    result = classify_by_polygons(
        _points([500, 1500]),
        path,
        class_column="zone",
        scheme="categorical",
        order=["core", "fringe"],
    )
    assert result.classes.tolist() == ["core", "fringe"]
    with pytest.raises(InputError, match="order"):
        classify_by_polygons(_points([500]), path, class_column="zone", scheme="categorical")


def test_lookup_counts_unmatched_codes(tmp_path):
    lookup = tmp_path / "mmm.csv"
    pd.DataFrame({"code": ["A", "B"], "mmm": ["1", "MM7"]}).to_csv(lookup, index=False)
    origins = _points([1, 2, 3])
    result = classify_by_lookup(
        origins,
        area_codes=pd.Series(["A", "B", "Z"]),
        path=lookup,
        code_column="code",
        class_column="mmm",
        scheme="mmm2019",
    )
    assert result.classes.tolist() == ["MM1 Metropolitan", "MM7 Very remote communities", "Unknown"]
    assert result.stats["origins_unmatched"] == 1 and result.stats["codes_unmatched"] == ["Z"]
    with pytest.raises(InputError, match="no area code matched"):
        classify_by_lookup(
            origins,
            area_codes=pd.Series(["X", "Y", "Z"]),
            path=lookup,
            code_column="code",
            class_column="mmm",
            scheme="mmm2019",
        )


@pytest.mark.realdata
def test_isle_of_wight_ruc2011_rural_share(iow_dir, iow_lsoa_origins):
    origins = iow_lsoa_origins
    result = classify_by_lookup(
        origins,
        area_codes=origins["source_area_id"],
        path=iow_dir / "rurality" / "ruc11_lsoa11_isle_of_wight.csv",
        code_column="lsoa11_code",
        class_column="ruc11_code",
        scheme="ruc2011",
    )
    rural = result.classes.str.startswith("Rural")
    assert origins["pop_count"].sum() == 140_984
    assert origins.loc[rural.to_numpy(), "pop_count"].sum() == 42_379  # 30%
    assert result.stats["origins_unmatched"] == 0


def test_computed_aria_orders_the_demo_from_city_to_outback():
    network = build_network(DEMO_DIR / "roads.osm", SpeedSettings(profile="au"), CRS).network
    region = gpd.read_file(DEMO_DIR / "region.geojson").to_crs(CRS).geometry.union_all()
    origins = origins_from_raster(DEMO_DIR / "population.tif", crs=CRS, region=region)
    result = computed_aria(origins, network)
    rank = result.classes.map({c: i for i, c in enumerate(ABS_CLASSES)})
    x = origins.geometry.x
    east, west = rank[x > x.quantile(0.9)].mean(), rank[x < x.quantile(0.1)].mean()
    assert east < west
    assert result.stats["centres"] >= 3
    assert set(result.classes) <= set(ABS_CLASSES)


def test_ruc_lookups_accept_codes_and_the_names_in_circulation(tmp_path):
    lookup = tmp_path / "ruc.csv"
    pd.DataFrame(
        {
            "lsoa": ["L1", "L2", "L3", "L4"],
            "ruc": ["C1", "Rural village", "Rural: Town and Fringe in a Sparse Setting", "a1"],
        }
    ).to_csv(lookup, index=False)
    result = classify_by_lookup(
        _points([1, 2, 3, 4]),
        area_codes=pd.Series(["L1", "L2", "L3", "L4"]),
        path=lookup,
        code_column="lsoa",
        class_column="ruc",
    )
    assert result.classes.tolist() == [
        "Urban city and town",
        "Rural village and dispersed",
        "Rural town and fringe in a sparse setting",
        "Urban major conurbation",
    ]
    assert result.class_order[0] == "Urban major conurbation" and result.version == "2011"
    pd.DataFrame({"lsoa": ["L1"], "ruc": ["Hamlet-ish"]}).to_csv(lookup, index=False)
    with pytest.raises(InputError) as err:
        classify_by_lookup(
            _points([1]),
            area_codes=pd.Series(["L1"]),
            path=lookup,
            code_column="lsoa",
            class_column="ruc",
        )
    assert err.value.row == 2 and err.value.column == "ruc"


def test_ruc2021_order_runs_from_urban_to_smaller_rural(tmp_path):
    lookup = tmp_path / "ruc21.csv"
    pd.DataFrame(
        {"lsoa": ["L1", "L2"], "ruc21": ["RSF1", "Larger rural: Nearer to a major town or city"]}
    ).to_csv(lookup, index=False)
    result = classify_by_lookup(
        _points([1, 2]),
        area_codes=pd.Series(["L1", "L2"]),
        path=lookup,
        code_column="lsoa",
        class_column="ruc21",
        scheme="ruc2021",
    )
    assert result.classes.tolist() == [
        "Smaller rural: Further from a major town or city",
        "Larger rural: Nearer to a major town or city",
    ]
    assert result.class_order[0].startswith("Urban: Nearer")
    assert result.class_order[-1].startswith("Smaller rural: Further")


def test_lifted_lookup_by_population_weighted_majority(tmp_path):
    lookup = tmp_path / "mmm_sa1.csv"
    pd.DataFrame(
        {
            "sa1": ["10101", "10102", "10103", "20201"],
            "mmm": ["1", "5.0", "5", "MM 7"],
            "people": [900, 100, 100, 50],
        }
    ).to_csv(lookup, index=False)
    kwargs = {
        "area_codes": pd.Series(["101", "202"]),
        "path": lookup,
        "code_column": "sa1",
        "class_column": "mmm",
        "scheme": "mmm2019",
        "aggregate_code_length": 3,
    }
    by_count = classify_by_lookup(_points([1, 2]), **kwargs)
    assert by_count.classes.tolist() == ["MM5 Small rural towns", "MM7 Very remote communities"]
    by_people = classify_by_lookup(_points([1, 2]), weight_column="people", **kwargs)
    assert by_people.classes.tolist() == ["MM1 Metropolitan", "MM7 Very remote communities"]
    with pytest.raises(InputError, match="one code per origin"):
        classify_by_lookup(_points([1]), **kwargs)


def _line_network():
    """A two-way road along y=0 with a node every kilometre from 0 to 100 km."""
    from geo.routing.network import RoadNetwork

    n = 101
    a, b = np.arange(n - 1), np.arange(1, n)
    return RoadNetwork.from_arrays(
        np.concatenate([a, b]),
        np.concatenate([b, a]),
        np.full(2 * (n - 1), 60.0),
        np.arange(n) * 1000.0,
        np.zeros(n),
        CRS,
    )


def _aria_origins(city_pop):
    xs = [0, 500, 1000, 40_000, 40_200, 100_000]
    pops = [city_pop / 3] * 3 + [1000.0, 1000.0, 10.0]
    return gpd.GeoDataFrame(
        {"pop_count": pops}, geometry=gpd.points_from_xy(xs, [0.0] * 6), crs=CRS
    )


def test_computed_aria_hand_worked_on_a_line():
    means = {"A": 50_000, "B": 50_000, "C": 50_000, "D": 50_000, "E": 20_000}
    result = computed_aria(_aria_origins(300_000), _line_network(), national_means_m=means)
    assert result.stats["centre_classes"] == {"A": 1, "E": 1}
    # Town (class E centre, members at 0): classes A-D served by the city 39 km away,
    # 4 x 39/50 = 3.12 -> Outer Regional. Farm at 100 km: 4 x 99/50 + min(3, 60/20) = 10.92.
    assert result.classes.tolist() == ["Major Cities"] * 3 + ["Outer Regional"] * 2 + [
        "Very Remote"
    ]
    assert result.stats["index_max"] == pytest.approx(10.92)


def test_computed_aria_absent_centre_classes():
    means = {"A": 50_000, "B": 50_000, "C": 50_000, "D": 50_000, "E": 30_000}
    small_city = _aria_origins(100_000)  # class B: no centre of 250,000 in the region
    capped = computed_aria(
        small_city, _line_network(), national_means_m=means, absent_class_ratio=3
    )
    assert capped.stats["classes_absent"] == ["A"]
    assert capped.classes.iloc[0] == "Outer Regional"  # 3 for the missing class A
    stand_in = computed_aria(small_city, _line_network(), national_means_m=means)
    assert stand_in.classes.iloc[0] == "Major Cities"  # the city stands in for class A
    # Farm: 3 (A) + 3 x 99/50 + 60/30 = 10.94 capped; 4 x 99/50 + 60/30 = 9.92 with the stand-in.
    assert (capped.classes.iloc[-1], stand_in.classes.iloc[-1]) == ("Very Remote", "Remote")


@pytest.mark.realdata
def test_computed_aria_agrees_with_ruc2011_on_the_isle_of_wight(geo_data_root_env):
    from geo.config import load_config
    from geo.inputs.layers import load_population, load_remoteness, read_boundary
    from tests.conftest import IOW_CONFIG

    cfg = load_config(IOW_CONFIG)
    crs = cfg.region.crs
    net = build_network(cfg.roads.path, SpeedSettings(profile="gb"), crs).network
    region = read_boundary(cfg.region.boundary, crs=crs)
    origins = load_population(cfg.population, crs=crs, region=region, network=net)
    official = load_remoteness(cfg.remoteness, origins, crs=crs, network=net)
    computed = computed_aria(origins, net)
    urban = official.classes.str.startswith("Urban").to_numpy()
    urban_computed = computed.classes.isin(["Major Cities", "Inner Regional"]).to_numpy()
    pop = origins["pop_count"].to_numpy()
    agreement = pop[urban == urban_computed].sum() / pop.sum()
    assert agreement > 0.9  # 0.953 when written (urban/rural by people)
