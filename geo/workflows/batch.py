"""Batches of regions on Dask: many region configs, or every sub-area of a national layer.

A batch file is YAML with paths relative to itself, in one of two forms::

    # (a) a list of region configs
    regions:
      - regions/demo.yml
      - regions/isle_of_wight.yml
    out_dir: ../maps/batch            # optional; gapmap batch --out overrides

    # (b) one config template run once per sub-area of a national layer
    template: regions/national.yml
    subareas:
      path: ${GEO_DATA_ROOT}/au/national/boundaries/sa3.gpkg
      layer: sa3                      # optional
      id_column: SA3_CODE21
      name_column: SA3_NAME21         # optional (default: the id)
      ids: ["10102", "10103"]         # optional (default: every sub-area)

In form (b) each sub-area becomes one region: the template's ``region.name`` is replaced by the
sub-area's name and its ``region.boundary`` by the sub-area polygon; its folder is named from its
id and name (``10102_queanbeyan``), so sub-areas sharing a name stay apart. The pipeline clips
only the *population* (and the catchment surface) to ``region.boundary`` (raster cells by centre,
points and polygons by location); roads, GP practices and specialist services stay national, so
people may travel across the sub-area border to the nearest service, as they do. The polygon is
written (GeoJSON, EPSG:4326) to ``OUT/.batch/boundaries/<slug>.geojson`` after validation; inputs
are never modified. Each sub-area run still reads and searches the template's whole road network
(the network cache makes the reading cheap after the first run), so for national road files a
partitioned run (:mod:`geo.partition`) is the faster route to national travel times.

:func:`run_batch` validates everything first (nothing is written when anything is wrong), skips
regions whose output folder already holds a ``run.json`` of the same inputs and settings, runs the
others as Dask tasks (one region's failure is reported and does not stop the others), and writes
``OUT/batch_summary.csv`` and ``OUT/index.html``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo import __version__
from geo.config import BatchConfig, RegionConfig, SubareaSource, load_batch, load_config, slugify
from geo.config.locations import input_files, sha256_file
from geo.errors import ConfigError, InputError, InputErrors
from geo.inputs.readers import read_vector, require_columns
from geo.inputs.validate import check_inputs
from geo.render.batch_pages import write_index, write_summary
from geo.render.files import provenance_json
from geo.render.outdir import claim_output, mark, write_atomic_text
from geo.routing.cluster import dask_client
from geo.workflows.pipeline import run

log = logging.getLogger(__name__)

BATCH_DIR = ".batch"
STATUSES = ("ok", "failed", "skipped")


@dataclass
class BatchRegion:
    """One region of a batch, planned and validated.

    Attributes
    ----------
    name
        Region name (from its config, or the sub-area name).
    slug
        Output folder name under the batch's output folder.
    entry
        Where it comes from in the batch file, for messages (``regions[2]``, ``subarea 10102``).
    config
        The region config to run.
    boundary_geojson
        Form (b): the sub-area polygon to write to ``config.region.boundary`` before running.
    """

    name: str
    slug: str
    entry: str
    config: RegionConfig
    boundary_geojson: str | None = None


@dataclass
class BatchOutcome:
    """What a batch did: one summary row per region, and the files written."""

    summary: list[dict[str, Any]]
    out_dir: Path
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Names of the regions that failed."""
        return [row["region"] for row in self.summary if row["status"] == "failed"]


# -- reading and validating -------------------------------------------------------------------
def plan_batch(batch: BatchConfig, out_dir: Path, *, check_files: bool = True) -> list[BatchRegion]:
    """Every region of the batch, validated: configs, input file headers, the sub-area layer.

    Parameters
    ----------
    batch
        The batch.
    out_dir
        The batch's output folder (form b places sub-area boundaries under it).
    check_files
        Also check each config's input files (:func:`geo.validate.check_inputs`).

    Raises
    ------
    InputError, InputErrors
        Every problem found, each naming the batch file and the entry.
    """
    if batch.regions is not None:
        regions, problems = _plan_listed(batch, check_files=check_files)
    else:
        regions, problems = _plan_subareas(batch, out_dir, check_files=check_files)
    problems += _duplicates(regions, batch.source_path)
    if problems:
        raise problems[0] if len(problems) == 1 else InputErrors(problems)
    return regions


