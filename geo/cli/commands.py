"""What each ``gapmap`` command does: read the config, run the workflow, print its account.

Every command checks its inputs before computing (``gapmap validate`` runs the same checks and
the inputs stage, nothing else) and its output folder before computing (it must be new, empty
or an earlier gapmap output; ``--force`` for another folder, never one holding an input).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from geo.errors import InputError, InputErrors
from geo.text import count

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


@contextlib.contextmanager
def progress_for(args: argparse.Namespace, total: int) -> Iterator[Any]:
    """A stage progress bar on a terminal (None when quiet or not a terminal)."""
    if args.quiet or not sys.stderr.isatty():
        yield None
        return
    from geo.cli.progress import StageProgress

    bar = StageProgress(total)
    try:
        yield bar
    finally:
        bar.close()


def load_checked(config_path: Path):
    """The config, with every input file's header checked (all problems at once)."""
    from geo.config import load_config

    config = load_config(config_path)
    raise_input_problems(config)
    return config


def raise_input_problems(config: Any) -> None:
    """Raise every problem in the config's input files' headers at once (nothing if none)."""
    from geo.inputs.validate import check_inputs

    problems = check_inputs(config)
    if problems:
        raise problems[0] if len(problems) == 1 else InputErrors(problems)


def validate(args: argparse.Namespace) -> int:
    """``gapmap validate``: the checks and the inputs stage of ``run``; writes nothing."""
    from geo.cli.progress import expected_stages
    from geo.workflows.pipeline import load_inputs

    config = load_checked(args.config)
    with progress_for(args, expected_stages(config, analyses=0, extra=0)) as bar:
        from geo.progress import StageTimer

        inputs = load_inputs(config, timer=StageTimer(bar), write_cache=False)
    if not args.quiet:
        places = count(len(inputs.origins), "populated place", "populated places")
        gps = count(len(inputs.gp_practices), "GP practice", "GP practices")
        spcs = count(len(inputs.specialist_services), "specialist service", "specialist services")
        print(
            f"{args.config}: config and inputs are valid (region '{config.region.name}': "
            f"{places}, {gps}, {spcs})"
        )
    return EXIT_OK


def run(args: argparse.Namespace, config_path: Path, out: Path | None, online: bool) -> int:
    """``gapmap run`` and ``gapmap demo``."""
    from geo.cli.progress import expected_stages
    from geo.workflows.pipeline import run as run_region

    start = time.perf_counter()
    config = load_checked(config_path)
    with progress_for(args, expected_stages(config)) as bar:
        outcome = run_region(config, out_dir=out, online=online, progress=bar, force=args.force)
    if not args.quiet:
        print("\n".join(run_summary(outcome, time.perf_counter() - start)))
    return EXIT_OK


def run_summary(outcome: Any, seconds: float) -> list[str]:
    """A short account of what the run found and wrote (from the run's findings)."""
    from geo.render.findings_text import summary_lines

    lines = [f"gapmap: {outcome.results.region_name} done in {seconds:.1f} s"]
    lines += [f"  {line}" for line in summary_lines(outcome.results.findings)]
    lines.append(f"  wrote {len(outcome.files)} files to {outcome.out_dir}:")
    lines += [f"    {p.name}" for p in outcome.files if p.parent == outcome.out_dir]
    tables = [p.name for p in outcome.files if p.parent.name == "tables"]
    if tables:
        lines.append(f"    tables/ ({', '.join(tables)})")
    return lines


def report(args: argparse.Namespace) -> int:
    """``gapmap report``: the report (or one pack per sub-area) without the rest of a run.

    When the run in the output folder was made from these very inputs, the page content it
    stored is laid out again, with no analysis and no scientific stack loaded; else the
    analysis runs first (and nothing but the report or packs is written).
    """
    from geo.config import load_config
    from geo.config.locations import input_files, input_hashes, output_dir, results_key
    from geo.render.outdir import check_output_target
    from geo.render.pages import html_to_pdf
    from geo.store import load_pages

    config = load_config(args.config)  # input headers are checked only if the run is redone
    if args.pdf:
        html_to_pdf("<p>check</p>")  # fail on a missing WeasyPrint before the analysis
    if args.by == "subarea" and config.subareas is None:
        raise InputError("--by subarea needs a 'subareas' section in the config", path=args.config)
    target = output_dir(config, args.out)
    inputs = list(input_files(config).values())
    check_output_target(_report_target(args, target), inputs=inputs, force=args.force)
    key = results_key(config, input_hashes(config))
    pages = load_pages(target, key=key)
    if pages is not None and (args.by != "subarea" or pages.get("packs") is not None):
        _say_reused(args, target)
    else:
        pages = _analysed_pages(args, config, target, key)
    files = _write_pages(args, pages, target, inputs)
    if args.pdf:
        files += [path.with_suffix(".pdf") for path in files if path.suffix == ".html"]
    if not args.quiet:
        print(f"gapmap: wrote {count(len(files), 'file', 'files')} to {files[0].parent}")
    return EXIT_OK


