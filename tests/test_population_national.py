"""Statewide and national population files: cut to the region before counts are checked, with
one documented rule for areas straddling the boundary."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.errors import InputError
from geo.inputs.population import origins_from_points, origins_from_polygons
from tests.conftest import DEMO_DIR, REPO_ROOT

CRS = "EPSG:7855"
ALBERS = "EPSG:3577"


def test_points_outside_the_region_may_be_blank_inside_every_blank_is_listed(tmp_path):
    path = tmp_path / "state.csv"
    pd.DataFrame(
        {
            "code": ["in1", "in2", "in3", "out1", "out2"],
            "x": [500_100.0, 500_200.0, 500_300.0, 900_000.0, 900_100.0],
            "y": [6_000_100.0] * 5,
            "n": [10, 20, "", "", "x"],
        }
    ).to_csv(path, index=False)
    region = box(500_000, 6_000_000, 501_000, 6_001_000)
    options = {"crs": CRS, "count_column": "n", "id_column": "code", "x_column": "x"}
    options |= {"y_column": "y", "input_crs": CRS, "region": region}
    with pytest.raises(InputError) as err:
        origins_from_points(path, **options)
    assert "1 value(s)" in str(err.value) and "area in3" in str(err.value)
    assert err.value.row == 4  # the file's own row (header is row 1)
    fixed = pd.read_csv(path).assign(n=[10, 20, 5, None, "x"])
    fixed.to_csv(path, index=False)
    origins = origins_from_points(path, **options)
    assert origins["source_area_id"].tolist() == ["in1", "in2", "in3"]
    assert origins["pop_count"].sum() == 35


def test_polygons_straddling_the_boundary_follow_the_half_rule(tmp_path):
    region = box(0, 0, 10_000, 10_000)
    polys = gpd.GeoDataFrame(
        {
            "code": ["inside", "mostly_in", "mostly_out", "touching", "far"],
            "n": [100.0, 400.0, None, None, None],
        },
        geometry=[
            box(1_000, 1_000, 5_000, 5_000),
            box(6_000, 0, 16_000, 4_000),  # 4 of its 10 km inside, but its roads are inside
            box(8_000, 5_000, 18_000, 9_000),  # 2 of 10 km inside
            box(10_000, 0, 12_000, 2_000),  # shares an edge only
            box(50_000, 0, 51_000, 1_000),
        ],
        crs=CRS,
    )
    path = tmp_path / "state.gpkg"
    polys.to_file(path)
    roads = np.array([[7_500.0, 1_500.0]] * 40 + [[14_500.0, 1_500.0]] * 10)
    origins = origins_from_polygons(
        path, crs=CRS, count_column="n", id_column="code", region=region, road_nodes_xy=roads
    )
    per_area = origins.groupby("source_area_id")["pop_count"].sum()
    assert per_area.to_dict() == pytest.approx({"inside": 100.0, "mostly_in": 400.0})
    # A kept area's people all live in its part inside the boundary.
    assert origins.geometry.within(region).all()
    # With its roads outside, the same area lies mostly outside and is left out.
    roads_out = np.array([[7_500.0, 1_500.0]] * 10 + [[14_500.0, 1_500.0]] * 40)
    origins = origins_from_polygons(
        path, crs=CRS, count_column="n", id_column="code", region=region, road_nodes_xy=roads_out
    )
    assert set(origins["source_area_id"]) == {"inside"}
    # An empty count inside the region is an error naming the area.
    polys.assign(n=[None, 400.0, None, None, None]).to_file(tmp_path / "bad.gpkg")
    with pytest.raises(InputError, match=r"1 value\(s\).*area inside"):
        origins_from_polygons(
            tmp_path / "bad.gpkg", crs=CRS, count_column="n", id_column="code", region=region
        )


@pytest.fixture(scope="module")
def sa2(au_dir):
    return gpd.read_file(au_dir / "aus_sa2_2021_simplified_urp.gpkg")


@pytest.mark.realdata
@pytest.mark.parametrize("kind", ["points", "polygons"])
def test_national_sa2_file_runs_for_a_region_given_by_a_boundary(au_dir, sa2, kind):
    """The 161 SA2s without a count all lie outside the demo region: no hand clipping."""
    region = gpd.read_file(DEMO_DIR / "region.geojson").to_crs(ALBERS).union_all()
    path = au_dir / "aus_sa2_2021_simplified_urp.gpkg"
    options = {"crs": ALBERS, "count_column": "usual_resident_population"}
    options |= {"id_column": "sa2_code_2021", "region": region}
    if kind == "points":
        origins = origins_from_points(path, **options)
    else:
        origins = origins_from_polygons(path, cell_size_m=2000, **options)
    counts = sa2.set_index("sa2_code_2021")["usual_resident_population"]
    per_area = origins.groupby("source_area_id")["pop_count"].sum()
    assert per_area.to_numpy() == pytest.approx(counts.loc[per_area.index].to_numpy())  # whole
    points = sa2.to_crs(ALBERS).representative_point()
    by_point = set(sa2.loc[points.within(region).to_numpy(), "sa2_code_2021"])
    if kind == "points":
        assert set(per_area.index) == by_point
    else:  # the half rule agrees with the points for all but areas cut near half
        assert len(set(per_area.index) ^ by_point) <= 2
    assert 40_000 < per_area.sum() < 100_000  # Dubbo and its surrounds


@pytest.mark.realdata
def test_blank_areas_inside_the_region_are_each_listed(au_dir, sa2, tmp_path):
    act = sa2[sa2["state_name_2021"] == "Australian Capital Territory"]
    blank = act["usual_resident_population"].isna().sum()
    boundary = tmp_path / "act.geojson"
    gpd.GeoDataFrame(geometry=[act.union_all()], crs=sa2.crs).to_file(boundary)
    region = gpd.read_file(boundary).to_crs(ALBERS).union_all()
    with pytest.raises(InputError) as err:
        origins_from_polygons(
            au_dir / "aus_sa2_2021_simplified_urp.gpkg",
            crs=ALBERS,
            count_column="usual_resident_population",
            id_column="sa2_code_2021",
            region=region,
        )
    message = str(err.value)
    assert f"{blank} value(s)" in message and f"and {blank - 20} more" in message
    shown = [code for code in act["sa2_code_2021"] if f"area {code}" in message]
    assert len(shown) == 20  # each listed by its SA2 code; none from New South Wales


@pytest.mark.realdata
@pytest.mark.slow
def test_worked_config_national_sa2_runs_end_to_end(geo_data_root_env, tmp_path, sa2):
    from geo.config import load_config
    from geo.workflows.pipeline import run

    config = load_config(REPO_ROOT / "scripts" / "regions" / "demo_national_sa2.yml")
    off = {"enabled": False}
    config = config.model_copy(
        update={
            "uncertainty": config.uncertainty.model_copy(update=off),
            "catchments": config.catchments.model_copy(update=off),
        }
    )
    outcome = run(config, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    origins = outcome.results.origins
    counts = sa2.set_index("sa2_code_2021")["usual_resident_population"]
    kept = origins["source_area_id"].unique()
    assert origins["pop_count"].sum() == pytest.approx(counts.loc[kept].sum())
    assert outcome.results.provenance["capacity"]["gp_practices"] == {"units": "FTE"}
    assert (tmp_path / "out" / "map.html").is_file()