def _problem(batch_path: Path | None, entry: str, message: str) -> InputError:
    return ConfigError(f"{entry}: {message}", path=batch_path)


def _plan_listed(
    batch: BatchConfig, *, check_files: bool
) -> tuple[list[BatchRegion], list[InputError]]:
    regions, problems = [], []
    for i, path in enumerate(batch.regions or []):
        entry = f"regions[{i}] ({path})"
        if not path.is_file():
            problems.append(_problem(batch.source_path, entry, "region config file not found"))
            continue
        try:
            config = load_config(path)
        except InputErrors as exc:
            problems += [_problem(batch.source_path, entry, str(p)) for p in exc.problems]
            continue
        except InputError as exc:
            problems.append(_problem(batch.source_path, entry, str(exc)))
            continue
        found = check_inputs(config) if check_files else []
        problems += [_problem(batch.source_path, entry, str(p)) for p in found]
        regions.append(BatchRegion(config.region.name, slugify(config.region.name), entry, config))
    return regions, problems


def _plan_subareas(
    batch: BatchConfig, out_dir: Path, *, check_files: bool
) -> tuple[list[BatchRegion], list[InputError]]:
    entry = f"template ({batch.template})"
    try:
        template = load_config(batch.template)
    except InputErrors as exc:
        return [], [_problem(batch.source_path, entry, str(p)) for p in exc.problems]
    except InputError as exc:
        return [], [_problem(batch.source_path, entry, str(exc))]
    problems = check_inputs(template) if check_files else []
    problems = [_problem(batch.source_path, entry, str(p)) for p in problems]
    try:
        polygons = _subarea_polygons(batch.subareas)
    except InputError as exc:
        return [], [*problems, _problem(batch.source_path, "subareas", str(exc))]
    regions = []
    for area_id, name, geojson in polygons:
        slug = slugify(f"{area_id} {name}")  # ids are unique; names need not be
        boundary = (Path(out_dir) / BATCH_DIR / "boundaries" / f"{slug}.geojson").resolve()
        info = template.region.model_copy(update={"name": name, "boundary": boundary})
        config = template.model_copy(update={"region": info})
        regions.append(BatchRegion(name, slug, f"subarea {area_id}", config, geojson))
    return regions, problems


def _subarea_polygons(source: SubareaSource) -> list[tuple[str, str, str]]:
    """(id, name, GeoJSON text in EPSG:4326) of each selected sub-area, in layer order."""
    import geopandas as gpd

    frame = read_vector(source.path, layer=source.layer, crs="EPSG:4326", key="subareas")
    require_columns(frame, [source.id_column, source.name_column], source.path)
    ids = frame[source.id_column].astype(str)
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        raise InputError(
            f"sub-area ids are not unique: {', '.join(duplicated[:5])}",
            path=source.path,
            column=source.id_column,
        )
    if source.ids is not None:
        missing = [i for i in source.ids if i not in set(ids)]
        if missing:
            raise InputError(
                f"sub-area ids not in the layer: {', '.join(missing[:10])}",
                path=source.path,
                column=source.id_column,
            )
        frame, ids = frame[ids.isin(source.ids)], ids[ids.isin(source.ids)]
    names = frame[source.name_column].astype(str) if source.name_column else ids
    out = []
    for area_id, name, geom in zip(ids, names, frame.geometry, strict=True):
        if geom is None or geom.is_empty:
            raise InputError(f"sub-area {area_id} has no geometry", path=source.path)
        one = gpd.GeoDataFrame({"area_id": [area_id], "area_name": [name]}, geometry=[geom])
        out.append((area_id, name, one.set_crs("EPSG:4326").to_json(drop_id=True)))
    return out


def _duplicates(regions: list[BatchRegion], batch_path: Path | None) -> list[InputError]:
    problems, seen = [], {}
    for region in regions:
        first = seen.setdefault(region.slug, region)
        if first is not region:
            what = "name" if first.name == region.name else f"output folder '{region.slug}'"
            problems.append(
                _problem(
                    batch_path,
                    region.entry,
                    f"region {region.name!r} has the same {what} as {first.entry} "
                    f"({first.name!r}); region names must be unique within a batch",
                )
            )
    return problems


