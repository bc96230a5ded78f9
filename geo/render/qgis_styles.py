"""QGIS default styles (QML) for the layers of ``layers.gpkg``, generated from the shared palette.

Each layer is drawn as on the Folium map: places categorised by coverage class, GP practices
outlined red when isolated from specialist care, specialist services categorised by service
type, catchments graduated by threshold, sub-areas graduated by the share of need beyond
specialist reach, remoteness areas categorised in class order, hotspots outlined red. The QML
is built with :mod:`xml.etree.ElementTree` from a few symbol and renderer builders; colours
come from :mod:`geo.render.palette` only. Symbol layer properties are written both as
``<Option>`` maps (QGIS 3.16 and later) and as ``<prop>`` pairs (earlier 3.x releases).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd

from geo.analysis.classes import COVERAGE_CLASSES, GP_LINK_STATUSES
from geo.render.palette import (
    CATCHMENT_COLOURS,
    COVERAGE_COLOURS,
    COVERAGE_LABELS,
    DENSITY_RAMP,
    GP_FILL,
    GP_OUTLINE,
    HOTSPOT_COLOUR,
    ISOLATED_COLOUR,
    REMOTENESS_OUTLINE,
    SPC_COLOURS,
    SUBAREA_OUTLINE,
    ordered_colours,
)
from geo.results import Results

if TYPE_CHECKING:
    import geopandas as gpd

QGIS_VERSION = "3.22.0"
# Opacities as on the map (geo/render/maps.py): places 0.85, catchments 0.12, sub-areas 0.35,
# remoteness 0.45, hotspots 0.2.
ORIGIN_ALPHA = 0.85
CATCHMENT_ALPHA = 0.12
SUBAREA_ALPHA = 0.35
REMOTENESS_ALPHA = 0.45
HOTSPOT_ALPHA = 0.2
# QGIS marker shapes closest to the map's SPC icons.
SPC_SHAPES = {
    "inpatient": "diamond",
    "community": "triangle",
    "hospital": "square",
    "outreach": "star",
}
LINK_LABELS = {
    "linked": "GP practice",
    "isolated": "GP practice isolated from SPC",
    "off_network": "GP practice left out of routing (no mapped road near it)",
    "unknown": "GP practice: specialist access unknown",
}
SUBAREA_STEP_PCT = 100.0 / len(DENSITY_RAMP)
_GEOMETRY_CODES = {"Point": "0", "MultiPoint": "0", "Polygon": "2", "MultiPolygon": "2"}


@dataclass(frozen=True)
class Symbol:
    """A one-layer QGIS symbol: a simple marker or a simple fill.

    Attributes
    ----------
    kind
        ``marker`` or ``fill``.
    colour, alpha
        Fill colour (``#rrggbb``) and its opacity (0-1).
    outline
        Outline colour, or None for no outline.
    outline_width_mm, size_mm
        Outline width; marker diameter.
    shape
        Marker shape (``circle``, ``square``, ``diamond``, ``triangle``, ``star``).
    """

    kind: Literal["marker", "fill"]
    colour: str
    alpha: float = 1.0
    outline: str | None = None
    outline_width_mm: float = 0.26
    size_mm: float = 2.0
    shape: str = "circle"


def qgis_colour(hex_colour: str, alpha: float = 1.0) -> str:
    """``#rrggbb`` and an opacity (0-1) as QGIS writes colours: ``r,g,b,a`` (0-255)."""
    value = hex_colour.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"{red},{green},{blue},{round(255 * alpha)}"


def symbol_element(symbol: Symbol, name: str) -> ET.Element:
    """The ``<symbol>`` element of a simple marker or fill symbol."""
    element = ET.Element(
        "symbol",
        {
            "type": symbol.kind,
            "name": name,
            "alpha": "1",
            "clip_to_extent": "1",
            "force_rhr": "0",
        },
    )
    props = {
        "color": qgis_colour(symbol.colour, symbol.alpha),
        "outline_color": qgis_colour(symbol.outline or symbol.colour),
        "outline_style": "solid" if symbol.outline else "no",
        "outline_width": f"{symbol.outline_width_mm:g}",
        "outline_width_unit": "MM",
        "joinstyle": "bevel",
    }
    if symbol.kind == "marker":
        props |= {"name": symbol.shape, "size": f"{symbol.size_mm:g}", "size_unit": "MM"}
        props |= {"angle": "0", "scale_method": "diameter"}
        layer_class = "SimpleMarker"
    else:
        props["style"] = "solid"
        layer_class = "SimpleFill"
    layer = ET.SubElement(
        element, "layer", {"class": layer_class, "enabled": "1", "pass": "0", "locked": "0"}
    )
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in props.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in props.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})
    return element


