"""The palettes and labels every view shares: the Folium maps, the report's charts and the
styles stored in ``layers.gpkg`` for QGIS all read their colours here, so a class has one colour
everywhere.

Each kind of layer has its own hue family, so layers drawn together are never confused
(``tests/test_palette.py`` measures it: CIEDE2000 distances between families, and the coverage
classes under simulated protanopia, deuteranopia and tritanopia):

* coverage classes: the Okabe-Ito colour-blind-safe set (blue, sky blue, orange) with a dark
  red and a neutral grey;
* remoteness: yellow-green to dark green (up to 7 classes stay distinguishable);
* need and population density: pale pink to plum;
* travel time (surface and catchment bands): pale aqua to dark teal;
* sub-area shares of need without specialist access: pale lavender to indigo.

The sequential ramps were built at evenly spaced CIELAB lightness, so neighbouring classes are
equally far apart.
"""

from __future__ import annotations

# Fewer places than this are area points (LSOAs, SA2s), not a population grid's cells: every
# view draws them as marks of their own (dots) rather than as a grid image or specks.
FEW_PLACES = 1000

COVERAGE_COLOURS = {
    "both": "#0072b2",
    "gp_only": "#e69f00",
    "spc_only": "#56b4e9",
    "neither": "#a50f15",
    "unknown": "#999999",
}
COVERAGE_LABELS = {
    "both": "GP and SPC within thresholds",
    "gp_only": "GP only",
    "spc_only": "SPC only",
    "neither": "Neither",
    "unknown": "Unknown (off the road network, or no service placed)",
}
REMOTENESS_PALETTE = ("#fff693", "#c6d870", "#87ba54", "#3f9b41", "#177838", "#00562b", "#00351c")
DENSITY_RAMP = ("#ffe1eb", "#f7a5c6", "#dc68ab", "#a0448c", "#66226c")
SHARE_RAMP = ("#ecedfc", "#bdbce0", "#908ec3", "#67629e", "#40397a")
WITHHELD_COLOUR = "#d9d9d9"
SPC_COLOURS = {
    "inpatient": "#54278f",
    "community": "#807dba",
    "hospital": "#3f007d",
    "outreach": "#e7298a",
}
# The default band edges of a region config (``thresholds.bands_min``) with 0 in front, for
# styles drawn without a run; maps read the run's own edges (the report's).
TIME_BANDS_MIN = (0, 15, 30, 60, 120)
TIME_COLOURS = ("#bcf6ee", "#89d8d1", "#4eb9b7", "#009ba0", "#007b84", "#005c68", "#003e4c")
CATCHMENT_COLOURS = TIME_COLOURS
CHANGE_COLOURS = {"gained": "#009e73", "lost": "#000000", "virtual": "#cc79a7"}
FACILITY_CHANGE_COLOURS = {"added": "#009e73", "moved": "#e69f00", "removed": "#636363"}
ISOLATED_COLOUR = "#a50f15"
HOTSPOT_COLOUR = "#a50f15"
SITE_COLOUR = "#cc79a7"
# Facility and area outlines, shared by the map and the QGIS styles.
GP_FILL = "#ffffff"
GP_OUTLINE = "#222222"
SUBAREA_OUTLINE = "#333333"
REMOTENESS_OUTLINE = "#555555"


def spread(palette: tuple[str, ...], n: int) -> list[str]:
    """``n`` colours from an ordered ramp: evenly spaced picks, or interpolated (in sRGB)
    between its colours when ``n`` exceeds its length."""
    if n <= 0:
        return []
    if n == 1:
        return [palette[len(palette) // 2]]
    last = len(palette) - 1
    if n <= len(palette):
        return [palette[round(i * last / (n - 1))] for i in range(n)]
    rgb = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in palette]
    out = []
    for i in range(n):
        pos = i * last / (n - 1)
        lo = min(int(pos), last - 1)
        t = pos - lo
        mixed = (round(a + (b - a) * t) for a, b in zip(rgb[lo], rgb[lo + 1], strict=True))
        out.append("#" + "".join(f"{v:02x}" for v in mixed))
    return out


def ordered_colours(order: list[str]) -> dict[str, str]:
    """Colours for ordered classes (remoteness, least remote first) spread over the palette.

    Pass the classes a region has (see :func:`remoteness_colours`) rather than a whole scheme,
    so that up to seven classes take seven distinct colours.
    """
    return dict(zip(order, spread(REMOTENESS_PALETTE, len(order)), strict=True))


def remoteness_colours(class_order: list[str], present: set[str]) -> dict[str, str]:
    """Colours of the remoteness classes present in a region, in the scheme's order (least
    remote first); the same call gives the map, the charts and the QGIS styles one colour per
    class."""
    return ordered_colours([c for c in class_order if c in present])


def time_colours(n_bands: int) -> list[str]:
    """Colours of ``n_bands`` travel-time bands, quickest first."""
    return spread(TIME_COLOURS, n_bands)
