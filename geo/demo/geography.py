"""Geography of the synthetic demo region: settlements, the road network, and its OSM XML.

Everything is laid out in a local kilometre frame (``X`` east 0–250, ``Y`` north 0–150) that maps
linearly onto GDA2020 / MGA zone 55 (EPSG:7855), then to WGS84 for the files. The region is
fictional but shaped like inland New South Wales: a regional city in the east holding the
specialist services, towns and villages on sealed roads, farms along them, a river crossed by a
vehicle ferry in the south-west, and a remote far west of homesteads and one community reached
by unsealed tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

import numpy as np
from pyproj import Transformer

MGA_ORIGIN_M = (420_000.0, 6_380_000.0)  # local (0, 0) in EPSG:7855
REGION_KM = (250.0, 150.0)
ANALYSIS_EPSG = 7855
TIMESTAMP = "2026-01-01T00:00:00Z"
_TO_WGS84 = Transformer.from_crs(ANALYSIS_EPSG, 4326, always_xy=True)


@dataclass(frozen=True)
class Settlement:
    """A named place: kind decides its street grid, population spread and age structure."""

    name: str
    kind: str  # city, town, village, community
    x_km: float
    y_km: float
    pop: float


SETTLEMENTS = (
    Settlement("Marrang", "city", 215, 80, 52_000),
    Settlement("Bellbrook", "town", 165, 110, 6_500),
    Settlement("Coolabah Springs", "town", 170, 40, 4_200),
    Settlement("Warrigal", "town", 120, 75, 3_000),
    Settlement("Yarrabin", "town", 235, 125, 2_200),
    Settlement("Tindarra", "town", 75, 95, 1_600),
    Settlement("Kooringal", "village", 80, 30, 650),
    Settlement("Mallee Creek", "village", 130, 130, 420),
    Settlement("Saltbush", "village", 130, 20, 380),
    Settlement("Gidgee Flat", "village", 195, 15, 300),
    Settlement("Boree Plains", "village", 190, 135, 260),
    Settlement("Wirra", "village", 145, 90, 520),
    Settlement("Emu Downs", "village", 100, 118, 180),
    Settlement("Lignum", "village", 45, 125, 120),
    Settlement("Ngurrara", "community", 18, 60, 310),
)


def place(name: str) -> Settlement:
    """The settlement called ``name``."""
    return next(s for s in SETTLEMENTS if s.name == name)


def to_lonlat(x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local kilometres → WGS84 longitude/latitude."""
    x = np.asarray(x_km, float) * 1000 + MGA_ORIGIN_M[0]
    y = np.asarray(y_km, float) * 1000 + MGA_ORIGIN_M[1]
    lon, lat = _TO_WGS84.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


@dataclass
class RoadBuilder:
    """Collects nodes (shared where roads meet) and tagged ways."""

    xy: list[tuple[float, float]] = field(default_factory=list)
    index: dict[tuple[int, int], int] = field(default_factory=dict)
    ways: list[tuple[list[int], dict[str, str]]] = field(default_factory=list)
    river: list[tuple[float, float]] = field(default_factory=list)

    def node(self, x: float, y: float) -> int:
        """The node at (x, y) km, created if new (rounded to 1 m so roads meet exactly)."""
        key = (round(x * 1000), round(y * 1000))
        if key not in self.index:
            self.index[key] = len(self.xy)
            self.xy.append((key[0] / 1000, key[1] / 1000))
        return self.index[key]

    def way(self, points: list[tuple[float, float]], tags: dict[str, str]) -> None:
        """Add a way through ``points`` (km)."""
        nodes = [self.node(x, y) for x, y in points]
        nodes = [n for i, n in enumerate(nodes) if i == 0 or n != nodes[i - 1]]
        if len(nodes) >= 2:
            self.ways.append((nodes, tags))

    def nearest(self, x: float, y: float, candidates: list[int] | None = None) -> int:
        """The existing node nearest to (x, y), among ``candidates`` if given."""
        ids = np.arange(len(self.xy)) if candidates is None else np.asarray(candidates)
        pts = np.asarray(self.xy)[ids]
        return int(ids[np.argmin(np.hypot(pts[:, 0] - x, pts[:, 1] - y))])


