"""Map styling: palettes, legend, title block and popup HTML (every input text escaped)."""

from __future__ import annotations

import html
import itertools

import folium
import numpy as np
import pandas as pd
from branca.element import Element

from geo.analysis.coverage import COVERAGE_CLASSES
from geo.render.palette import (
    COVERAGE_COLOURS,
    COVERAGE_LABELS,
    DENSITY_RAMP,
    SPC_COLOURS,
    TIME_BANDS_MIN,
    TIME_COLOURS,
    ordered_colours,
)
from geo.results import Results

# Inline-SVG shapes per SPC service type (core Leaflet DivIcons: no icon fonts to fetch).
SPC_SHAPES = {
    "inpatient": "M11 1 L21 11 L11 21 L1 11 Z",
    "community": "M11 2 L21 20 L1 20 Z",
    "hospital": "M3 3 H19 V19 H3 Z",
    "outreach": "M11 1 L13.5 8 L21 8 L15 12.5 L17.5 20 L11 15.5 L4.5 20 L7 12.5 L1 8 L8.5 8 Z",
}
COORD_DECIMALS = 5
SIMPLIFY_M = 50.0
MAX_VECTOR_ORIGINS = 20_000
MAX_ZOOM = 18
RASTER_MAX_PX = 900
DENSITY_MAX_PX = 220
NOTE_NO_ISOLATED = "No isolated GP practices."
NOTE_NO_HOTSPOTS = "No hotspots of uncovered need found."
NOTE_NO_SUBAREAS = "No sub-areas configured."


def esc(value: object) -> str:
    """HTML-escape input text; also ` and $ because folium embeds popup HTML in JS templates."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def _finite(value: object) -> float | None:
    """``value`` as a float, or None when missing, not a number or infinite."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def minutes_text(value: object) -> str:
    minutes = _finite(value)
    return "unreachable" if minutes is None else f"{minutes:.0f} min"


def num_text(value: object, digits: int = 0) -> str:
    number = _finite(value)
    return "n/a" if number is None else f"{number:,.{digits}f}"


def subarea_popup(row: dict, spc_min: float, below: float = 5.0) -> str:
    """A sub-area's popup; figures hidden by small-number suppression read ``<5``."""

    def count(key: str, digits: int) -> str:
        value = row.get(key)
        return f"&lt;{below:g}" if _finite(value) is None else num_text(value, digits)

    if row.get("withheld"):
        shares = f"<br><i>Shares withheld: small numbers (below {below:g})</i>"
        no_spc = "withheld"
    else:
        shares = "<br><i>Share of need by coverage</i>" + "".join(
            f"<br>{esc(COVERAGE_LABELS[c])}: {pct_text(row.get(f'share_{c}'))}"
            for c in COVERAGE_CLASSES
        )
        no_spc = pct_text(row.get("share_no_spc"))
    return (
        f"<b>{esc(row['area_name'])}</b><br>People: {count('pop_count', 0)}<br>"
        f"Palliative need/yr: cancer {count('need_cancer', 1)}, non-cancer "
        f"{count('need_non_cancer', 1)}<br>Need without SPC within {spc_min:g} min: "
        f"<b>{no_spc}</b>{shares}"
    )


def pct_text(value: object) -> str:
    share = _finite(value)
    return "n/a" if share is None else f"{share:.0%}"


def share_colour(share: float | None) -> str:
    if share is None or not np.isfinite(share):
        return "#d9d9d9"  # withheld (small numbers) or no need
    share = float(share)
    return DENSITY_RAMP[min(int(share * len(DENSITY_RAMP)), len(DENSITY_RAMP) - 1)]


LINK_TEXT = {
    "isolated": " &mdash; <b>isolated from SPC</b>",
    "off_network": " &mdash; <b>left out of routing</b> (no mapped road near it)",
    "unknown": " &mdash; specialist access unknown",
}


def road_text(row: dict) -> str:
    """How the site attaches to the road network (its snap distance), for popups."""
    distance = _finite(row.get("snap_distance_m"))
    if distance is None:
        return ""
    if not bool(row.get("reachable", True)):
        return f"<br>Nearest mapped road: {distance:,.0f} m (too far: left out of routing)"
    return f"<br>Nearest mapped road: {distance:,.0f} m"


def _text(row: dict, key: str) -> str | None:
    value = row.get(key)
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def location_text(row: dict) -> str:
    """Where the point comes from when it was placed by postcode or address, for popups."""
    precision = _text(row, "location_precision")
    if precision is None:
        return ""
    query = _text(row, "location_query")
    return f"<br>Location: {esc(precision)}" + (f" ({esc(query)})" if query else "")


def gp_popup(row: dict) -> str:
    """A GP practice's popup: its link to specialist care, the people it serves, its road
    (and its capacity and location source when the config gives them)."""
    flag = LINK_TEXT.get(str(row.get("link_status", "")), "")
    units = _text(row, "capacity_units")
    capacity = f"<br>Capacity: {capacity_text(row.get('capacity'))} {esc(units)}" if units else ""
    return (
        f"<b>{esc(row['name'])}</b><br>GP practice{flag}<br>"
        f"Nearest SPC: {minutes_text(row.get('spc_travel_time_min'))}<br>"
        f"People nearest: {num_text(row.get('pop_served'))}<br>"
        f"Need/yr served: cancer {num_text(row.get('need_cancer_served'), 1)}, non-cancer "
        f"{num_text(row.get('need_non_cancer_served'), 1)}{capacity}{road_text(row)}"
        f"{location_text(row)}"
    )


