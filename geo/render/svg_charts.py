"""Inline SVG charts for the report: bars, a histogram and tile-free maps.

The report's charts are simple (stacked bars of a table's rows, one histogram, two static maps),
so they are drawn straight to SVG here: a few milliseconds each instead of a matplotlib figure
per chart, crisp at any zoom and in print, with text a reader can select and a screen reader can
read. Tick positions follow matplotlib's ``MaxNLocator(nbins=5)`` rule (tested against it; not
imported, so a report never pays matplotlib's import) and shapes come from shapely; all text is
escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from markupsafe import Markup

#: "Nice" tick steps within a decade: matplotlib's MaxNLocator default.
NICE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
FONT_PX = 12
CHAR_PX = 6.6  # average glyph width of the report font at FONT_PX
BAR_PX = 22
GAP_PX = 8


@dataclass(frozen=True)
class Series:
    """One series of a bar chart: its label, colour and one value per category."""

    label: str
    colour: str
    values: Sequence[float]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def nice_ticks(top: float, *, max_bins: int = 5, min_ticks: int = 3) -> np.ndarray:
    """Evenly spaced round ticks from 0 up to ``top``.

    The step is the smallest of :data:`NICE_STEPS` times a power of ten that spans ``top`` in
    ``max_bins`` steps (a smaller one if that gives fewer than ``min_ticks`` ticks): the ticks of
    ``matplotlib.ticker.MaxNLocator(nbins=max_bins, min_n_ticks=min_ticks).tick_values(0, top)``
    that fall within [0, top].
    """
    top = max(float(top), 1e-9)
    scale = 10.0 ** np.floor(np.log10(top / max_bins))
    steps = np.array(NICE_STEPS) * scale
    first = int(np.flatnonzero(steps >= top / max_bins * (1 - 1e-12))[0])
    for step in steps[: first + 1][::-1]:
        count = int(np.floor(top / step * (1 + 1e-10))) + 1
        if count >= min_ticks:
            break
    ticks = np.arange(count) * step
    return np.round(ticks, 12)


def _ticks(vmax: float, *, percent: bool) -> np.ndarray:
    return nice_ticks(100.0 if percent else vmax)


def _number(value: float, *, percent: bool, digits: int = 0) -> str:
    return f"{value:.{digits}f}%" if percent else f"{value:,.{digits}f}"


def _svg(width: float, height: float, body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'font-size="{FONT_PX}" aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _legend(series: Sequence[Series], x0: float, y: float, width: float) -> tuple[list[str], float]:
    """Swatches and labels wrapped over as many lines as ``width`` needs; returns the height."""
    parts, x, line = [], x0, 0
    for s in series:
        item_px = 18 + CHAR_PX * len(s.label) + 14
        if x > x0 and x + item_px > x0 + width:
            x, line = x0, line + 1
        top = y + line * 18
        parts.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="12" height="12" fill="{s.colour}"/>'
            f'<text x="{x + 17:.1f}" y="{top + 10.5:.1f}">{_esc(s.label)}</text>'
        )
        x += item_px
    return parts, (line + 1) * 18


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    axis_label: str,
    percent: bool = False,
    totals: Sequence[str] | None = None,
    width: float = 480,
) -> Markup:
    """Horizontal stacked bars, one per category, with a value axis and a legend.

    Parameters
    ----------
    categories
        The bars, top to bottom.
    series
        The stacked parts; ``values[i]`` belongs to ``categories[i]``.
    title
        The chart's accessible name.
    axis_label
        Below the value axis (say the unit).
    percent
        Values are percentages: the axis runs 0-100%.
    totals
        Text written after each bar (e.g. the total it stands for).
    """
    values = np.array([np.asarray(s.values, float) for s in series]).reshape(len(series), -1)
    values = np.nan_to_num(values)
    stack_max = float(values.sum(axis=0).max()) if values.size else 0.0
    ticks = _ticks(stack_max, percent=percent)
    longest = max((len(c) for c in categories), default=4)
    wanted_px = CHAR_PX * longest + 10
    label_px = min(max(wanted_px, 60), 0.42 * width)
    # Every label fits unless the label column hit its cap (never by rounding: 6.6 * 19 + 10
    # would give back 18.999... characters).
    fits = longest if label_px >= wanted_px else int((label_px - 10) / CHAR_PX)
    tail_px = max(8 + CHAR_PX * max((len(t) for t in totals), default=0) if totals else 0, 24)
    plot_px = max(width - label_px - tail_px, 120)
    scale = plot_px / max(ticks[-1], 1e-12)
    body = []
    grid_px = len(categories) * (BAR_PX + GAP_PX)
    for tick in ticks:
        x = label_px + tick * scale
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{grid_px}" stroke="#ddd"/>')
    for i, category in enumerate(categories):
        y = i * (BAR_PX + GAP_PX) + GAP_PX / 2
        shown = category if len(category) <= fits else category[: fits - 1] + "…"
        body.append(
            f'<text x="{label_px - 6:.1f}" y="{y + BAR_PX * 0.7:.1f}" text-anchor="end">'
            f"<title>{_esc(category)}</title>{_esc(shown)}</text>"
        )
        left = 0.0
        for s, v in zip(series, values[:, i], strict=True):
            if v > 0:
                tip = f"{category}, {s.label}: {_number(v, percent=percent, digits=1)}"
                body.append(
                    f'<rect x="{label_px + left * scale:.2f}" y="{y:.1f}" '
                    f'width="{v * scale:.2f}" height="{BAR_PX}" fill="{s.colour}">'
                    f"<title>{_esc(tip)}</title></rect>"
                )
            left += v
        if totals:
            body.append(
                f'<text x="{label_px + left * scale + 5:.1f}" y="{y + BAR_PX * 0.7:.1f}" '
                f'fill="#444">{_esc(totals[i])}</text>'
            )
    axis_y = len(categories) * (BAR_PX + GAP_PX)
    for tick in ticks:
        x = label_px + tick * scale
        body.append(
            f'<text x="{x:.1f}" y="{axis_y + 14:.1f}" text-anchor="middle" fill="#555">'
            f"{_number(tick, percent=percent)}</text>"
        )
    body.append(
        f'<text x="{label_px + plot_px / 2:.1f}" y="{axis_y + 30:.1f}" text-anchor="middle" '
        f'fill="#555">{_esc(axis_label)}</text>'
    )
    legend, legend_px = _legend(series, label_px, axis_y + 40, plot_px + tail_px)
    return _svg(width, axis_y + 44 + legend_px, body + legend, title)


def histogram(
    values: np.ndarray,
    *,
    bin_width: float,
    title: str,
    axis_label: str,
    count_label: str,
    colour: str,
    marker: tuple[float, str] | None = None,
    width: float = 640,
    height: float = 220,
) -> Markup:
    """Vertical bars counting ``values`` in bins of ``bin_width`` from 0, with an optional
    dashed marker line (value, label)."""
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    top = max(float(finite.max()) if finite.size else 0.0, marker[0] if marker else 0.0, 1.0)
    edges = np.arange(0.0, top + bin_width, bin_width)
    counts, edges = np.histogram(finite, bins=edges)
    left_px, bottom_px, top_px = 44, 44, 10
    plot_w, plot_h = width - left_px - 12, height - bottom_px - top_px
    y_ticks = _ticks(float(counts.max()) if counts.size else 1.0, percent=False)
    y_ticks = y_ticks[np.isclose(y_ticks, np.round(y_ticks))]  # whole counts only
    y_scale = plot_h / max(y_ticks[-1], 1.0)
    x_scale = plot_w / (edges[-1] - edges[0])
    body = []
    for tick in y_ticks:
        y = top_px + plot_h - tick * y_scale
        body.append(
            f'<line x1="{left_px}" x2="{left_px + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{left_px - 5}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#555">{tick:.0f}</text>'
        )
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        if n:
            tip = f"{lo:g}-{hi:g}: {n}"
            body.append(
                f'<rect x="{left_px + lo * x_scale + 0.5:.1f}" '
                f'y="{top_px + plot_h - n * y_scale:.1f}" width="{(hi - lo) * x_scale - 1:.1f}" '
                f'height="{n * y_scale:.1f}" fill="{colour}"><title>{_esc(tip)}</title></rect>'
            )
    for tick in _ticks(edges[-1], percent=False):
        x = left_px + tick * x_scale
        body.append(
            f'<text x="{x:.1f}" y="{top_px + plot_h + 15:.1f}" text-anchor="middle" '
            f'fill="#555">{tick:g}</text>'
        )
    if marker is not None:
        x = left_px + marker[0] * x_scale
        # The label reads rightwards from the line, or leftwards where it would leave the chart
        # (a marker at the axis's end: every practice within the isolation limit).
        fits = x + 4 + CHAR_PX * len(marker[1]) <= width
        text_x, anchor = (x + 4, "start") if fits else (x - 4, "end")
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_px}" y2="{top_px + plot_h}" '
            f'stroke="#b2182b" stroke-dasharray="5,3"/><text x="{text_x:.1f}" '
            f'y="{top_px + 12}" text-anchor="{anchor}" fill="#b2182b">{_esc(marker[1])}</text>'
        )
    body.append(
        f'<text x="{left_px + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
        f'fill="#555">{_esc(axis_label)}</text>'
        f'<text transform="translate(12 {top_px + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="#555">{_esc(count_label)}</text>'
    )
    return _svg(width, height, body, title)


@dataclass(frozen=True)
class MapFrame:
    """Maps projected coordinates (metres) into an SVG's pixels, north up."""

    minx: float
    maxy: float
    scale: float
    width: float
    height: float

    @classmethod
    def around(cls, bounds: Sequence[float], width: float = 640) -> MapFrame:
        """A frame holding ``bounds`` (minx, miny, maxx, maxy) ``width`` pixels wide."""
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        height = min(max(width * span_y / span_x, 160.0), 1.2 * width)
        scale = min(width / span_x, height / span_y)
        return cls(minx, maxy, scale, span_x * scale, span_y * scale)

    def xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel columns and rows of projected points."""
        return (np.asarray(x) - self.minx) * self.scale, (self.maxy - np.asarray(y)) * self.scale

    def shapes(self, geometries: Sequence, fills: Sequence[str], *, stroke: str = "#666") -> str:
        """Polygons as SVG paths (simplified to half a pixel), one fill each."""
        to_px = np.array([[self.scale, 0.0], [0.0, -self.scale]])
        shift = np.array([-self.minx * self.scale, self.maxy * self.scale])
        parts = []
        for geom, fill in zip(geometries, fills, strict=True):
            if geom is None or geom.is_empty:
                continue
            px = shapely.transform(geom, lambda c: c @ to_px + shift)
            px = shapely.simplify(px, 0.5)
            svg = px.svg(scale_factor=0.35, fill_color=fill, opacity=1.0)
            parts.append(svg.replace('stroke="#555555"', f'stroke="{stroke}"'))
        return "".join(parts)


def map_svg(frame: MapFrame, layers: Sequence[str], *, title: str) -> Markup:
    """An SVG map of pre-drawn layers (bottom first)."""
    return _svg(frame.width, frame.height, list(layers), title)


def legend_svg(series: Sequence[Series], *, width: float = 640, title: str) -> Markup:
    """A stand-alone legend (swatches and labels)."""
    parts, height = _legend(series, 0, 2, width)
    return _svg(width, height + 4, parts, title)
