"""The palettes and labels every view shares: the Folium maps, the report's charts and the
styles stored in ``layers.gpkg`` for QGIS all read their colours here, so a class has one colour
everywhere.
"""

from __future__ import annotations

COVERAGE_COLOURS = {
    "both": "#1a9850",
    "gp_only": "#fdae61",
    "spc_only": "#74add1",
    "neither": "#d73027",
    "unknown": "#969696",
}
COVERAGE_LABELS = {
    "both": "GP and SPC within thresholds",
    "gp_only": "GP only",
    "spc_only": "SPC only",
    "neither": "Neither",
    "unknown": "Unknown (off the road network, or no service placed)",
}
REMOTENESS_PALETTE = ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837", "#00441b", "#002a11")
DENSITY_RAMP = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")
SPC_COLOURS = {
    "inpatient": "#54278f",
    "community": "#807dba",
    "hospital": "#3f007d",
    "outreach": "#e7298a",
}
# Travel-time surface legend: band i covers [TIME_BANDS_MIN[i], TIME_BANDS_MIN[i + 1]).
TIME_BANDS_MIN = (0, 15, 30, 45, 60, 90, 120)
TIME_COLOURS = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027", "#67001f")
CATCHMENT_COLOURS = ("#3f007d", "#6a51a3", "#9e9ac8", "#cbc9e2", "#f2f0f7")
CHANGE_COLOURS = {"gained": "#1a9850", "lost": "#d73027", "virtual": "#7b3294"}
# Facility and area outlines, shared by the map and the QGIS styles.
GP_FILL = "#ffffff"
GP_OUTLINE = "#222222"
ISOLATED_COLOUR = "#b2182b"  # outline of GP practices isolated from specialist care
HOTSPOT_COLOUR = "#d73027"
SUBAREA_OUTLINE = "#333333"
REMOTENESS_OUTLINE = "#555555"


def ordered_colours(order: list[str]) -> dict[str, str]:
    """Colours for ordered classes (remoteness, least remote first) spread over the palette."""
    last = len(REMOTENESS_PALETTE) - 1
    if len(order) <= 1:
        return {c: REMOTENESS_PALETTE[2] for c in order}
    step = last / (len(order) - 1) if len(order) <= last + 1 else 1.0
    return {c: REMOTENESS_PALETTE[min(round(i * step), last)] for i, c in enumerate(order)}