def polyline(
    a: tuple[float, float],
    b: tuple[float, float],
    rng: np.random.Generator,
    *,
    spacing_km: float = 0.5,
    wiggle_km: float = 1.5,
) -> list[tuple[float, float]]:
    """A gently winding road from a to b: shape nodes every ``spacing_km``, ends fixed."""
    ax, ay = a
    bx, by = b
    length = float(np.hypot(bx - ax, by - ay))
    n = max(2, int(np.ceil(length / spacing_km)) + 1)
    t = np.linspace(0.0, 1.0, n)
    nx, ny = -(by - ay) / max(length, 1e-9), (bx - ax) / max(length, 1e-9)
    offset = np.zeros(n)
    for k in (1, 2, 3):
        offset += rng.normal(0, wiggle_km / k) * np.sin(np.pi * k * t)
    xs = ax + (bx - ax) * t + nx * offset
    ys = ay + (by - ay) * t + ny * offset
    return [(round(float(x), 4), round(float(y), 4)) for x, y in zip(xs, ys, strict=True)]


def build_roads(rng: np.random.Generator) -> tuple[RoadBuilder, list[tuple[float, float]]]:
    """The demo road network and the homestead locations it serves.

    Returns
    -------
    tuple
        The builder with nodes and ways, and homestead (x, y) km positions (some beyond tracks).
    """
    roads = RoadBuilder()
    _city_streets(roads)
    for s in SETTLEMENTS:
        if s.kind == "town":
            _grid(roads, s, half_km=1.2, spacing_km=0.2, arterial_every=4)
        elif s.kind in {"village", "community"}:
            _grid(roads, s, half_km=0.4, spacing_km=0.4, arterial_every=99)
    _highways(roads, rng)
    _river_and_ferry(roads, rng)
    homesteads = _outback_tracks(roads, rng)
    _service_roads(roads)
    return roads, homesteads


def _grid(
    roads: RoadBuilder,
    s: Settlement,
    *,
    half_km: float,
    spacing_km: float,
    arterial_every: int,
    skip: tuple[float, float] | None = None,
    oneway: dict[int, str] | None = None,
) -> None:
    """A street grid centred on the settlement (its centre is always a grid node).

    ``oneway`` maps a horizontal street's row (0 = through the centre) to its ``oneway`` tag.
    """
    n = round(half_km / spacing_km)
    offs = np.arange(-n, n + 1) * spacing_km
    for i, off in enumerate(offs):
        arterial = (i - n) % arterial_every == 0
        base = {"highway": "tertiary" if arterial else "residential"}
        if s.kind == "city":
            base["maxspeed"] = "60" if arterial else ("AU:urban" if i % 3 else "50")
        for horizontal in (True, False):
            tags = dict(base)
            if horizontal and oneway and (i - n) in oneway:
                tags["oneway"] = oneway[i - n]
            pts = [
                (s.x_km + o, s.y_km + off) if horizontal else (s.x_km + off, s.y_km + o)
                for o in offs
            ]
            for part in _split_at(pts, skip):
                roads.way(part, tags)


def _split_at(pts, skip):
    """Split a street where it passes through ``skip`` (a roundabout replaces that node)."""
    if skip is None or (round(skip[0], 4), round(skip[1], 4)) not in {
        (round(x, 4), round(y, 4)) for x, y in pts
    }:
        return [pts]
    i = [(round(x, 4), round(y, 4)) for x, y in pts].index((round(skip[0], 4), round(skip[1], 4)))
    ring = 0.04

    def toward(p):
        dx, dy = p[0] - skip[0], p[1] - skip[1]
        d = float(np.hypot(dx, dy))
        return (skip[0] + dx / d * ring, skip[1] + dy / d * ring)

    before = [*pts[:i], toward(pts[i - 1])] if i > 0 else []
    after = [toward(pts[i + 1]), *pts[i + 1 :]] if i + 1 < len(pts) else []
    return [p for p in (before, after) if len(p) >= 2]


def _city_streets(roads: RoadBuilder) -> None:
    city = place("Marrang")
    centre = (city.x_km, city.y_km)
    # Rows just north and south of the centre are a one-way pair.
    _grid(
        roads,
        city,
        half_km=CITY_HALF_KM,
        spacing_km=CITY_SPACING_KM,
        arterial_every=5,
        skip=centre,
        oneway={1: "yes", -1: "-1"},
    )
    # The roundabout at the central crossroads (clockwise: Australia drives on the left).
    ring = [
        (centre[0], centre[1] + 0.04),
        (centre[0] + 0.04, centre[1]),
        (centre[0], centre[1] - 0.04),
        (centre[0] - 0.04, centre[1]),
    ]
    roads.way(
        [*ring, ring[0]],
        {
            "highway": "tertiary",
            "junction": "roundabout",
            "maxspeed": "AU:urban",
            "name": "Federation Circus",
        },
    )


