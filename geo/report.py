"""The regional HTML report: key findings, tables, charts, methods and provenance.

One self-contained file (charts are embedded PNGs, CSS inline, no external URL), rendered with
Jinja2 with autoescaping on. Every number in the findings is read from ``Results.tables``, the
same tables written as CSV, so report and tables cannot disagree.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from geo import __version__
from geo.errors import GeoError
from geo.outputs import write_atomic_text
from geo.report_charts import all_charts
from geo.results import Results

log = logging.getLogger(__name__)


_SERVICE_NAMES = {"gp_min": "GP", "spc_min": "SPC", "isolated_gp_min": "GP isolation"}


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("geo", "templates"), autoescape=select_autoescape(["html", "j2"])
    )


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def remote_classes(class_order: list[str]) -> tuple[list[str], str]:
    """The classes a finding calls remote, and how to name them.

    Classes whose name says "remote" (ABS Remote and Very Remote Australia, MMM 6-7 style
    labels); for schemes without such classes (England's rural-urban classification) the most
    remote class of the ordering.
    """
    remote = [c for c in class_order if "remote" in c.lower() and "not remote" not in c.lower()]
    if remote:
        return remote, " or ".join(remote) + " areas"
    last = class_order[-1:] or ["?"]
    return last, f"the most remote class ({last[0]})"


def key_findings(results: Results) -> list[str]:
    """Plain-language findings, every number taken from the result tables."""
    table = results.tables["coverage_by_remoteness"]
    total = table[table["remoteness_class"] == "All"].set_index("coverage_class")
    th = results.thresholds_min
    people = total["pop_count"].sum()
    need = total["need_total"].sum()
    no_spc = total.loc[["gp_only", "neither"]]
    findings = [
        f"{_fmt(people)} people live in the region; an estimated {_fmt(need, 1)} of them need "
        f"palliative care each year ({_fmt(total['need_cancer'].sum(), 1)} cancer, "
        f"{_fmt(total['need_non_cancer'].sum(), 1)} non-cancer). "
        f"{total.loc['both', 'need_total_pct']:.1f}% of that need lives within reach of both "
        "a GP and a specialist palliative care service."
    ]
    by_class = table[table["remoteness_class"] != "All"]
    remote, remote_label = remote_classes(results.remoteness_classes)
    remote_no_spc = by_class[
        by_class["remoteness_class"].isin(remote)
        & by_class["coverage_class"].isin(["gp_only", "neither"])
    ]
    remote_share = (
        remote_no_spc["need_total"].sum() / no_spc["need_total"].sum() * 100
        if no_spc["need_total"].sum() > 0
        else 0.0
    )
    findings.append(
        f"{_fmt(no_spc['pop_count'].sum())} people, with {_fmt(no_spc['need_total'].sum(), 1)} "
        f"needing palliative care each year ({_fmt(no_spc['need_non_cancer'].sum(), 1)} "
        f"non-cancer), live beyond {th['spc']:g} minutes of specialist palliative care; "
        f"{remote_share:.0f}% of that need is in {remote_label}."
    )
    findings.append(
        f"The integration gap: {_fmt(total.loc['gp_only', 'pop_count'])} people "
        f"({total.loc['gp_only', 'pop_pct']:.1f}%) have a GP within {th['gp']:g} minutes but "
        f"no specialist service within {th['spc']:g}; their GPs carry palliative care with "
        "specialist support only at a distance (case conferences, shared care, telehealth)."
    )
    findings.append(
        f"{_fmt(total.loc['neither', 'pop_count'])} people "
        f"({total.loc['neither', 'pop_pct']:.1f}%) reach neither a GP nor a specialist service "
        "within the thresholds."
    )
    links = results.tables["gp_specialist_links"]
    isolated = links[links["isolated"].astype(bool)]
    if len(isolated):
        names = ", ".join(
            isolated.sort_values("spc_travel_time_min", ascending=False)["name"].astype(str).head(5)
        )
        findings.append(
            f"{len(isolated)} of {len(links)} GP practices are isolated from specialist care "
            f"(serving {_fmt(isolated['pop_served'].sum())} people): {names}."
        )
    else:
        findings.append(
            f"No GP practice is isolated: all {len(links)} reach a specialist "
            "service within the isolation threshold."
        )
    return findings


def _html_table(frame: pd.DataFrame, *, float_digits: int = 1) -> Markup:
    """An escaped HTML table (pandas escapes cell text)."""
    return Markup(
        frame.to_html(
            index=False,
            escape=True,
            na_rep="",
            float_format=lambda v: f"{v:,.{float_digits}f}",
            border=0,
        )
    )


def _suppressed(frame: pd.DataFrame, columns: list[str], below: float) -> pd.DataFrame:
    """Counts in (0, below) shown as ``<below`` to protect small numbers."""
    frame = frame.copy()
    for col in columns:
        small = (frame[col] > 0) & (frame[col] < below)
        frame[col] = [
            f"<{below:g}" if s else f"{v:,.1f}" for v, s in zip(frame[col], small, strict=True)
        ]
    return frame


def _tables(results: Results, suppress_below: float) -> dict[str, Markup]:
    cols = [
        "pop_count",
        "pop_pct",
        "need_cancer",
        "need_non_cancer",
        "need_total",
        "need_total_pct",
    ]
    tables = results.tables
    remoteness = tables["coverage_by_remoteness"][["remoteness_class", "coverage_class", *cols]]
    bands = tables["travel_time_bands"][["service_kind", "band", *cols]]
    sub_cols = ["area_name", "coverage_class", "pop_count", "need_cancer", "need_non_cancer"]
    sub = tables["coverage_by_subarea"][[*sub_cols, "need_total_pct"]]
    sub = _suppressed(sub, ["pop_count", "need_cancer", "need_non_cancer"], suppress_below)
    link_cols = ["name", "nearest_spc_name", "spc_travel_time_min", "pop_served"]
    link_cols += ["need_cancer_served", "need_non_cancer_served", "isolated"]
    links = tables["gp_specialist_links"][link_cols]
    out = {
        "remoteness": _html_table(remoteness),
        "bands": _html_table(bands),
        "subareas": _html_table(sub),
        "links": _html_table(links),
    }
    by_rem = tables.get("spc_bands_by_remoteness")
    if by_rem is not None:
        out["bands_remoteness"] = _html_table(
            by_rem[["remoteness_class", "band", "pop_count", "need_total", "need_total_pct"]]
        )
    if "uncertainty" in tables:
        unc = tables["uncertainty"][["measure", "estimate", "p05", "p50", "p95"]].copy()
        unc[["estimate", "p05", "p50", "p95"]] *= 100
        out["uncertainty"] = _html_table(unc)
    if "access_equity" in tables:
        out["equity"] = _html_table(tables["access_equity"], float_digits=3)
    return out


def render_report(results: Results) -> str:
    """The report page as a string."""
    prov = results.provenance
    suppress_below = float(prov.get("suppress_below", 5))
    speed = prov.get("speed_settings", {})
    need = prov.get("need", {})
    rem = prov.get("remoteness", {})
    th = prov.get("thresholds", {})
    by_rem = th.get("by_remoteness") or {}
    unc = results.tables.get("uncertainty")
    unc = unc.iloc[0] if unc is not None and len(unc) else {}
    template = _env().get_template("report.html.j2")
    return template.render(
        region=results.region_name,
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        osm_date=prov.get("osm_data_date") or "unknown",
        findings=key_findings(results),
        gp_min=f"{results.thresholds_min['gp']:g}",
        spc_min=f"{results.thresholds_min['spc']:g}",
        isolated_min=f"{float(th.get('isolated_gp_min', results.thresholds_min['spc'])):g}",
        by_remoteness="; ".join(
            f"{k}: " + ", ".join(f"{_SERVICE_NAMES.get(s, s)} {v:g} min" for s, v in d.items())
            for k, d in by_rem.items()
        ),
        charts=all_charts(results),
        tables=_tables(results, suppress_below),
        suppress_below=f"{suppress_below:g}",
        speed_profile=speed.get("speed_profile") or "country default",
        unsealed_factor=speed.get("unsealed_factor", ""),
        max_snap_m=f"{speed.get('max_snap_distance_m', 0):g}",
        need_text=(
            f"model {need.get('model', '?')} from {need.get('source', '?')} "
            f"({need.get('stats', {}).get('method', 'deaths by underlying cause')})."
        ),
        remoteness_text=f"{rem.get('scheme', '?')} (version {rem.get('version', '?')}).",
        uncertainty_draws=unc.get("draws"),
        uncertainty_spread=unc.get("spread"),
        subarea_of=prov.get("subarea_of"),
        inputs=sorted(prov.get("inputs", {}).items()),
        timings=sorted(prov.get("timings_s", {}).items()),
    )


def write_report(results: Results, path: str | Path, *, pdf: bool = False) -> Path:
    """Render the report and write it atomically (and ``<name>.pdf`` beside it when asked).

    Parameters
    ----------
    results
        A region (or sub-area) run's results.
    path
        The HTML file to write.
    pdf
        Also write a PDF with WeasyPrint (an optional dependency; a clear error if missing).

    Returns
    -------
    pathlib.Path
        The written HTML file.
    """
    path = Path(path)
    page = render_report(results)
    pdf_bytes = html_to_pdf(page) if pdf else None  # before writing: fail without outputs
    write_atomic_text(path, page)
    if pdf_bytes is not None:
        tmp = path.with_suffix(".pdf.tmp")
        tmp.write_bytes(pdf_bytes)
        tmp.replace(path.with_suffix(".pdf"))
    log.info("report written to %s", path)
    return path


def html_to_pdf(page: str) -> bytes:
    """The report as PDF through WeasyPrint, when it is installed."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint present, Pango libraries not
        raise GeoError(
            "PDF output needs WeasyPrint and its Pango libraries (pip install weasyprint; "
            f"apt-get install libpango-1.0-0 libpangoft2-1.0-0): {exc}"
        ) from exc
    return HTML(string=page).write_pdf()