def _say_reused(args: argparse.Namespace, target: Path) -> None:
    if not args.quiet:
        print(f"gapmap: reusing the run in {target} (inputs unchanged)")


def _report_target(args: argparse.Namespace, target: Path) -> Path:
    return target / "workshop_packs" if args.by == "subarea" else target


def _analysed_pages(
    args: argparse.Namespace, config: Any, target: Path, key: str
) -> dict[str, Any]:
    """The report's (or the packs') page content from the run's stored results, else from a
    fresh analysis."""
    if args.by == "subarea":
        from geo.parallel import warm_up

        warm_up("geo.render.packs")  # its imports overlap ours; it computes half the packs
    from geo.cli.progress import expected_stages
    from geo.render.pages import content_json
    from geo.workflows.pipeline import results_for

    with progress_for(args, expected_stages(config, extra=0)) as bar:
        results, reused = results_for(
            config,
            args.out,
            online=args.online,
            progress=bar,
            before_analysis=lambda: raise_input_problems(config),
            key=key,
        )
    if reused:
        _say_reused(args, target)
    if args.by == "subarea":
        from geo.render.packs import pack_pages

        return {"packs": pack_pages(results)}
    from geo.render.report import report_content

    return {"report": content_json(report_content(results))}


def _write_pages(
    args: argparse.Namespace, pages: dict[str, Any], target: Path, inputs: list[Path]
) -> list[Path]:
    from geo.render.outdir import claim_output
    from geo.render.pages import content_from_json, write_pack_pages, write_page

    if args.by == "subarea":
        return write_pack_pages(pages["packs"], _report_target(args, target), pdf=args.pdf)
    with claim_output(target, inputs=inputs, force=args.force) as out:
        out.final.mkdir(parents=True, exist_ok=True)
        report = content_from_json(pages["report"])
        return [write_page(out.final / "report.html", report, pdf=args.pdf)]


def batch(args: argparse.Namespace) -> int:
    """``gapmap batch``: regions as Dask tasks; exit status 1 when any region failed."""
    from geo.cli.batch import batch_summary_text
    from geo.workflows.batch import run_batch

    outcome = run_batch(
        args.batch,
        args.out,
        scheduler_address=args.scheduler,
        n_workers=args.workers,
        force=args.force,
    )
    if not args.quiet:
        print(batch_summary_text(outcome))
    return EXIT_FAILURE if outcome.failed else EXIT_OK


def scenario(args: argparse.Namespace) -> int:
    """``gapmap scenario``: baseline and scenario on one network, and what changed."""
    from geo.cli.progress import expected_stages
    from geo.config import load_scenario
    from geo.workflows.scenario import run_scenario

    config = load_checked(args.config)
    what_if = load_scenario(args.scenario)
    with progress_for(args, expected_stages(config, analyses=2)) as bar:
        outcome = run_scenario(config, what_if, out_dir=args.out, progress=bar, force=args.force)
    if not args.quiet:
        if outcome.baseline_from is not None:
            print(f"gapmap: the baseline is the run in {outcome.baseline_from} (inputs unchanged)")
        print("\n".join(scenario_summary_lines(what_if.name, outcome)))
    return EXIT_OK


def scenario_summary_lines(name: str, outcome: Any) -> list[str]:
    """The scenario's change in specialist coverage by road (within the scenario's
    thresholds, which may differ from the region's), and its virtual coverage."""
    from geo.render.map_view import threshold_text

    within = threshold_text(outcome.scenario.findings, outcome.scenario, "spc")
    totals = outcome.change_totals.set_index(["coverage", "need_group"])
    spc_c, spc_nc = totals.loc[("spc", "cancer")], totals.loc[("spc", "non_cancer")]
    virtual = totals.loc[("virtual", "cancer")]
    return [
        f"gapmap: scenario '{name}'",
        f"  specialist coverage by road within {within}: +{spc_c['pop_count_gained']:,.0f} / "
        f"-{spc_c['pop_count_lost']:,.0f} people; need/yr +{spc_c['need_gained']:,.1f} / "
        f"-{spc_c['need_lost']:,.1f} cancer, +{spc_nc['need_gained']:,.1f} / "
        f"-{spc_nc['need_lost']:,.1f} non-cancer",
        f"  virtual (telehealth) coverage: {virtual['pop_count_scenario']:,.0f} people",
        f"  wrote {outcome.out_dir} (baseline/, scenario/, tables/scenario_changes.csv, "
        "scenario_map.html)",
    ]


