"""Stage timing and progress events, shared by every layer that runs a stage.

The library never draws progress bars: stages report to a :class:`Progress` receiver (the CLI
draws bars from it) and their times are recorded for ``run.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives stage events (the CLI draws progress bars from them)."""

    def stage_started(self, stage: str, description: str) -> None:
        """A stage begins."""

    def stage_finished(self, stage: str, seconds: float) -> None:
        """A stage ended after ``seconds``."""


@dataclass
class StageTimer:
    """Times named stages and forwards their start and end to an optional :class:`Progress`."""

    progress: Progress | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str, description: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name`` (added to any earlier time of that name)."""
        if self.progress is not None:
            self.progress.stage_started(name, description)
        log.info("stage %s: %s", name, description)
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings_s[name] = round(self.timings_s.get(name, 0.0) + seconds, 3)
        if self.progress is not None:
            self.progress.stage_finished(name, seconds)


class WarningLog(logging.Handler):
    """Keeps every warning logged during a run (for run.json), each message once."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip().splitlines()[0] if record.getMessage() else ""
        message = f"{record.name}: {text}"
        if message not in self.messages:
            self.messages.append(message)


@contextlib.contextmanager
def collect_warnings() -> Iterator[WarningLog]:
    """Collect the toolkit's warnings and Python warnings (``py.warnings``) during a block.

    Python warnings are routed to logging for the block, so a quiet command line silences
    them with the rest and run.json still records them.
    """
    handler = WarningLog()
    loggers = [logging.getLogger("geo"), logging.getLogger("py.warnings")]
    for logger in loggers:
        logger.addHandler(handler)
    before = warnings.showwarning
    logging.captureWarnings(True)
    turned_on = warnings.showwarning is not before
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        if turned_on:
            logging.captureWarnings(False)


def pause_point(name: str) -> None:
    """Stop here for a crash test when ``GAPMAP_PAUSE_AT`` names this point (``routing``,
    ``writing``, ``swap``, ``between_renames``).

    The test sets ``GAPMAP_PAUSE_AT`` (a point name) and ``GAPMAP_PAUSE_FILE`` (a path this
    function creates on arrival), waits for the file, then kills the process.
    """
    if os.environ.get("GAPMAP_PAUSE_AT") != name:
        return
    flag = os.environ.get("GAPMAP_PAUSE_FILE")
    if flag:
        Path(flag).write_text(str(os.getpid()), encoding="ascii")
    time.sleep(float(os.environ.get("GAPMAP_PAUSE_S", "600")))
