"""Remoteness: ABS polygons (2016/2021 naming), categorical layers, code lookups, computed ARIA."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo.errors import InputError
from geo.network import build_network
from geo.population import origins_from_points, origins_from_raster
from geo.remoteness import (
    ABS_CLASSES,
    classify_by_lookup,
    classify_by_polygons,
    computed_aria,
    normalise_abs_class,
)
from geo.speeds import SpeedSettings
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
def test_isle_of_wight_ruc2011_rural_share(iow_dir):
    origins = origins_from_points(
        iow_dir / "population" / "lsoa11_isle_of_wight_pwc_pop2017_ruc11.csv",
        crs="EPSG:27700",
        count_column="pop_mid2017_all_ages",
        id_column="lsoa11cd",
        x_column="pwc_longitude",
        y_column="pwc_latitude",
    )
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
