"""The gapmap command: exit codes, one message per problem, nothing written on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from geo.cli import main

from .conftest import DEMO_CONFIG, DEMO_DIR


def _demo_config_copy(tmp_path: Path, edit) -> Path:
    """The demo config with absolute paths, edited by ``edit(dict)``, written to tmp_path."""
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    text = yaml.safe_dump(data).replace("../../data/demo", str(DEMO_DIR))
    data = yaml.safe_load(text)
    data["output"] = {"dir": str(tmp_path / "out")}
    edit(data)
    path = tmp_path / "region.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_help_and_version():
    result = subprocess.run(
        [sys.executable, "-m", "geo", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for command in ("demo", "run", "validate"):
        assert command in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "geo", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "gapmap" in result.stdout


def test_the_console_script_passes_main_s_exit_status_on(tmp_path):
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="gapmap")
    assert script.value == "geo.cli:console"
    missing = tmp_path / "missing.yml"
    result = subprocess.run(
        [sys.executable, "-m", "geo", "validate", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "missing.yml" in result.stderr


def test_unknown_key_exits_2_with_suggestion(tmp_path, capsys):
    path = _demo_config_copy(tmp_path, lambda d: d["roads"].update(speed_profil="au"))
    for command in ("validate", "run"):
        assert main([command, str(path), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "roads.speed_profil" in err and "did you mean 'speed_profile'" in err
    assert not (tmp_path / "out").exists()


def _break_inputs(data: dict) -> None:
    data["gp_practices"]["path"] = data["gp_practices"]["path"].replace(
        "gp_practices", "gp_missing"
    )
    data["specialist_services"]["columns"]["capacity"] = "capacty"
    del data["specialist_services"]["crs"]
    data["subareas"]["id_column"] = "area_code"


def test_validate_reports_every_problem_and_writes_nothing(tmp_path, capsys):
    path = _demo_config_copy(tmp_path, _break_inputs)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4, err
    text = "\n".join(err)
    assert "gp_missing.csv" in text and "not found" in text
    assert "'capacty'" in text and "did you mean 'capacity'" in text
    assert "spc_services.csv" in text and "CRS" in text
    assert "'area_code'" in text and "subareas.gpkg" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_validate_counts_what_it_read(tmp_path, capsys, demo_inputs):
    """The summary counts the inputs as read: one specialist service is "1 specialist
    service", thousands are grouped."""

    def one_service(data: dict) -> None:
        data["specialist_services"]["where"] = {"service_type": ["inpatient"]}

    path = _demo_config_copy(tmp_path, one_service)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    places = f"{len(demo_inputs.origins):,} populated places"
    gps = f"{len(demo_inputs.gp_practices)} GP practices"
    assert f"{places}, {gps}, 1 specialist service)" in out


def test_run_with_bad_inputs_exits_2_and_writes_no_output(tmp_path, capsys):
    path = _demo_config_copy(tmp_path, _break_inputs)
    assert main(["run", str(path), "--quiet"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 4
    assert not (tmp_path / "out").exists()


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.yml")]) == 2
    assert "absent.yml" in capsys.readouterr().err


@pytest.mark.slow
def test_run_demo_config_writes_the_contract(tmp_path, capsys):
    path = _demo_config_copy(tmp_path, lambda d: None)
    assert main(["run", str(path)]) == 0
    out = tmp_path / "out"
    summary = capsys.readouterr().out
    assert "wrote" in summary and str(out) in summary and "people" in summary
    for name in (
        "map.html",
        "report.html",
        "layers.gpkg",
        "run.json",
        "tables/coverage_by_remoteness.csv",
        "tables/coverage_by_subarea.csv",
        "tables/gp_specialist_links.csv",
        "tables/travel_time_bands.csv",
    ):
        assert (out / name).is_file(), name
    # No temporary folder is left behind (the network cache, .cache/, is meant to stay).
    assert not any(".tmp" in p.name or ".old" in p.name for p in tmp_path.iterdir())


def test_a_script_calling_main_without_a_guard_runs_once(tmp_path, demo_outcome):
    """An analyst's script that calls ``main`` at module level (no ``__main__`` guard) runs
    in its one process: a spawned worker would import the script again and run it twice."""
    import os
    import shutil

    out = tmp_path / "run"
    shutil.copytree(demo_outcome.out_dir, out)  # the session's run, left untouched
    argv = ["report", str(DEMO_CONFIG), "--by", "subarea", "--out", str(out), "-q"]
    script = tmp_path / "packs.py"
    script.write_text(
        f"import sys\nfrom geo.cli import main\nprint('script ran')\nsys.exit(main({argv!r}))\n",
        encoding="utf-8",
    )
    env = {**os.environ, "GAPMAP_WORKERS": "2"}  # two processes would be allowed
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script ran") == 1
    assert (out / "workshop_packs" / "index.csv").is_file()
