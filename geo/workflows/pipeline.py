"""The region pipeline: ``load_inputs`` → ``analyse`` → ``write``, timed, with provenance.

The three public stages are the toolkit's stage API; scenario, site selection, batches and the
benchmarks call them and never re-run a stage their own way:

* :func:`load_inputs` (:mod:`geo.inputs.region`): roads, facilities, population, remoteness and
  need, snapped to the network once;
* :func:`analyse`: :func:`geo.analysis.region.analyse` plus the run's provenance (``run.json``);
* :func:`write`: the output folder (:mod:`geo.render.region`).

:func:`run` chains them for ``gapmap run`` and ``gapmap demo``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo import __version__
from geo.config import RegionConfig
from geo.config.locations import input_files, input_hashes, output_dir, results_key
from geo.parallel import warm_up
from geo.progress import Progress, StageTimer, collect_warnings
from geo.render.outdir import OutputFolder, claim_output
from geo.results import Results
from geo.store import load_results, stored_key

if TYPE_CHECKING:  # the inputs stage (GDAL readers, the routing engine) loads on first use
    from geo.inputs.region import RegionInputs

log = logging.getLogger(__name__)

__all__ = [
    "RunOutcome",
    "analyse",
    "load_inputs",
    "results_for",
    "run",
    "write",
]


@dataclass
class RunOutcome:
    """What a run produced: its results and the files it wrote."""

    results: Results
    out_dir: Path | None
    files: list[Path]


def run(
    config: RegionConfig,
    *,
    out_dir: str | Path | None = None,
    online: bool = False,
    progress: Progress | None = None,
    write_outputs: bool = True,
    cache_dir: str | Path | None = None,
    force: bool = False,
) -> RunOutcome:
    """Run one region end to end and (by default) write its output folder.

    Parameters
    ----------
    config
        The validated region config.
    out_dir
        Output folder; default ``config.output.dir``, else ``maps/<region slug>``.
    online
        Allow downloading the road network (only used when the config names a place/polygon).
    progress
        Optional stage-event receiver.
    write_outputs
        Write outputs (map, report, layers, tables, run.json); False returns results only.
    cache_dir
        Where built road networks are cached; default ``.cache/`` next to the config.
    force
        Replace an output folder that holds files gapmap did not write (never one holding an
        input).

    Returns
    -------
    RunOutcome
        The results and the written files.
    """
    timer = StageTimer(progress)
    started = datetime.now(timezone.utc)
    from geo.inputs.region import default_cache_dir

    cache = Path(cache_dir) if cache_dir else default_cache_dir(config)
    target = output_dir(config, out_dir)
    files: list[Path] = []
    with contextlib.ExitStack() as stack:
        out = None
        if write_outputs:  # check and lock the output folder before any computing
            out = stack.enter_context(
                claim_output(target, inputs=input_files(config).values(), force=force)
            )
        caught = stack.enter_context(collect_warnings())
        inputs = load_inputs(config, cache_dir=cache, online=online, timer=timer)
        if out is not None:
            _warm_up_for_packs(config, inputs)
        results = analyse(config, inputs, timer=timer, started=started)
        results.provenance["warnings"] = caught.messages  # the same list: grows while writing
        if out is not None:
            with timer.stage("outputs", "writing map, report, layers and tables"):
                files = write_into(out, results, config)
    results.provenance["timings_s"] = dict(timer.timings_s)
    return RunOutcome(results=results, out_dir=target if write_outputs else None, files=files)


def _warm_up_for_packs(config: RegionConfig, inputs: RegionInputs) -> None:
    """Start the worker that prepares the workshop packs while the run writes its files (its
    imports then overlap the analysis), when the run will prepare them."""
    from geo.render.region import populated_subareas, prepares_packs

    packs = populated_subareas(inputs.origins, inputs.subareas)
    if prepares_packs(config.output.workshop_packs, packs):
        warm_up("geo.render.packs")


def load_inputs(config: RegionConfig, **kwargs: Any) -> RegionInputs:
    """The inputs stage, :func:`geo.inputs.region.load_inputs` (imported on first use, so that
    ``gapmap report`` reusing a run's results never loads the readers or the routing engine)."""
    from geo.inputs.region import load_inputs as load_region_inputs

    return load_region_inputs(config, **kwargs)


# The parts of stored results that neither the report nor a workshop pack draws (maps do).
NOT_IN_REPORTS = ("catchments", "travel_time_surface", "hotspots", "remoteness_areas")


def results_for(
    config: RegionConfig,
    out_dir: str | Path | None = None,
    *,
    online: bool = False,
    progress: Progress | None = None,
    before_analysis: Callable[[], None] | None = None,
    key: str | None = None,
) -> tuple[Results, bool]:
    """A region's results for a command that only renders (``gapmap report``): those stored
    by the run in the output folder when they were computed from exactly these inputs and
    settings (:mod:`geo.store`), else a fresh analysis (nothing written). Stored results
    come without the layers no report draws (:data:`NOT_IN_REPORTS`).

    ``before_analysis`` runs only when the stored results cannot be used (e.g. the CLI's check
    of every input file's header: inputs whose hashes match a stored run were checked by it).
    ``key`` is the config's :func:`~geo.config.locations.results_key` when the caller has it
    already (it hashes every input file).

    Returns
    -------
    results : Results
    reused : bool
        Whether the stored results were used.
    """
    target = output_dir(config, out_dir)
    if stored_key(target) is not None:
        key = key or results_key(config, input_hashes(config))
        stored = load_results(target, key=key, skip=NOT_IN_REPORTS)
        if stored is not None:
            log.info("reusing the results of the run in %s (inputs unchanged)", target)
            return stored, True
    if before_analysis is not None:
        before_analysis()
    outcome = run(config, online=online, progress=progress, write_outputs=False)
    return outcome.results, False


def analyse(
    config: RegionConfig,
    inputs: RegionInputs,
    *,
    timer: StageTimer | None = None,
    started: datetime | None = None,
) -> Results:
    """The analysis stage (:func:`geo.analysis.region.analyse`) with the run's provenance."""
    timer = timer or StageTimer()
    started = started or datetime.now(timezone.utc)
    from geo.analysis.region import analyse as analyse_inputs  # not needed by `gapmap report`

    results = analyse_inputs(config, inputs, timer=timer)
    results.provenance = provenance(config, inputs, results, timer, started)
    return results


def write(
    results: Results, target: Path, config: RegionConfig, *, force: bool = False
) -> list[Path]:
    """The write stage: a region's output folder, checked, locked and replaced atomically."""
    with claim_output(Path(target), inputs=input_files(config).values(), force=force) as out:
        return write_into(out, results, config)


def write_into(out: OutputFolder, results: Results, config: RegionConfig) -> list[Path]:
    """Write a region's files into a claimed output folder."""
    from geo.render.region import write_region  # maps and folium: not needed by `gapmap report`

    output = config.output
    return write_region(
        results,
        out,
        offline=output.offline_map,
        tiles=output.tiles,
        pages=True,
        packs=output.workshop_packs,
    )


# The libraries whose versions run.json records (what a result may depend on).
DEPENDENCIES = (
    "numpy",
    "pandas",
    "scipy",
    "shapely",
    "pyproj",
    "pyogrio",
    "geopandas",
    "rasterio",
    "osmium",
    "scikit-learn",
    "folium",
    "jinja2",
    "pillow",
    "pydantic",
    "PyYAML",
)


def dependency_versions() -> dict[str, str | None]:
    """The installed version of each of :data:`DEPENDENCIES` (None when absent), and GDAL's."""
    from importlib.metadata import PackageNotFoundError, version

    import pyogrio

    found: dict[str, str | None] = {}
    for name in DEPENDENCIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    found["GDAL"] = pyogrio.__gdal_version_string__
    return found


def provenance(
    config: RegionConfig,
    inputs: RegionInputs,
    results: Results,
    timer: StageTimer,
    started: datetime,
) -> dict[str, Any]:
    """The run.json content: inputs and hashes, data date, settings, findings, timings."""
    origins = results.origins
    files = input_hashes(config)
    remoteness, need = inputs.remoteness, inputs.need
    prov: dict[str, Any] = {
        "tool": "gapmap",
        "version": __version__,
        "python": platform.python_version(),
        "dependencies": dependency_versions(),
        "results_key": results_key(config, files),
        "region": config.region.name,
        "started_utc": started.isoformat(timespec="seconds"),
        "analysis_crs": inputs.crs.to_string(),
        "inputs": files,
        "osm_data_date": inputs.road_info.get("data_date"),
        "road_network": inputs.road_info,
        "speed_settings": config.roads.model_dump(mode="json"),
        "population_source": config.population.kind,
        "remoteness": {
            "scheme": remoteness.scheme,
            "version": remoteness.version,
            "classes": list(remoteness.class_order),
            "stats": remoteness.stats,
        },
        "need": {"model": config.need.model, "source": config.need.source, "stats": need.stats},
        "thresholds": config.thresholds.model_dump(mode="json"),
        "suppress_below": config.need.suppress_below,
        "totals": {
            "pop_count": float(origins["pop_count"].sum()),
            "need_cancer": float(origins["need_cancer"].sum()),
            "need_non_cancer": float(origins["need_non_cancer"].sum()),
            "origins": len(origins),
            "origins_unreachable": int((~origins["reachable"]).sum()),
            "gp_practices": len(results.gp_practices),
            "specialist_services": len(results.specialist_services),
        },
        "timings_s": timer.timings_s,
    }
    prov.update(input_sources(inputs, results))
    if results.findings is not None:
        prov["findings"] = dataclasses.asdict(results.findings)
        prov["headline_shares"] = results.findings.headline_shares()
        prov["excluded_facilities"] = results.findings.excluded_facilities
    if "uncertainty" in results.tables:
        prov["uncertainty"] = results.tables["uncertainty"].to_dict(orient="records")
    return prov


def input_sources(inputs: RegionInputs, results: Results) -> dict[str, Any]:
    """``geocoding`` (per section, and each facility's location precision) and ``capacity``
    (units and source per facility section) for run.json; empty when neither applies."""
    out: dict[str, Any] = {}
    geocoding = dict(inputs.sources.get("geocoding", {}))
    for section, frame in (
        ("gp_practices", results.gp_practices),
        ("specialist_services", results.specialist_services),
    ):
        if section in geocoding and "location_precision" in frame.columns:
            placed = frame[["facility_id", "name", "location_query", "location_precision"]]
            geocoding[section] = {
                **geocoding[section],
                "facilities": placed.astype(object).where(placed.notna(), None).to_dict("records"),
            }
    if geocoding:
        out["geocoding"] = geocoding
    if inputs.sources.get("capacity"):
        out["capacity"] = inputs.sources["capacity"]
    return out
