"""Palettes: coverage, remoteness and density can never be confused, and the coverage classes
stay apart for colour-blind readers.

Colour differences are CIEDE2000 (Sharma, Wu & Dalal 2005; checked against their published
test pairs below). Colour-vision deficiency is simulated with the Machado, Oliveira & Fernandes
(2009) matrices at full severity, applied in linear sRGB. A difference of about 2 is just
noticeable; 10 and more reads as a different colour, 20 as a different hue family.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from geo.render.palette import (
    CATCHMENT_COLOURS,
    CHANGE_COLOURS,
    COVERAGE_COLOURS,
    DENSITY_RAMP,
    REMOTENESS_PALETTE,
    SHARE_RAMP,
    TIME_COLOURS,
    ordered_colours,
    remoteness_colours,
    spread,
    time_colours,
)

_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65 = np.array([0.95047, 1.0, 1.08883])
MACHADO = {
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}


def _linear(hex_colour: str) -> np.ndarray:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear-sRGB colour."""
    xyz = _SRGB_TO_XYZ @ np.clip(linear_rgb, 0, 1) / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    big_dh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + (360 if h1p + h2p < 360 else -360)) / 2
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = (
        -np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2))))
        * 2
        * np.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    )
    dl, dc, dhh = (l2 - l1) / s_l, (c2p - c1p) / s_c, big_dh / s_h
    return float(np.sqrt(dl**2 + dc**2 + dhh**2 + r_t * dc * dhh))


def delta(c1: str, c2: str, vision: str | None = None) -> float:
    """CIEDE2000 between two hex colours, as seen with ``vision`` (None: typical vision)."""
    x1, x2 = _linear(c1), _linear(c2)
    if vision is not None:
        x1, x2 = MACHADO[vision] @ x1, MACHADO[vision] @ x2
    return ciede2000(lab(x1), lab(x2))


def min_between(a, b, vision=None) -> float:
    return min(delta(x, y, vision) for x in a for y in b)


def min_within(colours, vision=None) -> float:
    return min(delta(x, y, vision) for x, y in itertools.combinations(colours, 2))


COVERAGE = list(COVERAGE_COLOURS.values())


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17 and 25
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ],
)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    assert ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)


def test_simulation_keeps_greys_and_merges_red_and_green():
    """The matrices leave neutrals alone and make a red and a green of equal lightness look
    alike to a deuteranope (the confusion they model)."""
    assert delta("#808080", "#808080", "deuteranopia") == pytest.approx(0, abs=1e-6)
    assert delta("#d62728", "#2ca02c") > 40
    assert delta("#d62728", "#2ca02c", "deuteranopia") < delta("#d62728", "#2ca02c") / 2


def test_palette_families_never_meet():
    """Coverage dots drawn over remoteness areas or a density surface never share a colour
    with them, and remoteness and density are apart too (measured: 24.6, 24.2, 34.6)."""
    assert min_between(COVERAGE, REMOTENESS_PALETTE) >= 20
    assert min_between(COVERAGE, DENSITY_RAMP) >= 20
    assert min_between(REMOTENESS_PALETTE, DENSITY_RAMP) >= 20
    # The other surfaces a coverage layer may lie over (measured: 18.5 and 18.0).
    assert min_between(COVERAGE, TIME_COLOURS) >= 15
    assert min_between(COVERAGE, SHARE_RAMP) >= 15
    assert CATCHMENT_COLOURS == TIME_COLOURS  # catchment bands are travel-time bands


@pytest.mark.parametrize("vision", [None, "protanopia", "deuteranopia", "tritanopia"])
def test_coverage_classes_stay_apart_for_colour_blind_readers(vision):
    """Every pair of coverage classes differs by at least 18 under each simulated
    deficiency (measured: 21.3 typical, 20.1 protanopia, 21.0 deuteranopia, 20.0
    tritanopia); the old red/orange/green set fell to 9.6 under deuteranopia."""
    assert min_within(COVERAGE, vision) >= 18
    old = ["#1a9850", "#fdae61", "#74add1", "#d73027", "#969696"]
    if vision == "deuteranopia":
        assert min_within(old, vision) < 12  # the check does catch a red-green palette


def test_scenario_changes_stay_apart():
    """Gain, loss and telehealth rings differ from each other under each deficiency."""
    for vision in (None, "protanopia", "deuteranopia"):
        assert min_within(list(CHANGE_COLOURS.values()), vision) >= 15


@pytest.mark.parametrize("n_classes", range(2, 8))
def test_up_to_seven_remoteness_classes_are_distinct(n_classes):
    """Neighbouring remoteness classes differ by at least 10 for up to seven classes (the
    Isle of Wight has seven: one urban and six rural), ordered light to dark."""
    colours = list(ordered_colours([f"class {i}" for i in range(n_classes)]).values())
    assert len(set(colours)) == n_classes
    assert min(delta(a, b) for a, b in itertools.pairwise(colours)) >= 10
    lightness = [lab(_linear(c))[0] for c in colours]
    assert lightness == sorted(lightness, reverse=True)


def test_remoteness_colours_spread_over_the_classes_present():
    scheme = [f"RUC {i}" for i in range(10)]
    present = {"RUC 2", "RUC 4", "RUC 5", "RUC 6", "RUC 7", "RUC 8", "RUC 9"}
    colours = remoteness_colours(scheme, present)
    assert list(colours) == sorted(present)  # scheme order, present classes only
    assert list(colours.values()) == list(REMOTENESS_PALETTE)


def test_sequential_ramps_step_evenly():
    for ramp, least in ((DENSITY_RAMP, 12), (SHARE_RAMP, 12), (TIME_COLOURS, 8)):
        assert min(delta(a, b) for a, b in itertools.pairwise(ramp)) >= least
    assert time_colours(5) == spread(TIME_COLOURS, 5)
    longer = spread(TIME_COLOURS, 10)  # more bands than colours: interpolated, still ordered
    assert len(set(longer)) == 10 and longer[0] == TIME_COLOURS[0]
    assert longer[-1] == TIME_COLOURS[-1]
