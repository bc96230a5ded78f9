"""The report's charts and tile-free static maps, as base64 PNGs read from the result tables.

Every chart plots a table the run also writes as CSV (``Results.tables``), so a chart can be
checked against its table. Figures use matplotlib's object-oriented API with the Agg canvas and
never touch pyplot's global state.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from geo.analysis.coverage import COVERAGE_CLASSES
from geo.render.palette import COVERAGE_COLOURS, COVERAGE_LABELS
from geo.render.suppression import protected_subareas
from geo.results import Results


def _figure(width: float, height: float) -> Figure:
    """A figure whose layout fits its labels and legends (constrained: one drawing pass)."""
    return Figure(figsize=(width, height), layout="constrained")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _no_data(message: str) -> str:
    fig = _figure(6, 1.2)
    ax = fig.subplots()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555")
    ax.set_axis_off()
    return _png(fig)


def coverage_chart(results: Results) -> str:
    """Stacked bars: need by coverage class in each remoteness class."""
    table = results.tables["coverage_by_remoteness"]
    pivot = table.pivot_table(
        index="remoteness_class",
        columns="coverage_class",
        values="need",
        aggfunc="sum",
        fill_value=0.0,
    )
    pivot = pivot.reindex([c for c in results.remoteness_classes if c in pivot.index])
    if pivot.empty:
        return _no_data("No populated places.")
    fig = _figure(8, 3.6)
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


def cancer_chart(results: Results) -> str:
    """Share of cancer and of non-cancer need in each coverage class (region totals)."""
    table = results.tables["coverage_totals"]
    fig = _figure(8, 2.6)
    ax = fig.subplots()
    for row, group in enumerate(("cancer", "non_cancer")):
        part = table[table["need_group"] == group].set_index("coverage_class")
        values = part["need"].reindex(list(COVERAGE_CLASSES), fill_value=0.0).to_numpy(float)
        shares = values / values.sum() * 100 if values.sum() > 0 else values
        left = 0.0
        for cls, share in zip(COVERAGE_CLASSES, shares, strict=True):
            ax.barh(row, share, left=left, color=COVERAGE_COLOURS[cls], edgecolor="white")
            if share >= 6:
                ax.text(
                    left + share / 2,
                    row,
                    f"{share:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cls != "spc_only" else "#222",
                )
            left += share
    ax.set_yticks([0, 1], ["Cancer need", "Non-cancer need"])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of need in the region")
    handles = [
        ax.bar(0, 0, color=COVERAGE_COLOURS[c], label=COVERAGE_LABELS[c]) for c in COVERAGE_CLASSES
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return _png(fig)


def bands_chart(results: Results) -> str:
    """People and need shares by travel-time band, GP and SPC side by side."""
    bands = results.tables["travel_time_bands"]
    kinds = [k for k in ("gp", "spc") if k in set(bands["service_kind"])]
    if not kinds:
        return _no_data("No travel-time bands.")
    fig = _figure(9, 3.4)
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        part = bands[bands["service_kind"] == kind].sort_values("band_order")
        x = np.arange(len(part))
        need = part["need_cancer"] + part["need_non_cancer"]
        need_pct = 100 * need / need.sum() if need.sum() > 0 else need
        ax.bar(x - 0.2, part["pop_pct"], 0.4, label="people", color="#9e9ac8")
        ax.bar(x + 0.2, need_pct, 0.4, label="need", color="#54278f")
        ax.set_xticks(x, part["band"], rotation=30, fontsize=8)
        ax.set_title("GP" if kind == "gp" else "Specialist palliative care")
        ax.set_xlabel("minutes")
    axes[0][0].set_ylabel("% of region")
    axes[0][0].legend(fontsize=8)
    return _png(fig)


def bands_by_remoteness_chart(results: Results) -> str:
    """Need by SPC travel-time band, stacked by remoteness class."""
    table = results.tables.get("spc_bands_by_remoteness")
    if table is None or table.empty:
        return _no_data("No travel-time bands by remoteness.")
    table = table.assign(need=table["need_cancer"] + table["need_non_cancer"])
    pivot = table.pivot_table(
        index="band_order", columns="remoteness_class", values="need", aggfunc="sum"
    )
    labels = table.drop_duplicates("band_order").set_index("band_order")["band"]
    classes = [c for c in results.remoteness_classes if c in pivot.columns]
    fig = _figure(9, 3.4)
    ax = fig.subplots()
    x = np.arange(len(pivot))
    bottom = np.zeros(len(pivot))
    cmap = _class_colours(len(classes))
    for colour, name in zip(cmap, classes, strict=True):
        values = pivot[name].fillna(0.0).to_numpy()
        ax.bar(x, values, bottom=bottom, color=colour, label=name, edgecolor="white")
        bottom += values
    ax.set_xticks(x, labels.reindex(pivot.index), rotation=30, fontsize=8)
    ax.set_xlabel("minutes to the nearest specialist palliative care service")
    ax.set_ylabel("need (people per year)")
    ax.legend(fontsize=7, title="Remoteness", title_fontsize=8)
    return _png(fig)


def _class_colours(n: int) -> list[str]:
    ramp = ["#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04", "#4d1a02"]
    if n <= 1:
        return ramp[2:3] * n
    return [ramp[round(i * (len(ramp) - 1) / (n - 1))] for i in range(n)]


def link_times_chart(results: Results) -> str:
    """Distribution of GP practices' road times to their nearest SPC service."""
    links = results.tables["gp_specialist_links"]
    minutes = links["spc_travel_time_min"].to_numpy(float)
    finite = minutes[np.isfinite(minutes)]
    if not finite.size:
        return _no_data("No GP practice reaches a specialist service by road.")
    fig = _figure(8, 3)
    ax = fig.subplots()
    bins = np.arange(0, max(finite.max(), 10.0) + 10, 10)
    ax.hist(finite, bins=bins, color="#807dba", edgecolor="white")
    limit = results.provenance.get("thresholds", {}).get("isolated_gp_min")
    if limit:
        ax.axvline(float(limit), color="#b2182b", linestyle="--")
        ax.text(
            float(limit),
            ax.get_ylim()[1] * 0.92,
            f" isolated beyond {float(limit):g} min",
            color="#b2182b",
            fontsize=8,
        )
    unreachable = int((~np.isfinite(minutes)).sum())
    note = f" ({unreachable} unreachable)" if unreachable else ""
    ax.set_xlabel(f"minutes from GP practice to nearest SPC service{note}")
    ax.set_ylabel("GP practices")
    return _png(fig)


