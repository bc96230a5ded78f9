"""The committed demo region is exactly what geo/demo.py generates, and it is realistic."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import rasterio
import shapely

from geo.demo import FILES, generate_demo
from tests.conftest import DEMO_DIR


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("demo"))


@pytest.mark.parametrize(
    "name", ["roads.osm", "gp_practices.csv", "spc_services.csv", "deaths.csv", "region.geojson"]
)
def test_text_files_are_byte_identical(regenerated, name):
    assert regenerated[name].read_bytes() == (DEMO_DIR / name).read_bytes()


def test_population_raster_is_identical(regenerated):
    with (
        rasterio.open(regenerated["population.tif"]) as new,
        rasterio.open(DEMO_DIR / "population.tif") as old,
    ):
        assert new.crs == old.crs
        assert new.transform == old.transform
        assert new.nodata == old.nodata
        np.testing.assert_array_equal(new.read(), old.read())


@pytest.mark.parametrize(
    ("name", "layer"), [("remoteness.gpkg", "remoteness"), ("subareas.gpkg", "subareas")]
)
def test_geopackages_have_identical_content(regenerated, name, layer):
    new = gpd.read_file(regenerated[name], layer=layer)
    old = gpd.read_file(DEMO_DIR / name, layer=layer)
    pd.testing.assert_frame_equal(new.drop(columns="geometry"), old.drop(columns="geometry"))
    assert new.crs == old.crs
    assert all(shapely.equals_exact(new.geometry.normalize(), old.geometry.normalize(), 1e-9))


def test_generation_is_deterministic_and_seed_dependent(tmp_path, regenerated):
    other = generate_demo(tmp_path / "other", seed=7)
    assert other["roads.osm"].read_bytes() != regenerated["roads.osm"].read_bytes()


def test_demo_is_small():
    total = sum((DEMO_DIR / name).stat().st_size for name in FILES)
    assert total < 5e6


def test_population_bands_are_consistent():
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        total, older = src.read(masked=True)
        assert src.descriptions == ("pop_total", "pop_65plus")
        assert src.crs.to_epsg() == 4326
    assert (older <= total).all()
    assert 70_000 < total.sum() < 130_000
    share_65 = older.sum() / total.sum()
    assert 0.15 < share_65 < 0.25


def _region():
    return gpd.read_file(DEMO_DIR / "region.geojson").to_crs(7855).geometry.union_all()


@pytest.mark.parametrize(
    ("name", "layer", "column", "n_min"),
    [("remoteness.gpkg", "remoteness", "ra_name", 5), ("subareas.gpkg", "subareas", "area_id", 8)],
)
def test_polygons_tile_the_region(name, layer, column, n_min):
    frame = gpd.read_file(DEMO_DIR / name, layer=layer).to_crs(7855)
    region = _region()
    assert frame[column].nunique() == len(frame) >= n_min
    assert frame.union_all().area == pytest.approx(region.area, rel=1e-6)
    assert frame.area.sum() == pytest.approx(region.area, rel=1e-6)  # no overlaps


def test_all_five_remoteness_classes_occur():
    frame = gpd.read_file(DEMO_DIR / "remoteness.gpkg", layer="remoteness")
    assert sorted(frame["ra_code"]) == [0, 1, 2, 3, 4]
    assert frame["ra_name"].str.endswith("Australia").all()


def test_facilities_are_inside_and_one_service_is_cancer_only():
    region = _region()
    for name, x, y in (
        ("gp_practices.csv", "longitude", "latitude"),
        ("spc_services.csv", "longitude", "latitude"),
    ):
        table = pd.read_csv(DEMO_DIR / name)
        pts = gpd.GeoSeries(gpd.points_from_xy(table[x], table[y]), crs=4326).to_crs(7855)
        assert pts.within(region).all(), name
    spc = pd.read_csv(DEMO_DIR / "spc_services.csv")
    assert (spc["accepts_non_cancer"] == "no").sum() == 1
    assert set(spc["service_type"]) == {"inpatient", "community", "hospital"}
    gps = pd.read_csv(DEMO_DIR / "gp_practices.csv")
    assert gps["name"].str.contains("&").any() and gps["name"].str.contains("'").any()
    assert (gps["practice_type"] == "remote_clinic").sum() == 1


def test_roads_file_exercises_the_ingest_rules():
    ways = [dict(w.tags) for w in osmium.FileProcessor(str(DEMO_DIR / "roads.osm")) if w.is_way()]
    maxspeeds = {w.get("maxspeed") for w in ways}
    assert {"60 mph", "AU:rural", "AU:urban", "50;80", "fast"} <= maxspeeds
    assert any(w.get("route") == "ferry" and w.get("duration") for w in ways)
    assert any(w.get("access") == "private" for w in ways)
    assert any(w.get("oneway") == "yes" for w in ways)
    assert any(w.get("oneway") == "-1" for w in ways)
    assert any(w.get("junction") == "roundabout" for w in ways)
    assert any(w.get("highway") == "track" and w.get("surface") for w in ways)
    assert sum("maxspeed" not in w for w in ways if "highway" in w) > 10


def test_deaths_are_plausible_and_include_small_counts():
    deaths = pd.read_csv(DEMO_DIR / "deaths.csv")
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        total_pop = src.read(1, masked=True).sum()
    crude_per_1000 = deaths["deaths"].sum() / total_pop * 1000
    assert 6 < crude_per_1000 < 11
    cancer = deaths["cause"].str.startswith("C")
    assert 0.22 < deaths.loc[cancer, "deaths"].sum() / deaths["deaths"].sum() < 0.38
    per_area = deaths.groupby("area_id")["deaths"].sum()
    assert (per_area < 5).any()
