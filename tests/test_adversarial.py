"""Adversarial inputs: every bad input exits 2 naming the file (and row or feature), writes
nothing and changes nothing, and ``validate`` says exactly what ``run`` says.

Each case is built here from the demo's own files (copied into a temporary folder, so the
committed demo data are never touched).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from geo.cli import main
from tests.conftest import DEMO_CONFIG, DEMO_DIR


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and the hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def region(tmp_path) -> Path:
    """A private copy of the demo inputs and a config pointing at them; returns the config."""
    data = tmp_path / "data"
    shutil.copytree(DEMO_DIR, data)
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    text = yaml.safe_dump(config, sort_keys=False).replace("../../data/demo/", f"{data}/")
    text = text.replace("dir: ../../maps/demo", f"dir: {tmp_path / 'out'}")
    path = data / "region.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _edit(config: Path, change) -> Path:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    change(raw)
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return config


def _both_refuse(config: Path, capsys, *expected: str, out: Path | None = None) -> str:
    """``validate`` and ``run`` both exit 2 with the same message naming ``expected``, and
    nothing is written or changed."""
    folder = config.parent
    before = _snapshot(folder)
    out = out or folder.parent / "out"
    out_before = _snapshot(out) if out.is_dir() else None
    assert main(["validate", str(config), "-q"]) == 2
    said = capsys.readouterr().err
    assert main(["run", str(config), "--out", str(out), "-q"]) == 2
    ran = capsys.readouterr().err
    assert said == ran, "validate and run disagree"
    for text in expected:
        assert text in said, (text, said)
    assert _snapshot(folder) == before, "an input changed"
    if out_before is None:
        assert not out.exists(), "something was written"
    else:
        assert _snapshot(out) == out_before
    assert not list(out.parent.glob(f".{out.name}.*")), "a hidden leftover"
    return said


# -- output folders ------------------------------------------------------------------------------


def test_out_may_not_be_the_input_folder_even_with_force(region, capsys):
    before = _snapshot(region.parent)
    for extra in ([], ["--force"]):
        assert main(["run", str(region), "--out", str(region.parent), "-q", *extra]) == 2
        assert "holds an input" in capsys.readouterr().err
    assert _snapshot(region.parent) == before


def test_out_may_not_replace_an_unrelated_folder_or_a_file(region, tmp_path, capsys):
    unrelated = tmp_path / "my documents"
    unrelated.mkdir()
    (unrelated / "thesis.docx").write_text("years of work", encoding="utf-8")
    assert main(["run", str(region), "--out", str(unrelated), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(unrelated) in err and "--force" in err
    assert (unrelated / "thesis.docx").read_text(encoding="utf-8") == "years of work"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me", encoding="utf-8")
    assert main(["run", str(region), "--out", str(a_file), "-q"]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert a_file.read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "my documents", "notes.txt"]


def test_an_unwritable_output_is_refused_before_any_computing(region, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        assert main(["run", str(region), "--out", str(locked / "out"), "-q"]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)


# -- bad inputs: run and validate agree, exit 2, name the file ---------------------------------


def test_roads_without_drivable_ways(region, capsys):
    roads = region.parent / "roads.osm"
    roads.write_text(
        '<osm version="0.6"><node id="1" lat="-32" lon="147"/><node id="2" lat="-32.001" '
        'lon="147"/><way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/>'
        "</way></osm>",
        encoding="utf-8",
    )
    _both_refuse(region, capsys, "roads.osm", "no drivable roads")


def test_a_two_node_road_network(region, capsys):
    roads = region.parent / "roads.osm"
    roads.write_text(
        '<osm version="0.6"><node id="1" lat="-32" lon="147"/><node id="2" lat="-32.001" '
        'lon="147"/><way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/>'
        "</way></osm>",
        encoding="utf-8",
    )
    _both_refuse(region, capsys, "roads.osm", "road nodes")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["thresholds"]["by_remoteness"].update({"Remote": {"gp_min": -54}}), "gp_min"),
        (lambda c: c["thresholds"].update({"bands_min": [-15, 30]}), "bands_min"),
        (lambda c: c["thresholds"].update({"bands_min": [30, 15]}), "increase"),
        (lambda c: c["thresholds"].update({"spc_min": float("nan")}), "spc_min"),
        (lambda c: c["region"].update({"crs": "EPSG:999999"}), "EPSG:999999"),
        (lambda c: c["region"].update({"crs": "EPSG:4326"}), "not projected"),
    ],
)
def test_bad_settings(region, capsys, change, expected):
    _both_refuse(_edit(region, change), capsys, "region.yml", expected)


def test_unknown_remoteness_class_keys(region, capsys):
    _edit(region, lambda c: c["thresholds"]["by_remoteness"].update({"Remotest": {"gp_min": 60}}))
    _both_refuse(region, capsys, "'Remotest'", "Very Remote")


def test_duplicate_yaml_keys(region, capsys):
    text = region.read_text(encoding="utf-8")
    region.write_text(text + "\nthresholds:\n  gp_min: 45\n", encoding="utf-8")
    _both_refuse(region, capsys, "region.yml", "appears twice")


def test_an_implausible_population_cell(region, capsys):
    path = region.parent / "population.tif"
    with rasterio.open(path, "r+") as dst:
        band = dst.read(1)
        row, col = np.argwhere(band > 0)[0]
        band[row, col] = 1e30
        dst.write(band, 1)
    _both_refuse(region, capsys, "population.tif", "people per km")


def test_a_truncated_raster(region, capsys):
    path = region.parent / "population.tif"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    _both_refuse(region, capsys, "population.tif")


def test_non_numeric_coordinates_and_duplicate_ids_list_every_row(region, capsys):
    path = region.parent / "gp_practices.csv"
    table = pd.read_csv(path, dtype=str)
    table.loc[2, "longitude"] = "east"
    table.loc[5, "latitude"] = "?"
    table.loc[7, "practice_id"] = table.loc[8, "practice_id"]
    table.to_csv(path, index=False)
    err = _both_refuse(region, capsys, "gp_practices.csv", "row 4 ('east')", "row 7 ('?')")
    assert "not unique" in err


def test_a_corrupt_vector_layer(region, capsys):
    (region.parent / "subareas.gpkg").write_bytes(b"this is not a geopackage")
    _both_refuse(region, capsys, "subareas.gpkg", "cannot read")


def test_self_intersecting_polygons_are_repaired_with_a_warning(region, tmp_path, capsys):
    import geopandas as gpd
    from shapely.geometry import Polygon

    path = region.parent / "subareas.gpkg"
    areas = gpd.read_file(path, layer="subareas")
    b = areas.geometry.iloc[0].bounds
    bowtie = Polygon([(b[0], b[1]), (b[2], b[3]), (b[2], b[1]), (b[0], b[3])])
    areas.loc[areas.index[0], "geometry"] = bowtie
    areas.to_file(path, layer="subareas")
    assert main(["validate", str(region)]) == 0
    err = capsys.readouterr().err
    assert "subareas.gpkg" in err and "repaired" in err and "features 1" in err
    assert main(["run", str(region), "--out", str(tmp_path / "out"), "-q"]) == 0
    recorded = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert any("repaired" in w for w in recorded["warnings"])


def test_overlapping_remoteness_polygons_are_named(region, tmp_path, capsys):
    import geopandas as gpd

    path = region.parent / "remoteness.gpkg"
    areas = gpd.read_file(path, layer="remoteness")
    areas.loc[areas.index[0], "geometry"] = areas.geometry.iloc[0].buffer(0.05)
    areas.to_file(path, layer="remoteness")
    assert main(["validate", str(region)]) == 0
    err = capsys.readouterr().err
    assert "remoteness.gpkg" in err and "overlap" in err and "km²" in err


def test_latin1_semicolon_csv_is_read_with_a_note(region, tmp_path, capsys):
    path = region.parent / "spc_services.csv"
    table = pd.read_csv(path, dtype=str)
    table.loc[0, "name"] = "Hospice Sainte-Thérèse"
    table.to_csv(path, index=False, sep=";", encoding="latin-1")
    assert main(["run", str(region), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "spc_services.csv" in err and "semicolon" in err
    layer = pd.read_csv(tmp_path / "out" / "tables" / "gp_specialist_links.csv")
    services = set(layer["nearest_spc_name"].dropna())
    assert "Hospice Sainte-Thérèse" in services or len(services) > 0


def test_formula_like_names_are_neutralised_in_csv_outputs(region, tmp_path):
    path = region.parent / "gp_practices.csv"
    table = pd.read_csv(path, dtype=str)
    table.loc[0, "name"] = '=HYPERLINK("http://evil","click")'
    table.to_csv(path, index=False)
    assert main(["run", str(region), "--out", str(tmp_path / "out"), "-q"]) == 0
    text = (tmp_path / "out" / "tables" / "gp_specialist_links.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_sites_weights_must_be_finite_and_not_negative(region, tmp_path, capsys):
    for bad in (["--non-cancer-weight", "-1"], ["--remote-weight", "nan"]):
        out = tmp_path / "sites"
        assert main(["sites", str(region), *bad, "--out", str(out), "-q"]) == 2
        assert bad[0] in capsys.readouterr().err
        assert not out.exists()


def test_bad_scenarios_exit_2_and_write_nothing(region, tmp_path, capsys):
    cases = {
        "far.yml": {
            "name": "far",
            "add_facilities": [
                {
                    "facility_id": "X",
                    "kind": "spc",
                    "service_type": "community",
                    "name": "X",
                    "x": 999,
                    "y": -32,
                }
            ],
        },
        "empty.yml": {
            "name": "empty",
            "remove_facilities": pd.read_csv(region.parent / "spc_services.csv")[
                "service_id"
            ].tolist(),
        },
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(body), encoding="utf-8")
        out = tmp_path / f"out_{name}"
        assert main(["scenario", str(region), str(path), "--out", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert name in err or "every specialist service" in err, err
        assert not out.exists()


def test_quiet_silences_warnings_but_run_json_keeps_them(region, tmp_path, capsys):
    _edit(region, lambda c: c.setdefault("catchments", {}).update({"per_facility_max": 3}))
    assert main(["run", str(region), "--out", str(tmp_path / "out"), "-q"]) == 0
    assert capsys.readouterr().err == ""
    recorded = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert any("per-facility catchments skipped" in w for w in recorded["warnings"])
    catchments = __import__("geopandas").read_file(
        tmp_path / "out" / "layers.gpkg", layer="catchments"
    )
    assert catchments["facility_id"].isna().all()  # only the per-kind bands