# -- resuming ---------------------------------------------------------------------------------
def input_hashes(config: RegionConfig, *, cache: dict[Path, str] | None = None) -> dict[str, Any]:
    """SHA-256 of each input file of a region, as ``run.json`` records them (None if missing).

    Parameters
    ----------
    config
        The region config.
    cache
        Hashes already computed in this batch (national files shared by many regions).
    """
    cache = {} if cache is None else cache
    out: dict[str, Any] = {}
    for name, path in input_files(config).items():
        if not path.is_file():
            out[name] = None
            continue
        if path not in cache:
            cache[path] = sha256_file(path)
        out[name] = cache[path]
    return out


def run_settings(config: RegionConfig) -> dict[str, Any]:
    """The settings a ``run.json`` records that decide its results (compared when resuming)."""
    settings = {
        "version": __version__,
        "region": config.region.name,
        "speed_settings": config.roads.model_dump(mode="json"),
        "thresholds": config.thresholds.model_dump(mode="json"),
        "suppress_below": config.need.suppress_below,
    }
    return json.loads(provenance_json(settings))


def is_current(config: RegionConfig, folder: Path, *, cache: dict[Path, str] | None = None) -> bool:
    """Whether ``folder`` holds a finished run of the same inputs and settings.

    A run's folder is written atomically with ``run.json`` last, so a ``run.json`` means the run
    completed. It is current when every input file hashes the same, no input was added or
    removed, and the recorded settings and tool version match.
    """
    try:
        recorded = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))
        hashes = {k: v.get("sha256") for k, v in recorded["inputs"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return False
    if hashes != input_hashes(config, cache=cache):
        return False
    return all(recorded.get(k) == v for k, v in run_settings(config).items())


# -- running ----------------------------------------------------------------------------------
def summary_figures(headline: dict[str, Any], totals: dict[str, Any]) -> dict[str, float]:
    """A batch summary row's figures, read from a run's findings (``run.json``).

    Parameters
    ----------
    headline
        ``run.json``'s ``headline_shares`` (from the run's :class:`~geo.results.Findings`).
    totals
        ``run.json``'s ``totals`` (``pop_count``, ``need_cancer``, ``need_non_cancer``).
    """
    cancer, non_cancer = float(totals["need_cancer"]), float(totals["need_non_cancer"])
    return {
        "pop_count": float(totals["pop_count"]),
        "need_cancer": cancer,
        "need_non_cancer": non_cancer,
        "need_total": cancer + non_cancer,
        "need_within_spc_share": _number(headline.get("need_within_spc_share")),
        "need_unknown_spc_share": _number(headline.get("need_unknown_spc_share")),
    }


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def run_region_task(config: RegionConfig, folder: str) -> dict[str, Any]:
    """Run one region into ``folder`` (a Dask task): never raises, reports failure instead."""
    start = time.perf_counter()
    try:
        outcome = run(config, out_dir=folder)
        prov = outcome.results.provenance
        figures = summary_figures(prov["headline_shares"], prov["totals"])
    except Exception as exc:  # a failed region is reported, never fatal to the batch
        log.warning("region %s failed: %s", config.region.name, exc, exc_info=True)
        return {
            "status": "failed",
            "seconds": time.perf_counter() - start,
            "error": f"{type(exc).__name__}: {exc}",
        }
    return {"status": "ok", "seconds": time.perf_counter() - start, "error": "", **figures}


def run_batch(
    batch: BatchConfig | str | Path,
    out_dir: str | Path | None = None,
    scheduler_address: str | None = None,
    n_workers: int = 2,
    *,
    connect_timeout_s: float = 5.0,
    check_files: bool = True,
    force: bool = False,
) -> BatchOutcome:
    """Run every region of a batch as a Dask task; write the summary and the index page.

    Parameters
    ----------
    batch
        A batch, or the path of a batch file.
    out_dir
        Output folder; default the batch's ``out_dir``, else ``maps/<batch file name>``.
    scheduler_address
        A running Dask scheduler (``tcp://host:8786``); default a local cluster.
    n_workers
        Worker processes of the local cluster.
    connect_timeout_s
        Seconds to wait for ``scheduler_address``.
    check_files
        Check every config's input files before starting (as ``gapmap validate`` does).
    force
        Use an output folder that holds files gapmap did not write (never one holding an
        input).

    Returns
    -------
    BatchOutcome

    Raises
    ------
    InputError, InputErrors
        The batch is invalid or the scheduler cannot be reached; nothing was written.
    """
    batch = batch if isinstance(batch, BatchConfig) else load_batch(batch)
    target = Path(out_dir) if out_dir is not None else default_out_dir(batch)
    regions = plan_batch(batch, target, check_files=check_files)
    used = [batch.source_path] + [
        p
        for r in regions
        for p in input_files(r.config).values()
        if BATCH_DIR not in p.parts  # the sub-area boundaries the batch writes itself
    ]
    with contextlib.ExitStack() as stack:
        stack.enter_context(claim_output(target, inputs=used, force=force, kind="batch"))
        client = None
        if scheduler_address:  # fail on an unreachable scheduler before writing anything
            client = stack.enter_context(
                dask_client(scheduler_address, connect_timeout_s=connect_timeout_s)
            )
        mark(target, "batch")
        _write_boundaries(regions)
        rows, pending = _skip_current(regions, target)
        if pending:
            if client is None:
                client = stack.enter_context(dask_client(None, n_workers=n_workers))
            rows.update(_run_pending(client, pending, target))
        ordered = [rows[r.slug] for r in regions]
        files = [write_summary(ordered, target), write_index(ordered, target)]
    return BatchOutcome(summary=ordered, out_dir=target, files=files)


def default_out_dir(batch: BatchConfig) -> Path:
    """The batch's ``out_dir``, else ``maps/<batch file name>`` in the current folder."""
    if batch.out_dir is not None:
        return batch.out_dir
    stem = batch.source_path.stem if batch.source_path else "batch"
    return Path("maps") / slugify(stem)


def _write_boundaries(regions: list[BatchRegion]) -> None:
    """Write form (b) sub-area polygons, leaving unchanged files alone (their hash resumes)."""
    for region in regions:
        if region.boundary_geojson is None:
            continue
        path = region.config.region.boundary
        if path.is_file() and path.read_text(encoding="utf-8") == region.boundary_geojson:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic_text(path, region.boundary_geojson)


def _skip_current(
    regions: list[BatchRegion], target: Path
) -> tuple[dict[str, dict[str, Any]], list[BatchRegion]]:
    """Summary rows of the regions whose outputs are current, and the regions left to run."""
    hashes: dict[Path, str] = {}
    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for region in regions:
        folder = (target / region.slug).resolve()
        current = is_current(region.config, folder, cache=hashes)
        skipped = _skipped_row(folder) if current else None
        if skipped is None:
            pending.append(region)
            continue
        log.info("%s: outputs are current, skipped", region.name)
        rows[region.slug] = {**_row_base(region), **skipped}
    return rows, pending


def _row_base(region: BatchRegion) -> dict[str, Any]:
    return {"region": region.name, "slug": region.slug, "out_dir": region.slug}


def _run_pending(
    client: Any, regions: list[BatchRegion], target: Path
) -> dict[str, dict[str, Any]]:
    """Run regions as Dask tasks; one summary row each (failures caught, never raised)."""
    from distributed import as_completed

    futures = {}
    for region in regions:
        folder = (target / region.slug).resolve()
        key = f"region-{region.slug}-{uuid.uuid4().hex[:8]}"
        future = client.submit(run_region_task, region.config, str(folder), key=key, pure=False)
        futures[future] = region
    rows = {}
    for future in as_completed(list(futures), loop=client.loop):
        region = futures[future]
        try:
            row = future.result()
        except Exception as exc:  # the worker died (memory, killed): the region failed
            row = {"status": "failed", "seconds": float("nan"), "error": f"task lost: {exc!r}"}
        log.info("%s: %s", region.name, row["status"])
        rows[region.slug] = {**_row_base(region), **row}
    return rows


def _skipped_row(folder: Path) -> dict[str, Any] | None:
    """The summary row of a current folder (None when its outputs cannot be read: re-run)."""
    try:
        recorded = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        figures = summary_figures(recorded["headline_shares"], recorded["totals"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {"status": "skipped", "seconds": 0.0, "error": "", **figures}
