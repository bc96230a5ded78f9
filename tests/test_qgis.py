"""``layers.gpkg`` in QGIS: every layer opens with its stored default style and draws in the
palette's colours.

QGIS lives in Debian's system Python (``apt-get install python3-qgis``), not in the project's
venv, so the QGIS side is a script (``tests/qgis_render.py``) run in a subprocess; these tests
skip when that Python cannot import ``qgis.core``. The expected styles are written here from
:mod:`geo.render.palette`; which classes must draw is read from the GeoPackage's own rows.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from geo.analysis import gaps
from geo.analysis.coverage import COVERAGE_CLASSES, GP_LINK_STATUSES
from geo.render.gpkg import write_layers
from geo.render.palette import (
    CATCHMENT_COLOURS,
    COVERAGE_COLOURS,
    DENSITY_RAMP,
    GP_FILL,
    GP_OUTLINE,
    HOTSPOT_COLOUR,
    ISOLATED_COLOUR,
    SPC_COLOURS,
    ordered_colours,
)
from tests.results_factory import make_results

QGIS_PYTHON = os.environ.get("GAPMAP_QGIS_PYTHON", "/usr/bin/python3")
SCRIPT = Path(__file__).with_name("qgis_render.py")
STYLE_TABLE = "layer_styles"
# Largest difference per colour channel between a symbol's colour and a drawn pixel: fills
# drawn with an opacity are read back un-premultiplied, off by a few units at low opacity.
CHANNEL_TOLERANCE = 8
MIN_PIXELS = 3


def _qgis_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    runtime = tmp / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {**env, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime)}


@pytest.fixture(scope="module")
def qgis_python(tmp_path_factory) -> str:
    """The Python that can import QGIS, or a skip."""
    if not Path(QGIS_PYTHON).is_file():
        pytest.skip(f"{QGIS_PYTHON} not found (set GAPMAP_QGIS_PYTHON)")
    probe = subprocess.run(
        [QGIS_PYTHON, "-c", "import qgis.core"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_qgis_env(tmp_path_factory.mktemp("qgis_probe")),
    )
    if probe.returncode != 0:
        pytest.skip(f"{QGIS_PYTHON} cannot import qgis.core (apt-get install python3-qgis)")
    return QGIS_PYTHON


def run_qgis(python: str, gpkg: Path, out_dir: Path, names: list[str]) -> dict:
    """What QGIS loaded and drew for each named layer (see ``tests/qgis_render.py``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [python, str(SCRIPT), str(gpkg), str(out_dir), *names],
        capture_output=True,
        text=True,
        timeout=600,
        env=_qgis_env(out_dir),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def layer_names(gpkg: Path) -> list[str]:
    return [name for name, _ in pyogrio.list_layers(gpkg) if name != STYLE_TABLE]


@pytest.fixture(scope="module")
def demo_in_qgis(demo_outcome, qgis_python, tmp_path_factory):
    gpkg = demo_outcome.out_dir / "layers.gpkg"
    out = tmp_path_factory.mktemp("qgis_demo")
    return gpkg, run_qgis(qgis_python, gpkg, out, layer_names(gpkg)), out


def expected_style(name: str, results, frame: gpd.GeoDataFrame) -> tuple[str, str | None, list]:
    """Renderer type, attribute and classes (value or upper bound, fill, outline) of a layer,
    from the palette."""
    if name == "origins":
        classes = [(c, COVERAGE_COLOURS[c], None) for c in COVERAGE_CLASSES]
        return "categorizedSymbol", "coverage_class", classes
    if name == "gp_practices":
        outline = {s: ISOLATED_COLOUR if s == "isolated" else GP_OUTLINE for s in GP_LINK_STATUSES}
        return "categorizedSymbol", "link_status", [(s, GP_FILL, outline[s]) for s in outline]
    if name == "specialist_services":
        return "categorizedSymbol", "service_type", [(t, c, None) for t, c in SPC_COLOURS.items()]
    if name == "catchments":
        minutes = sorted(set(frame["threshold_min"].astype(int)))
        return (
            "graduatedSymbol",
            "threshold_min",
            [(m, CATCHMENT_COLOURS[i], CATCHMENT_COLOURS[i]) for i, m in enumerate(minutes)],
        )
    if name == "subareas":
        step = 100 / len(DENSITY_RAMP)
        ranges = [(step * (i + 1), c, None) for i, c in enumerate(DENSITY_RAMP)]
        return "graduatedSymbol", "need_beyond_spc_pct", ranges
    if name == "remoteness_areas":
        colours = ordered_colours(list(results.remoteness_classes))
        return "categorizedSymbol", "remoteness_class", [(k, c, None) for k, c in colours.items()]
    assert name == "hotspots", name
    return "singleSymbol", None, [(None, HOTSPOT_COLOUR, HOTSPOT_COLOUR)]


def class_in(entry: dict, index: int, values: pd.Series) -> np.ndarray:
    """Which values a category or range takes (a value on a bound goes to the first range)."""
    if "value" in entry:
        return (values.astype(str) == entry["value"]).to_numpy()
    above = values >= entry["lower"] if index == 0 else values > entry["lower"]
    return (above & (values <= entry["upper"])).to_numpy()


def class_present(entry: dict, index: int, attribute: str | None, frame) -> bool:
    """Whether the layer has a feature the class draws (read from the GeoPackage itself)."""
    if attribute is None:
        return len(frame) > 0
    return bool(class_in(entry, index, frame[attribute].dropna()).any())


def drawn_like(pixels: dict, colour: str) -> int:
    """Pixels drawn in ``colour`` (within the tolerance, any opacity)."""
    target = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    total = 0
    for hex_colour, _alpha, count in pixels["colours"]:
        rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
        if max(abs(a - b) for a, b in zip(rgb, target, strict=True)) <= CHANNEL_TOLERANCE:
            total += count
    return total


def test_every_demo_layer_opens_in_qgis_with_its_stored_style(demo_in_qgis, demo_results):
    gpkg, report, png_dir = demo_in_qgis
    names = layer_names(gpkg)
    assert set(report) == set(names)
    assert {"origins", "remoteness_areas", "hotspots", "catchments", "subareas"} <= set(names)
    for name in names:
        info, frame = report[name], gpd.read_file(gpkg, layer=name)
        assert info["valid"] and info["style_loaded"], (name, info.get("style_message"))
        assert info["features"] == len(frame) > 0, name
        assert info["geometry_type"] == pyogrio.read_info(gpkg, layer=name)["geometry_type"]
        kind, attribute, expected = expected_style(name, demo_results, frame)
        assert (info["renderer"], info["attribute"]) == (kind, attribute), name
        assert len(info["classes"]) == len(expected), name
        for entry, (key, fill, outline) in zip(info["classes"], expected, strict=True):
            if kind == "categorizedSymbol":
                assert entry["value"] == key, name
            elif kind == "graduatedSymbol":
                assert entry["upper"] == pytest.approx(key), name
            assert entry["fill"] == fill, (name, key)
            if outline is not None:
                assert entry["stroke_drawn"] and entry["stroke"] == outline, (name, key)
        # The layer draws: many pixels, on a transparent background.
        assert info["pixels"]["drawn"] >= 0.001 * info["pixels"]["total"], name
        assert (png_dir / f"{name}.png").stat().st_size > 1000


def test_each_class_draws_in_its_colour_and_only_its_features(demo_in_qgis):
    """Every feature falls in a class; drawn alone, a class fills pixels in its colours when
    the layer has features of that class, and draws nothing when it has none."""
    gpkg, report, _ = demo_in_qgis
    drawn_classes = 0
    for name, info in report.items():
        frame = gpd.read_file(gpkg, layer=name)
        if info["attribute"] is not None:
            values = frame[info["attribute"]].dropna()
            covered = [class_in(entry, i, values) for i, entry in enumerate(info["classes"])]
            assert np.logical_or.reduce(covered).all(), (name, sorted(set(values.astype(str))))
        for i, entry in enumerate(info["classes"]):
            pixels = entry["pixels"]
            if not class_present(entry, i, info["attribute"], frame):
                assert pixels["drawn"] == 0, (name, entry.get("value", entry.get("upper")))
                continue
            drawn_classes += 1
            assert drawn_like(pixels, entry["fill"]) >= MIN_PIXELS, (name, entry)
            if entry["stroke_drawn"]:
                assert drawn_like(pixels, entry["stroke"]) >= MIN_PIXELS, (name, entry)
    assert drawn_classes >= 15


def test_empty_layers_open_in_qgis_with_their_styles(qgis_python, tmp_path):
    """A run with no hotspots, sub-areas, catchments or remoteness polygons still gives QGIS
    typed layers of the right geometry, each with its style."""
    results = make_results(with_catchments=False, with_remoteness_areas=False)
    results.hotspots = gaps.empty_hotspots(results.crs)
    results.subareas = None
    gpkg = tmp_path / "layers.gpkg"
    write_layers(results, gpkg)
    report = run_qgis(qgis_python, gpkg, tmp_path / "png", layer_names(gpkg))
    for name in ("hotspots", "subareas", "catchments", "remoteness_areas"):
        info = report[name]
        assert info["valid"] and info["style_loaded"], name
        assert info["features"] == 0
        assert info["geometry_type"] == "MultiPolygon", name
    assert report["hotspots"]["renderer"] == "singleSymbol"
    assert report["remoteness_areas"]["renderer"] == "categorizedSymbol"
    assert report["origins"]["features"] == len(results.origins)
