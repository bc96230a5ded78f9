"""The report's charts and tile-free maps, as inline SVG read from the result tables.

Every chart plots a table the run also writes as CSV (``Results.tables``), so a chart can be
checked against its table, and shows no more than the report's protected tables do: a bar with
any value hidden by small-number suppression is drawn as one grey "withheld" bar.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from markupsafe import Markup

from geo.analysis.classes import COUNT_COLUMNS, COVERAGE_CLASSES
from geo.render.map_rasters import hex_rgba, png_data_uri
from geo.render.palette import (
    COVERAGE_COLOURS,
    FEW_PLACES,
    ISOLATED_COLOUR,
    SHARE_RAMP,
    WITHHELD_COLOUR,
    time_colours,
)
from geo.render.report_tables import people_by_class
from geo.render.suppression import (
    hidden_cells,
    protected_bands,
    protected_coverage,
    protected_subareas,
    suppress_partition,
)
from geo.render.svg_charts import (
    MapFrame,
    Series,
    histogram,
    legend_svg,
    map_svg,
    stacked_bars,
)
from geo.results import Results

GROUP_LABELS = {"cancer": "Cancer need", "non_cancer": "Non-cancer need"}
WITHHELD = Series("withheld (small numbers)", WITHHELD_COLOUR, ())
UNKNOWN_BAND_COLOUR = "#bdbdbd"
MAP_MAX_PX = 320


def _in_pack(results: Results) -> bool:
    """Whether the results are a workshop pack's (one sub-area of a region)."""
    return bool(results.provenance.get("subarea_of"))


def _whose(results: Results) -> str:
    """``region's``, or ``sub-area's`` in a workshop pack."""
    return "sub-area's" if _in_pack(results) else "region's"


def _below(results: Results) -> float:
    return float(results.provenance.get("suppress_below", 5))


def _codes(values: list, labels: list) -> np.ndarray:
    """Each value's position in ``labels`` (-1 where it is not one of them)."""
    position = {label: i for i, label in enumerate(labels)}
    return np.array([position.get(v, -1) for v in values], dtype=np.int64)


def _present(classes: list, people: list, order: list[str]) -> list[str]:
    """The classes of ``order`` with people."""
    total = people_by_class(classes, people)
    return [c for c in order if total.get(c, 0) > 0]


def _row_sums(columns: list[np.ndarray]) -> np.ndarray:
    """Row sums of the columns, NaN as 0 (as pandas' ``sum(axis=1)``)."""
    return np.nansum(np.column_stack(columns), axis=1)


def _percent_rows(
    row_of: list, rows: list[str], part_of: list, parts: list[str], value, is_hidden
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's parts as % of its total: entry ``i`` (row ``row_of[i]``, part
    ``part_of[i]``) counts ``value[i]`` and is hidden where ``is_hidden[i]``.

    Returns the shares of the shown parts (parts x rows, hidden parts 0), the totals, and the
    share of each row that is hidden. The hidden parts of a row are drawn as one grey
    segment: it shows only their sum, which the protected tables already imply (a row with a
    hidden cell always has another one hidden), and the row's total is not printed.
    """
    row_code = _codes(row_of, rows)  # -1: a row not drawn
    part_code = _codes(part_of, parts)
    value = np.nan_to_num(np.asarray(value, float), nan=0.0)  # as a pandas sum
    is_hidden = np.asarray(is_hidden, bool)
    drawn = row_code >= 0
    totals = np.bincount(row_code[drawn], value[drawn], minlength=len(rows)).astype(float)
    gone = drawn & is_hidden
    hidden = np.bincount(row_code[gone], value[gone], minlength=len(rows)).astype(float)
    seen = drawn & ~is_hidden & (part_code >= 0)
    cell = part_code[seen] * len(rows) + row_code[seen]
    shown = np.bincount(cell, value[seen], minlength=len(parts) * len(rows)).astype(float)
    shown = shown.reshape(len(parts), len(rows))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, 100 * shown / totals, 0.0)
        withheld = np.where(totals > 0, 100 * hidden / totals, 0.0)
    withheld[(hidden > 0) & (withheld == 0)] = 1e-9
    return shares, totals, withheld


def _bars(
    rows: list[str],
    shares: np.ndarray,
    withheld: np.ndarray,
    series: list[tuple[str, str]],
    totals_text: list[str],
    **kwargs,
) -> Markup:
    """Percent bars; the hidden parts of a row are one grey segment and its total is omitted."""
    parts = [Series(label, colour, shares[i]) for i, (label, colour) in enumerate(series)]
    if (withheld > 0).any():
        parts.append(Series(WITHHELD.label, WITHHELD.colour, withheld))
    text = [("" if w > 0 else t) for t, w in zip(totals_text, withheld, strict=True)]
    return stacked_bars(rows, parts, percent=True, totals=text, **kwargs)


SHORT_LABELS = {
    "both": "GP and SPC",
    "gp_only": "GP only",
    "spc_only": "SPC only",
    "neither": "Neither",
    "unknown": "Unknown",
}


def _coverage_series() -> list[tuple[str, str]]:
    return [(SHORT_LABELS[c], COVERAGE_COLOURS[c]) for c in COVERAGE_CLASSES]


def coverage_by_remoteness_charts(results: Results) -> dict[str, Markup]:
    """Per need group: % of each remoteness class's need in each coverage class."""
    shown, _ = protected_coverage(results.tables, _below(results))
    raw = results.tables["coverage_by_remoteness"]
    classes = raw["remoteness_class"].tolist()
    rows = _present(classes, raw["pop_count"].tolist(), results.remoteness_classes)
    need_groups = raw["need_group"].to_numpy(object)
    need = raw["need"].to_numpy(float)
    hidden = hidden_cells(shown["coverage_by_remoteness"], "need")
    coverage = raw["coverage_class"].tolist()
    charts = {}
    for group, label in GROUP_LABELS.items():
        at = np.flatnonzero(need_groups == group)
        shares, totals, withheld = _percent_rows(
            [classes[i] for i in at],
            rows,
            [coverage[i] for i in at],
            list(COVERAGE_CLASSES),
            need[at],
            hidden[at],
        )
        charts[group] = _bars(
            rows,
            shares,
            withheld,
            _coverage_series(),
            [f"{t:,.1f}/yr" for t in totals],
            title=f"{label} by coverage class in each remoteness class",
            axis_label=f"% of the class's {label.lower()} (need a year at the right)",
        )
    return charts


