"""The package's shape: layers and no cycles (import-linter), no private names across modules,
and an installed (not editable) package that runs the demo from any folder."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

GEO = REPO_ROOT / "geo"


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed")
    proc = subprocess.run([lint], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 kept, 0 broken" in proc.stdout


def _private_uses(path: Path) -> list[str]:
    """``from geo.x import _y`` and ``module._y`` where ``module`` is an imported geo module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geo"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path}:{node.lineno} imports {alias.name}")
                else:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("geo"):
                    modules.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{path}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [use for path in sorted(GEO.rglob("*.py")) for use in _private_uses(path)]
    assert not found, found
    # The check itself finds such a use.
    probe = GEO.parent / "tests" / "_probe_private.py"
    try:
        probe.write_text("from geo.analysis.coverage import _column\nimport geo\ngeo._x\n")
        assert len(_private_uses(probe)) == 2
    finally:
        probe.unlink()


def test_the_package_says_where_to_start_reading():
    import geo

    doc = geo.__doc__ or ""
    for name in ("routing", "inputs", "analysis", "render", "workflows", "cli", "load_inputs"):
        assert name in doc, name


@pytest.mark.slow
def test_a_non_editable_install_runs_the_demo_from_another_folder(tmp_path):
    """``pip install .`` (a wheel, not editable) then ``gapmap demo --out DIR`` elsewhere."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(REPO_ROOT),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0 and "No matching distribution" in build.stderr:
        pytest.skip(f"the build backend cannot be fetched here: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr[-2000:]
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(next(wheels.glob("gapmap-*.whl"))),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    installed = site / "geo"
    assert (installed / "reference" / "speeds_au.csv").is_file()
    assert (installed / "render" / "templates" / "report.html.j2").is_file()
    assert (installed / "demo" / "demo.yml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "GAPMAP_CACHE": str(tmp_path / "cache")}
    env.pop("GEO_DATA_ROOT", None)
    code = (
        "import sys, geo; assert geo.__file__.startswith(sys.argv[1]), geo.__file__; "
        "from geo.cli import main; sys.exit(main(['demo', '--out', 'out', '-q']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("map.html", "report.html", "layers.gpkg", "run.json"):
        assert (elsewhere / "out" / name).is_file(), name
    assert not (REPO_ROOT / "data" / "demo" / "out").exists()
