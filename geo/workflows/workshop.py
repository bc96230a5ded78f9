"""``gapmap workshop``: one self-contained what-if page for a service-design workshop.

The region's inputs are loaded (and snapped) once and its baseline analysed with the same
stages as ``gapmap run``; the candidate sites are built (:mod:`geo.analysis.sites`); every
service's and candidate's travel times are precomputed (:mod:`geo.analysis.workshop`); the
page's own computation is checked against the baseline run (the default choice must give every
origin the baseline's classes); and ``<out>/workshop.html`` is written with ``workshop.json``
(settings and sizes), atomically.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from geo import __version__
from geo.analysis.classes import CLASS_COLUMN
from geo.analysis.workshop import (
    WorkshopData,
    WorkshopSettings,
    build_workshop,
    workshop_candidates,
)
from geo.analysis.workshop_model import WorkshopChoice, evaluate
from geo.config import RegionConfig
from geo.config.locations import input_files, output_dir
from geo.errors import GeoError
from geo.inputs.region import RegionInputs, default_cache_dir
from geo.progress import Progress, StageTimer
from geo.render.files import provenance_json
from geo.render.outdir import claim_output, write_atomic_text
from geo.render.workshop import write_workshop_page
from geo.results import Results
from geo.workflows.pipeline import analyse, load_inputs

log = logging.getLogger(__name__)


@dataclass
class WorkshopOutcome:
    """The baseline run, the page's tables and the files written (``out_dir`` None if not)."""

    baseline: Results
    data: WorkshopData
    out_dir: Path | None
    files: list[Path]


def coverage_only(config: RegionConfig) -> RegionConfig:
    """The config without the stages coverage does not read (speed uncertainty, catchments)."""
    return config.model_copy(
        update={
            "uncertainty": config.uncertainty.model_copy(update={"enabled": False}),
            "catchments": config.catchments.model_copy(update={"enabled": False}),
        }
    )


def prepare_workshop(
    config: RegionConfig,
    inputs: RegionInputs,
    baseline: Results,
    *,
    candidates: str = "gp_practices",
    settings: WorkshopSettings | None = None,
) -> WorkshopData:
    """The page's tables from an analysed region, checked against its baseline run.

    Raises
    ------
    InputError
        Bad candidates (unknown spec, missing file, sites off the road network) or settings.
    GeoError
        The precomputed tables do not reproduce the baseline's classes (a bug).
    """
    sites, kind = workshop_candidates(candidates, inputs, baseline)
    data = build_workshop(config, inputs, baseline, sites, candidate_kind=kind, settings=settings)
    check_against_baseline(data, baseline)
    return data


def check_against_baseline(data: WorkshopData, baseline: Results) -> None:
    """Raise :class:`~geo.errors.GeoError` unless the page's default choice gives every origin
    the baseline run's coverage classes."""
    page, _ = evaluate(data, WorkshopChoice())
    for column in CLASS_COLUMN.values():
        expected = baseline.origins[column].to_numpy()
        differ = np.flatnonzero(page[column].to_numpy() != expected)
        if differ.size:
            raise GeoError(
                f"the workshop tables give {differ.size} origins another {column} than the "
                f"baseline run (e.g. origin {baseline.origins['origin_id'].iloc[differ[0]]}); "
                "please report this"
            )


def run_workshop(
    config: RegionConfig,
    *,
    candidates: str = "gp_practices",
    settings: WorkshopSettings | None = None,
    out_dir: str | Path | None = None,
    write_outputs: bool = True,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> WorkshopOutcome:
    """Load, analyse, precompute and write a region's workshop page.

    Output folder (default ``<region output>/workshop``): ``workshop.html`` (the page) and
    ``workshop.json`` (settings, candidates, sizes). The folder is checked and locked before
    any computing (see :func:`geo.render.outdir.claim_output`); nothing is written if anything
    fails.
    """
    timer = StageTimer(progress)
    cache = Path(cache_dir) if cache_dir else default_cache_dir(config)
    target = Path(out_dir) if out_dir else output_dir(config, None) / "workshop"
    inputs_used = [*input_files(config).values()]
    if candidates not in ("gp_practices", "grid"):
        inputs_used.append(Path(candidates))
    with contextlib.ExitStack() as stack:
        out = None
        if write_outputs:
            out = stack.enter_context(
                claim_output(target, inputs=inputs_used, force=force, kind="workshop")
            )
        inputs = load_inputs(config, cache_dir=cache, timer=timer)
        baseline = analyse(coverage_only(config), inputs, timer=timer)
        with timer.stage("workshop", "precomputing travel times for the page"):
            data = prepare_workshop(
                config, inputs, baseline, candidates=candidates, settings=settings
            )
        if out is None:
            return WorkshopOutcome(baseline, data, None, [])
        with timer.stage("outputs", "writing the workshop page"), out.staging() as tmp:
            files = write_workshop_into(data, tmp, candidates=candidates)
    return WorkshopOutcome(baseline, data, target, [target / f.name for f in files])


def write_workshop(
    data: WorkshopData, target: Path, *, candidates: str = "", force: bool = False
) -> list[Path]:
    """Write ``target/workshop.html`` and ``workshop.json``, swapped in atomically."""
    with claim_output(Path(target), force=force, kind="workshop") as out, out.staging() as tmp:
        files = write_workshop_into(data, tmp, candidates=candidates)
    return [Path(target) / f.name for f in files]


def write_workshop_into(data: WorkshopData, tmp: Path, *, candidates: str = "") -> list[Path]:
    """Write the page and its ``workshop.json`` into a staging folder; returns the files."""
    page = write_workshop_page(data, tmp / "workshop.html")
    fac = data.facilities
    info = {
        "tool": "gapmap",
        "version": __version__,
        "generated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "region": data.region_name,
        "candidates": candidates,
        "origins": len(data.origins),
        "specialist_services": int((fac["role"] == "service").sum()),
        "candidate_sites": int((fac["role"] == "candidate").sum()),
        "gp_practices": len(data.practices),
        "origin_facility_pairs": int(sum(len(rows) for rows, _ in data.facility_origins)),
        "codes_per_minute": data.per_min,
        "gp_slider_min": list(data.gp_slider),
        "spc_slider_min": list(data.spc_slider),
        "telehealth_within_min": data.within_min,
        "days_per_month": data.days_per_month,
        "thresholds": data.thresholds,
        "page_bytes": page.stat().st_size,
    }
    write_atomic_text(tmp / "workshop.json", provenance_json(info))
    log.info("workshop page written to %s", tmp)
    return [tmp / "workshop.html", tmp / "workshop.json"]


__all__ = [
    "WorkshopOutcome",
    "check_against_baseline",
    "coverage_only",
    "prepare_workshop",
    "run_workshop",
    "write_workshop",
]