def cancer_chart(results: Results) -> Markup:
    """% of the area's cancer and of its non-cancer need in each coverage class."""
    shown, _ = protected_coverage(results.tables, _below(results))
    raw = results.tables["coverage_totals"]
    shares, totals, withheld = _percent_rows(
        [GROUP_LABELS.get(g) for g in raw["need_group"].tolist()],
        list(GROUP_LABELS.values()),
        raw["coverage_class"].tolist(),
        list(COVERAGE_CLASSES),
        raw["need"].to_numpy(float),
        hidden_cells(shown["coverage_totals"], "need"),
    )
    return _bars(
        list(GROUP_LABELS.values()),
        shares,
        withheld,
        _coverage_series(),
        [f"{t:,.1f}/yr" for t in totals],
        title="Cancer and non-cancer need by coverage class",
        axis_label=f"% of the {_whose(results)} need (need a year at the right)",
        width=640,
    )


def _band_colours(labels: list[str]) -> list[str]:
    """Green to dark red over the bands in order; grey for the unknown band."""
    known = [b for b in labels if b != "unknown"]
    colours = dict(zip(known, time_colours(len(known)), strict=True))
    return [colours.get(b, UNKNOWN_BAND_COLOUR) for b in labels]


def _band_series(labels: list[str]) -> list[tuple[str, str]]:
    names = [f"{b} min" if b != "unknown" else "unknown" for b in labels]
    return list(zip(names, _band_colours(labels), strict=True))


def _band_labels(table: pd.DataFrame) -> list[str]:
    """The table's bands in band order."""
    pairs = zip(table["band_order"].tolist(), table["band"].tolist(), strict=True)
    return list(dict.fromkeys(band for _, band in sorted(pairs, key=lambda pair: pair[0])))


def bands_chart(results: Results) -> Markup:
    """People and need by travel-time band to the nearest GP and SPC service (% of region)."""
    table = results.tables["travel_time_bands"]
    shown = protected_bands(results.tables, _below(results))  # rows in the order of `table`
    kinds, bands = table["service_kind"].to_numpy(object), table["band"].tolist()
    counts = {c: table[c].to_numpy(float) for c in COUNT_COLUMNS}
    hidden = {c: hidden_cells(shown, c) for c in COUNT_COLUMNS}
    rows: list[str] = []
    row_of: list[str] = []
    band_of: list[str] = []
    values, hidden_of = [], []
    for kind, kind_label in (("gp", "GP"), ("spc", "SPC")):
        at = np.flatnonzero(kinds == kind)
        for what, cols in (("people", COUNT_COLUMNS[:1]), ("need", COUNT_COLUMNS[1:])):
            if not at.size:
                continue
            rows.append(f"{kind_label}: {what}")
            row_of += [rows[-1]] * at.size
            band_of += [bands[i] for i in at]
            values.append(_row_sums([counts[c][at] for c in cols]))
            hidden_of.append(np.logical_or.reduce([hidden[c][at] for c in cols]))
    if not rows:
        return Markup("<p>No travel-time bands.</p>")
    labels = _band_labels(table)
    shares, totals, withheld = _percent_rows(
        row_of, rows, band_of, labels, np.concatenate(values), np.concatenate(hidden_of)
    )
    text = [
        f"{t:,.0f} people" if row.endswith("people") else f"{t:,.1f}/yr"
        for t, row in zip(totals, rows, strict=True)
    ]
    return _bars(
        rows,
        shares,
        withheld,
        _band_series(labels),
        text,
        title="People and need by road travel time to the nearest GP and SPC service",
        axis_label=f"% of the {_whose(results)} people or need by travel-time band",
        width=640,
    )