def _renderer(kind: str, attrs: dict[str, str], symbols: Sequence[Symbol]) -> ET.Element:
    renderer = ET.Element(
        "renderer-v2",
        {"type": kind, **attrs, "symbollevels": "0", "forceraster": "0", "enableorderby": "0"},
    )
    holder = ET.Element("symbols")
    for i, symbol in enumerate(symbols):
        holder.append(symbol_element(symbol, str(i)))
    renderer.append(holder)
    return renderer


def categorised(attribute: str, categories: Sequence[tuple[str, str, Symbol]]) -> ET.Element:
    """A categorised renderer: ``(value, label, symbol)`` per category, in legend order."""
    renderer = _renderer("categorizedSymbol", {"attr": attribute}, [c[2] for c in categories])
    holder = ET.Element("categories")
    for i, (value, label, _) in enumerate(categories):
        ET.SubElement(
            holder,
            "category",
            {"render": "true", "symbol": str(i), "value": str(value), "label": label},
        )
    renderer.insert(0, holder)
    return renderer


def graduated(
    attribute: str,
    ranges: Sequence[tuple[float, float, str, Symbol]],
    *,
    largest_first: bool = False,
) -> ET.Element:
    """A graduated renderer: ``(lower, upper, label, symbol)`` per range; ``largest_first``
    draws features with the largest values first (smaller catchments on top)."""
    renderer = _renderer(
        "graduatedSymbol",
        {"attr": attribute, "graduatedMethod": "GraduatedColor"},
        [r[3] for r in ranges],
    )
    holder = ET.Element("ranges")
    for i, (lower, upper, label, _) in enumerate(ranges):
        ET.SubElement(
            holder,
            "range",
            {
                "render": "true",
                "symbol": str(i),
                "lower": f"{lower:.6f}",
                "upper": f"{upper:.6f}",
                "label": label,
            },
        )
    renderer.insert(0, holder)
    if largest_first:
        renderer.set("enableorderby", "1")
        order = ET.SubElement(renderer, "orderby")
        clause = ET.SubElement(order, "orderByClause", {"asc": "0", "nullsFirst": "0"})
        clause.text = f'"{attribute}"'
    return renderer


def single(symbol: Symbol) -> ET.Element:
    """A single-symbol renderer."""
    return _renderer("singleSymbol", {}, [symbol])


def qml(renderer: ET.Element, geometry_type: str) -> str:
    """A QML document holding a layer's symbology."""
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})
    root.append(renderer)
    for tag, text in (
        ("blendMode", "0"),
        ("featureBlendMode", "0"),
        ("layerOpacity", "1"),
        ("layerGeometryType", _GEOMETRY_CODES[geometry_type]),
    ):
        ET.SubElement(root, tag).text = text
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"


# --- The layers of layers.gpkg -----------------------------------------------------------------


def origins_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """Places by coverage class (people and cancer need, any SPC service; the layer's
    ``coverage_class_non_cancer`` takes the same categories)."""
    symbols = {
        c: Symbol("marker", COVERAGE_COLOURS[c], ORIGIN_ALPHA, size_mm=1.6)
        for c in COVERAGE_CLASSES
    }
    return categorised("coverage_class", [(c, COVERAGE_LABELS[c], symbols[c]) for c in symbols])


