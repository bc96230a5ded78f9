"""The ``gapmap`` command (also ``python -m geo``).

Exit status: 0 on success, 2 on bad input or config (message on stderr, nothing written),
1 on any other failure.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geo import __version__
from geo.errors import GeoError, InputError, InputErrors

log = logging.getLogger("geo")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gapmap``."""
    parser = argparse.ArgumentParser(
        prog="gapmap",
        description="Palliative care access gaps: who can reach their GP and specialist "
        "palliative care, by remoteness, sub-area and need (cancer and non-cancer).",
    )
    parser.add_argument("--version", action="version", version=f"gapmap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo_parser(sub)
    _add_run_parser(sub)
    _add_report_parser(sub)
    _add_scenario_parser(sub)
    _add_sites_parser(sub)
    _add_workshop_parser(sub)
    from geo.cli.batch import add_batch_parser

    _add_force(add_batch_parser(sub, _add_common))
    _add_validate_parser(sub)
    return parser


def _add_common(p: argparse.ArgumentParser) -> None:
    """Add the options every sub-command shares (``--quiet``, ``--verbose``)."""
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log messages (-vv for debugging)",
    )


def _add_force(p: argparse.ArgumentParser) -> None:
    """Add ``--force`` to a sub-command that writes an output folder."""
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an output folder that holds files gapmap did not write (never one "
        "that holds an input)",
    )


def _add_demo_parser(sub: Any) -> None:
    """Add ``demo``: the whole pipeline on the embedded demo region."""
    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded demo region")
    demo.add_argument("--out", type=Path, default=None, help="output folder (default maps/demo)")
    _add_force(demo)
    _add_common(demo)


def _add_run_parser(sub: Any) -> None:
    """Add ``run``: one region from its config."""
    run = sub.add_parser("run", help="run one region from its config")
    run.add_argument("config", type=Path, help="region config (YAML)")
    run.add_argument("--out", type=Path, default=None, help="output folder")
    run.add_argument(
        "--online",
        action="store_true",
        help="allow downloading roads (roads.place or polygon) and online address geocoding "
        "(geocode.online: true)",
    )
    _add_force(run)
    _add_common(run)


def _add_report_parser(sub: Any) -> None:
    """Add ``report``: the regional report or one workshop pack per sub-area."""
    report = sub.add_parser(
        "report", help="write the regional report, or one workshop pack per sub-area"
    )
    report.add_argument("config", type=Path, help="region config (YAML)")
    report.add_argument(
        "--by",
        choices=("region", "subarea"),
        default="region",
        help="region: one report.html; subarea: workshop_packs/ with one report per sub-area",
    )
    report.add_argument("--out", type=Path, default=None, help="output folder")
    report.add_argument("--pdf", action="store_true", help="also write PDFs (needs WeasyPrint)")
    report.add_argument("--online", action="store_true", help="allow downloading roads")
    _add_force(report)
    _add_common(report)


def _add_scenario_parser(sub: Any) -> None:
    """Add ``scenario``: a what-if against the baseline on the same network."""
    scenario = sub.add_parser(
        "scenario", help="run a what-if scenario against the baseline on the same network"
    )
    scenario.add_argument("config", type=Path, help="region config (YAML)")
    scenario.add_argument("scenario", type=Path, help="scenario file (YAML)")
    scenario.add_argument("--out", type=Path, default=None, help="output folder")
    _add_force(scenario)
    _add_common(scenario)


def _add_sites_parser(sub: Any) -> None:
    """Add ``sites``: choose k outreach sites (greedy MCLP)."""
    sites = sub.add_parser("sites", help="choose k sites for specialist outreach (greedy MCLP)")
    sites.add_argument("config", type=Path, help="region config (YAML)")
    sites.add_argument("--k", type=int, default=5, help="number of sites (default 5)")
    sites.add_argument(
        "--candidates",
        default="gp_practices",
        help="gp_practices (default), grid (need-weighted k-means), or a CSV/vector file of "
        "sites with id, name, x, y (longitude/latitude)",
    )
    sites.add_argument(
        "--non-cancer-weight", type=float, default=1.0, help="weight of non-cancer need"
    )
    sites.add_argument(
        "--remote-weight", type=float, default=1.0, help="weight of need in remote classes"
    )
    sites.add_argument("--out", type=Path, default=None, help="output folder")
    _add_force(sites)
    _add_common(sites)


