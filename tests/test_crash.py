"""Killed runs: a run stopped by SIGKILL at any point leaves the previous output whole (or the
new one whole), and the next run cleans every leftover; two runs never write one folder.

Each case starts ``python -m geo run`` on the demo region in a subprocess that stops at a named
point (``GAPMAP_PAUSE_AT``, see :func:`geo.progress.pause_point`), kills it there and looks at
what is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from geo.cli import main
from tests.conftest import DEMO_CONFIG, DEMO_DIR, REPO_ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and renameat2: Linux")


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """The demo region without catchments and uncertainty draws (the writing is the same;
    the runs are shorter)."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    text = yaml.safe_dump(raw, sort_keys=False).replace("../../data/demo/", f"{DEMO_DIR}/")
    light = yaml.safe_load(text)
    light["catchments"] = {"enabled": False}
    light["uncertainty"] = {"enabled": False}
    path = tmp_path_factory.mktemp("config") / "demo-light.yml"
    path.write_text(yaml.safe_dump(light, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(config, tmp_path_factory) -> Path:
    """One complete demo output to copy as the 'previous run' of each case."""
    out = tmp_path_factory.mktemp("finished") / "out"
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    return out


def _start(config: Path, out: Path, point: str, flag: Path, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "GAPMAP_PAUSE_AT": point,
        "GAPMAP_PAUSE_FILE": str(flag),
        "PYTHONPATH": str(REPO_ROOT),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "geo", "run", str(config), "--out", str(out), "-q"],
        env=environment,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(flag: Path, process: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not flag.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before pausing: {process.stderr.read()!r}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the run never reached its pause point")
        time.sleep(0.05)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()


# (pause point, extra environment, whether the new output is already in place when killed)
CASES = [
    ("routing", {}, False),
    ("writing", {}, False),
    ("swap", {}, True),
    ("between_renames", {"GAPMAP_NO_EXCHANGE": "1"}, None),
]


def test_a_killed_run_leaves_a_whole_output_and_the_next_run_cleans_up(config, finished, tmp_path):
    """All four kills run at once (each in its own folder) to keep the test short."""
    before = _snapshot(finished)
    runs = []
    for point, env, _ in CASES:
        out = tmp_path / point / "out"
        shutil.copytree(finished, out)
        flag = tmp_path / f"{point}.flag"
        runs.append((out, flag, _start(config, out, point, flag, **env)))
    for _, flag, process in runs:
        _wait_for(flag, process)
        _kill(process)
    for (point, _, swapped), (out, _, _) in zip(CASES, runs, strict=True):
        leftovers = _leftovers(out)
        if swapped is None:  # killed between the two renames: the old folder waits aside
            assert not out.exists() and any(".old-" in name for name in leftovers), leftovers
        elif swapped:  # the exchange happened: the new output is whole
            assert set(_snapshot(out)) == set(before), point
            assert json.loads((out / "run.json").read_text(encoding="utf-8"))["version"]
        else:
            assert _snapshot(out) == before, f"killed at {point}: the old output changed"
        # the next run recovers and leaves nothing beside its folder
        assert main(["run", str(config), "--out", str(out), "-q"]) == 0, point
        assert set(_snapshot(out)) == set(before), point
        assert _leftovers(out) == [], (point, _leftovers(out))


def test_between_renames_the_next_run_restores_the_old_output_first(finished, tmp_path):
    """The recovery step alone: the old folder comes back under its name before writing."""
    from geo.render.outdir import claim_output

    out = tmp_path / "out"
    shutil.copytree(finished, out)
    before = _snapshot(out)
    out.rename(out.with_name(f".{out.name}.old-12345"))
    (tmp_path / f".{out.name}.tmp-abc").mkdir()
    with claim_output(out):
        assert _snapshot(out) == before
        assert _leftovers(out) == [".out.lock"]
    assert _leftovers(out) == []


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_writes(
    config, finished, tmp_path, capsys
):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    before = _snapshot(out)
    flag = tmp_path / "routing.flag"
    first = _start(config, out, "routing", flag)
    try:
        _wait_for(flag, first)
        assert main(["run", str(config), "--out", str(out), "-q"]) == 2
        assert "another gapmap run is writing" in capsys.readouterr().err
        assert _snapshot(out) == before
    finally:
        _kill(first)
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    assert _leftovers(out) == []


def _nested(folder: Path, name: str) -> Path:
    """An output of another command inside ``folder`` (its own marker and a file)."""
    from geo.render.outdir import mark

    child = folder / name
    mark(child, "sites")
    (child / "sites.csv").write_text("rank,name\n1,A\n", encoding="utf-8")
    return child


def test_replacing_a_folder_keeps_other_commands_outputs_inside_it(tmp_path):
    from geo.render.outdir import claim_output, mark

    final = tmp_path / "region"
    mark(final, "run")
    (final / "map.html").write_text("old", encoding="utf-8")
    _nested(final, "sites")
    (final / "tables").mkdir()  # the run's own sub-folder: replaced, not kept
    (final / "tables" / "old.csv").write_text("x\n", encoding="utf-8")
    with claim_output(final) as out, out.staging() as tmp:
        (tmp / "map.html").write_text("new", encoding="utf-8")
    assert (final / "map.html").read_text(encoding="utf-8") == "new"
    assert (final / "sites" / "sites.csv").is_file()
    assert not (final / "tables").exists()
    assert _leftovers(final) == []


def test_a_crash_after_the_swap_still_keeps_nested_outputs(tmp_path):
    """Killed after the exchange: the old folder (holding a sites output) waits at the staging
    name; the next claim moves the nested output into the new folder before cleaning up."""
    from geo.render.outdir import claim_output, mark

    final = tmp_path / "region"
    mark(final, "run")
    old = tmp_path / ".region.tmp-crashed"
    mark(old, "run")
    _nested(old, "sites")
    with claim_output(final):
        assert (final / "sites" / "sites.csv").is_file()
    assert _leftovers(final) == []
