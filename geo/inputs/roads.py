"""OpenStreetMap roads → drivable directed edges with lengths, speeds and travel times.

Reads ``.osm.pbf`` (pyosmium), ``.osm`` / ``.osm.bz2`` XML (pyosmium too), or downloads with
osmnx when the user opts in (``--online``). Keeps drivable ways; honours access restrictions,
one-way rules and ferries; and assigns each edge a speed from its ``maxspeed`` tag or, failing
that, from a country speed profile (``geo/reference/speeds_<profile>.csv``), urban or rural.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InputError
from geo.inputs.speeds import SpeedSettings, assign_speeds
from geo.routing.network import CACHE_FORMAT, RoadNetwork

log = logging.getLogger(__name__)

__all__ = [
    "BuiltNetwork",
    "RoadData",
    "SpeedSettings",
    "build_network",
    "download_roads",
    "load_roads",
    "write_drivable_xml",
]

# Service roads that are not part of the public network a patient or a team would drive.
EXCLUDED_SERVICE = frozenset({"parking_aisle", "drive-through", "emergency_access"})
NO_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "delivery", "emergency"})
ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")  # most specific first
TAG_KEYS = (
    "highway",
    "route",
    "maxspeed",
    "oneway",
    "junction",
    "surface",
    "tracktype",
    "duration",
    "area",
    "service",
    "access",
    "vehicle",
    "motor_vehicle",
    "motorcar",
)
ONEWAY_TRUE = frozenset({"yes", "true", "1"})
ONEWAY_REVERSE = frozenset({"-1", "reverse"})
ONEWAY_FALSE = frozenset({"no", "false", "0", "alternating", "reversible"})
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".osm.xml")


@dataclass(frozen=True)
class RoadData:
    """Drivable directed edges and their nodes, ready to become a :class:`RoadNetwork`.

    Attributes
    ----------
    edges
        One row per directed segment between consecutive way nodes: ``u``, ``v`` (OSM node
        ids), ``length_m`` (geodesic), ``speed_kph``, ``travel_time_s``, ``highway``,
        ``unsealed``, ``is_ferry``, ``urban``, ``maxspeed_source`` (``tag``/``profile``/
        ``ferry``), ``osm_way_id``.
    nodes
        Index ``osm_node_id``; columns ``lon``, ``lat`` (WGS84).
    data_date
        Date of the OSM data (pbf replication timestamp, else the newest way timestamp).
    stats
        Counts for provenance (ways read and kept, dropped, maxspeed parsed or not, ...).
    source_path
        The file read.
    """

    edges: pd.DataFrame
    nodes: pd.DataFrame
    data_date: str | None
    stats: dict[str, Any] = field(default_factory=dict)
    source_path: Path | None = None


@dataclass
class _Collected:
    """Raw arrays gathered while streaming ways (before speeds are assigned)."""

    way_ids: list[int] = field(default_factory=list)
    way_tags: list[dict[str, str]] = field(default_factory=list)
    way_node_start: list[int] = field(default_factory=lambda: [0])
    node_ids: list[int] = field(default_factory=list)
    lons: list[float] = field(default_factory=list)
    lats: list[float] = field(default_factory=list)
    newest: Any = None
    counts: Counter = field(default_factory=Counter)


def load_roads(path: str | Path, *, settings: SpeedSettings | None = None) -> RoadData:
    """Read an OSM file into drivable directed edges with travel times.

    Parameters
    ----------
    path
        ``.osm.pbf``, ``.osm`` or ``.osm.bz2``.
    settings
        Speed model settings (default: the generic profile).

    Returns
    -------
    RoadData
        Edges, nodes, data date and statistics.

    Raises
    ------
    InputError
        Missing, empty, corrupt or unsupported file.
    NetworkError
        The file holds no drivable road.
    """
    import osmium

    path = Path(path)
    settings = settings or SpeedSettings()
    _check_file(path)
    collected = _Collected()
    try:
        processor = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway", "route"))
        )
        for obj in processor:
            if obj.is_way():
                _collect_way(obj, collected, settings)
        header_date = _header_date(path)
    except (RuntimeError, osmium.InvalidLocationError) as exc:
        raise InputError(
            f"cannot read as OpenStreetMap data ({exc}); is the file complete?", path=path
        ) from None
    if not collected.way_ids:
        raise InputError(
            "no drivable roads found (highway=* ways of the drivable classes, or car "
            "ferries); is this the right extract?",
            path=path,
        )
    edges, nodes = _edges_from_ways(collected)
    mid_x, mid_y = _local_metres(edges["mid_lon"].to_numpy(), edges["mid_lat"].to_numpy())
    edges = assign_speeds(
        edges.drop(columns=["mid_lon", "mid_lat"]),
        collected.way_tags,
        settings,
        mid_x_m=mid_x,
        mid_y_m=mid_y,
    )
    data_date = header_date or (collected.newest.isoformat() if collected.newest else None)
    stats = dict(collected.counts)
    stats.update(edges.attrs.pop("speed_stats", {}))
    stats.update(
        {
            "edges": len(edges),
            "nodes": len(nodes),
            "drivable_km": float(edges.loc[~edges["is_ferry"], "length_m"].sum() / 2e3),
        }
    )
    log.info(
        "%s: %d drivable ways, %d directed edges, data date %s",
        path.name,
        stats.get("ways_kept", 0),
        len(edges),
        data_date,
    )
    return RoadData(edges=edges, nodes=nodes, data_date=data_date, stats=stats, source_path=path)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError("road network file not found; check roads.path", path=path)
    if not str(path).lower().endswith(OSM_SUFFIXES):
        raise InputError("unsupported road file; use .osm.pbf, .osm or .osm.bz2", path=path)
    if path.stat().st_size == 0:
        raise InputError("road network file is empty", path=path)


def _header_date(path: Path) -> str | None:
    import osmium

    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    try:
        header = reader.header()
        stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
    finally:
        reader.close()
    return stamp or None


def _collect_way(way: Any, out: _Collected, settings: SpeedSettings) -> None:
    tags = {k: way.tags.get(k) for k in TAG_KEYS if k in way.tags}
    out.counts["ways_read"] += 1
    reason = _drop_reason(tags, settings)
    if reason:
        out.counts[f"ways_dropped_{reason}"] += 1
        return
    refs, lons, lats = [], [], []
    for nd in way.nodes:
        if not nd.location.valid():
            out.counts["ways_dropped_missing_nodes"] += 1
            return
        refs.append(nd.ref)
        lons.append(nd.lon)
        lats.append(nd.lat)
    if len(refs) < 2:
        out.counts["ways_dropped_too_short"] += 1
        return
    out.way_ids.append(way.id)
    out.way_tags.append(tags)
    out.node_ids += refs
    out.lons += lons
    out.lats += lats
    out.way_node_start.append(len(out.node_ids))
    out.counts["ways_kept"] += 1
    if tags.get("route") == "ferry":
        out.counts["ferries"] += 1
    stamp = way.timestamp
    # Files written without metadata carry the epoch (1970-01-01): that is no date at all.
    if stamp.year > 1970 and (out.newest is None or stamp > out.newest):
        out.newest = stamp


def _drop_reason(tags: Mapping[str, str], settings: SpeedSettings) -> str | None:
    """Why a way is not part of the drivable network (None if it is)."""
    highway = tags.get("highway")
    if tags.get("route") == "ferry" and highway is None:
        vehicles = tags.get("motor_vehicle") or tags.get("motorcar")
        return "foot_ferry" if vehicles in {"no"} else None
    if highway not in settings.drivable_highways:
        return "not_drivable"
    if highway == "track" and not settings.include_tracks:
        return "track"
    if tags.get("area") == "yes":
        return "area"
    if highway == "service" and tags.get("service") in EXCLUDED_SERVICE:
        return "service"
    for key in ACCESS_KEYS:  # the most specific access tag present decides
        if key in tags:
            return "access" if tags[key] in NO_ACCESS else None
    return None


def _edges_from_ways(c: _Collected) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Consecutive node pairs of every way, in both directions unless one-way."""
    node_ids = np.asarray(c.node_ids, np.int64)
    lon = np.asarray(c.lons)
    lat = np.asarray(c.lats)
    start = np.asarray(c.way_node_start, np.int64)
    n_way_nodes = np.diff(start)
    way_index = np.repeat(np.arange(len(c.way_ids)), n_way_nodes - 1)
    # Segment i joins flat node positions a -> a + 1 (never across ways).
    last = np.zeros(len(node_ids), bool)
    last[start[1:] - 1] = True
    a = np.flatnonzero(~last)
    length = _geodesic_m(lon[a], lat[a], lon[a + 1], lat[a + 1])
    direction = np.array([_oneway(t) for t in c.way_tags], np.int8)[way_index]
    fwd = direction >= 0
    back = direction <= 0
    u = np.concatenate([node_ids[a][fwd], node_ids[a + 1][back]])
    v = np.concatenate([node_ids[a + 1][fwd], node_ids[a][back]])
    way = np.concatenate([way_index[fwd], way_index[back]])
    mid_lon = (lon[a] + lon[a + 1]) / 2.0
    mid_lat = (lat[a] + lat[a + 1]) / 2.0
    edges = pd.DataFrame(
        {
            "u": u,
            "v": v,
            "length_m": np.concatenate([length[fwd], length[back]]),
            "way_index": way,
            "osm_way_id": np.asarray(c.way_ids, np.int64)[way],
            "mid_lon": np.concatenate([mid_lon[fwd], mid_lon[back]]),
            "mid_lat": np.concatenate([mid_lat[fwd], mid_lat[back]]),
            "forward": np.repeat([True, False], [int(fwd.sum()), int(back.sum())]),
        }
    )
    edges = edges[edges["u"] != edges["v"]].reset_index(drop=True)
    nodes = pd.DataFrame({"lon": lon, "lat": lat}, index=pd.Index(node_ids, name="osm_node_id"))
    nodes = nodes[~nodes.index.duplicated()]
    return edges, nodes