def static_map(results: Results) -> str:
    """A tile-free map of origins by coverage class, sub-areas and facilities."""
    fig = _figure(8, 5.5)
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
    _facilities(ax, results)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.legend(loc="lower right", fontsize=7, markerscale=0.8)
    return _png(fig)


def _facilities(ax, results: Results) -> None:
    gps = results.gp_practices
    iso = gps.get("link_status", pd.Series("linked", index=gps.index)) == "isolated"
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


def subarea_map(results: Results) -> str:
    """Choropleth: share of each sub-area's need without SPC within the threshold."""
    if results.subareas is None or results.subareas.empty:
        return _no_data("No sub-areas configured.")
    below = float(results.provenance.get("suppress_below", 5))
    shares = protected_subareas(results.tables, below)
    share = (shares["share_no_spc"] * 100).rename("share_no_spc")
    areas = results.subareas.merge(share, left_on="area_id", right_index=True, how="left")
    fig = _figure(8, 5.5)
    ax = fig.subplots()
    areas.plot(
        ax=ax,
        column="share_no_spc",
        cmap="Oranges",
        vmin=0,
        vmax=100,
        edgecolor="#555",
        linewidth=0.5,
        legend=True,
        missing_kwds={"color": "#eee"},
        legend_kwds={"label": "% of need without SPC within threshold", "shrink": 0.6},
    )
    _facilities(ax, results)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return _png(fig)


def all_charts(results: Results) -> dict[str, str]:
    """Every chart of the report, by template key."""
    return {
        "coverage": coverage_chart(results),
        "cancer": cancer_chart(results),
        "bands": bands_chart(results),
        "bands_remoteness": bands_by_remoteness_chart(results),
        "links": link_times_chart(results),
        "map": static_map(results),
        "subareas": subarea_map(results),
    }
