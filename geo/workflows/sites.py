"""``gapmap sites``: where k specialist outreach clinics would bring the most need in reach.

Runs the region's stages once (inputs snapped once, the baseline analysed with the same coverage
model as ``gapmap run``), builds the candidates (:mod:`geo.analysis.sites`: GP practices, a
need-weighted grid, or a file) and the lazy greedy choice, and writes
``<region output>/sites/``: ``tables/site_selection.csv`` (rank, site, the people and the cancer
and non-cancer need each site newly brings within reach), ``sites_map.html`` and ``sites.json``
(settings, greedy guarantee and certified bound).
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path

import geopandas as gpd

from geo.analysis.findings import remote_classes
from geo.analysis.sites import (
    SiteChoice,
    choose_sites,
    file_candidates,
    gp_candidates,
    grid_candidates,
    summary,
    unmet_weight,
)
from geo.config import RegionConfig
from geo.config.locations import input_files, output_dir
from geo.errors import InputError, InputErrors
from geo.inputs.region import RegionInputs, default_cache_dir
from geo.progress import Progress, StageTimer
from geo.render.files import provenance_json, write_csv
from geo.render.outdir import claim_output, write_atomic_text
from geo.render.sites_map import write_sites_map
from geo.results import Results
from geo.routing.network import RoadNetwork
from geo.workflows.pipeline import analyse, load_inputs

log = logging.getLogger(__name__)


def run_sites(
    config: RegionConfig,
    *,
    k: int,
    candidates: str = "gp_practices",
    non_cancer_weight: float = 1.0,
    remote_weight: float = 1.0,
    out_dir: str | Path | None = None,
    write_outputs: bool = True,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> tuple[Results, SiteChoice, Path | None]:
    """Choose ``k`` outreach sites for a region and (by default) write the outputs."""
    check_weights(k=k, non_cancer_weight=non_cancer_weight, remote_weight=remote_weight)
    timer = StageTimer(progress)
    cache = Path(cache_dir) if cache_dir else default_cache_dir(config)
    target = Path(out_dir) if out_dir else output_dir(config, None) / "sites"
    inputs_used = [*input_files(config).values()]
    if candidates not in ("gp_practices", "grid"):
        inputs_used.append(Path(candidates))
    with contextlib.ExitStack() as stack:
        out = None
        if write_outputs:  # check and lock the output folder before any computing
            out = stack.enter_context(
                claim_output(target, inputs=inputs_used, force=force, kind="sites")
            )
        inputs = load_inputs(config, cache_dir=cache, timer=timer)
        results = analyse(config, inputs, timer=timer)
        with timer.stage("sites", "choosing outreach sites"):
            choice, settings = select_sites(
                config,
                inputs,
                results,
                k=k,
                candidates=candidates,
                non_cancer_weight=non_cancer_weight,
                remote_weight=remote_weight,
            )
        if out is not None:
            stage = timer.stage("outputs", "writing the sites table and map")
            with stage, out.staging() as tmp:
                _write(results, choice, settings, tmp, offline=config.output.offline_map)
    return results, choice, target if write_outputs else None


def check_weights(*, k: int, non_cancer_weight: float, remote_weight: float) -> None:
    """``k`` at least 1 and the weights finite and non-negative, or an :class:`InputError`."""
    problems = []
    if k < 1:
        problems.append(InputError(f"--k must be at least 1 (got {k})"))
    for name, value in (
        ("--non-cancer-weight", non_cancer_weight),
        ("--remote-weight", remote_weight),
    ):
        if not math.isfinite(value) or value < 0:
            problems.append(
                InputError(f"{name} must be a finite number of at least 0 (got {value!r})")
            )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputErrors(problems)


def select_sites(
    config: RegionConfig,
    inputs: RegionInputs,
    results: Results,
    *,
    k: int,
    candidates: str = "gp_practices",
    non_cancer_weight: float = 1.0,
    remote_weight: float = 1.0,
) -> tuple[SiteChoice, dict]:
    """The greedy choice of ``k`` sites from an analysed region (its inputs' snapping reused).

    Returns
    -------
    tuple
        The choice, and the settings ``sites.json`` records.
    """
    check_weights(k=k, non_cancer_weight=non_cancer_weight, remote_weight=remote_weight)
    origins = results.origins
    remote = remote_classes(results.remoteness_classes)
    weight = unmet_weight(
        origins,
        non_cancer_weight=non_cancer_weight,
        remote_weight=remote_weight,
        remote_classes=remote,
    )
    cands = _candidates(candidates, results, weight, inputs.network)
    choice = choose_sites(
        inputs.network,
        origins,
        inputs.snaps.origins,
        cands,
        k=k,
        weight=weight,
        spc_threshold_min=origins["spc_threshold_min"].to_numpy(float),
        max_snap_distance_m=config.roads.max_facility_snap_distance_m,
        offroad_speed_kph=config.roads.offroad_speed_kph,
    )
    settings = {
        "k": k,
        "candidates": candidates,
        "non_cancer_weight": non_cancer_weight,
        "remote_weight": remote_weight,
        "remote_classes": remote,
    }
    return choice, settings


def _candidates(spec: str, results: Results, weight, network: RoadNetwork) -> gpd.GeoDataFrame:
    if spec == "gp_practices":
        return gp_candidates(results.gp_practices)
    if spec == "grid":
        return grid_candidates(results.origins, weight, network)
    path = Path(spec)
    if not path.is_file():
        raise InputError(
            f"--candidates must be gp_practices, grid or a file of sites; {spec!r} is none"
        )
    return file_candidates(path, results.crs)


def write_sites(
    results: Results, choice: SiteChoice, settings: dict, target: Path, *, offline: bool = False
) -> None:
    """Write ``target`` (the sites table, ``sites.json`` and the map): checked, locked and
    swapped in atomically."""
    with claim_output(Path(target), kind="sites") as out, out.staging() as tmp:
        _write(results, choice, settings, tmp, offline=offline)
    log.info("site selection written to %s", target)


def _write(results: Results, choice: SiteChoice, settings: dict, folder: Path, *, offline: bool):
    (folder / "tables").mkdir()
    write_csv(choice.table, folder / "tables" / "site_selection.csv")
    info = {"settings": settings, **summary(choice)}
    write_atomic_text(folder / "sites.json", provenance_json(info))
    write_sites_map(results, choice, folder / "sites_map.html", offline=offline)