def _oneway(tags: Mapping[str, str]) -> int:
    """+1 forward only, -1 backward only, 0 both ways."""
    value = (tags.get("oneway") or "").lower()
    if value in ONEWAY_TRUE:
        return 1
    if value in ONEWAY_REVERSE:
        return -1
    if value in ONEWAY_FALSE:
        return 0
    if tags.get("junction") in {"roundabout", "circular"}:
        return 1
    if tags.get("highway") in {"motorway", "motorway_link"}:
        return 1
    return 0


def _local_metres(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project to an azimuthal equidistant CRS centred on the data (metres, for road density)."""
    from pyproj import Transformer

    if len(lon) == 0:
        return lon, lat
    centre = f"+proj=aeqd +lat_0={np.median(lat):.6f} +lon_0={np.median(lon):.6f} +datum=WGS84"
    transformer = Transformer.from_crs("EPSG:4326", centre, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def _geodesic_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Ellipsoidal (WGS84) distance in metres between coordinate arrays."""
    from pyproj import Geod

    _, _, dist = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, float)


def download_roads(place: str | None, polygon: Path | None = None, *, cache_dir: Path) -> Path:
    """Download the drivable network of a place or polygon with osmnx (opt-in, ``--online``).

    The graph is saved as OSM XML in ``cache_dir`` so the rest of the pipeline reads it like
    any local file (and provenance can hash it).

    Parameters
    ----------
    place
        A place name osmnx can geocode (e.g. ``"Isle of Wight, England"``).
    polygon
        A polygon file (any CRS) to download instead of a place.
    cache_dir
        Where to save the download.

    Returns
    -------
    pathlib.Path
        The saved ``.osm`` file.
    """
    import osmnx as ox

    from geo.inputs.readers import read_vector

    if polygon is None and not place:
        raise InputError("give roads.place or roads.polygon to download a network")
    # osmnx must build the graph with every way one-way for its XML to keep one-way
    # information; restore the user's setting afterwards (it is process-wide).
    previous = ox.settings.all_oneway
    ox.settings.all_oneway = True
    try:
        if polygon is not None:
            shape = read_vector(polygon, crs=4326, key="roads.polygon").geometry.union_all()
            graph = ox.graph_from_polygon(shape, network_type="drive", simplify=False)
            name = Path(polygon).stem
        else:
            graph = ox.graph_from_place(place, network_type="drive", simplify=False)
            name = "".join(ch if ch.isalnum() else "_" for ch in place.lower())
    finally:
        ox.settings.all_oneway = previous
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{name}.osm"
    ox.io.save_graph_xml(graph, filepath=target)
    log.info("downloaded %d nodes / %d edges to %s", len(graph.nodes), len(graph.edges), target)
    return target


