"""The write stage: a region run's files (map, report, layers, tables, run.json)."""

from __future__ import annotations

from pathlib import Path

from geo.render.files import write_region_files
from geo.render.maps import write_map
from geo.render.outdir import OutputFolder
from geo.render.report import write_report
from geo.results import Results
from geo.store import save_results


def write_region_folder(
    results: Results, folder: Path, *, offline: bool = False, tiles: str | None = "OpenStreetMap"
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

    Returns
    -------
    list of pathlib.Path
        The files written, relative to ``folder``.
    """
    written = write_region_files(
        results,
        folder,
        write_map=lambda r, p: write_map(r, p, offline=offline, tiles=tiles),
        write_report=write_report,
    )
    key = results.provenance.get("results_key")
    if key:  # for `gapmap report` to reuse (a cache: not listed among the outputs)
        save_results(results, Path(folder), key=key)
    return written


def write_region(
    results: Results,
    out: OutputFolder,
    *,
    offline: bool = False,
    tiles: str | None = "OpenStreetMap",
) -> list[Path]:
    """Write a region's folder into a claimed output folder, swapped in atomically.

    Returns
    -------
    list of pathlib.Path
        The files written, under their final location.
    """
    with out.staging() as tmp:
        written = write_region_folder(results, tmp, offline=offline, tiles=tiles)
    return [out.final / p for p in written]
