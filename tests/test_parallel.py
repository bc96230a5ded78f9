"""Worker processes: large draws and access searches shared between processes give what one
process gives (the same draws bit for bit; access sums to floating-point rounding), and the
``GAPMAP_WORKERS`` setting is checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.analysis.access import gaussian_weights, streamed_access
from geo.analysis.uncertainty import monte_carlo
from geo.errors import InputError
from geo.parallel import (
    MIN_PARALLEL_VISITS,
    WORKERS_ENV,
    in_background,
    ordered_map,
    requested_workers,
    workers_for,
)
from geo.routing.travel import nearest_facility


def test_the_workers_setting_is_read_and_checked(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert requested_workers() is None
    assert workers_for(MIN_PARALLEL_VISITS / 10) == 1  # small work: one process
    assert workers_for(MIN_PARALLEL_VISITS * 10) >= 1
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert workers_for(1.0) == 3  # the setting wins, large or small
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert workers_for(MIN_PARALLEL_VISITS * 1e3) == 1
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(InputError, match=WORKERS_ENV):
            workers_for(1.0)


def test_a_background_task_runs_in_another_process_and_reports_its_error(monkeypatch):
    import os

    import geo.parallel

    monkeypatch.setattr(geo.parallel, "_BACKGROUND_ENABLED", [True])  # as the CLI does
    monkeypatch.setenv(WORKERS_ENV, "2")
    pending = in_background(os.getpid)
    assert pending is not None
    assert pending.result() != os.getpid()  # another process
    failing = in_background(int, "not a number")
    with pytest.raises(ValueError, match="not a number"):
        failing.result()
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert in_background(os.getpid) is None  # one process: the caller runs it


def test_pieces_come_back_in_order_from_worker_processes():
    offsets = np.arange(5.0)

    def shifted(values: list[int]) -> list[float]:  # a closure, as the analysis passes
        return [float(v + offsets[v % 5]) for v in values]

    pieces = [list(range(i, i + 7)) for i in range(0, 70, 7)]
    assert ordered_map(shifted, pieces, workers=2) == [shifted(p) for p in pieces]
    assert ordered_map(shifted, pieces[:1], workers=4) == [shifted(pieces[0])]


def test_draws_on_worker_processes_equal_draws_in_one_process(demo_inputs, monkeypatch):
    network, gp = demo_inputs.network, demo_inputs.snaps.gp
    nodes = gp.node[gp.reachable]

    def headline(net) -> dict[str, float]:
        minutes = nearest_facility(net, nodes).time_s / 60.0
        finite = minutes[np.isfinite(minutes)]
        return {"within_15": float((finite <= 15).mean()), "mean": float(finite.mean())}

    monkeypatch.setenv(WORKERS_ENV, "1")
    alone = monte_carlo(network, headline, draws=9, spread=0.3, seed=7)
    monkeypatch.setenv(WORKERS_ENV, "2")
    shared = monte_carlo(network, headline, draws=9, spread=0.3, seed=7)
    pd.testing.assert_frame_equal(alone, shared)
    assert alone["p05_share"].lt(alone["p95_share"]).any()  # the draws do differ


def test_access_on_worker_processes_equals_access_in_one_process(demo_inputs, monkeypatch):
    snaps = demo_inputs.snaps
    people = demo_inputs.origins["pop_count"].to_numpy(float)
    supply = np.linspace(0.5, 3.0, len(snaps.gp.node))

    def scores() -> tuple[np.ndarray, np.ndarray]:
        return streamed_access(
            demo_inputs.network,
            snaps.origins,
            snaps.gp,
            people,
            supply,
            threshold_min=20.0,
            weight=gaussian_weights(10.0),
        )

    monkeypatch.setenv(WORKERS_ENV, "1")
    within, access = scores()
    monkeypatch.setenv(WORKERS_ENV, "2")
    within_shared, access_shared = scores()
    np.testing.assert_allclose(within_shared, within, rtol=1e-12, atol=0)
    np.testing.assert_allclose(access_shared, access, rtol=1e-12, atol=1e-300)
    assert (within > 0).mean() > 0.3 and access.max() > 0


def test_a_script_without_a_main_guard_stays_in_one_process(tmp_path):
    """An analyst's script (no ``if __name__ == "__main__"``) would run again in a spawned
    worker, so library calls stay in one process; the command line allows the worker (its
    entry points are guarded) and exits cleanly, nothing printed at exit."""
    import subprocess
    import sys

    body = (
        "import os\n"
        "print('script ran', flush=True)\n"
        "from geo import parallel\n"
        "os.environ['GAPMAP_WORKERS'] = '2'\n"
        "print('alone', parallel.in_background(os.getpid) is None, flush=True)\n"
    )
    unguarded = tmp_path / "report.py"
    unguarded.write_text(body, encoding="utf-8")
    done = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script ran", "alone True"]
    guarded = tmp_path / "cli_like.py"
    guarded.write_text(
        "import os\n"
        "from geo import parallel\n"
        "if __name__ == '__main__':\n"
        "    os.environ['GAPMAP_WORKERS'] = '2'\n"
        "    parallel.allow_background()\n"
        "    print('other', parallel.in_background(os.getpid).result() != os.getpid())\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["other True"]
    assert "Exception" not in done.stderr and "Traceback" not in done.stderr