def write_drivable_xml(
    source: str | Path,
    target: str | Path,
    *,
    settings: SpeedSettings | None = None,
    ferries: bool = True,
) -> Path:
    """Write the drivable ways of an OSM file, and their nodes, as OSM XML.

    The same selection :func:`load_roads` keeps, for tools that read XML only (osmnx's
    ``graph_from_xml``, JOSM) and for side-by-side checks; ``ferries=False`` leaves out ferry
    routes, as osmnx's drive network does.
    """
    import osmium

    settings = settings or SpeedSettings()
    keep_ways: set[int] = set()
    keep_nodes: set[int] = set()
    processor = osmium.FileProcessor(str(source)).with_filter(
        osmium.filter.KeyFilter("highway", "route")
    )
    for way in processor:
        if not way.is_way() or (not ferries and "highway" not in way.tags):
            continue
        if _drop_reason(dict(way.tags), settings) is None:
            keep_ways.add(way.id)
            keep_nodes.update(n.ref for n in way.nodes)
    target = Path(target)
    target.unlink(missing_ok=True)  # osmium refuses to overwrite
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            if (obj.is_node() and obj.id in keep_nodes) or (obj.is_way() and obj.id in keep_ways):
                writer.add(obj)
    return target


@dataclass
class BuiltNetwork:
    """A network built (or read from cache) from an OSM file, with its provenance."""

    network: RoadNetwork
    info: dict[str, Any] = field(default_factory=dict)
    cache_path: Path | None = None

    def save_to_cache(self) -> None:
        """Save a newly built network where :func:`build_network` will look for it next time.

        Called by the inputs stage only once every input has loaded, so a failed run or
        ``gapmap validate`` leaves nothing behind.
        """
        if self.cache_path is None or self.info.get("from_cache"):
            return
        self.network.save(self.cache_path)
        self.cache_path.with_suffix(".json").write_text(json.dumps(self.info, default=str))
        log.info("road network cached in %s", self.cache_path)


