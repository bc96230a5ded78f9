"""Workshop packs: one report per sub-area, cut from a region run.

A pack covers the sub-area's residents. Its GP practices are those located in the sub-area;
specialist services stay region-wide (people cross sub-area boundaries for specialist care).
Every table is cut from the sub-area's origins with the same :mod:`geo.analysis.gaps` functions
the run used, and its findings with the same :func:`~geo.analysis.findings.compute_findings`,
so a pack's numbers add up to the region's and its sentences speak of the sub-area.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import wait
from pathlib import Path
from typing import Any

from geo.analysis import gaps
from geo.analysis.findings import compute_findings
from geo.config import slugify
from geo.errors import GeoError
from geo.parallel import in_background
from geo.render.pages import content_json, write_pack_pages
from geo.render.report import report_content
from geo.results import Results

log = logging.getLogger(__name__)


def _service_columns(results: Results) -> dict[str, str]:
    kinds = results.tables["travel_time_bands"]["service_kind"].unique()
    return {kind: f"{kind}_travel_time_min" for kind in kinds}


def subarea_results(results: Results, area_id: str) -> Results:
    """The part of a region's results that concerns one sub-area.

    Raises
    ------
    GeoError
        If the results have no sub-areas or no sub-area ``area_id``.
    """
    areas = results.subareas
    if areas is None or areas.empty:
        raise GeoError("workshop packs need sub-areas: add a 'subareas' section to the config")
    area = areas[areas["area_id"].astype(str) == str(area_id)]
    if area.empty:
        raise GeoError(f"no sub-area with area_id {area_id!r}")
    origins = results.origins[results.origins["area_id"].astype(str) == str(area_id)]
    inside = results.gp_practices.within(area.geometry.union_all())
    gps = results.gp_practices[inside]
    prov = {**results.provenance, "subarea_of": results.region_name}  # read only: no deep copy
    bands_min = prov.get("thresholds", {}).get("bands_min") or [15, 30, 60, 120]
    order = results.remoteness_classes
    tables = {
        "coverage_totals": gaps.coverage_totals(origins),
        "coverage_by_remoteness": gaps.coverage_by_remoteness(origins, class_order=order),
        "coverage_by_subarea": results.tables["coverage_by_subarea"][
            results.tables["coverage_by_subarea"]["area_id"].astype(str) == str(area_id)
        ],
        "gp_specialist_links": results.tables["gp_specialist_links"][
            results.tables["gp_specialist_links"]["facility_id"].isin(gps["facility_id"])
        ],
        "travel_time_bands": gaps.travel_time_bands(
            origins, service_columns=_service_columns(results), bands_min=bands_min
        ),
        "spc_bands_by_remoteness": gaps.travel_time_bands_by_remoteness(
            origins, column="spc_travel_time_min", bands_min=bands_min, class_order=order
        ),
    }
    hotspots = results.hotspots
    if hotspots is not None and len(hotspots):
        hotspots = hotspots[hotspots.intersects(area.geometry.union_all())]
    region = results.findings
    findings = compute_findings(
        origins,
        gp_practices=gps,
        specialist_services=results.specialist_services,
        class_order=order,
        thresholds=region.thresholds if region else {},
        unknown_kinds=region.unknown_kinds if region else {},
        scope="subarea",
    )
    return Results(
        region_name=f"{results.region_name}: {area['area_name'].iloc[0]}",
        crs=results.crs,
        origins=origins,
        gp_practices=gps,
        specialist_services=results.specialist_services,
        tables=tables,
        thresholds_min=dict(results.thresholds_min),
        remoteness_classes=list(order),
        subareas=area,
        hotspots=hotspots,
        findings=findings,
        provenance=prov,
    )


def pack_file_name(area_id: object, area_name: object) -> str:
    """A safe, readable file name such as ``report_e01017288_newport_central.html``."""
    return f"report_{slugify(f'{area_id} {area_name}', max_length=80, default='area')}.html"


def pack_pages(results: Results) -> list[dict[str, Any]]:
    """The page content of every populated sub-area's pack, in sub-area order.

    From the command line, every other pack is computed in the background worker process
    (:func:`geo.parallel.in_background`) while this process computes the rest: packs are
    independent of each other.

    Returns
    -------
    list of dict
        ``area_id``, ``area_name``, ``file`` and the page ``content`` as plain JSON data
        (what :func:`geo.render.pages.write_pack_pages` writes).

    Raises
    ------
    GeoError
        If the results have no sub-areas.
    """
    areas = results.subareas
    if areas is None or areas.empty:
        raise GeoError("workshop packs need sub-areas: add a 'subareas' section to the config")
    populated = set(results.origins["area_id"].dropna().astype(str))
    rows = [
        {**row, "file": pack_file_name(row["area_id"], row["area_name"])}
        for row in areas[["area_id", "area_name"]].to_dict("records")
        if str(row["area_id"]) in populated
    ]
    pending = in_background(_with_content, results, rows[1::2]) if len(rows) > 1 else None
    if pending is None:
        return _with_content(results, rows)
    try:
        mine = _with_content(results, rows[0::2])
    finally:
        wait([pending])
    theirs = pending.result()  # re-raises the worker's error
    return [
        pack for pair in itertools.zip_longest(mine, theirs) for pack in pair if pack is not None
    ]


def _with_content(results: Results, rows: list[dict]) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "content": content_json(
                report_content(subarea_results(results, row["area_id"]), csv_links=False)
            ),
        }
        for row in rows
    ]


def write_workshop_packs(results: Results, out_dir: str | Path, *, pdf: bool = False) -> list[Path]:
    """Write one report per populated sub-area into ``out_dir`` (replaced atomically).

    Returns
    -------
    list of pathlib.Path
        The written reports, in sub-area order, plus ``index.csv`` listing them.
    """
    return write_pack_pages(pack_pages(results), out_dir, pdf=pdf)