def sites_summary_lines(info: dict) -> list[str]:
    """What the chosen sites cover, or that no need was beyond specialist reach."""
    if info["share_of_unmet_covered"] is None:
        n = info["candidates"]
        among = f" (of {count(n, 'candidate', 'candidates')})" if n else ""
        return [
            "gapmap: no need lies beyond specialist reach in this region, so no site was "
            f"chosen{among}"
        ]
    sites = count(info["sites_chosen"], "site", "sites")
    verb = "covers" if info["sites_chosen"] == 1 else "cover"
    return [
        f"gapmap: {sites} from {count(info['candidates'], 'candidate', 'candidates')} {verb} "
        f"{info['share_of_unmet_covered']:.0%} of the need beyond specialist reach",
        f"  greedy guarantee >= {info['greedy_guarantee']:.1%} of the optimum; certified "
        f">= {info['certified_ratio']:.1%} on this region",
    ]


def sites(args: argparse.Namespace) -> int:
    """``gapmap sites``: k outreach sites by lazy greedy maximal coverage."""
    from geo.analysis.sites import summary
    from geo.cli.progress import expected_stages
    from geo.workflows.sites import check_weights, run_sites

    check_weights(
        k=args.k, non_cancer_weight=args.non_cancer_weight, remote_weight=args.remote_weight
    )
    config = load_checked(args.config)
    with progress_for(args, expected_stages(config, extra=2)) as bar:
        _, choice, target = run_sites(
            config,
            k=args.k,
            candidates=args.candidates,
            non_cancer_weight=args.non_cancer_weight,
            remote_weight=args.remote_weight,
            out_dir=args.out,
            progress=bar,
            force=args.force,
        )
    if not args.quiet:
        lines = sites_summary_lines(summary(choice))
        lines += [
            f"  {int(r['rank'])}. {r['name']} (+{r['marginal_need_cancer']:.1f} cancer, "
            f"+{r['marginal_need_non_cancer']:.1f} non-cancer need/yr newly in reach)"
            for r in choice.table.to_dict("records")
        ]
        lines.append(f"  wrote {target}")
        print("\n".join(lines))
    return EXIT_OK


def workshop(args: argparse.Namespace) -> int:
    """``gapmap workshop``: the self-contained what-if page."""
    from geo.analysis.workshop import WorkshopSettings
    from geo.cli.progress import expected_stages
    from geo.workflows.workshop import run_workshop

    start = time.perf_counter()
    for name in ("gp_max_min", "spc_max_min", "telehealth_within_min", "days_per_month"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive (got {value:g})")
    if args.days_per_month > 31:
        raise InputError(f"--days-per-month must be at most 31 (got {args.days_per_month:g})")
    config = load_checked(args.config)
    settings = WorkshopSettings(
        gp_max_min=args.gp_max_min,
        spc_max_min=args.spc_max_min,
        telehealth_within_min=args.telehealth_within_min,
        days_per_month=args.days_per_month,
    )
    with progress_for(args, expected_stages(config, extra=2)) as bar:
        outcome = run_workshop(
            config,
            candidates=args.candidates,
            settings=settings,
            out_dir=args.out,
            progress=bar,
            force=args.force,
        )
    if not args.quiet:
        data, page = outcome.data, outcome.files[0]
        roles = data.facilities["role"]
        print(
            f"gapmap: workshop page for {data.region_name} in "
            f"{time.perf_counter() - start:.1f} s\n"
            f"  {len(data.origins):,} places, {int((roles == 'service').sum())} specialist "
            f"services, {int((roles == 'candidate').sum())} candidate clinics "
            f"({args.candidates}), {len(data.practices)} GP practices\n"
            f"  wrote {page} ({page.stat().st_size / 1e6:.1f} MB): open it in a browser, no "
            "internet needed; hand out the file as is"
        )
    return EXIT_OK