HIGHWAYS = (
    # (from, to, highway, maxspeed or None, name)
    ("Marrang", "Bellbrook", "primary", "100", "Mitchell Highway"),
    ("Marrang", "Coolabah Springs", "primary", None, "Lachlan Way"),
    ("Marrang", "Yarrabin", "secondary", "AU:rural", "Yarrabin Road"),
    ("Bellbrook", "Warrigal", "secondary", "60 mph", "Old Coach Road"),
    ("Coolabah Springs", "Warrigal", "secondary", "50;80", "Bogan Road"),
    ("Warrigal", "Tindarra", "primary", "100", "Barrier Highway"),
    ("Warrigal", "Wirra", "tertiary", None, "Wirra Road"),
    ("Wirra", "Bellbrook", "tertiary", "80", "Wirra Road"),
    ("Bellbrook", "Mallee Creek", "unclassified", None, "Mallee Creek Road"),
    ("Bellbrook", "Boree Plains", "unclassified", "fast", "Boree Lane"),
    ("Yarrabin", "Boree Plains", "unclassified", None, "Boree Lane"),
    ("Coolabah Springs", "Saltbush", "unclassified", "100", "Saltbush Road"),
    ("Coolabah Springs", "Gidgee Flat", "tertiary", None, "Gidgee Road"),
    ("Marrang", "Gidgee Flat", "unclassified", None, "Gidgee Road"),
    ("Tindarra", "Emu Downs", "unclassified", None, "Emu Downs Road"),
    ("Emu Downs", "Mallee Creek", "unclassified", None, "Emu Downs Road"),
    ("Kooringal", "Tindarra", "unclassified", None, "Kooringal Road"),
)


CITY_HALF_KM = 4.5
CITY_SPACING_KM = 0.2


def _anchor(s: Settlement, toward: Settlement) -> tuple[float, float]:
    """Where a road to ``toward`` leaves ``s``: the centre, or for the city its edge node."""
    if s.kind != "city":
        return (s.x_km, s.y_km)
    dx, dy = toward.x_km - s.x_km, toward.y_km - s.y_km
    scale = CITY_HALF_KM / max(abs(dx), abs(dy))
    snap = [round(v * scale / CITY_SPACING_KM) * CITY_SPACING_KM for v in (dx, dy)]
    return (s.x_km + snap[0], s.y_km + snap[1])


def _highways(roads: RoadBuilder, rng: np.random.Generator) -> None:
    for a, b, highway, maxspeed, name in HIGHWAYS:
        pa, pb = place(a), place(b)
        pts = polyline(
            _anchor(pa, pb),
            _anchor(pb, pa),
            rng,
            spacing_km=0.6,
            wiggle_km=2.0 if highway in {"primary", "secondary"} else 3.0,
        )
        tags = {"highway": highway, "name": name}
        if maxspeed:
            tags["maxspeed"] = maxspeed
        roads.way(pts, tags)


RIVER_X_KM = 100.0


def _river_and_ferry(roads: RoadBuilder, rng: np.random.Generator) -> None:
    """A river west of Coolabah Springs; Kooringal's short way east is the vehicle ferry."""
    ys = np.linspace(0.0, 62.0, 63)
    river = [(RIVER_X_KM + 1.5 * float(np.sin(y / 9.0)), float(y)) for y in ys]
    west_bank = (RIVER_X_KM + 1.5 * float(np.sin(30 / 9.0)) - 0.15, 30.0)
    east_bank = (west_bank[0] + 0.3, 30.0)
    koor, cool = place("Kooringal"), place("Coolabah Springs")
    roads.way(
        polyline((koor.x_km, koor.y_km), west_bank, rng, spacing_km=0.6, wiggle_km=1.0),
        {"highway": "tertiary", "name": "Punt Road", "surface": "asphalt"},
    )
    roads.way(
        [west_bank, east_bank],
        {"route": "ferry", "duration": "00:15", "motor_vehicle": "yes", "name": "Kooringal Punt"},
    )
    roads.way(
        polyline(east_bank, (cool.x_km, cool.y_km), rng, spacing_km=0.6, wiggle_km=2.0),
        {"highway": "tertiary", "name": "Punt Road", "maxspeed": "100"},
    )
    roads.river = river  # drawn as waterway=river in the OSM file (not drivable)


