"""Map styling: constants, number formats, marker shapes and popup HTML (every input text
escaped). The legend and title live in :mod:`geo.render.map_legend`."""

from __future__ import annotations

import html

import folium
import numpy as np
import pandas as pd

from geo.analysis.classes import COVERAGE_CLASSES
from geo.render.palette import COVERAGE_LABELS, SHARE_RAMP, SPC_COLOURS

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
        shares = f"<br><i>Shares by class withheld: small numbers (below {below:g})</i>"
    else:
        shares = "<br><i>Share of need by coverage</i>" + "".join(
            f"<br>{esc(COVERAGE_LABELS[c])}: {pct_text(row.get(f'share_{c}'))}"
            for c in COVERAGE_CLASSES
        )
    no_spc = (
        f"{gap_text(row.get('gap_share'))} (cancer {gap_text(row.get('gap_share_cancer'))}, "
        f"non-cancer {gap_text(row.get('gap_share_non_cancer'))})"
    )
    return (
        f"<b>{esc(row['area_name'])}</b><br>People: {count('pop_count', 0)}<br>"
        f"Palliative need/yr: cancer {count('need_cancer', 1)}, non-cancer "
        f"{count('need_non_cancer', 1)}<br>Need without an SPC service that would take it "
        f"within {spc_min:g} min: <b>{no_spc}</b>{shares}"
    )


def gap_text(value: object) -> str:
    """A sub-area's gap share, or ``withheld`` (it would give back a small number)."""
    return "withheld" if _finite(value) is None else pct_text(value)


def pct_text(value: object) -> str:
    share = _finite(value)
    return "n/a" if share is None else f"{share:.0%}"


def share_colour(share: float | None) -> str | None:
    """The fill of a sub-area share (fifths of :data:`SHARE_RAMP`); None when withheld (small
    numbers) or the area has no need."""
    if share is None or not np.isfinite(share):
        return None
    share = float(share)
    return SHARE_RAMP[min(int(share * len(SHARE_RAMP)), len(SHARE_RAMP) - 1)]


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
    given = _finite(row.get("capacity")) is not None or _text(row, "capacity_units")
    capacity = f"<br>Capacity: {capacity_with_units(row)}" if given else ""
    return (
        f"<b>{esc(row['name'])}</b><br>GP practice{flag}<br>"
        f"Nearest SPC: {minutes_text(row.get('spc_travel_time_min'))}<br>"
        f"People nearest: {num_text(row.get('pop_served'))}<br>"
        f"Need/yr served: cancer {num_text(row.get('need_cancer_served'), 1)}, non-cancer "
        f"{num_text(row.get('need_non_cancer_served'), 1)}{capacity}{road_text(row)}"
        f"{location_text(row)}"
    )


def capacity_text(value: object) -> str:
    """A capacity for people: ``not given`` when missing, else three significant figures
    (whole numbers with thousands separators from 1,000): ``0.0922``, ``4.5``, ``23,758``."""
    number = _finite(value)
    if number is None:
        return "not given"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    if 0 < abs(number) < 0.001:
        return "<0.001"
    return f"{number:.3g}"


def capacity_with_units(row: dict) -> str:
    """A facility's capacity with its units (``capacity_units``) when known."""
    text = capacity_text(row.get("capacity"))
    units = _text(row, "capacity_units")
    return f"{text} {esc(units)}" if units and text != "not given" else text


def spc_popup(row: dict) -> str:
    """A specialist service's popup: type, capacity, referrals accepted, its road."""
    accepts = accepts_non_cancer(row)
    return (
        f"<b>{esc(row['name'])}</b><br>Specialist palliative care: "
        f"{esc(row.get('service_type', ''))}<br>Capacity: {capacity_with_units(row)}<br>"
        f"Accepts non-cancer: {'yes' if accepts else 'no (cancer only)'}{road_text(row)}"
        f"{location_text(row)}"
    )


def accepts_non_cancer(row: dict) -> bool:
    """Whether a service takes non-cancer referrals (missing: yes, as the loaders assume)."""
    value = row.get("accepts_non_cancer", True)
    return True if value is None or pd.isna(value) else bool(value)


def spc_svg(service_type: str, size: int = 22, *, cancer_only: bool = False) -> str:
    """A service type's shape; hollow (white inside a thick outline) when it takes cancer
    referrals only."""
    colour = SPC_COLOURS.get(service_type, "#54278f")
    path = SPC_SHAPES.get(service_type, SPC_SHAPES["inpatient"])
    paint = (
        f'fill="#fff" stroke="{colour}" stroke-width="3.5"'
        if cancer_only
        else f'fill="{colour}" stroke="#fff" stroke-width="2"'
    )
    return (
        f'<svg width="{size}" height="{size}" viewBox="-1 -1 24 24"><path d="{path}" {paint}/>'
        "</svg>"
    )


def spc_icon(
    service_type: str, *, cancer_only: bool = False, anchor: tuple[int, int] = (11, 11)
) -> folium.DivIcon:
    """A service's map icon (inline SVG), anchored at ``anchor`` pixels of its 22-px box."""
    return folium.DivIcon(
        html=spc_svg(service_type, cancer_only=cancer_only),
        icon_size=(22, 22),
        icon_anchor=anchor,
        class_name="gm-spc",
    )
