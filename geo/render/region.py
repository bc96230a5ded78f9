"""The write stage: a region run's files (map, report, layers, tables, run.json)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from geo.parallel import background_allowed, in_background
from geo.render.files import write_region_files
from geo.render.maps import write_map
from geo.render.outdir import OutputFolder
from geo.render.packs import pack_pages
from geo.render.pages import content_json, write_page
from geo.render.report import report_content
from geo.results import Results
from geo.store import save_pages, save_results

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# With `workshop_packs: auto`, a run prepares its packs only where they cost it nothing: in a
# second process while it writes its files (1 - 2 s on the demo and the Isle of Wight), and at
# most this many. Their content takes about 0.05 s each here, so 12 or 18 cost the run nothing
# measurable; the Isle of Wight's 89 LSOAs add 3 - 4 s to every run. Beyond it, or in one
# process, `gapmap report --by subarea` computes them (4 s for those 89).
AUTO_PACKS_MAX = 24


def write_region_folder(
    results: Results,
    folder: Path,
    *,
    offline: bool = False,
    tiles: str | None = "OpenStreetMap",
    pages: bool = False,
    packs: bool | str = "auto",
) -> list[Path]:
    """Write a region's files into ``folder`` (a staging folder, or one inside it).

    Parameters
    ----------
    results
        The analysed region (with provenance).
    folder
        Where to write (created if missing).
    offline
        A map with no basemap tiles (no network request at all).
    tiles
        The basemap when online; None for none.
    pages
        Also store the content of the report and of every workshop pack, for ``gapmap report``
        to lay out again (:mod:`geo.store`); the packs' are computed in the background worker
        while this process writes the files, when it may start one.
    packs
        Whether the stored pages include the workshop packs: True, False, or ``"auto"`` (see
        :func:`prepares_packs`).

    Returns
    -------
    list of pathlib.Path
        The files written, relative to ``folder``.
    """
    key = results.provenance.get("results_key")
    packs_later = _packs_later(results, packs) if pages and key else None
    report: dict = {}

    def write_report(results: Results, path: Path) -> None:
        report.update(report_content(results))
        write_page(path, report)

    written = write_region_files(
        results,
        folder,
        write_map=lambda r, p: write_map(r, p, offline=offline, tiles=tiles),
        write_report=write_report,
    )
    if key:  # for `gapmap report` to reuse (a cache: not listed among the outputs)
        save_results(results, Path(folder), key=key)
    if packs_later is not None:
        stored = {"report": content_json(report), "packs": _finished(packs_later)}
        save_pages(Path(folder), stored, key=key)
    return written


def prepares_packs(wanted: bool | str, populated: int) -> bool:
    """Whether a run prepares its workshop packs: ``wanted`` is the config's
    ``output.workshop_packs`` (True, False or ``"auto"``), ``populated`` the number of packs
    (``"auto"``: at most :data:`AUTO_PACKS_MAX`, and only beside a second process)."""
    if not wanted or populated == 0:
        return False
    return wanted is True or (populated <= AUTO_PACKS_MAX and background_allowed())


def populated_subareas(origins: pd.DataFrame, subareas: pd.DataFrame | None) -> int:
    """How many sub-areas have residents: one workshop pack each."""
    return 0 if subareas is None else int(origins["area_id"].dropna().nunique())


def _finished(packs: Callable[[], list[dict] | None]) -> list[dict] | None:
    """The packs' page content, or None when it could not be computed: it is a cache, so the
    run's own files still stand, and ``gapmap report --by subarea`` computes the packs itself
    (where the same error then stops it, plainly)."""
    try:
        return packs()
    except Exception as exc:  # any failure only costs the cache
        log.warning("the workshop packs were not prepared for `gapmap report` (%s)", exc)
        return None


def _packs_later(results: Results, wanted: bool | str) -> Callable[[], list[dict] | None]:
    """A call returning the workshop packs' page content (None when not ``wanted``, see
    :func:`write_region_folder`), started now in the background worker when there is one, so
    that it overlaps writing the other files."""
    populated = populated_subareas(results.origins, results.subareas)
    if not prepares_packs(wanted, populated):
        if wanted == "auto" and populated:
            log.info(
                "not preparing %d workshop packs in the run (auto: at most %d, beside a second "
                "process; set output.workshop_packs: true to prepare them): `gapmap report "
                "--by subarea` computes them",
                populated,
                AUTO_PACKS_MAX,
            )
        return lambda: None
    # The worker gets its own copy of the provenance, which grows while the files are written.
    snapshot = dataclasses.replace(results, provenance=copy.deepcopy(results.provenance))
    pending = in_background(pack_pages, snapshot)
    return pending.result if pending is not None else functools.partial(pack_pages, results)


def write_region(
    results: Results,
    out: OutputFolder,
    *,
    offline: bool = False,
    tiles: str | None = "OpenStreetMap",
    pages: bool = False,
    packs: bool | str = "auto",
) -> list[Path]:
    """Write a region's folder into a claimed output folder, swapped in atomically (``pages``
    and ``packs``: see :func:`write_region_folder`).

    Returns
    -------
    list of pathlib.Path
        The files written, under their final location.
    """
    with out.staging() as tmp:
        written = write_region_folder(
            results, tmp, offline=offline, tiles=tiles, pages=pages, packs=packs
        )
    return [out.final / p for p in written]
