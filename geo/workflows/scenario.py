"""``gapmap scenario``: a region's baseline and a what-if scenario on one loaded network.

The region's inputs are loaded (and snapped) once; the scenario's facility changes are applied
(:func:`geo.analysis.scenario.apply_scenario`); both are analysed with the same stages as
``gapmap run``; what changed is compared from their coverage columns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from geo.analysis.scenario import apply_scenario, scenario_changes, virtual_coverage
from geo.config import RegionConfig, ScenarioConfig, slugify
from geo.config.locations import input_files, input_hashes, output_dir, results_key, sha256_file
from geo.inputs.region import RegionInputs, default_cache_dir
from geo.parallel import in_background, warm_up
from geo.progress import Progress, StageTimer
from geo.render.files import provenance_json, write_csv
from geo.render.outdir import OutputFolder, claim_output, write_atomic_text
from geo.render.region import write_region_folder
from geo.render.scenario_map import write_scenario_map
from geo.results import Results
from geo.store import load_results, stored_key
from geo.workflows.pipeline import analyse, load_inputs

log = logging.getLogger(__name__)

# The baseline's folder is written by a worker process while this one writes the scenario's,
# when the results are small enough to copy to it cheaply (they are pickled across).
BACKGROUND_MAX_ORIGINS = 1_000_000


@dataclass
class ScenarioOutcome:
    """Both runs, the change tables, and what was written (``out_dir`` None when not written)."""

    baseline: Results
    scenario: Results
    changes: pd.DataFrame
    change_totals: pd.DataFrame
    out_dir: Path | None
    files: list[Path]
    baseline_from: Path | None = None


def scenario_config(config: RegionConfig, scenario: ScenarioConfig) -> RegionConfig:
    """The region config with the scenario's thresholds and home-visit shift (both runs)."""
    if scenario.thresholds is not None:
        config = config.model_copy(update={"thresholds": scenario.thresholds})
    if scenario.home_visits is not None:
        th = config.thresholds.model_copy(update={"home_visits": scenario.home_visits})
        config = config.model_copy(update={"thresholds": th})
    return config


def run_scenario(
    config: RegionConfig,
    scenario: ScenarioConfig,
    *,
    out_dir: str | Path | None = None,
    write_outputs: bool = True,
    cache_dir: str | Path | None = None,
    online: bool = False,
    progress: Progress | None = None,
    force: bool = False,
) -> ScenarioOutcome:
    """Run baseline and scenario on one loaded road network and write both.

    Output folder (default ``<region output>/scenario_<slug>``): ``baseline/`` and
    ``scenario/`` (each a full region folder), ``tables/scenario_changes.csv`` (by remoteness
    class), ``tables/scenario_change_totals.csv``, ``scenario_map.html`` and
    ``scenario.json``. Nothing is written if anything fails.

    When ``gapmap run`` has written the region's default output folder from exactly these
    inputs and settings (the scenario's thresholds included), its stored results are the
    baseline and its files (checked against the hashes in its ``run.json``) are copied into
    ``baseline/``: a workshop trying several scenarios analyses and draws the baseline once.
    """
    config = scenario_config(config, scenario)
    timer = StageTimer(progress)
    cache = Path(cache_dir) if cache_dir else default_cache_dir(config)
    target = (
        Path(out_dir)
        if out_dir
        else output_dir(config, None) / f"scenario_{slugify(scenario.name, default='scenario')}"
    )
    with contextlib.ExitStack() as stack:
        out = None
        if write_outputs:  # check and lock the output folder before any computing
            out = stack.enter_context(
                claim_output(target, inputs=_inputs(config, scenario), force=force, kind="scenario")
            )
        stored = stored_baseline(config)
        if out is not None and not stored:
            warm_up("geo.render.region")  # imports overlap loading and analysing
        inputs = load_inputs(config, cache_dir=cache, online=online, timer=timer)
        baseline = stored[0] if stored else None
        outcome = analyse_scenario(config, inputs, scenario, timer=timer, baseline=baseline)
        if stored:
            outcome = dataclasses.replace(outcome, baseline_from=stored[1])
        if out is None:
            return outcome
        with timer.stage("outputs", "writing both runs, the change tables and the map"):
            return _write_into(out, config, scenario, outcome)


def stored_baseline(config: RegionConfig) -> tuple[Results, Path] | None:
    """The results ``gapmap run`` stored in the region's default output folder, and that
    folder, when they were computed from exactly these inputs and settings; else None."""
    folder = output_dir(config, None)
    if stored_key(folder) is None:
        return None
    results = load_results(folder, key=results_key(config, input_hashes(config)))
    if results is None:
        return None
    log.info("the baseline is the run in %s (same inputs and settings)", folder)
    return results, folder


def _inputs(config: RegionConfig, scenario: ScenarioConfig) -> list[Path]:
    return [
        *input_files(config).values(),
        *([scenario.source_path] if scenario.source_path else []),
    ]