def build_network(
    path: str | Path,
    settings: Any,
    crs: CRS | str,
    *,
    cache_dir: Path | None = None,
    write_cache: bool = True,
) -> BuiltNetwork:
    """Read an OSM file and build its network, reusing a cached build when inputs match.

    The cache key hashes the file's bytes, the speed settings (including the profile table)
    and the CRS, so changing any of them rebuilds.

    Parameters
    ----------
    path
        OSM file (``.osm.pbf``, ``.osm``, ``.osm.bz2``).
    settings
        :class:`geo.inputs.speeds.SpeedSettings`.
    crs
        Analysis CRS.
    cache_dir
        Cache folder, or None to always build.
    write_cache
        Save a new build into ``cache_dir`` (False: only read an existing one, as
        ``gapmap validate`` does, which writes nothing).

    Returns
    -------
    BuiltNetwork
    """
    path = Path(path)
    crs = CRS.from_user_input(crs)
    key = None
    if cache_dir is not None and path.is_file():
        key = _cache_key(path, settings, crs)
        cached = Path(cache_dir) / f"network-{key[:24]}.npz"
        info_path = cached.with_suffix(".json")
        if cached.is_file() and info_path.is_file():
            try:
                network = RoadNetwork.load(cached)
                info = json.loads(info_path.read_text())
                info["from_cache"] = True
                log.info("road network read from cache %s", cached)
                return BuiltNetwork(network, info)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring unreadable network cache %s (%s)", cached, exc)
    roads = load_roads(path, settings=settings)
    network = RoadNetwork.from_roads(roads, crs)
    info = {
        "source": str(path),
        "data_date": roads.data_date,
        "roads": roads.stats,
        "network": network.stats,
        "cache_key": key,
        "from_cache": False,
    }
    built = BuiltNetwork(network, info)
    if key is not None:
        built.cache_path = Path(cache_dir) / f"network-{key[:24]}.npz"
        if write_cache:
            built.save_to_cache()
    return built


def _cache_key(path: Path, settings: Any, crs: CRS) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    meta = {"format": CACHE_FORMAT, "settings": settings.cache_key(), "crs": crs.to_wkt()}
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    return digest.hexdigest()