def gp_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """GP practices: white circles, outlined red when isolated from specialist care."""

    def symbol(status: str) -> Symbol:
        isolated = status == "isolated"
        return Symbol(
            "marker",
            GP_FILL,
            outline=ISOLATED_COLOUR if isolated else GP_OUTLINE,
            outline_width_mm=0.8 if isolated else 0.4,
            size_mm=3.2,
        )

    return categorised("link_status", [(s, LINK_LABELS[s], symbol(s)) for s in GP_LINK_STATUSES])


def spc_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """Specialist services by service type (types beyond the palette take the first colour)."""
    present = frame["service_type"].dropna().astype(str) if len(frame) else pd.Series([])
    types = [*SPC_COLOURS, *sorted(set(present) - set(SPC_COLOURS))]
    fallback = next(iter(SPC_COLOURS.values()))
    return categorised(
        "service_type",
        [
            (
                t,
                f"SPC: {t}",
                Symbol(
                    "marker",
                    SPC_COLOURS.get(t, fallback),
                    outline="#ffffff",
                    outline_width_mm=0.4,
                    size_mm=4.0,
                    shape=SPC_SHAPES.get(t, "circle"),
                ),
            )
            for t in types
        ],
    )


def catchment_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """Catchments by threshold: the i-th shortest threshold takes the i-th catchment colour,
    as on the map; longer thresholds are drawn first."""
    thresholds = sorted({int(t) for t in frame["threshold_min"].dropna()})
    ranges = []
    for i, minutes in enumerate(thresholds):
        colour = CATCHMENT_COLOURS[min(i, len(CATCHMENT_COLOURS) - 1)]
        lower = thresholds[i - 1] if i else 0
        symbol = Symbol("fill", colour, CATCHMENT_ALPHA, outline=colour, outline_width_mm=0.3)
        ranges.append((lower, minutes, f"Within {minutes} min", symbol))
    return graduated("threshold_min", ranges, largest_first=True)


def subarea_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """Sub-areas by the share of their need beyond specialist reach, in equal steps."""
    ranges = []
    for i, colour in enumerate(DENSITY_RAMP):
        lower, upper = i * SUBAREA_STEP_PCT, (i + 1) * SUBAREA_STEP_PCT
        symbol = Symbol("fill", colour, SUBAREA_ALPHA, outline=SUBAREA_OUTLINE)
        label = f"{lower:g}–{upper:g}% of need beyond SPC reach"
        ranges.append((lower, upper, label, symbol))
    return graduated("need_beyond_spc_pct", ranges)


def remoteness_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """Remoteness areas by class, least remote first, in the map's colours."""
    colours = ordered_colours(list(results.remoteness_classes))
    return categorised(
        "remoteness_class",
        [
            (c, c, Symbol("fill", colour, REMOTENESS_ALPHA, REMOTENESS_OUTLINE, 0.15))
            for c, colour in colours.items()
        ],
    )


def hotspot_renderer(results: Results, frame: gpd.GeoDataFrame) -> ET.Element:
    """Hotspots of need beyond specialist reach, outlined red."""
    return single(Symbol("fill", HOTSPOT_COLOUR, HOTSPOT_ALPHA, HOTSPOT_COLOUR, 0.7))


RENDERERS = {
    "origins": origins_renderer,
    "gp_practices": gp_renderer,
    "specialist_services": spc_renderer,
    "catchments": catchment_renderer,
    "subareas": subarea_renderer,
    "remoteness_areas": remoteness_renderer,
    "hotspots": hotspot_renderer,
}


def layer_styles(
    results: Results, frames: dict[str, gpd.GeoDataFrame], geometry_types: dict[str, str]
) -> dict[str, str]:
    """The QML default style of every layer in ``frames`` (as written to ``layers.gpkg``).

    Parameters
    ----------
    results
        The run's results (remoteness class order).
    frames
        Layer name -> the layer as written.
    geometry_types
        Layer name -> ``Point`` or ``MultiPolygon``.

    Returns
    -------
    dict of str to str
        Layer name -> QML text.
    """
    return {
        name: qml(RENDERERS[name](results, frame), geometry_types[name])
        for name, frame in frames.items()
    }