def bands_by_remoteness_chart(results: Results) -> Markup:
    """% of each remoteness class's need by travel-time band to the nearest SPC service."""
    table = results.tables.get("spc_bands_by_remoteness")
    if table is None or table.empty:
        return Markup("<p>No travel-time bands by remoteness.</p>")
    cols = ["need_cancer", "need_non_cancer"]
    shown = suppress_partition(
        table, group_column="remoteness_class", value_columns=cols, below=_below(results)
    )
    classes = table["remoteness_class"].tolist()
    rows = _present(classes, table["pop_count"].tolist(), results.remoteness_classes)
    labels = _band_labels(table)
    shares, totals, withheld = _percent_rows(
        classes,
        rows,
        table["band"].tolist(),
        labels,
        _row_sums([table[c].to_numpy(float) for c in cols]),
        np.logical_or.reduce([hidden_cells(shown, c) for c in cols]),
    )
    return _bars(
        rows,
        shares,
        withheld,
        _band_series(labels),
        [f"{t:,.1f}/yr" for t in totals],
        title="Need by travel time to the nearest SPC service in each remoteness class",
        axis_label="% of the class's need by minutes to specialist care (need a year at the right)",
        width=640,
    )


def link_times_chart(results: Results) -> Markup:
    """How many GP practices lie how far by road from their nearest SPC service."""
    links = results.tables["gp_specialist_links"]
    minutes = links["spc_travel_time_min"].to_numpy(float)
    if not np.isfinite(minutes).any():
        return Markup("<p>No GP practice reaches a specialist service by road.</p>")
    limit = results.provenance.get("thresholds", {}).get("isolated_gp_min")
    unreachable = int((~np.isfinite(minutes)).sum())
    note = f" ({unreachable} not reachable by road)" if unreachable else ""
    return histogram(
        minutes,
        bin_width=10.0,
        title="GP practices by road time to the nearest specialist service",
        axis_label=f"minutes from the practice to its nearest SPC service{note}",
        count_label="GP practices",
        colour="#807dba",
        marker=(float(limit), f"isolated beyond {float(limit):g} min") if limit else None,
    )


def _bounds(results: Results) -> np.ndarray:
    """The maps' extent: the area's places, practices and sub-areas, and its specialist
    services unless it is a workshop pack (they are region-wide: a far hospice would shrink
    the sub-area to a corner of the map)."""
    layers = [results.origins, results.gp_practices]
    if not _in_pack(results):
        layers.append(results.specialist_services)
    if results.subareas is not None and not results.subareas.empty:
        layers.append(results.subareas)
    boxes = np.array([layer.total_bounds for layer in layers if len(layer)])
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    return np.array([*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)])


def _inside(frame: MapFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x >= 0) & (x <= frame.width) & (y >= 0) & (y <= frame.height)


def _facility_marks(results: Results, frame: MapFrame) -> str:
    """GP practices and the specialist services inside the frame (a pack's frame holds its
    sub-area, not the region's services)."""
    parts = []
    gps = results.gp_practices
    iso = (gps.get("link_status", pd.Series("linked", index=gps.index)) == "isolated").to_numpy()
    gx, gy = frame.xy(gps.geometry.x, gps.geometry.y)
    for x, y, isolated in zip(gx, gy, iso, strict=True):
        stroke = ISOLATED_COLOUR if isolated else "#222"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#fff" stroke="{stroke}" '
            'stroke-width="1.4"/>'
        )
    spc = results.specialist_services
    sx, sy = frame.xy(spc.geometry.x.to_numpy(), spc.geometry.y.to_numpy())
    inside = _inside(frame, sx, sy)
    for x, y in zip(sx[inside], sy[inside], strict=True):
        parts.append(
            f'<path d="M{x:.1f} {y - 5:.1f}l5 5l-5 5l-5-5z" fill="#54278f" stroke="#222"/>'
        )
    return "".join(parts)


def _class_dots(results: Results, frame: MapFrame) -> str:
    """Origins by coverage class as dots, the most populous drawn last (on top)."""
    origins = results.origins
    px, py = frame.xy(origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy())
    classes = origins["coverage_class"].tolist()
    order = np.argsort(origins["pop_count"].to_numpy(float), kind="stable")
    return "".join(
        f'<circle cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="3.5" stroke="#333" stroke-width="0.5" '
        f'fill="{COVERAGE_COLOURS.get(classes[i], COVERAGE_COLOURS["unknown"])}"/>'
        for i in order
    )


