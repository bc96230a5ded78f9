"""Population origins from rasters, points and polygons: totals preserved, bad input named."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from geo.errors import InputError, MissingCRSError
from geo.inputs.population import origins_from_points, origins_from_polygons, origins_from_raster

CRS = "EPSG:7855"


def _raster(path, bands, *, crs="EPSG:7855", nodata=-1.0, origin=(500_000, 6_000_000), res=100):
    bands = [np.asarray(b, "float32") for b in bands]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=bands[0].shape[0],
        width=bands[0].shape[1],
        count=len(bands),
        dtype="float32",
        crs=crs,
        transform=from_origin(*origin, res, res),
        nodata=nodata,
    ) as dst:
        for i, b in enumerate(bands, start=1):
            dst.write(b, i)
    return path


def test_raster_one_origin_per_populated_cell(tmp_path):
    total = [[1, 0, 2], [-1, 4.5, 0]]
    older = [[0, 0, 1], [-1, 2, 0]]
    path = _raster(tmp_path / "p.tif", [total, older])
    origins = origins_from_raster(path, crs=CRS, age_bands={"pop_65plus": 2})
    assert origins["pop_count"].tolist() == [1.0, 2.0, 4.5]  # nodata and zero cells dropped
    assert origins["pop_65plus"].tolist() == [0.0, 1.0, 2.0]
    assert origins["origin_id"].tolist() == [0, 1, 2]
    # Cell centres: row 0 col 0 at (500050, 5999950).
    assert (origins.geometry.x.iloc[0], origins.geometry.y.iloc[0]) == (500_050, 5_999_950)


def test_raster_region_clip_and_aggregation_preserve_totals(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.gamma(1.0, 3.0, (40, 50)) * (rng.random((40, 50)) > 0.3)
    path = _raster(tmp_path / "p.tif", [counts])
    region = box(501_000, 5_997_000, 503_000, 5_999_000)  # cells 10..29 x 10..29
    clipped = origins_from_raster(path, crs=CRS, region=region)
    assert clipped["pop_count"].sum() == pytest.approx(counts[10:30, 10:30].sum(), rel=1e-6)
    aggregated = origins_from_raster(path, crs=CRS, aggregate_factor=4)
    assert aggregated["pop_count"].sum() == pytest.approx(counts.sum(), rel=1e-6)
    assert len(aggregated) <= 10 * 13  # ceil(40 / 4) x ceil(50 / 4) blocks


@pytest.mark.parametrize("factor", [1, 3])
def test_raster_read_in_strips_equals_one_read(tmp_path, factor):
    """A raster read a few rows at a time (bounded memory) gives exactly the one-read origins."""
    rng = np.random.default_rng(1)
    counts = rng.gamma(1.0, 3.0, (41, 37)) * (rng.random((41, 37)) > 0.4)
    older = counts * 0.2
    path = _raster(tmp_path / "p.tif", [counts, older])
    region = box(500_350, 5_996_100, 503_300, 5_999_650)
    kwargs = {"crs": CRS, "region": region, "aggregate_factor": factor}
    kwargs["age_bands"] = {"pop_65plus": 2}
    whole = origins_from_raster(path, **kwargs)
    strips = origins_from_raster(path, max_cells_per_read=37 * 4, **kwargs)  # 4-row strips
    pd.testing.assert_frame_equal(whole.drop(columns="geometry"), strips.drop(columns="geometry"))
    assert whole.geometry.geom_equals_exact(strips.geometry, tolerance=1e-6).all()


def test_raster_is_reprojected(tmp_path):
    path = _raster(tmp_path / "p.tif", [[[5.0]]], crs="EPSG:4326", origin=(147.0, -32.0), res=0.01)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4326
    origins = origins_from_raster(path, crs=CRS)
    # 147.005°E is 0.005° east of the MGA 55 central meridian: about 500 470 m.
    assert 500_400 < origins.geometry.x.iloc[0] < 500_550


@pytest.mark.parametrize(
    ("bands", "message"),
    [([[[1.0, -3.0]]], "negative"), ([[[1.0, np.nan]]], "NaN")],
)
def test_raster_bad_values(tmp_path, bands, message):
    path = _raster(tmp_path / "bad.tif", bands, nodata=-9999.0)
    with pytest.raises(InputError, match=message):
        origins_from_raster(path, crs=CRS)


def test_raster_without_crs_or_outside_region(tmp_path):
    path = _raster(tmp_path / "p.tif", [[[1.0]]], crs=None)
    with pytest.raises(MissingCRSError, match=r"p\.tif"):
        origins_from_raster(path, crs=CRS)
    path = _raster(tmp_path / "q.tif", [[[1.0]]])
    with pytest.raises(InputError, match=r"overlap|no population"):
        origins_from_raster(path, crs=CRS, region=box(0, 0, 10, 10))


def test_points_csv_and_errors(tmp_path):
    csv = tmp_path / "pts.csv"
    pd.DataFrame(
        {
            "code": ["A", "B", "C"],
            "lon": [147.0, 147.1, 147.2],
            "lat": [-32.0, -32.0, -32.1],
            "n": [10, 0, 5.5],
            "old": [2, 0, 1],
        }
    ).to_csv(csv, index=False)
    origins = origins_from_points(
        csv,
        crs=CRS,
        count_column="n",
        id_column="code",
        age_columns={"pop_65plus": "old"},
        x_column="lon",
        y_column="lat",
        input_crs="EPSG:4326",
    )
    assert origins["source_area_id"].tolist() == ["A", "C"]
    assert origins["pop_count"].sum() == 15.5
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"lon": [147.0, 147.1], "lat": [-32.0, -32.0], "n": [3, "many"]}).to_csv(
        bad, index=False
    )
    with pytest.raises(InputError) as err:
        origins_from_points(
            bad, crs=CRS, count_column="n", x_column="lon", y_column="lat", input_crs=4326
        )
    assert err.value.row == 3 and err.value.column == "n"
    assert "decimal point" not in str(err.value)  # "many" is no number written another way
    bad.write_text('lon,lat,n\n147.0,-32.0,3\n147.1,-32.0,"1,234"\n', encoding="utf-8")
    with pytest.raises(InputError) as err:  # an ABS table saved with thousands separators
        origins_from_points(
            bad, crs=CRS, count_column="n", x_column="lon", y_column="lat", input_crs=4326
        )
    assert err.value.row == 3 and "no thousands separators" in str(err.value)
    with pytest.raises(InputError, match="column not found"):
        origins_from_points(
            csv, crs=CRS, count_column="people", x_column="lon", y_column="lat", input_crs=4326
        )
    with pytest.raises(InputError, match="carries no CRS"):
        origins_from_points(csv, crs=CRS, count_column="n", x_column="lon", y_column="lat")


def test_polygons_spread_by_roads_and_preserve_totals(tmp_path):
    polys = gpd.GeoDataFrame(
        {"code": ["big", "small"], "n": [1000.0, 7.0]},
        geometry=[box(0, 0, 10_000, 10_000), box(20_000, 0, 20_500, 500)],
        crs=CRS,
    )
    path = tmp_path / "areas.gpkg"
    polys.to_file(path)
    roads = np.array([[2_500, 2_500]] * 30 + [[7_500, 7_500]] * 10)
    origins = origins_from_polygons(
        path, crs=CRS, count_column="n", id_column="code", road_nodes_xy=roads, cell_size_m=1000
    )
    assert origins["pop_count"].sum() == pytest.approx(1007.0, rel=1e-12)
    big = origins[origins["source_area_id"] == "big"]
    assert len(big) == 100  # a grid of cells, never one point per big polygon
    heaviest = big.loc[big["pop_count"].idxmax()].geometry
    assert (heaviest.x, heaviest.y) == (2_500, 2_500)
    assert (origins["source_area_id"] == "small").sum() == 1


@pytest.mark.realdata
def test_isle_of_wight_lsoa_centroids(iow_dir, iow_lsoa_origins):
    origins = iow_lsoa_origins
    assert origins["pop_count"].sum() == 140_984
    assert len(origins) == 89


def test_polygons_dasymetric_onto_a_density_raster(tmp_path):
    polys = gpd.GeoDataFrame(
        {"code": ["a"], "n": [600.0]},
        geometry=[box(500_000, 5_996_000, 504_000, 6_000_000)],
        crs=CRS,
    )
    path = tmp_path / "areas.gpkg"
    polys.to_file(path)
    density = np.zeros((40, 40))
    density[:10, :10] = 1.0  # north-west kilometre square holds a third of the weight
    density[30:, 30:] = 2.0  # south-east one two thirds
    raster = _raster(tmp_path / "density.tif", [density])
    origins = origins_from_polygons(
        path, crs=CRS, count_column="n", id_column="code", density_raster=raster, cell_size_m=1000
    )
    assert origins["pop_count"].sum() == pytest.approx(600.0)
    by_place = {(p.x, p.y): c for p, c in zip(origins.geometry, origins["pop_count"], strict=True)}
    assert by_place == pytest.approx({(500_500, 5_999_500): 200.0, (503_500, 5_996_500): 400.0})


def test_polygons_outside_the_region_are_an_error(tmp_path):
    polys = gpd.GeoDataFrame({"n": [5.0]}, geometry=[box(0, 0, 10, 10)], crs=CRS)
    path = tmp_path / "areas.gpkg"
    polys.to_file(path)
    with pytest.raises(InputError, match="no polygon overlaps the region"):
        origins_from_polygons(
            path, crs=CRS, count_column="n", region=box(500_000, 6_000_000, 501_000, 6_001_000)
        )


def test_raster_clip_then_aggregate_keeps_the_clipped_people(tmp_path):
    rng = np.random.default_rng(1)
    counts = rng.gamma(1.0, 3.0, (40, 50))
    older = counts * 0.2
    path = _raster(tmp_path / "p.tif", [counts, older])
    region = box(501_050, 5_997_000, 503_000, 5_999_000)  # rows 10..29, cols 11..29 by centre
    both = origins_from_raster(
        path, crs=CRS, region=region, aggregate_factor=3, age_bands={"pop_65plus": 2}
    )
    expected = counts[10:30, 11:30].sum()
    assert both["pop_count"].sum() == pytest.approx(expected, rel=1e-9)
    assert both["pop_65plus"].sum() == pytest.approx(0.2 * expected, rel=1e-6)


def test_polygons_age_columns_and_roadless_polygons(tmp_path):
    polys = gpd.GeoDataFrame(
        {"code": ["roads", "bare"], "n": [100.0, 40.0], "old": [30.0, 8.0]},
        geometry=[box(0, 0, 2_000, 2_000), box(10_000, 0, 14_000, 1_000)],
        crs=CRS,
    )
    path = tmp_path / "areas.gpkg"
    polys.to_file(path)
    # Two nodes in cell (500, 500); a node far below the grid must not alias into a cell.
    roads = np.array([[400.0, 450.0], [600.0, 700.0], [1_500.0, -2_000_000.0]])
    origins = origins_from_polygons(
        path,
        crs=CRS,
        count_column="n",
        id_column="code",
        age_columns={"pop_65plus": "old"},
        road_nodes_xy=roads,
        cell_size_m=1000,
    )
    got = origins.groupby("source_area_id")[["pop_count", "pop_65plus"]].sum()
    assert got.loc["roads"].tolist() == pytest.approx([100.0, 30.0], rel=1e-12)
    assert got.loc["bare"].tolist() == pytest.approx([40.0, 8.0], rel=1e-12)
    in_roads = origins[origins["source_area_id"] == "roads"]
    roads_cells = {
        (p.x, p.y): c for p, c in zip(in_roads.geometry, in_roads["pop_count"], strict=True)
    }
    # Weights: 2 + 0.05 for the cell with two nodes, 0.05 for each of the three others.
    assert roads_cells[(500.0, 500.0)] == pytest.approx(100 * 2.05 / 2.2)
    assert roads_cells[(1_500.0, 500.0)] == pytest.approx(100 * 0.05 / 2.2)
    bare = origins[origins["source_area_id"] == "bare"]
    assert len(bare) == 4 and np.allclose(bare["pop_count"], 10.0)  # spread evenly


def test_polygon_bad_count_names_the_feature(tmp_path):
    polys = gpd.GeoDataFrame(
        {"n": [5.0, -2.0]}, geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)], crs=CRS
    )
    path = tmp_path / "areas.gpkg"
    polys.to_file(path)
    with pytest.raises(InputError) as err:
        origins_from_polygons(path, crs=CRS, count_column="n")
    assert err.value.row == 2 and err.value.column == "n"
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # on purpose
        polys.set_crs(None, allow_override=True).to_file(tmp_path / "nocrs.shp")
    with pytest.raises(MissingCRSError):
        origins_from_polygons(tmp_path / "nocrs.shp", crs=CRS, count_column="n")


def test_polygons_on_a_coarse_density_raster_are_sampled_at_cell_centres(tmp_path):
    polys = gpd.GeoDataFrame(
        {"n": [90.0]}, geometry=[box(500_000, 5_998_000, 502_000, 6_000_000)], crs=CRS
    )
    path = tmp_path / "areas.gpkg"
    polys.to_file(path)
    raster = _raster(tmp_path / "d.tif", [[[1.0, 2.0], [0.0, 0.0]]], res=1000)
    origins = origins_from_polygons(
        path, crs=CRS, count_column="n", density_raster=raster, cell_size_m=500
    )
    assert origins["pop_count"].sum() == pytest.approx(90.0)
    west = origins[origins.geometry.x < 501_000]["pop_count"].sum()
    assert west == pytest.approx(30.0) and len(origins) == 8  # 4 cells per 1 km pixel


def test_statewide_polygons_are_clipped_before_their_counts_are_checked(tmp_path):
    """Areas outside the region may have empty counts (a statewide file); inside, every bad
    count is listed. Works on the newest pandas (copy-on-write arrays) and the oldest."""
    polys = gpd.GeoDataFrame(
        {
            "code": ["in1", "in2", "out1", "out2"],
            "n": [100.0, 50.0, None, None],
        },
        geometry=[
            box(0, 0, 1000, 1000),
            box(1000, 0, 2000, 1000),
            box(9000, 0, 9500, 500),
            box(9500, 0, 9900, 500),
        ],
        crs=CRS,
    )
    path = tmp_path / "state.gpkg"
    polys.to_file(path)
    region = box(-10, -10, 2010, 1010)
    origins = origins_from_polygons(path, crs=CRS, count_column="n", region=region)
    assert origins["pop_count"].sum() == pytest.approx(150.0)
    bad = polys.assign(n=[-1.0, "x", None, None])
    bad.to_file(tmp_path / "bad.gpkg")
    with pytest.raises(InputError) as err:
        origins_from_polygons(tmp_path / "bad.gpkg", crs=CRS, count_column="n", region=region)
    message = str(err.value)
    assert "row 1 (" in message and "row 2 (" in message and "2 value(s)" in message
