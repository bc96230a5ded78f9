"""Progress on the terminal: stage k of n, with each finished stage's time.

The library reports stage events (:class:`geo.progress.Progress`); this receiver draws them with
tqdm on standard error. Each command says how many stages it expects; a stage that repeats (a
scenario's two analyses) or one not foreseen still shows, the total growing to fit.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class StageProgress:
    """One bar over a command's stages; a line per finished stage with its seconds.

    Parameters
    ----------
    total
        The stages the command expects (the bar grows when more come).
    """

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._bar: Any = tqdm(
            total=max(total, 1),
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            bar_format="{desc} [{n_fmt}/{total_fmt}] |{bar:20}| {elapsed}",
        )
        self._started = time.perf_counter()

    def stage_started(self, stage: str, description: str) -> None:
        """Show the running stage and its number."""
        if self._bar.n >= self._bar.total:
            self._bar.total = self._bar.n + 1
        self._bar.set_description_str(f"{description:<44.44}")
        self._bar.refresh()

    def stage_finished(self, stage: str, seconds: float) -> None:
        """Print the stage's line (number, name, seconds) and move the bar on."""
        self._bar.update(1)
        self._bar.write(
            f"  [{self._bar.n}/{self._bar.total}] {stage:<12} {seconds:7.2f} s", file=sys.stderr
        )

    def close(self) -> None:
        """Remove the bar (its lines stay)."""
        self._bar.close()


def expected_stages(config: Any, *, analyses: int = 1, extra: int = 1) -> int:
    """How many stages a command on ``config`` reports: the inputs stage's five, each analysis'
    stages (catchments and uncertainty when enabled), and ``extra`` (e.g. writing)."""
    per_analysis = 4 + int(config.catchments.enabled) + int(config.uncertainty.enabled)
    return 5 + analyses * per_analysis + extra