def capacity_text(value: object) -> str:
    """A capacity for people: ``not given`` when missing, else up to two decimals."""
    number = _finite(value)
    return "not given" if number is None else f"{number:,.2f}".rstrip("0").rstrip(".")


def spc_popup(row: dict) -> str:
    """A specialist service's popup: type, capacity, referrals accepted, its road."""
    accepts = row.get("accepts_non_cancer", True)
    accepts = True if accepts is None or pd.isna(accepts) else bool(accepts)
    units = _text(row, "capacity_units")
    return (
        f"<b>{esc(row['name'])}</b><br>Specialist palliative care: "
        f"{esc(row.get('service_type', ''))}<br>Capacity: {capacity_text(row.get('capacity'))}"
        f"{' ' + esc(units) if units else ''}<br>"
        f"Accepts non-cancer: {'yes' if accepts else 'no (cancer only)'}{road_text(row)}"
        f"{location_text(row)}"
    )


def spc_svg(service_type: str, size: int = 22) -> str:
    colour = SPC_COLOURS.get(service_type, "#54278f")
    path = SPC_SHAPES.get(service_type, SPC_SHAPES["inpatient"])
    return (
        f'<svg width="{size}" height="{size}" viewBox="0 0 22 22"><path d="{path}" '
        f'fill="{colour}" stroke="#fff" stroke-width="2"/></svg>'
    )


def spc_icon(service_type: str) -> folium.DivIcon:
    return folium.DivIcon(
        html=spc_svg(service_type), icon_size=(22, 22), icon_anchor=(11, 11), class_name="gm-spc"
    )


# --- Title, legend and controls -----------------------------------------------------------------


def legend_rows(
    results: Results, *, density_breaks: dict[str, list[float]], has_surface: bool, notes: list[str]
) -> str:
    def swatch(colour: str, label: str, extra: str = "") -> str:
        return (
            f'<div><span class="gm-sw" style="background:{colour};{extra}"></span>'
            f"{esc(label)}</div>"
        )

    rows = ["<b>People by coverage</b>"]
    rows += [swatch(COVERAGE_COLOURS[c], COVERAGE_LABELS[c]) for c in COVERAGE_CLASSES]
    rows.append(swatch("#fff", "GP practice isolated from SPC", "border:2px solid #b2182b"))
    rows.append(swatch("#fff", "GP practice", "border:1px solid #222"))
    rows += [
        f"<div>{spc_svg(t, 12)} SPC: {esc(t)}</div>"
        for t in sorted(set(results.specialist_services.get("service_type", pd.Series(dtype=str))))
    ]
    rows.append("<b>Remoteness</b>")
    rows += [
        swatch(c, k, "border-radius:0")
        for k, c in ordered_colours(results.remoteness_classes).items()
    ]
    for key, title in (("need", "Need per cell (per yr)"), ("pop", "People per cell")):
        breaks = density_breaks.get(key)
        if breaks:
            edges = ["0", *[f"{b:.2g}" if key == "need" else num_text(b) for b in breaks]]
            labels = [f"{a}–{b}" for a, b in itertools.pairwise(edges)]
            labels.append(f"> {edges[-1]}")
            rows.append(f"<b>{esc(title)}</b>")
            rows += [
                swatch(c, lab, "border-radius:0")
                for c, lab in zip(DENSITY_RAMP, labels, strict=True)
            ]
    if has_surface:
        rows.append("<b>Travel time to nearest SPC</b>")
        edges = [*TIME_BANDS_MIN[1:], None]
        rows += [
            swatch(c, f"{lo}–{hi} min" if hi is not None else f"> {lo} min", "border-radius:0")
            for c, lo, hi in zip(TIME_COLOURS, TIME_BANDS_MIN, edges, strict=True)
        ]
    rows += [f"<div class='gm-note'>{esc(n)}</div>" for n in notes]
    return "".join(rows)


def add_title_and_legend(
    fmap: folium.Map,
    results: Results,
    *,
    density_breaks: dict[str, list[float]],
    has_surface: bool,
    notes: list[str],
) -> None:
    date = results.provenance.get("osm_data_date") or "unknown"
    th = results.thresholds_min
    rows = legend_rows(results, density_breaks=density_breaks, has_surface=has_surface, notes=notes)
    block = f"""
<style>
.gm-box{{position:absolute;z-index:1000;background:#fff;padding:8px 10px;border-radius:4px;
box-shadow:0 1px 4px rgba(0,0,0,.4);font:12px/1.4 sans-serif;max-width:300px}}
#gm-legend{{max-height:55vh;overflow-y:auto}}
.gm-sw{{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:50%;
vertical-align:middle}}
.gm-note{{color:#555;font-style:italic}}
.gm-spc{{background:none;border:none}}
</style>
<div class="gm-box" id="gm-title" style="top:10px;left:60px">
<b>{esc(results.region_name)}</b><br>Palliative care access: GP within {th.get("gp", 0):g} min,
specialist palliative care within {th.get("spc", 0):g} min by road.<br>
Road data: OpenStreetMap, {esc(date)} &copy; OpenStreetMap contributors (ODbL)</div>
<div class="gm-box" id="gm-legend" style="bottom:30px;left:10px">{rows}
</div>"""
    fmap.get_root().html.add_child(Element(block))
