"""``gapmap batch``: run a batch of regions on Dask (see :mod:`geo.batch`).

Wired into :mod:`geo.cli` with :func:`add_batch_parser` (builds the sub-command); the CLI runs
:func:`geo.batch.run_batch` and prints :func:`batch_summary_text`. Exit status: 0 when every
region ran or was already current, 1 when any region failed (the others still ran), 2 on an
invalid batch file, an invalid region config or an unreachable scheduler (nothing written).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geo.text import count

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def add_batch_parser(
    subparsers: Any, common: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """Add the ``batch`` sub-command.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers``.
    common
        Adds the options every sub-command shares (``--quiet``, ``--verbose``).

    Returns
    -------
    argparse.ArgumentParser
        The ``batch`` parser.
    """
    parser = subparsers.add_parser(
        "batch",
        help="run many regions (a list of configs, or the sub-areas of a national layer) on Dask",
    )
    parser.add_argument("batch", type=Path, help="batch file (YAML), see scripts/batch_example.yml")
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="worker processes of the local cluster (default 2; ignored with --scheduler)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: the batch file's out_dir, else maps/<batch name>)",
    )
    common(parser)
    return parser


def batch_summary_text(outcome: Any) -> str:
    """The batch's one-line-per-region account, for the CLI to print."""
    regions = count(len(outcome.summary), "region", "regions")
    lines = [f"gapmap batch: {regions}, outputs in {outcome.out_dir}"]
    for row in outcome.summary:
        detail = f" ({row['error']})" if row["status"] == "failed" else ""
        lines.append(f"  {row['status']:<8} {row['region']}{detail}")
    lines.append(f"  summary: {outcome.files[0]}\n  index:   {outcome.files[1]}")
    return "\n".join(lines)
