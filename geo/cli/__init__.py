"""The ``gapmap`` command (also ``python -m geo``).

Exit status: 0 on success, 2 on bad input or config (message on stderr, nothing written),
1 on any other failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from geo import __version__
from geo.errors import GeoError, InputError, InputErrors

log = logging.getLogger("geo")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class BarProgress:
    """One progress bar per pipeline stage, with the stage's time when it ends."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bar = None

    def stage_started(self, stage: str, description: str) -> None:
        self._bar = self._tqdm(
            total=1,
            desc=f"{description:<42}",
            leave=True,
            file=sys.stderr,
            bar_format="{desc} |{bar:20}| {elapsed}",
            dynamic_ncols=True,
        )

    def stage_finished(self, stage: str, seconds: float) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{seconds:.2f} s")
            self._bar.close()
            self._bar = None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gapmap``."""
    parser = argparse.ArgumentParser(
        prog="gapmap",
        description="Palliative care access gaps: who can reach their GP and specialist "
        "palliative care, by remoteness, sub-area and need (cancer and non-cancer).",
    )
    parser.add_argument("--version", action="version", version=f"gapmap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
        p.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=0,
            help="more log messages (-vv for debugging)",
        )

    demo = sub.add_parser("demo", help="run the whole pipeline on the embedded demo region")
    demo.add_argument("--out", type=Path, default=None, help="output folder (default maps/demo)")
    common(demo)
    run = sub.add_parser("run", help="run one region from its config")
    run.add_argument("config", type=Path, help="region config (YAML)")
    run.add_argument("--out", type=Path, default=None, help="output folder")
    run.add_argument(
        "--online",
        action="store_true",
        help="allow downloading roads when the config names a place or polygon",
    )
    common(run)
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
    common(report)
    scenario = sub.add_parser(
        "scenario", help="run a what-if scenario against the baseline on the same network"
    )
    scenario.add_argument("config", type=Path, help="region config (YAML)")
    scenario.add_argument("scenario", type=Path, help="scenario file (YAML)")
    scenario.add_argument("--out", type=Path, default=None, help="output folder")
    common(scenario)
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
    common(sites)
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
    common(workshop)
    from geo.cli.batch import add_batch_parser

    add_batch_parser(sub, common)
    validate = sub.add_parser("validate", help="check a config and its inputs; write nothing")
    validate.add_argument("config", type=Path, help="region config (YAML)")
    common(validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gapmap`` console script."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose, quiet=args.quiet)
    try:
        if args.command == "batch":
            return _batch(args)
        if args.command == "validate":
            return _validate(args.config, quiet=args.quiet)
        if args.command == "report":
            return _report(args)
        if args.command == "scenario":
            return _scenario(args)
        if args.command == "sites":
            return _sites(args)
        if args.command == "workshop":
            return _workshop(args)
        if args.command == "demo":
            from geo.demo import demo_run

            config_path, out = demo_run(args.out)
            return _run(config_path, out=out, online=False, quiet=args.quiet)
        return _run(args.config, out=args.out, online=args.online, quiet=args.quiet)
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


def _configure_logging(verbose: int, *, quiet: bool) -> None:
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    if quiet:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("geo")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _load_and_check(config_path: Path):
    from geo.config import load_config
    from geo.inputs.validate import check_inputs

    config = load_config(config_path)
    problems = check_inputs(config)
    if problems:
        raise problems[0] if len(problems) == 1 else InputErrors(problems)
    return config


def _validate(config_path: Path, *, quiet: bool) -> int:
    config = _load_and_check(config_path)
    if not quiet:
        print(f"{config_path}: config and inputs look valid (region '{config.region.name}')")
    return EXIT_OK


def _run(config_path: Path, *, out: Path | None, online: bool, quiet: bool) -> int:
    from geo.workflows.pipeline import run

    start = time.perf_counter()
    config = _load_and_check(config_path)
    show_bars = not quiet and sys.stderr.isatty()
    outcome = run(config, out_dir=out, online=online, progress=BarProgress() if show_bars else None)
    if not quiet:
        _summary(outcome, time.perf_counter() - start)
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    """``gapmap report``: analyse without writing the run folder, then write report(s) only."""
    from geo.render.packs import write_workshop_packs
    from geo.render.report import html_to_pdf, write_report
    from geo.workflows.pipeline import output_dir, run

    config = _load_and_check(args.config)
    if args.pdf:
        html_to_pdf("<p>check</p>")  # fail on a missing WeasyPrint before the analysis
    if args.by == "subarea" and config.subareas is None:
        raise InputError(f"{args.config}: --by subarea needs a 'subareas' section in the config")
    results = run(config, online=args.online, write_outputs=False).results
    target = output_dir(config, args.out)
    if args.by == "subarea":
        files = write_workshop_packs(results, target / "workshop_packs", pdf=args.pdf)
    else:
        target.mkdir(parents=True, exist_ok=True)
        files = [write_report(results, target / "report.html", pdf=args.pdf)]
    if not args.quiet:
        print(f"gapmap: wrote {len(files)} files to {files[0].parent}")
    return EXIT_OK


def _batch(args: argparse.Namespace) -> int:
    """``gapmap batch``: regions as Dask tasks; 1 when any region failed."""
    from geo.cli.batch import batch_summary_text
    from geo.workflows.batch import run_batch

    outcome = run_batch(
        args.batch, args.out, scheduler_address=args.scheduler, n_workers=args.workers
    )
    if not args.quiet:
        print(batch_summary_text(outcome))
    return EXIT_FAILURE if outcome.failed else EXIT_OK


def _scenario(args: argparse.Namespace) -> int:
    """``gapmap scenario``: baseline and scenario on one network, and what changed."""
    from geo.config import load_scenario
    from geo.workflows.scenario import run_scenario

    config = _load_and_check(args.config)
    scenario = load_scenario(args.scenario)
    outcome = run_scenario(config, scenario, out_dir=args.out)
    if not args.quiet:
        print("\n".join(scenario_summary_lines(scenario.name, outcome)))
    return EXIT_OK


def _sites(args: argparse.Namespace) -> int:
    """``gapmap sites``: k outreach sites by lazy greedy maximal coverage."""
    from geo.analysis.sites import summary
    from geo.workflows.sites import run_sites

    config = _load_and_check(args.config)
    _, choice, target = run_sites(
        config,
        k=args.k,
        candidates=args.candidates,
        non_cancer_weight=args.non_cancer_weight,
        remote_weight=args.remote_weight,
        out_dir=args.out,
    )
    if not args.quiet:
        info = summary(choice)
        lines = [
            f"gapmap: {info['sites_chosen']} sites from {info['candidates']} candidates cover "
            f"{info['share_of_unmet_covered']:.0%} of the need beyond specialist reach",
            f"  greedy guarantee >= {info['greedy_guarantee']:.1%} of the optimum; certified "
            f">= {info['certified_ratio']:.1%} on this region",
        ]
        lines += [
            f"  {int(r['rank'])}. {r['name']} (+{r['marginal_need_cancer']:.1f} cancer, "
            f"+{r['marginal_need_non_cancer']:.1f} non-cancer need/yr)"
            for r in choice.table.to_dict("records")
        ]
        lines.append(f"  wrote {target}")
        print("\n".join(lines))
    return EXIT_OK


def _workshop(args: argparse.Namespace) -> int:
    """``gapmap workshop``: the self-contained what-if page."""
    from geo.analysis.workshop import WorkshopSettings
    from geo.workflows.workshop import run_workshop

    start = time.perf_counter()
    config = _load_and_check(args.config)
    for name in ("gp_max_min", "spc_max_min", "telehealth_within_min", "days_per_month"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive (got {value:g})")
    if args.days_per_month > 31:
        raise InputError(f"--days-per-month must be at most 31 (got {args.days_per_month:g})")
    settings = WorkshopSettings(
        gp_max_min=args.gp_max_min,
        spc_max_min=args.spc_max_min,
        telehealth_within_min=args.telehealth_within_min,
        days_per_month=args.days_per_month,
    )
    show_bars = not args.quiet and sys.stderr.isatty()
    outcome = run_workshop(
        config,
        candidates=args.candidates,
        settings=settings,
        out_dir=args.out,
        progress=BarProgress() if show_bars else None,
    )
    if not args.quiet:
        data = outcome.data
        fac = data.facilities
        page = outcome.files[0]
        print(
            "\n".join(
                [
                    f"gapmap: workshop page for {data.region_name} in "
                    f"{time.perf_counter() - start:.1f} s",
                    f"  {len(data.origins):,} places, {int((fac['role'] == 'service').sum())} "
                    f"specialist services, {int((fac['role'] == 'candidate').sum())} candidate "
                    f"clinics ({args.candidates}), {len(data.practices)} GP practices",
                    f"  wrote {page} ({page.stat().st_size / 1e6:.1f} MB): open it in a browser, "
                    "no internet needed; hand out the file as is",
                ]
            )
        )
    return EXIT_OK


def _summary(outcome, seconds: float) -> None:
    """A short account of what the run found and wrote, on stdout (from the run's findings)."""
    from geo.render.findings_text import summary_lines

    lines = [f"gapmap: {outcome.results.region_name} done in {seconds:.1f} s"]
    lines += [f"  {line}" for line in summary_lines(outcome.results.findings)]
    lines.append(f"  wrote {len(outcome.files)} files to {outcome.out_dir}:")
    shown = [p for p in outcome.files if p.parent == outcome.out_dir]
    lines += [f"    {p.name}" for p in shown]
    tables = [p.name for p in outcome.files if p.parent.name == "tables"]
    if tables:
        lines.append(f"    tables/ ({', '.join(tables)})")
    print("\n".join(lines))


def scenario_summary_lines(name: str, outcome) -> list[str]:
    """The scenario's change in specialist coverage by road, and its virtual coverage."""
    totals = outcome.change_totals.set_index(["coverage", "need_group"])
    spc_c, spc_nc = totals.loc[("spc", "cancer")], totals.loc[("spc", "non_cancer")]
    virtual = totals.loc[("virtual", "cancer")]
    return [
        f"gapmap: scenario '{name}'",
        f"  specialist coverage by road: +{spc_c['pop_count_gained']:,.0f} / "
        f"-{spc_c['pop_count_lost']:,.0f} people; need/yr +{spc_c['need_gained']:,.1f} / "
        f"-{spc_c['need_lost']:,.1f} cancer, +{spc_nc['need_gained']:,.1f} / "
        f"-{spc_nc['need_lost']:,.1f} non-cancer",
        f"  virtual (telehealth) coverage: {virtual['pop_count_scenario']:,.0f} people",
        f"  wrote {outcome.out_dir} (baseline/, scenario/, tables/scenario_changes.csv, "
        "scenario_map.html)",
    ]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
