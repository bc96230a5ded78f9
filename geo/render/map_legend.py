"""The map's side panel: the title with its headline, and a legend that follows the layers.

Every overlay registers one :class:`LegendBlock` (its swatches and notes); the panel stacks the
blocks in one collapsible box, and a script shows a block only while its layer is on (Leaflet's
``overlayadd``/``overlayremove`` events). The panel sits in a fixed-width column on the left
of the map; the script fits the data's extent with padding that reserves that column and the
layer control on the right, so at the default view neither covers the data. The zoom, scale,
full-screen and measure controls sit bottom right, clear of the panel.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from geo.analysis.classes import COVERAGE_CLASSES
from geo.analysis.gaps import band_labels
from geo.render.map_style import esc, spc_svg
from geo.render.palette import (
    COVERAGE_COLOURS,
    COVERAGE_LABELS,
    DENSITY_RAMP,
    ISOLATED_COLOUR,
    SHARE_RAMP,
    WITHHELD_COLOUR,
    time_colours,
)

SIDE_WIDTH_PX = 290
NO_LAYER_TEXT = "Turn a layer on to see its legend."


@dataclass
class LegendBlock:
    """One overlay's legend: shown only while the layer (``layer``, its JS name) is on.

    Attributes
    ----------
    layer
        The Leaflet layer's JavaScript variable name (``FeatureGroup.get_name()``).
    name
        The layer's name in the layer control.
    title
        The block's heading (plain text).
    rows
        Swatch rows, HTML (input text already escaped).
    notes
        Plain-text notes (escaped when rendered), e.g. why the layer is empty.
    """

    layer: str
    name: str
    title: str
    rows: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def html(self) -> str:
        notes = "".join(f"<div class='gm-note'>{esc(n)}</div>" for n in self.notes)
        return (
            f'<div class="gm-block" data-layer="{esc(self.layer)}" data-name="{esc(self.name)}">'
            f'<div class="gm-block-title">{esc(self.title)}</div>{"".join(self.rows)}{notes}'
            "</div>"
        )


_SHAPES = {
    "dot": "border-radius:50%;background:{c}",
    "square": "background:{c}",
    "ring": "border-radius:50%;background:#fff;border:2px solid {c}",
    "outline": "background:transparent;border:2px solid {c}",
    "dashed": "background:transparent;border:1.5px dashed {c}",
    "line": "height:0;border-top:2px dashed {c};vertical-align:middle",
}


def swatch(colour: str, label: str, shape: str = "dot") -> str:
    """One legend row: a swatch of ``shape`` in ``colour`` and its (escaped) label."""
    style = _SHAPES[shape].format(c=colour)
    return f'<div><span class="gm-sw" style="{style}"></span>{esc(label)}</div>'


def coverage_rows(non_cancer: bool = False) -> list[str]:
    """Swatches of the coverage classes (people and cancer need, or non-cancer need)."""
    labels = dict(COVERAGE_LABELS)
    if non_cancer:
        labels["both"] = "GP and an SPC service taking non-cancer referrals"
        labels["gp_only"] = "GP only (no SPC service taking non-cancer referrals)"
    return [swatch(COVERAGE_COLOURS[c], labels[c]) for c in COVERAGE_CLASSES]


def ramp_rows(colours: list[str] | tuple[str, ...], labels: list[str]) -> list[str]:
    """Square swatches of a sequential ramp, one per label."""
    return [swatch(c, lab, "square") for c, lab in zip(colours, labels, strict=True)]


def sig_text(value: float) -> str:
    """A legend number with two significant figures and thousands separators."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{float(f'{value:.2g}'):,.0f}"
    return f"{value:.2g}"


def density_rows(breaks: list[float]) -> list[str]:
    """Quintile classes of a density layer (per km²)."""
    edges = ["0", *[sig_text(b) for b in breaks]]
    labels = [f"{a}–{b}" for a, b in itertools.pairwise(edges)]
    return ramp_rows(DENSITY_RAMP, [*labels, f"> {edges[-1]}"])


def time_rows(edges_min: list[float]) -> list[str]:
    """Travel-time bands with the report's labels (``0-15 min`` … ``120+ min``)."""
    labels = [f"{label} min" for label in band_labels(edges_min)]
    return ramp_rows(time_colours(len(labels)), labels)


def share_rows() -> list[str]:
    """Classes of a sub-area share (fifths) and the withheld style."""
    step = 100 // len(SHARE_RAMP)
    labels = [f"{i * step}–{(i + 1) * step}%" for i in range(len(SHARE_RAMP))]
    return [
        *ramp_rows(SHARE_RAMP, labels),
        swatch(WITHHELD_COLOUR, "Withheld: small numbers", "dashed"),
    ]


def gp_rows() -> list[str]:
    """GP practice markers."""
    return [
        swatch("#222222", "GP practice", "ring"),
        swatch(ISOLATED_COLOUR, "GP practice isolated from specialist care", "ring"),
    ]


def spc_rows(types: list[str], cancer_only_types: list[str]) -> list[str]:
    """One shape per service type; hollow shapes (shown in the types that have one) take
    cancer referrals only."""
    rows = [f"<div>{spc_svg(t, 12)} {esc(t)}</div>" for t in types]
    hollow = "".join(spc_svg(t, 12, cancer_only=True) for t in sorted(set(cancer_only_types)))
    if hollow:
        rows.append(f"<div>{hollow} hollow: takes cancer referrals only (no non-cancer)</div>")
    return rows