def _class_image(results: Results, frame: MapFrame) -> str:
    """Origins by coverage class as one image (each pixel: its most populous place's class)."""
    origins = results.origins
    # about one pixel per place's share of the area (places on a grid fill it), at most
    # MAP_MAX_PX wide: sparse regions get coarser, solid blocks rather than scattered dots
    spacing_px = np.sqrt(frame.width * frame.height / max(len(origins), 1))
    factor = min(MAP_MAX_PX / max(frame.width, frame.height), 1.5 / max(spacing_px, 1e-9))
    shape = (max(int(frame.height * factor), 1), max(int(frame.width * factor), 1))
    px, py = frame.xy(origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy())
    cols = np.clip((px * factor).astype(int), 0, shape[1] - 1)
    rows = np.clip((py * factor).astype(int), 0, shape[0] - 1)
    index = {c: i for i, c in enumerate(COVERAGE_CLASSES)}
    classes = origins["coverage_class"].map(index).fillna(index["unknown"]).to_numpy(int)
    palette = np.array([hex_rgba(COVERAGE_COLOURS[c], 235) for c in COVERAGE_CLASSES], np.uint8)
    rgba = np.zeros((*shape, 4), np.uint8)
    order = np.argsort(origins["pop_count"].to_numpy(float), kind="stable")
    rgba[rows[order], cols[order]] = palette[classes[order]]
    return (
        f'<image href="{png_data_uri(rgba)}" x="0" y="0" width="{frame.width:.1f}" '
        f'height="{frame.height:.1f}" preserveAspectRatio="none" '
        'style="image-rendering:pixelated"/>'
    )


def _map_base(results: Results) -> tuple[MapFrame, str]:
    """The frame of the report's maps and their facility marks (the same on every map)."""
    frame = MapFrame.around(_bounds(results))
    return frame, _facility_marks(results, frame)


def static_map(results: Results, base: tuple[MapFrame, str] | None = None) -> Markup:
    """A tile-free map: where people live by coverage class, sub-areas and facilities."""
    frame, marks = base or _map_base(results)
    # Area points (a few hundred LSOAs) as dots; a population grid's cells as an image.
    draw = _class_dots if len(results.origins) < FEW_PLACES else _class_image
    layers = [draw(results, frame)]
    if results.subareas is not None and not results.subareas.empty:
        geoms = list(results.subareas.geometry)
        layers.append(frame.shapes(geoms, ["none"] * len(geoms), stroke="#777"))
    layers.append(marks)
    legend = [Series(label, colour, ()) for label, colour in _coverage_series()]
    return Markup(
        map_svg(frame, layers, title="Where people live, by coverage class, with services")
        + legend_svg(legend, title="Coverage classes")
    )


SHARE_EDGES = (0.2, 0.4, 0.6, 0.8)


def subarea_map(results: Results, base: tuple[MapFrame, str] | None = None) -> Markup:
    """Choropleth: the share of each sub-area's need with no SPC service within reach."""
    if results.subareas is None or results.subareas.empty:
        return Markup("<p>No sub-areas configured.</p>")
    shares = protected_subareas(results.tables, _below(results))["share_no_spc"]
    areas = results.subareas
    values = areas["area_id"].map(shares).to_numpy(float)
    index = np.searchsorted(np.asarray(SHARE_EDGES), values, side="right")
    fills = [
        SHARE_RAMP[min(i, len(SHARE_RAMP) - 1)] if np.isfinite(v) else WITHHELD.colour
        for i, v in zip(index, values, strict=True)
    ]
    frame, marks = base or _map_base(results)
    layers = [frame.shapes(list(areas.geometry), fills), marks]
    edges = (0.0, *SHARE_EDGES, 1.0)
    legend = [
        Series(f"{100 * lo:.0f}-{100 * hi:.0f}%", SHARE_RAMP[i], ())
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]
    if not np.isfinite(values).all():
        legend.append(WITHHELD)
    return Markup(
        map_svg(frame, layers, title="Share of need without specialist care within reach")
        + legend_svg(legend, title="Share of need without SPC within the threshold")
    )


def all_charts(results: Results) -> dict[str, Markup]:
    """Every chart of the report, by template key."""
    by_group = coverage_by_remoteness_charts(results)
    base = _map_base(results)
    return {
        "coverage_cancer": by_group["cancer"],
        "coverage_non_cancer": by_group["non_cancer"],
        "cancer": cancer_chart(results),
        "bands": bands_chart(results),
        "bands_remoteness": bands_by_remoteness_chart(results),
        "links": link_times_chart(results),
        "map": static_map(results, base),
        "subareas": subarea_map(results, base),
    }
