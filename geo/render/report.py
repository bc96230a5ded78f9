"""The regional HTML report: key findings, tables, charts, methods and provenance.

One self-contained file (charts are inline SVG, CSS inline, no external URL), rendered with
Jinja2 with autoescaping on. Every sentence is generated from the run's :class:`Findings` and
every table and chart from ``Results.tables`` (the tables written as CSV), so report, tables
and CLI cannot disagree. Written to be read in five minutes: findings, what they mean for
integrated care, charts with cancer and non-cancer side by side, long tables folded.

:func:`report_content` computes what the page shows; :mod:`geo.render.pages` lays it out (and a
run stores the content, so ``gapmap report`` can lay it out again without the analysis).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from geo import __version__
from geo.errors import GeoError
from geo.render.charts import all_charts
from geo.render.findings_text import findings_sentences, integration_actions
from geo.render.pages import render_page, write_page
from geo.render.report_tables import report_tables
from geo.results import Results
from geo.text import data_date

log = logging.getLogger(__name__)


_SERVICE_NAMES = {"gp_min": "GP", "spc_min": "SPC", "isolated_gp_min": "GP isolation"}


POPULATION_TEXT = {
    "raster": "one place per populated cell of the population grid.",
    "points": "one place per area, at its population-weighted point.",
    "polygons": "each area's count spread over a grid inside the area (by the density raster "
    "when given, else by road density), so a large rural area is not one point.",
}
KIND_LABELS = {"gp": "GP practice", "spc": "specialist service"}


def _kinds(rows: list[dict]) -> list[dict]:
    return [
        {**row, "kind_label": KIND_LABELS.get(row.get("kind"), row.get("kind"))} for row in rows
    ]


def edge_text(findings) -> str:
    """A sentence on the edge of the road extract, when it may shorten what the run sees."""
    edge = (findings.edge if findings else {}) or {}
    if not edge.get("extract_short"):
        return ""
    return (
        f"The road extract reaches {edge['extract_margin_m'] / 1000:,.1f} km beyond the region at "
        f"its nearest edge, but a service up to {edge['reach_m'] / 1000:,.0f} km away could be "
        f"within {edge['reach_min']:g} minutes: services beyond the extract are not considered, "
        "so times near the region's edge may be too long. Extend the road extract (and the "
        "service lists) to cover that distance."
    )


def key_findings(results: Results) -> list[str]:
    """Plain-language findings, every one generated from the run's :class:`Findings`."""
    if results.findings is None:
        raise GeoError("the results carry no findings; run the analysis stage first")
    return findings_sentences(results.findings)


def cancer_only_services(results: Results) -> list[str]:
    """Names of the specialist services that accept cancer referrals only."""
    spc = results.specialist_services
    if "accepts_non_cancer" not in spc:
        return []
    return [str(n) for n in spc.loc[~spc["accepts_non_cancer"].astype(bool), "name"]]


