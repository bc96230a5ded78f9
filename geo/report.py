"""The regional HTML report: key findings, tables, charts, methods and provenance.

One self-contained file (charts are embedded PNGs, CSS inline, no external URL), rendered with
Jinja2 with autoescaping on. Every number in the findings is read from ``Results.tables``, the
same tables written as CSV, so report and tables cannot disagree.
"""

from __future__ import annotations

import base64
import io
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

# The object-oriented Figure renders with Agg without touching pyplot's global backend.
from matplotlib.figure import Figure

from geo import __version__
from geo.access import COVERAGE_CLASSES
from geo.maps import COVERAGE_COLOURS, COVERAGE_LABELS
from geo.outputs import write_atomic_text
from geo.results import Results

log = logging.getLogger(__name__)

REMOTE_CLASSES = ("Remote", "Very Remote")


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("geo", "templates"), autoescape=select_autoescape(["html", "j2"])
    )


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


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
    remote_no_spc = by_class[
        by_class["remoteness_class"].isin(REMOTE_CLASSES)
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
        f"{remote_share:.0f}% of that need is in Remote or Very Remote areas."
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


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def coverage_chart(results: Results) -> str:
    """Stacked bars: need by coverage class in each remoteness class."""
    table = results.tables["coverage_by_remoteness"]
    table = table[table["remoteness_class"] != "All"]
    pivot = table.pivot_table(
        index="remoteness_class",
        columns="coverage_class",
        values="need_total",
        aggfunc="sum",
        fill_value=0.0,
    )
    order = [c for c in results.remoteness_classes if c in pivot.index]
    pivot = pivot.reindex(order)
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    left = np.zeros(len(pivot))
    for cls in COVERAGE_CLASSES:
        values = pivot.get(cls, pd.Series(0.0, index=pivot.index)).to_numpy()
        ax.barh(
            pivot.index, values, left=left, color=COVERAGE_COLOURS[cls], label=COVERAGE_LABELS[cls]
        )
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("Estimated palliative care need (people per year)")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def bands_chart(results: Results) -> str:
    """People and need shares by travel-time band, GP and SPC side by side."""
    bands = results.tables["travel_time_bands"]
    kinds = [k for k in ("gp", "spc") if k in set(bands["service_kind"])]
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        part = bands[bands["service_kind"] == kind].sort_values("band_order")
        x = np.arange(len(part))
        ax.bar(x - 0.2, part["pop_pct"], 0.4, label="people", color="#9e9ac8")
        ax.bar(x + 0.2, part["need_total_pct"], 0.4, label="need", color="#54278f")
        ax.set_xticks(x, part["band"], rotation=30, fontsize=8)
        ax.set_title("GP" if kind == "gp" else "Specialist palliative care")
        ax.set_xlabel("minutes")
    axes[0][0].set_ylabel("% of region")
    axes[0][0].legend(fontsize=8)
    return _png(fig)


def static_map(results: Results) -> str:
    """A tile-free map of origins by coverage class, sub-areas and facilities."""
    fig = Figure(figsize=(8, 5.5))
    ax = fig.subplots()
    if results.subareas is not None:
        results.subareas.boundary.plot(ax=ax, color="#999", linewidth=0.6)
    origins = results.origins
    for cls in COVERAGE_CLASSES:
        part = origins[origins["coverage_class"] == cls]
        if len(part):
            ax.scatter(
                part.geometry.x,
                part.geometry.y,
                s=np.clip(part["pop_count"] / 40, 1, 30),
                color=COVERAGE_COLOURS[cls],
                label=COVERAGE_LABELS[cls],
                linewidths=0,
            )
    gps = results.gp_practices
    iso = gps.get("isolated", pd.Series(False, index=gps.index)).astype(bool)
    ax.scatter(
        gps.geometry.x,
        gps.geometry.y,
        s=30,
        facecolor="white",
        edgecolor=np.where(iso, "#b2182b", "#222"),
        linewidths=1.2,
        label="GP practice",
    )
    spc = results.specialist_services
    ax.scatter(
        spc.geometry.x,
        spc.geometry.y,
        s=60,
        marker="D",
        color="#54278f",
        edgecolor="#222",
        label="SPC service",
    )
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.legend(loc="lower right", fontsize=7, markerscale=0.8)
    return _png(fig)


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


def _tables(results: Results, suppress_below: float) -> dict[str, Markup]:
    cols = [
        "pop_count",
        "pop_pct",
        "need_cancer",
        "need_non_cancer",
        "need_total",
        "need_total_pct",
    ]
    remoteness = results.tables["coverage_by_remoteness"][
        ["remoteness_class", "coverage_class", *cols]
    ]
    bands = results.tables["travel_time_bands"][["service_kind", "band", *cols]]
    sub = results.tables["coverage_by_subarea"]
    sub = sub[
        [
            "area_name",
            "coverage_class",
            "pop_count",
            "need_cancer",
            "need_non_cancer",
            "need_total_pct",
        ]
    ].copy()
    for col in ("pop_count", "need_cancer", "need_non_cancer"):
        small = (sub[col] > 0) & (sub[col] < suppress_below)
        sub[col] = [
            f"<{suppress_below:g}" if s else f"{v:,.1f}"
            for v, s in zip(sub[col], small, strict=True)
        ]
    links = results.tables["gp_specialist_links"][
        [
            "name",
            "nearest_spc_name",
            "spc_travel_time_min",
            "pop_served",
            "need_cancer_served",
            "need_non_cancer_served",
            "isolated",
        ]
    ]
    return {
        "remoteness": _html_table(remoteness),
        "bands": _html_table(bands),
        "subareas": _html_table(sub),
        "links": _html_table(links),
    }


def render_report(results: Results) -> str:
    """The report page as a string."""
    prov = results.provenance
    suppress_below = float(prov.get("suppress_below", 5))
    speed = prov.get("speed_settings", {})
    need = prov.get("need", {})
    rem = prov.get("remoteness", {})
    th = prov.get("thresholds", {})
    by_rem = th.get("by_remoteness") or {}
    template = _env().get_template("report.html.j2")
    return template.render(
        region=results.region_name,
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        osm_date=prov.get("osm_data_date") or "unknown",
        findings=key_findings(results),
        gp_min=f"{results.thresholds_min['gp']:g}",
        spc_min=f"{results.thresholds_min['spc']:g}",
        by_remoteness="; ".join(
            f"{k}: " + ", ".join(f"{s} {v:g} min" for s, v in d.items()) for k, d in by_rem.items()
        ),
        charts={
            "coverage": coverage_chart(results),
            "bands": bands_chart(results),
            "map": static_map(results),
        },
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
        inputs=sorted(prov.get("inputs", {}).items()),
        timings=sorted(prov.get("timings_s", {}).items()),
    )


def write_report(results: Results, path: str | Path) -> Path:
    """Render the report and write it atomically.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    page = render_report(results)
    write_atomic_text(path, page)
    log.info("report written to %s", path)
    return path