def _outback_tracks(roads: RoadBuilder, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Unsealed tracks west of Tindarra to Ngurrara and homesteads (a few beyond any track)."""
    tind, ngur, lig = place("Tindarra"), place("Ngurrara"), place("Lignum")
    main = polyline(
        (tind.x_km, tind.y_km), (ngur.x_km, ngur.y_km), rng, spacing_km=0.8, wiggle_km=4.0
    )
    half = len(main) // 2
    roads.way(
        main[: half + 1], {"highway": "unclassified", "surface": "gravel", "name": "Ngurrara Road"}
    )
    roads.way(
        main[half:],
        {"highway": "track", "surface": "unpaved", "tracktype": "grade3", "name": "Ngurrara Road"},
    )
    roads.way(
        polyline((tind.x_km, tind.y_km), (lig.x_km, lig.y_km), rng, spacing_km=0.8, wiggle_km=3.0),
        {"highway": "track", "surface": "dirt"},
    )
    track_nodes = [roads.node(x, y) for x, y in main[half:]]
    homesteads = []
    for i in range(34):
        hx, hy = float(rng.uniform(4, 70)), float(rng.uniform(8, 145))
        homesteads.append((round(hx, 3), round(hy, 3)))
        if i % 11 == 10:
            continue  # outstations with no mapped track
        near = roads.nearest(hx, hy, track_nodes)
        nx, ny = roads.xy[near]
        surface = ("dirt", "gravel", "unpaved")[i % 3]
        pts = polyline((nx, ny), (hx, hy), rng, spacing_km=0.8, wiggle_km=0.8)
        roads.way(pts, {"highway": "track", "surface": surface})
        track_nodes += [roads.node(x, y) for x, y in pts]
    return homesteads


def _service_roads(roads: RoadBuilder) -> None:
    city = place("Marrang")
    hx, hy = city.x_km + 0.8, city.y_km + 0.8
    roads.way(
        [(hx, hy), (hx + 0.15, hy + 0.1), (hx + 0.3, hy + 0.1)],
        {"highway": "service", "name": "Hospital Drive"},
    )
    roads.way(
        [(hx - 0.6, hy), (hx - 0.6, hy + 0.1), (hx - 0.45, hy + 0.15)],
        {"highway": "service", "access": "private", "name": "Depot Access"},
    )


def osm_xml(roads: RoadBuilder) -> str:
    """The road network as OSM XML 0.6 (deterministic text)."""
    xy = np.asarray(roads.xy)
    lon, lat = to_lonlat(xy[:, 0], xy[:, 1])
    river = roads.river
    rlon, rlat = to_lonlat(np.array([p[0] for p in river]), np.array([p[1] for p in river]))
    all_lon, all_lat = np.concatenate([lon, rlon]), np.concatenate([lat, rlat])
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<osm version="0.6" generator="gapmap-demo">',
        f'  <bounds minlat="{all_lat.min():.7f}" minlon="{all_lon.min():.7f}" '
        f'maxlat="{all_lat.max():.7f}" maxlon="{all_lon.max():.7f}"/>',
    ]
    for i, (x, y) in enumerate(zip(all_lon, all_lat, strict=True), start=1):
        lines.append(
            f'  <node id="{i}" version="1" timestamp="{TIMESTAMP}" lat="{y:.7f}" lon="{x:.7f}"/>'
        )
    ways = [([n + 1 for n in nodes], tags) for nodes, tags in roads.ways]
    first_river = len(lon) + 1
    if river:
        ways.append(
            (
                list(range(first_river, first_river + len(river))),
                {"waterway": "river", "name": "Lachlan River"},
            )
        )
    for w, (nodes, tags) in enumerate(ways, start=1_000_001):
        lines.append(f'  <way id="{w}" version="1" timestamp="{TIMESTAMP}">')
        lines += [f'    <nd ref="{n}"/>' for n in nodes]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in sorted(tags.items())]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"