_CSS = f"""
<style>
#gm-side{{position:absolute;z-index:1000;top:10px;left:10px;width:{SIDE_WIDTH_PX}px;
max-height:calc(100% - 20px);display:flex;flex-direction:column;gap:8px;
font:12px/1.4 sans-serif;box-sizing:border-box}}
.gm-box{{background:#fff;padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.4);
box-sizing:border-box}}
#gm-title{{flex:0 0 auto}}
.gm-region{{font-size:14px;font-weight:bold}}
#gm-headline{{margin:4px 0}}
#gm-legend{{overflow-y:auto;min-height:0;flex:0 1 auto}}
#gm-legend summary{{font-weight:bold;cursor:pointer}}
.gm-block{{margin-top:6px}}
.gm-block-title{{font-weight:bold}}
.gm-sw{{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle;
box-sizing:border-box}}
.gm-note{{color:#555;font-style:italic}}
.gm-spc{{background:none;border:none}}
.gm-small{{color:#555;font-size:11px}}
.leaflet-control-layers{{font:12px/1.35 sans-serif}}
.marker-cluster-small,.marker-cluster-medium,.marker-cluster-large{{
background-color:rgba(34,34,34,.25)}}
.marker-cluster-small div,.marker-cluster-medium div,.marker-cluster-large div{{
background-color:#fff;border:1.5px solid #222;color:#222;box-sizing:border-box}}
.leaflet-control-layers-overlays label{{margin:1px 0}}
</style>"""


def panel_html(title_html: str, blocks: list[LegendBlock], notes: list[str]) -> str:
    """The side panel: title box, then the legend (one block per layer, general notes last)."""
    general = "".join(f"<div class='gm-note'>{esc(n)}</div>" for n in notes)
    return (
        f'{_CSS}<div id="gm-side"><div class="gm-box" id="gm-title">{title_html}</div>'
        '<div class="gm-box" id="gm-legend"><details open><summary>Legend</summary>'
        f'<div id="gm-legend-none" class="gm-note">{NO_LAYER_TEXT}</div>'
        f"{''.join(b.html() for b in blocks)}"
        f'<div id="gm-legend-notes">{general}</div></details></div></div>'
    )


class PanelScript(MacroElement):
    """Moves the panel into the map, keeps each legend block in step with its layer, adds the
    bottom-right controls and fits the data's extent clear of the panel and layer control."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var side = document.getElementById('gm-side');
  map.getContainer().appendChild(side);
  L.DomEvent.disableClickPropagation(side);
  L.DomEvent.disableScrollPropagation(side);
  L.control.scale({position: 'bottomright'}).addTo(map);
  var blocks = side.querySelectorAll('.gm-block');
  function sync() {
    var shown = 0;
    blocks.forEach(function (block) {
      var layer = window[block.dataset.layer];
      var on = !!layer && map.hasLayer(layer);
      block.style.display = on ? '' : 'none';
      if (on) { shown += 1; }
    });
    document.getElementById('gm-legend-none').style.display = shown ? 'none' : '';
  }
  var front = {{ this.front }};
  function raise() {
    front.forEach(function (name) {
      var layer = window[name];
      if (layer && map.hasLayer(layer)) { layer.bringToFront(); }
    });
  }
  map.on('overlayadd overlayremove', sync);
  map.on('overlayadd', raise);
  sync();
  raise();
  var bounds = L.latLngBounds({{ this.bounds }});
  function fit() {
    var box = map.getContainer().getBoundingClientRect();
    var left = side.getBoundingClientRect().right - box.left + 12;
    var control = map.getContainer().querySelector('.leaflet-control-layers');
    var right = control ? box.right - control.getBoundingClientRect().left + 12 : 12;
    if (box.width - left - right < 160) { left = 12; right = 12; }
    map.fitBounds(bounds, {paddingTopLeft: [left, 12], paddingBottomRight: [right, 12],
                           animate: false});
  }
  fit();
})();
{% endmacro %}
"""
    )

    def __init__(self, bounds: list[list[float]], front: list[str]) -> None:
        super().__init__()
        self._name = "GapmapPanel"
        self.bounds = json.dumps(bounds)
        self.front = json.dumps(front)


def add_panel(
    fmap: folium.Map,
    *,
    title_html: str,
    blocks: list[LegendBlock],
    notes: list[str],
    bounds: list[list[float]],
    front: list[str] | None = None,
) -> None:
    """Add the side panel and its script to ``fmap`` (call after the layer control).

    ``bounds`` is the data's extent ``[[south, west], [north, east]]`` in degrees; ``front``
    names the overlays brought to the front (bottom first) whenever an overlay is turned on.
    """
    fmap.get_root().html.add_child(Element(panel_html(title_html, blocks, notes)))
    fmap.add_child(PanelScript(bounds, list(front or [])))


__all__ = [
    "LegendBlock",
    "add_panel",
    "coverage_rows",
    "density_rows",
    "gp_rows",
    "ramp_rows",
    "share_rows",
    "spc_rows",
    "swatch",
    "time_rows",
]
