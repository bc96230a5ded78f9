"""The write stage: a region run's output folder (map, report, layers, tables, run.json)."""

from __future__ import annotations

from pathlib import Path

from geo.render.files import write_outputs
from geo.render.maps import write_map
from geo.render.report import write_report
from geo.results import Results


def write_region(
    results: Results, target: Path, *, offline: bool = False, tiles: str | None = "OpenStreetMap"
) -> list[Path]:
    """Write a region's output folder atomically; returns the files written.

    Parameters
    ----------
    results
        The analysed region (with provenance).
    target
        The output folder (replaced only when everything has been written).
    offline
        A map with no basemap tiles (no network request at all).
    tiles
        The basemap when online; None for none.
    """
    return write_outputs(
        results,
        target,
        write_map=lambda r, p: write_map(r, p, offline=offline, tiles=tiles),
        write_report=write_report,
    )