def write_scenario(
    config: RegionConfig,
    scenario: ScenarioConfig,
    outcome: ScenarioOutcome,
    target: Path,
    *,
    force: bool = False,
) -> ScenarioOutcome:
    """Write a scenario's folder (checked, locked, swapped in atomically); returns the outcome
    with ``out_dir`` and the files."""
    inputs = _inputs(config, scenario)
    with claim_output(Path(target), inputs=inputs, force=force, kind="scenario") as out:
        return _write_into(out, config, scenario, outcome)


def _write_into(out: OutputFolder, config, scenario, outcome: ScenarioOutcome) -> ScenarioOutcome:
    with out.staging() as tmp:
        _write(config, scenario, outcome.baseline, outcome.scenario, tmp, outcome.baseline_from)
    log.info("scenario %r written to %s", scenario.name, out.final)
    files = sorted(p for p in out.final.rglob("*") if p.is_file())
    return dataclasses.replace(outcome, out_dir=out.final, files=files)


def analyse_scenario(
    config: RegionConfig,
    inputs: RegionInputs,
    scenario: ScenarioConfig,
    *,
    timer: StageTimer | None = None,
    baseline: Results | None = None,
) -> ScenarioOutcome:
    """Baseline and scenario analysed from one set of loaded inputs; nothing written.

    ``config`` should already carry the scenario's thresholds (:func:`scenario_config`).
    ``baseline``: the region's results from these inputs and settings, when already known
    (:func:`stored_baseline`); else the baseline is analysed too.
    """
    timer = timer or StageTimer()
    started = datetime.now(timezone.utc)
    limit = config.roads.max_facility_snap_distance_m
    changed = apply_scenario(inputs, scenario, max_snap_distance_m=limit)
    if baseline is None:
        baseline = analyse(config, inputs, timer=timer, started=started)
    result = analyse(config, changed, timer=timer, started=started)
    result.region_name = f"{config.region.name}: {scenario.name}"
    virtual = virtual_coverage(result, scenario)
    for column in virtual.columns:
        result.origins[column] = virtual[column].to_numpy()
    changes, totals = scenario_changes(
        baseline.origins, result.origins, baseline.remoteness_classes
    )
    result.tables["scenario_changes"] = changes
    result.tables["scenario_change_totals"] = totals
    result.provenance["scenario"] = scenario.model_dump(mode="json")
    return ScenarioOutcome(baseline, result, changes, totals, None, [])


def _write(
    config,
    scenario,
    baseline: Results,
    result: Results,
    folder: Path,
    baseline_from: Path | None = None,
) -> None:
    """Both runs' folders, the change tables, the map and scenario.json, into ``folder``."""
    kw = {"offline": config.output.offline_map, "tiles": config.output.tiles}
    pending = None
    if baseline_from is None or not copy_region_outputs(baseline_from, folder / "baseline"):
        if len(baseline.origins) <= BACKGROUND_MAX_ORIGINS:
            pending = in_background(write_region_folder, baseline, folder / "baseline", **kw)
        if pending is None:
            write_region_folder(baseline, folder / "baseline", **kw)
    try:
        write_region_folder(result, folder / "scenario", **kw)
        (folder / "tables").mkdir()
        for name in ("scenario_changes", "scenario_change_totals"):
            write_csv(result.tables[name], folder / "tables" / f"{name}.csv")
        write_scenario_map(
            baseline,
            result,
            scenario,
            folder / "scenario_map.html",
            offline=config.output.offline_map,
        )
    except BaseException:
        if pending is not None:  # let the worker finish before the staging folder goes
            with contextlib.suppress(BaseException):
                pending.result()
        raise
    if pending is not None:
        pending.result()  # the worker's error, if any, fails the scenario
    info = {"scenario": scenario.model_dump(mode="json")}
    write_atomic_text(folder / "scenario.json", provenance_json(info))


def copy_region_outputs(source: Path, target: Path) -> bool:
    """Copy a region folder's outputs (the files its ``run.json`` lists, and ``run.json``)
    into ``target``, each checked against the hash the run recorded. False, with ``target``
    removed, when the run's record is missing or any file changed since the run wrote it."""
    try:
        record = json.loads((source / "run.json").read_text(encoding="utf-8"))
        outputs = dict(record["outputs"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for name, digest in outputs.items():
        path = source / name
        if not path.is_file() or sha256_file(path) != digest:
            log.info("not copying the run in %s: %s changed since it was written", source, name)
            shutil.rmtree(target, ignore_errors=True)
            return False
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / name)
    shutil.copyfile(source / "run.json", target / "run.json")
    return True


__all__ = [
    "ScenarioOutcome",
    "analyse_scenario",
    "copy_region_outputs",
    "run_scenario",
    "scenario_config",
    "stored_baseline",
    "write_scenario",
]