def _add_workshop_parser(sub: Any) -> None:
    """Add ``workshop``: the self-contained what-if page for a service-design workshop."""
    workshop = sub.add_parser(
        "workshop", help="write a self-contained what-if page for a service-design workshop"
    )
    workshop.add_argument("config", type=Path, help="region config (YAML)")
    workshop.add_argument(
        "--out", type=Path, default=None, help="output folder (default <region output>/workshop)"
    )
    workshop.add_argument(
        "--candidates",
        default="gp_practices",
        help="candidate outreach clinics: gp_practices (default), grid (need-weighted k-means), "
        "or a CSV/vector file of sites with id, name, x, y (longitude/latitude)",
    )
    workshop.add_argument(
        "--gp-max-min", type=float, default=None, help="largest GP threshold on the slider"
    )
    workshop.add_argument(
        "--spc-max-min", type=float, default=None, help="largest SPC threshold on the slider"
    )
    workshop.add_argument(
        "--telehealth-within-min",
        type=float,
        default=120.0,
        help="a linked practice counts when an SPC service is within this road time (120)",
    )
    workshop.add_argument(
        "--days-per-month",
        type=float,
        default=4.0,
        help="clinic days a month of a candidate outreach clinic, exported to the scenario (4)",
    )
    _add_force(workshop)
    _add_common(workshop)


def _add_validate_parser(sub: Any) -> None:
    """Add ``validate``: check a config and its inputs, writing nothing."""
    validate = sub.add_parser("validate", help="check a config and its inputs; write nothing")
    validate.add_argument("config", type=Path, help="region config (YAML)")
    _add_common(validate)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gapmap`` command on ``argv``: its exit status.

    Called from a script, it runs in that one process; only :func:`console` (the console
    script and ``python -m geo``, whose main modules are guarded) also lets a worker process
    share the work (a spawned worker imports the caller's main module again, and an unguarded
    script would run again in it; see :func:`geo.parallel.allow_background`).
    """
    from geo.cli import commands

    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose, quiet=args.quiet)
    try:
        if args.command == "demo":
            from geo.demo import demo_run

            config_path, out = demo_run(args.out)
            return commands.run(args, config_path, out, online=False)
        if args.command == "run":
            return commands.run(args, args.config, args.out, online=args.online)
        handler = {
            "batch": commands.batch,
            "validate": commands.validate,
            "report": commands.report,
            "scenario": commands.scenario,
            "sites": commands.sites,
            "workshop": commands.workshop,
        }[args.command]
        return handler(args)
    except InputErrors as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        log.debug("unexpected failure", exc_info=True)
        print(
            f"error: unexpected failure: {exc!r} (run with -vv for the traceback)", file=sys.stderr
        )
        return EXIT_FAILURE


def console() -> None:
    """The ``gapmap`` console script (and ``python -m geo``): :func:`main`, then exit.

    Before the interpreter shuts down, every object is moved out of the garbage collector's
    reach (:func:`gc.freeze`): shutting down otherwise scans the scientific stack's millions
    of objects again, about 0.3 s of a command that renders a report in 2 s. Outputs are
    written and closed by then; exit handlers still run.
    """
    from geo.parallel import allow_background

    allow_background()  # the entry points guard their main modules (see main)
    code = main()
    gc.freeze()
    sys.exit(code)


def _configure_logging(verbose: int, *, quiet: bool) -> None:
    """Log to standard error: warnings by default, more with -v/-vv, errors only with -q.

    Python warnings from libraries (matplotlib, rasterio...) go through the same channel, so
    ``-q`` silences them too; every warning of a run is also kept in its ``run.json``.
    """
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    if quiet:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)  # -q quiets the screen; the loggers still pass warnings to run.json
    logging.captureWarnings(True)
    for name in ("geo", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(min(level, logging.WARNING))
        logger.propagate = False


if __name__ == "__main__":  # pragma: no cover
    console()