def report_content(results: Results, *, csv_links: bool = True) -> dict[str, Any]:
    """Everything the report page shows, computed from the results (see :mod:`geo.render.pages`).

    Parameters
    ----------
    results
        A region's (or sub-area's) results.
    csv_links
        Link each table's complete CSV (``tables/NAME.csv`` beside the report, as a run
        writes them); off for workshop packs, whose tables cover one sub-area.

    Returns
    -------
    dict
        The template's variables: text, numbers, :class:`~geo.render.pages.ReportTable` and
        drawn charts (:func:`~geo.render.pages.content_json` makes it plain JSON data).
    """
    prov = results.provenance
    suppress_below = float(prov.get("suppress_below", 5))
    speed = prov.get("speed_settings", {})
    need = prov.get("need", {})
    rem = prov.get("remoteness", {})
    th = prov.get("thresholds", {})
    by_rem = th.get("by_remoteness") or {}
    unc = results.tables.get("uncertainty")
    unc = unc.iloc[0] if unc is not None and len(unc) else {}
    findings = results.findings
    return dict(
        region=results.region_name,
        version=__version__,
        generated=_generated(prov),
        osm_date=data_date(prov.get("osm_data_date")),
        findings=key_findings(results),
        actions=integration_actions(results.findings, cancer_only_services(results)),
        csv_links=csv_links,
        gp_min=f"{results.thresholds_min['gp']:g}",
        spc_min=f"{results.thresholds_min['spc']:g}",
        isolated_min=f"{float(th.get('isolated_gp_min', results.thresholds_min['spc'])):g}",
        by_remoteness="; ".join(
            f"{k}: " + ", ".join(f"{_SERVICE_NAMES.get(s, s)} {v:g} min" for s, v in d.items())
            for k, d in by_rem.items()
        ),
        charts=all_charts(results),
        has_subareas=results.subareas is not None and not results.subareas.empty,
        tables=report_tables(results, suppress_below),
        suppress_below=f"{suppress_below:g}",
        speed_profile=speed.get("speed_profile") or "country default",
        unsealed_factor=speed.get("unsealed_factor", ""),
        max_snap_m=f"{speed.get('max_snap_distance_m', 0):g}",
        population_text=POPULATION_TEXT.get(prov.get("population_source"), "as configured."),
        left_out=_kinds(findings.excluded_facilities if findings else []),
        long_snaps=_kinds(findings.long_snaps if findings else []),
        beyond_count=(findings.edge.get("left_out_beyond_reach") if findings else 0),
        edge_text=edge_text(findings),
        warn_snap_m=f"{speed.get('warn_snap_distance_m', 500):g}",
        need_text=need_text(need),
        capacity_text=capacity_text(prov.get("capacity", {})),
        remoteness_text=remoteness_text(rem),
        uncertainty_draws=_plain(unc.get("draws")),
        uncertainty_spread=_plain(unc.get("spread")),
        subarea_of=prov.get("subarea_of"),
        inputs=[list(item) for item in sorted(prov.get("inputs", {}).items())],
        timings=[list(item) for item in sorted(prov.get("timings_s", {}).items())],
    )


def render_report(results: Results, *, csv_links: bool = True) -> str:
    """The report page as a string (see :func:`report_content`)."""
    return render_page(report_content(results, csv_links=csv_links))


def write_report(
    results: Results, path: str | Path, *, pdf: bool = False, csv_links: bool = True
) -> Path:
    """Render the report and write it atomically (see :func:`geo.render.pages.write_page`)."""
    return write_page(path, report_content(results, csv_links=csv_links), pdf=pdf)


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (page content is plain JSON data)."""
    return value.item() if hasattr(value, "item") else value


def _generated(provenance: dict) -> str:
    """When the run started (the report describes that run), else now."""
    started = provenance.get("started_utc")
    when = datetime.fromisoformat(started) if started else datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def need_text(need: dict) -> str:
    """The need model in words: model, source, method, and any SMR adjustment."""
    stats = need.get("stats", {})
    method = stats.get("method") or stats.get("causes") or "deaths by underlying cause"
    text = f"model {need.get('model', '?')} from {need.get('source', '?')}: {method}"
    smr = stats.get("smr")
    if smr:
        text += (
            f", adjusted by local SMRs (cancer x{smr['ratio_cancer']:.3f}, non-cancer "
            f"x{smr['ratio_non_cancer']:.3f} over the region)"
        )
    return text + "."


SCHEME_NAMES = {
    "abs_ra": "ABS Remoteness Areas (ASGS)",
    "abs_ra_2016": "ABS Remoteness Areas, ASGS 2016",
    "abs_ra_2021": "ABS Remoteness Areas, ASGS 2021",
    "mmm2019": "Modified Monash Model 2019",
    "ruc2011": "2011 Rural-Urban Classification for England and Wales (ONS)",
    "ruc2021": "2021 Rural-Urban Classification for England and Wales (ONS)",
    "categorical": "classes read from the config's own file, in its order",
    "computed": "an ARIA+-style index computed on the region's own road network",
}


def remoteness_text(remoteness: dict) -> str:
    """The remoteness scheme by its name, with its config key."""
    scheme = remoteness.get("scheme", "?")
    return f"{SCHEME_NAMES.get(scheme, scheme)}; config scheme {scheme}."


def capacity_text(capacity: dict) -> str:
    """What GP and SPC capacity count, when the config says (access scores use them)."""
    parts = []
    for section, label in (("gp_practices", "GP"), ("specialist_services", "SPC")):
        units = capacity.get(section, {}).get("units")
        if units:
            per = (
                " (GP E2SFCA: registered patients per 1,000 people)"
                if section == ("gp_practices") and units == "registered patients"
                else ""
            )
            parts.append(f"{label} capacity counts {units}{per}")
    return "; ".join(parts) + "." if parts else ""
