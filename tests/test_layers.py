"""``layers.gpkg``: every layer written, typed even when empty, integer thresholds, remoteness
polygons cut to the region, sub-area shares, and the ``layer_styles`` table QGIS reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import box

from geo.analysis import gaps
from geo.analysis.coverage import SPC_BEYOND
from geo.errors import GeoError
from geo.inputs.layers import clip_areas
from geo.inputs.remoteness import RemotenessResult
from geo.render.gpkg import LAYERS, conform, write_layers
from geo.render.palette import COVERAGE_COLOURS, HOTSPOT_COLOUR, ordered_colours
from tests.results_factory import make_results

README_LAYERS = {
    "origins",
    "gp_practices",
    "specialist_services",
    "catchments",
    "subareas",
    "remoteness_areas",
    "hotspots",
}


def schema(gpkg, layer: str) -> dict[str, tuple[str, str]]:
    info = pyogrio.read_info(gpkg, layer=layer)
    return {
        f: (t, s)
        for f, t, s in zip(info["fields"], info["ogr_types"], info["ogr_subtypes"], strict=True)
    }


@pytest.fixture(scope="module")
def empty_gpkg(tmp_path_factory):
    """A region with no hotspots (the analysis's own empty layer), no sub-areas, no catchments
    and remoteness from a lookup (no polygons)."""
    results = make_results(with_catchments=False, with_remoteness_areas=False)
    results.hotspots = gaps.hotspots(results.origins.iloc[0:0])
    results.subareas = None
    path = tmp_path_factory.mktemp("empty_layers") / "layers.gpkg"
    write_layers(results, path)
    return path


@pytest.fixture(scope="module")
def full_gpkg(tmp_path_factory):
    path = tmp_path_factory.mktemp("full_layers") / "layers.gpkg"
    write_layers(make_results(), path)
    return path


def test_empty_layers_keep_their_geometry_and_column_types(empty_gpkg, full_gpkg):
    layers = {name for name, _ in pyogrio.list_layers(empty_gpkg)}
    assert layers == README_LAYERS | {"layer_styles"}
    hotspots = pyogrio.read_info(empty_gpkg, layer="hotspots")
    assert hotspots["features"] == 0
    assert hotspots["geometry_type"] == "MultiPolygon"
    assert schema(empty_gpkg, "hotspots") == {
        "hotspot_id": ("OFTInteger", "OFSTNone"),
        "pop_count": ("OFTReal", "OFSTNone"),
        "need_cancer_beyond_spc": ("OFTReal", "OFSTNone"),
        "need_non_cancer_beyond_spc": ("OFTReal", "OFSTNone"),
        "need_beyond_spc": ("OFTReal", "OFSTNone"),
        "origins": ("OFTInteger", "OFSTNone"),
    }
    # An empty layer has the same geometry type, fields and field types as a full one.
    for name in ("hotspots", "catchments", "remoteness_areas", "subareas"):
        empty, full = (pyogrio.read_info(p, layer=name) for p in (empty_gpkg, full_gpkg))
        assert empty["features"] == 0 and full["features"] > 0, name
        assert empty["geometry_type"] == full["geometry_type"] == "MultiPolygon", name
        assert empty["crs"] == full["crs"] == "EPSG:7855", name
        assert schema(empty_gpkg, name) == schema(full_gpkg, name), name
    assert schema(empty_gpkg, "catchments")["threshold_min"] == ("OFTInteger", "OFSTNone")


def test_demo_layers_thresholds_are_integers(demo_outcome, demo_config):
    gpkg = demo_outcome.out_dir / "layers.gpkg"
    assert {name for name, _ in pyogrio.list_layers(gpkg)} == README_LAYERS | {"layer_styles"}
    for layer, column in (
        ("catchments", "threshold_min"),
        ("origins", "gp_threshold_min"),
        ("origins", "spc_threshold_min"),
    ):
        assert schema(gpkg, layer)[column] == ("OFTInteger", "OFSTNone"), column
    catchments = gpd.read_file(gpkg, layer="catchments")
    assert sorted(set(catchments["threshold_min"])) == sorted(demo_config.catchments.thresholds_min)
    origins = gpd.read_file(gpkg, layer="origins")
    # Remote and Very Remote places have the config's 54-minute GP threshold, others 30.
    remote = origins["remoteness_class"].isin(["Remote", "Very Remote"])
    assert (origins.loc[remote, "gp_threshold_min"] == 54).all()
    assert (origins.loc[~remote, "gp_threshold_min"] == 30).all()
    assert schema(gpkg, "origins")["reachable"] == ("OFTInteger", "OFSTBoolean")


def test_demo_remoteness_areas_hold_the_origins_classes(demo_outcome, demo_config):
    """The polygons written are the ones the classes came from: every place inside one has
    its class, and every class present is drawn."""
    gpkg = demo_outcome.out_dir / "layers.gpkg"
    areas = gpd.read_file(gpkg, layer="remoteness_areas")
    assert len(areas) > 0
    assert areas["remoteness_class"].is_unique
    origins = gpd.read_file(gpkg, layer="origins")
    inside = gpd.sjoin(origins, areas, how="inner", predicate="within", rsuffix="area")
    assert len(inside) > 0.9 * len(origins)
    assert (inside["remoteness_class_left"] == inside["remoteness_class_area"]).all()
    assert set(origins["remoteness_class"]) <= set(areas["remoteness_class"])
    # Cut to the region's boundary.
    boundary = gpd.read_file(demo_config.region.boundary)
    region = boundary.to_crs(areas.crs).geometry.union_all()
    assert areas.geometry.union_all().difference(region.buffer(1.0)).area < 1.0


def test_clip_areas_keeps_only_the_region():
    national = gpd.GeoDataFrame(
        {"remoteness_class": ["Major Cities", "Remote"]},
        geometry=[box(0, 0, 1000, 1000), box(1000, 0, 5000, 1000)],
        crs="EPSG:7855",
    )
    result = RemotenessResult(
        classes=pd.Series(["Major Cities"]),
        scheme="abs_ra",
        version="2016",
        class_order=("Major Cities", "Remote"),
        areas=national,
    )
    clipped = clip_areas(result, box(100, 100, 900, 900))
    assert clipped.areas["remoteness_class"].tolist() == ["Major Cities"]
    assert clipped.areas.geometry.area.sum() == pytest.approx(800 * 800)
    assert clipped.classes is result.classes
    across = clip_areas(result, box(900, 0, 1100, 1000)).areas.set_index("remoteness_class")
    assert across.geometry.area.to_dict() == pytest.approx(
        {"Major Cities": 100_000, "Remote": 100_000}
    )
    assert clip_areas(result, shapely.Point(5, 5)).areas is national  # no area: unchanged


def test_subarea_shares_match_the_coverage_table(demo_outcome):
    gpkg = demo_outcome.out_dir / "layers.gpkg"
    layer = gpd.read_file(gpkg, layer="subareas").set_index("area_id")
    table = pd.read_csv(demo_outcome.out_dir / "tables" / "coverage_by_subarea.csv")
    table = table[table["area_id"].isin(layer.index)]
    need = table.groupby("area_id")["need"].sum()
    beyond = table[table["coverage_class"].isin(SPC_BEYOND)].groupby("area_id")["need"].sum()
    people = table[table["need_group"] == "cancer"].groupby("area_id")["pop_count"].sum()
    expected = 100 * beyond.reindex(need.index, fill_value=0.0) / need
    np.testing.assert_allclose(layer.loc[need.index, "need_beyond_spc_pct"], expected)
    unknown = table[table["coverage_class"] == "unknown"].groupby("area_id")["need"].sum()
    np.testing.assert_allclose(
        layer.loc[need.index, "need_unknown_spc_pct"],
        100 * unknown.reindex(need.index, fill_value=0.0) / need,
    )
    assert layer["need_unknown_spc_pct"].gt(0).any()  # the demo has a few places off the roads
    np.testing.assert_allclose(layer.loc[people.index, "pop_count"], people)
    assert layer["need_beyond_spc_pct"].between(0, 100).all()
    assert layer["need_beyond_spc_pct"].gt(0).any()


def test_style_table_is_what_qgis_reads(demo_outcome, demo_results):
    gpkg = demo_outcome.out_dir / "layers.gpkg"
    styles = pyogrio.read_dataframe(gpkg, layer="layer_styles", read_geometry=False)
    assert sorted(styles["f_table_name"]) == sorted(README_LAYERS)
    assert pyogrio.read_info(gpkg, layer="layer_styles")["fid_column"] == "id"
    assert set(styles.columns) >= {
        "f_table_catalog",
        "f_table_schema",
        "f_geometry_column",
        "styleName",
        "styleQML",
        "styleSLD",
        "useAsDefault",
        "description",
        "owner",
        "ui",
        "update_time",
    }
    assert styles["useAsDefault"].all() and (styles["f_table_schema"] == "").all()
    for row in styles.itertuples():
        geometry = pyogrio.read_info(gpkg, layer=row.f_table_name)["geometry_name"]
        assert row.f_geometry_column == geometry
    qml = dict(zip(styles["f_table_name"], styles["styleQML"], strict=True))
    assert _colours(qml["origins"]) == {_rgb(c) for c in COVERAGE_COLOURS.values()}
    assert _colours(qml["hotspots"]) == {_rgb(HOTSPOT_COLOUR)}
    remoteness = ordered_colours(list(demo_results.remoteness_classes))
    assert _colours(qml["remoteness_areas"]) >= {_rgb(c) for c in remoteness.values()}


def _rgb(hex_colour: str) -> str:
    return ",".join(str(int(hex_colour[i : i + 2], 16)) for i in (1, 3, 5))


def _colours(qml: str) -> set[str]:
    """Fill colours (r,g,b) of the symbols of a QML style."""
    root = ET.fromstring(qml.split("\n", 1)[1])
    assert root.tag == "qgis" and root.find("renderer-v2") is not None
    values = {p.get("v") for p in root.iter("prop") if p.get("k") == "color"}
    return {v.rsplit(",", 1)[0] for v in values}


def test_whole_minutes_only():
    frame = make_results().catchments.assign(threshold_min=22.5)
    with pytest.raises(GeoError, match="whole numbers"):
        conform(frame, LAYERS["catchments"], crs=frame.crs, layer="catchments")
    typed = conform(
        frame.assign(threshold_min=30.0), LAYERS["catchments"], crs=frame.crs, layer="c"
    )
    assert str(typed["threshold_min"].dtype) == "Int32"
