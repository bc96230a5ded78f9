"""Region config validation: unknown keys, wrong types, paths, environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from geo.config import load_config
from geo.errors import ConfigError, InputErrors

from .conftest import DEMO_CONFIG, IOW_CONFIG


def _minimal() -> dict:
    return {
        "region": {"name": "Test", "crs": "EPSG:7855"},
        "roads": {"path": "roads.osm"},
        "gp_practices": {
            "path": "gp.csv",
            "crs": "EPSG:4326",
            "columns": {"id": "id", "name": "name", "x": "lon", "y": "lat"},
        },
        "specialist_services": {
            "path": "spc.csv",
            "crs": "EPSG:4326",
            "columns": {"id": "id", "name": "name", "x": "lon", "y": "lat"},
        },
        "population": {"kind": "raster", "path": "pop.tif", "count": 1},
    }


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "region.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_minimal_config_resolves_paths_relative_to_the_file(tmp_path):
    config = load_config(_write(tmp_path, _minimal()))
    assert config.roads.path == tmp_path / "roads.osm"
    assert config.population.path == tmp_path / "pop.tif"
    assert config.thresholds.gp_min == 30 and config.thresholds.spc_min == 60
    assert config.need.model == "etkind"


def test_unknown_key_names_the_key_and_suggests_the_nearest(tmp_path):
    data = _minimal()
    data["roads"]["unsealed_factr"] = 0.5
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, data))
    assert "roads.unsealed_factr" in str(info.value)
    assert "did you mean 'unsealed_factor'" in str(info.value)


def test_unknown_top_level_section_is_suggested(tmp_path):
    data = _minimal()
    data["thresholdz"] = {"gp_min": 20}
    with pytest.raises(ConfigError, match="did you mean 'thresholds'"):
        load_config(_write(tmp_path, data))


def test_all_problems_reported_at_once(tmp_path):
    data = _minimal()
    data["region"]["countri"] = "au"
    data["thresholds"] = {"gp_min": "half an hour"}
    data["population"]["kind"] = "hexagons"
    with pytest.raises(InputErrors) as info:
        load_config(_write(tmp_path, data))
    text = str(info.value)
    assert len(info.value.problems) == 3
    assert "region.countri" in text and "thresholds.gp_min" in text
    assert "population.kind" in text and "'raster'" in text


def test_thresholds_are_whole_minutes(tmp_path):
    data = _minimal()
    data["thresholds"] = {"gp_min": 30.0, "by_remoteness": {"Remote": {"gp_min": 54}}}
    data["catchments"] = {"thresholds_min": [15.0, 45]}
    config = load_config(_write(tmp_path, data))
    assert type(config.thresholds.gp_min) is int and config.thresholds.gp_min == 30
    assert config.catchments.thresholds_min == [15, 45]
    assert all(type(m) is int for m in config.catchments.thresholds_min)
    data["thresholds"] = {"spc_min": 22.5, "bands_min": [15, 37.5]}
    data["catchments"] = {"thresholds_min": [7.5]}
    with pytest.raises(InputErrors) as info:
        load_config(_write(tmp_path, data))
    text = str(info.value)
    for key in ("thresholds.spc_min", "thresholds.bands_min", "catchments.thresholds_min"):
        assert key in text
    assert "fractional part" in text


def test_missing_required_section(tmp_path):
    data = _minimal()
    del data["population"]
    with pytest.raises(ConfigError, match="missing required key 'population'"):
        load_config(_write(tmp_path, data))


def test_env_variable_paths(tmp_path, monkeypatch):
    data = _minimal()
    data["roads"]["path"] = "${GEO_TEST_ROOT}/osm/roads.osm.pbf"
    path = _write(tmp_path, data)
    monkeypatch.delenv("GEO_TEST_ROOT", raising=False)
    with pytest.raises(ConfigError, match="GEO_TEST_ROOT is not set"):
        load_config(path)
    monkeypatch.setenv("GEO_TEST_ROOT", "/data/root")
    assert load_config(path).roads.path == Path("/data/root/osm/roads.osm.pbf")


def test_semantic_checks(tmp_path):
    data = _minimal()
    data["thresholds"] = {"bands_min": [30, 15]}
    data["remoteness"] = {"scheme": "ruc2011", "path": "ruc.csv", "class_column": "ruc"}
    with pytest.raises(InputErrors) as info:
        load_config(_write(tmp_path, data))
    text = str(info.value)
    assert "bands_min must increase" in text
    assert "code_column" in text


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("region: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")
    scalar = tmp_path / "scalar.yml"
    scalar.write_text("just text\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)


def test_shipped_configs_parse(monkeypatch, tmp_path):
    monkeypatch.setenv("GEO_DATA_ROOT", str(tmp_path))
    demo = load_config(DEMO_CONFIG)
    assert demo.population.kind == "raster"
    assert demo.roads.path.name == "roads.osm"
    iow = load_config(IOW_CONFIG)
    assert iow.roads.path == tmp_path / "uk/isle_of_wight/osm/isle-of-wight-2015-01-01.osm.pbf"
