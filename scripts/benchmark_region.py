"""Benchmark ``gapmap run`` end to end on a synthetic region written as real input files.

What it measures: the real command line (``gapmap run CONFIG --out DIR -q``) in a child process,
cold (the road-network cache is emptied first unless ``--warm-cache``), on inputs in the formats
planners hold: roads as ``.osm.pbf`` (pyosmium ``SimpleWriter``), GP practices and specialist
(SPC) services as CSV in WGS84 (the demo's columns), a two-band population GeoTIFF (residents
and 65+, EPSG:7855), a boundary GeoJSON, ABS-style remoteness polygons, square sub-areas and
deaths by cause per sub-area (a GeoPackage each, a CSV), and a region config mirroring
``geo/demo/demo.yml`` (defaults kept: catchments, uncertainty, every output). It prints one JSON
object: the CLI's wall seconds; its peak RSS (``VmHWM`` of the main process polled every 0.25 s,
the largest single process from ``wait4``'s rusage, and the sampled sum over the process tree,
Dask workers included); the per-stage timings of ``run.json``; the sizes of ``layers.gpkg``,
``map.html`` and ``report.html``; node, edge, facility and populated-cell counts; and each
target next to its figure with ``meets_target``.

The region: the travel-time benchmark's road-like grid (``benchmark.synthetic_graph``: jittered
blocks, 15% of links missing, arterials every 10th line) stretched to the preset's block size,
chained into OSM ways (``highway=primary`` + ``maxspeed=90`` on arterials, ``unclassified``
elsewhere, so the au profile's urban/rural speeds apply); service centres on a ~400 km lattice
(remoteness rings around them, people and facilities denser near them); about the preset's
number of populated raster cells; facilities at road nodes with a 20-80 m offset; SPC types
cycle inpatient / community / hospital and every fifth accepts cancer referrals only.

Presets (``--preset``):

* ``small``: 20k nodes, 90 GP practices + 10 SPC services: checks the script works.
* ``facilities10k``: 360k nodes (200 m blocks, 120 km across), ~300k populated cells, 10,000 GP
  practices, 300 SPC services. Targets: whole run <= 60 s, ``layers.gpkg`` <= 50 MB (per-facility
  catchments skip above ``catchments.per_facility_max`` = 300: the default, kept on purpose).
* ``national``: 4M nodes (1 km blocks, 2,000 km across), 5M populated 500 m cells, 3,000 GP
  practices, 150 SPC services (benchmark_scale.py's nation). Targets: <= 600 s wall, <= 8 GB
  peak in the main process. ``--mode auto`` runs the whole network first and, if that misses a
  target, again partitioned (``partition: {tile_size_km: 400, workers: 2}``, catchments off as
  partition requires); both attempts are reported.

Inputs are generated once per preset (seeded) under ``.cache/bench/region/<preset>/`` and reused
(the demo generator's CSV/GeoPackage writers, cause shares and death rates are imported). A run
past ``--timeout`` seconds, or whose process tree passes ``--mem-cap-gb`` (default 16: the
machine must survive a run that would not fit), is stopped: SIGINT, then SIGTERM and SIGKILL to
its process group (``timed_out`` / ``killed_for_memory``; the peak is then at least the cap).

``run.json`` is written inside the outputs stage, so it cannot time it: with ``-q`` the pipeline's
start is taken from its output lock appearing (``startup_s``) and ``outputs_s_estimated`` is the
rest of the wall time; ``--log-stages`` runs the CLI with ``-v`` instead and times every stage's
start from its log (``stage_starts_s``, ``outputs_s``, and ``last_stage_started``: where a killed
run was). ``peak_rss_mb_main_by_stage`` is the sampled RSS peak within each stage's window.
``--profile`` runs the CLI under cProfile (times then include its overhead; a stopped run still
writes its profile) and adds the top functions by cumulative and by own time. Each attempt
records the commit and any uncommitted change under ``geo/`` it measured.

    .venv/bin/python scripts/benchmark_region.py --preset small
    .venv/bin/python scripts/benchmark_region.py --preset facilities10k
    nohup .venv/bin/python scripts/benchmark_region.py --preset national > national.json &
    .venv/bin/python scripts/benchmark_region.py --preset facilities10k --profile --log-stages
    .venv/bin/python scripts/benchmark_region.py --preset national --mode partitioned
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
CACHE = REPO / ".cache" / "bench" / "region"
VENV_BIN = REPO / ".venv" / "bin"
FORMAT = 1  # bump to regenerate cached inputs after a change to the generator
EPSG = 7855  # GDA2020 / MGA zone 55, as the demo; the region is centred on its meridian
NORTHING_0 = 6_380_000.0  # the demo's southern edge (about 32.7°S)
TIMESTAMP = "2026-01-01T00:00:00Z"
RING_KM = (8.0, 40.0, 100.0, 180.0)  # remoteness: Major Cities ... Remote, then Very Remote
CITY_KM, CITY_BOOST = 15.0, 30.0  # people and facilities denser near service centres
SPC_TYPES = ("inpatient", "community", "hospital")
MB = 1024.0 * 1024.0
STAGE_LINE = re.compile(r"geo\.progress: stage (\w+):")


@dataclass(frozen=True)
class Preset:
    """A synthetic region's size and the run's targets (None: no target)."""

    nodes: int
    block_m: float
    cell_m: float
    cells: int
    n_gp: int
    n_spc: int
    subarea_cells: int  # side of a square sub-area, in raster cells
    tile_km: float | None = None  # partitioned attempt (None: never partitioned)
    targets: dict[str, float] = field(default_factory=dict)


PRESETS = {
    "small": Preset(20_000, 200.0, 200.0, 16_000, 90, 10, 25),
    "facilities10k": Preset(
        360_000,
        200.0,
        200.0,
        300_000,
        10_000,
        300,
        50,
        targets={"wall_s": 60.0, "layers_gpkg_mb": 50.0},
    ),
    "national": Preset(
        4_000_000,
        1000.0,
        500.0,
        5_000_000,
        3_000,
        150,
        80,
        tile_km=400.0,
        targets={"wall_s": 600.0, "peak_rss_mb_main": 8192.0},
    ),
}


# -- geography ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """Local metres (0..width, 0..height) on EPSG:7855, centred on the zone's meridian."""

    width_m: float
    height_m: float

    @property
    def origin(self) -> tuple[float, float]:
        return 500_000.0 - self.width_m / 2.0, NORTHING_0

    def projected(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) + self.origin[0], np.asarray(y) + self.origin[1]

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from pyproj import Transformer

        to_wgs84 = Transformer.from_crs(EPSG, 4326, always_xy=True)
        lon, lat = to_wgs84.transform(*self.projected(x, y))
        return np.asarray(lon), np.asarray(lat)

    def centres(self) -> np.ndarray:
        """Service centres (local metres): one per ~400 km square, seeded jitter."""
        rng = np.random.default_rng(3)
        nx = max(1, round(self.width_m / 400e3))
        ny = max(1, round(self.height_m / 400e3))
        gx, gy = np.meshgrid((np.arange(nx) + 0.5) / nx, (np.arange(ny) + 0.5) / ny)
        xy = np.column_stack([gx.ravel() * self.width_m, gy.ravel() * self.height_m])
        if len(xy) > 1:
            xy += rng.uniform(-60e3, 60e3, xy.shape)
        return xy


def city_weight(frame: Frame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 far from any centre, up to ``1 + CITY_BOOST`` at one."""
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(frame.centres()).query(np.column_stack([x, y]))
    return 1.0 + CITY_BOOST * np.exp(-((dist / (CITY_KM * 1e3)) ** 2))


# -- roads -------------------------------------------------------------------------------------
def road_grid(preset: Preset) -> dict[str, np.ndarray]:
    """The grid's node coordinates (local metres, all >= 0) and its undirected links."""
    from benchmark import synthetic_graph

    g = synthetic_graph(preset.nodes)
    stretch = preset.block_m / 200.0
    half = len(g["src"]) // 2  # the first half holds every link once, a -> b with a < b
    a, b = g["src"][:half], g["dst"][:half]
    length = np.hypot(g["x"][b] - g["x"][a], g["y"][b] - g["y"][a])
    speed_kph = length / g["t"][:half] * 3.6
    return {
        "x": (g["x"] + 40.0) * stretch,  # the grid's jitter is +-40 m per 200 m block
        "y": (g["y"] + 40.0) * stretch,
        "a": a,
        "b": b,
        "arterial": speed_kph > 67.5,  # 90 km/h arterials, 45 km/h local roads
    }


def chain_ways(
    a: np.ndarray, b: np.ndarray, arterial: np.ndarray, max_nodes: int = 250
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain links sorted along their lines into ways: flat node list, offsets, way starts.

    A way continues while each link starts where the previous one ended, on the same class of
    road, for at most ``max_nodes`` nodes.
    """
    n = len(a)
    brk = np.ones(n, bool)
    brk[1:] = (a[1:] != b[:-1]) | (arterial[1:] != arterial[:-1])
    run = np.cumsum(brk) - 1
    position = np.arange(n) - np.flatnonzero(brk)[run]
    brk |= position % (max_nodes - 1) == 0
    run = np.cumsum(brk) - 1
    starts = np.flatnonzero(brk)
    flat = np.empty(n + len(starts), np.int64)
    flat[np.arange(n) + run + 1] = b
    offsets = starts + np.arange(len(starts))
    flat[offsets] = a[starts]
    return flat, np.append(offsets, len(flat)), starts


def grid_ways(grid: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ways along the rows, then down the columns: nodes, offsets, arterial flag, line number."""
    a, b, arterial = grid["a"], grid["b"], grid["arterial"]
    side = round(float(np.sqrt(len(grid["x"]))))
    horizontal = b == a + 1
    flats, offsets, flags, lines, shift = [], [], [], [], 0
    for mask, key, line in (
        (horizontal, a, a // side),
        (~horizontal, (a % side) * side + a // side, a % side),
    ):
        order = np.flatnonzero(mask)[np.argsort(key[mask], kind="stable")]
        flat, offset, starts = chain_ways(a[order], b[order], arterial[order])
        flats.append(flat)
        offsets.append(offset[:-1] + shift)
        flags.append(arterial[order][starts])
        lines.append(line[order][starts])
        shift += len(flat)
    return {
        "nodes": np.concatenate(flats),
        "offsets": np.append(np.concatenate(offsets), shift),
        "arterial": np.concatenate(flags),
        "line": np.concatenate(lines),
    }


def write_roads(path: Path, frame: Frame, grid: dict[str, np.ndarray]) -> int:
    """The grid as an OSM PBF file (nodes 1..n, tagged ways); returns the number of ways."""
    import osmium

    lon, lat = frame.lonlat(grid["x"], grid["y"])
    ways = grid_ways(grid)
    header = osmium.io.Header()
    header.set("osmosis_replication_timestamp", TIMESTAMP)
    header.set("generator", "gapmap scripts/benchmark_region.py")
    header.add_box(osmium.osm.Box(lon.min(), lat.min(), lon.max(), lat.max()))
    path.unlink(missing_ok=True)
    node, way = osmium.osm.mutable.Node, osmium.osm.mutable.Way
    local = {"highway": "unclassified"}
    with osmium.SimpleWriter(str(path), header=header) as writer:
        coords = zip(lon.round(7).tolist(), lat.round(7).tolist(), strict=True)
        for i, location in enumerate(coords, start=1):
            writer.add_node(node(id=i, version=1, timestamp=TIMESTAMP, location=location))
        refs, bounds = (ways["nodes"] + 1).tolist(), ways["offsets"].tolist()
        flags = zip(ways["arterial"].tolist(), ways["line"].tolist(), strict=True)
        for w, (is_arterial, line) in enumerate(flags):
            tags = local
            if is_arterial:
                tags = {"highway": "primary", "maxspeed": "90", "ref": f"A{line}"}
            nodes = refs[bounds[w] : bounds[w + 1]]
            writer.add_way(
                way(id=1_000_001 + w, version=1, timestamp=TIMESTAMP, nodes=nodes, tags=tags)
            )
    return len(ways["arterial"])


# -- population, sub-areas, remoteness, deaths ---------------------------------------------------
def raster_shape(frame: Frame, preset: Preset) -> tuple[int, int]:
    """Rows and columns of the population raster (and the boundary: its extent)."""
    return int(frame.height_m // preset.cell_m), int(frame.width_m // preset.cell_m)


def write_population(
    path: Path, frame: Frame, preset: Preset, shape: tuple[int, int]
) -> dict[str, Any]:
    """Residents (band 1) and 65+ (band 2) per cell, written strip by strip; returns the sums
    per sub-area (for the deaths file) and the number of populated cells."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    height, width = shape
    cell, k = preset.cell_m, preset.subarea_cells
    west, north = frame.projected(0.0, height * cell)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 2,
        "dtype": "float32",
        "crs": f"EPSG:{EPSG}",
        "transform": from_origin(float(west), float(north), cell, cell),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    share = min(1.0, preset.cells / (width * height))
    n_sub = (-(-height // k), -(-width // k))
    sums: dict[str, Any] = {"total": np.zeros(n_sub), "older": np.zeros(n_sub), "cells": 0}
    rng = np.random.default_rng(11)
    cx = (np.arange(width) + 0.5) * cell
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, height, 512):
            rows = min(512, height - row)
            cy = (height - row - np.arange(rows) - 0.5) * cell  # row 0 is the north edge
            gx, gy = np.meshgrid(cx, cy)
            boost = city_weight(frame, gx.ravel(), gy.ravel()).reshape(rows, width)
            populated = rng.random((rows, width)) < share
            total = np.where(populated, (rng.gamma(1.2, 10.0, boost.shape) + 0.01) * boost, 0.0)
            older = total * rng.uniform(0.12, 0.30, boost.shape)
            window = Window(0, row, width, rows)
            dst.write(total.astype("float32"), 1, window=window)
            dst.write(older.astype("float32"), 2, window=window)
            sub = ((row + np.arange(rows)) // k)[:, None] * n_sub[1] + (np.arange(width) // k)
            for key, band in (("total", total), ("older", older)):
                sums[key] += np.bincount(
                    sub.ravel(), weights=band.ravel(), minlength=n_sub[0] * n_sub[1]
                ).reshape(n_sub)
            sums["cells"] += int(populated.sum())
        dst.set_band_description(1, "pop_total")
        dst.set_band_description(2, "pop_65plus")
    return sums


def to_wgs84(gdf: Any, frame: Frame) -> Any:
    """Polygons in local metres → EPSG:4326 (densified every 2 km first), as the demo writes."""
    import shapely

    ox, oy = frame.origin
    dense = shapely.segmentize(gdf.geometry.values, 2000.0)
    moved = shapely.transform(dense, lambda xy: xy + np.array([ox, oy]))
    return gdf.set_geometry(moved).set_crs(EPSG, allow_override=True).to_crs(4326)


def subareas_frame(frame: Frame, preset: Preset, shape: tuple[int, int]) -> Any:
    """Square sub-areas of ``subarea_cells`` cells, numbered row by row from the north-west."""
    import geopandas as gpd
    import shapely

    height, width = shape
    k, cell = preset.subarea_cells, preset.cell_m
    rows, cols = -(-height // k), -(-width // k)
    r, c = np.divmod(np.arange(rows * cols), cols)
    top = height * cell
    boxes = shapely.box(
        c * k * cell,
        np.maximum(top - (r + 1) * k * cell, 0.0),
        np.minimum((c + 1) * k * cell, width * cell),
        top - r * k * cell,
    )
    names = {
        "area_id": [f"SA2-{i + 1:05d}" for i in range(len(r))],
        "area_name": [f"District {i + 1} (row {j + 1})" for i, j in enumerate(r.tolist())],
    }
    return to_wgs84(gpd.GeoDataFrame(names, geometry=boxes), frame)


def deaths_frame(sums: dict[str, Any], area_ids: np.ndarray) -> Any:
    """Annual deaths by cause per sub-area from its residents and 65+ (the demo's rates and
    cause shares; five years of Poisson counts averaged)."""
    import pandas as pd

    from geo.demo.generator import CAUSE_SHARES, RATE_65_PLUS, RATE_UNDER_65

    shares = np.array(list(CAUSE_SHARES.values()))
    shares = shares / shares.sum()
    total, older = sums["total"].ravel(), sums["older"].ravel()
    expected = (total - older) * RATE_UNDER_65 + older * RATE_65_PLUS
    counts = np.random.default_rng(5).poisson(5 * expected[:, None] * shares[None, :])
    area, cause = np.nonzero(counts)
    return pd.DataFrame(
        {
            "area_id": area_ids[area],
            "cause": np.array(list(CAUSE_SHARES))[cause],
            "deaths": [f"{v / 5:.1f}" for v in counts[area, cause].tolist()],
            "period": "2019-2023",
        }
    )


def remoteness_frame(frame: Frame, region: Any) -> Any:
    """Five ABS-style remoteness classes: rings around the service centres, tiling ``region``."""
    import geopandas as gpd
    import shapely

    from geo.demo.generator import RA_NAMES

    points = shapely.points(frame.centres())
    disks = [shapely.union_all(shapely.buffer(points, r * 1e3, quad_segs=16)) for r in RING_KM]
    inner = shapely.Polygon()
    rows = []
    for code, name in enumerate(RA_NAMES):
        outer = disks[code] if code < len(disks) else region
        part = shapely.difference(shapely.intersection(outer, region), inner)
        inner = shapely.union(inner, outer)
        if not part.is_empty:
            rows.append({"ra_code": code, "ra_name": name, "geometry": part})
    return to_wgs84(gpd.GeoDataFrame(rows, geometry="geometry"), frame)


def write_boundary(path: Path, region: Any, frame: Frame) -> None:
    """The region polygon as GeoJSON in WGS84 (as the demo's ``region.geojson``)."""
    import geopandas as gpd

    gdf = to_wgs84(gpd.GeoDataFrame({"name": ["Benchmark region"]}, geometry=[region]), frame)
    gdf.to_file(
        path,
        driver="GeoJSON",
        engine="pyogrio",
        layer_options={"COORDINATE_PRECISION": 7, "WRITE_NAME": "NO"},
    )


# -- facilities --------------------------------------------------------------------------------
def weighted_sample(rng: np.random.Generator, weight: np.ndarray, k: int) -> np.ndarray:
    """``k`` distinct indices drawn with probability proportional to ``weight``."""
    keys = rng.exponential(size=len(weight)) / weight
    return np.sort(np.argpartition(keys, k)[:k])


def beside(rng: np.random.Generator, frame: Frame, x: np.ndarray, y: np.ndarray):
    """Lon/lat strings 20-80 m from road nodes (a building beside the road)."""
    angle = rng.uniform(0, 2 * np.pi, len(x))
    dist = rng.uniform(20.0, 80.0, len(x))
    lon, lat = frame.lonlat(x + dist * np.cos(angle), y + dist * np.sin(angle))
    return [f"{v:.6f}" for v in lon], [f"{v:.6f}" for v in lat]


def gp_frame(rng: np.random.Generator, frame: Frame, grid: dict, n: int) -> Any:
    """GP practices (the demo's columns): near people, FTE, a few remote clinics."""
    import pandas as pd

    weight = city_weight(frame, grid["x"], grid["y"])
    nodes = weighted_sample(rng, weight, n)
    lon, lat = beside(rng, frame, grid["x"][nodes], grid["y"][nodes])
    streets = ("Main Street", "Church Street", "Bridge Road", "Railway Parade", "Hospital Road")
    styles = ("{} Medical Centre", "{} Family Practice", "O'Brien & Partners, {}", "{} Clinic")
    number = rng.integers(1, 400, n)
    return pd.DataFrame(
        {
            "practice_id": [f"GP{i + 1:05d}" for i in range(n)],
            "name": [styles[i % 4].format(f"District {i + 1}") for i in range(n)],
            "address": [f"{v} {streets[v % 5]}" for v in number.tolist()],
            "longitude": lon,
            "latitude": lat,
            "fte": [f"{v:.1f}" for v in np.maximum(rng.gamma(2.0, 1.5, n), 0.4)],
            "practice_type": np.where(rng.random(n) < 0.03, "remote_clinic", "general_practice"),
        }
    )


def spc_frame(rng: np.random.Generator, frame: Frame, grid: dict, n: int) -> Any:
    """SPC services (the demo's columns): in the centres, three types, every fifth cancer-only."""
    import pandas as pd

    weight = city_weight(frame, grid["x"], grid["y"]) ** 2
    nodes = weighted_sample(rng, weight, n)
    lon, lat = beside(rng, frame, grid["x"][nodes], grid["y"][nodes])
    kinds = np.array(SPC_TYPES)[np.arange(n) % 3]
    capacity = {"inpatient": (6, 20), "community": (1, 8), "hospital": (1, 4)}
    return pd.DataFrame(
        {
            "service_id": [f"SPC{i + 1:04d}" for i in range(n)],
            "name": [f"District {i + 1} {k.title()} Palliative Care" for i, k in enumerate(kinds)],
            "service_type": kinds,
            "longitude": lon,
            "latitude": lat,
            "capacity": [
                f"{rng.integers(*capacity[k]) + 0.5 * (k != 'inpatient'):g}" for k in kinds
            ],
            "accepts_non_cancer": np.where(np.arange(n) % 5 == 0, "no", "yes"),
        }
    )


# -- inputs (built once per preset, cached) -----------------------------------------------------
def prepare(name: str, preset: Preset) -> tuple[Path, dict[str, Any]]:
    """Write the preset's input files under ``CACHE/<name>`` (once); returns folder and counts."""
    import shapely

    from geo.demo.generator import _write_csv, _write_vector

    folder = CACHE / name
    meta_path = folder / "inputs.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("format") == FORMAT:
            return folder, {**meta, "cached": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start = time.perf_counter()
    grid = road_grid(preset)
    side = round(float(np.sqrt(len(grid["x"]))))
    extent = (side - 1) * preset.block_m + 0.4 * preset.block_m
    frame = Frame(extent, extent)
    n_ways = write_roads(folder / "roads.osm.pbf", frame, grid)
    shape = raster_shape(frame, preset)
    sums = write_population(folder / "population.tif", frame, preset, shape)
    region = shapely.box(0, 0, shape[1] * preset.cell_m, shape[0] * preset.cell_m)
    write_boundary(folder / "region.geojson", region, frame)
    areas = subareas_frame(frame, preset, shape)
    _write_vector(folder / "subareas.gpkg", "subareas", areas)
    _write_vector(folder / "remoteness.gpkg", "remoteness", remoteness_frame(frame, region))
    _write_csv(folder / "deaths.csv", deaths_frame(sums, areas["area_id"].to_numpy()))
    rng = np.random.default_rng(7)
    _write_csv(folder / "gp_practices.csv", gp_frame(rng, frame, grid, preset.n_gp))
    _write_csv(folder / "spc_services.csv", spc_frame(rng, frame, grid, preset.n_spc))
    meta = {
        "format": FORMAT,
        "nodes": len(grid["x"]),
        "edges_directed": 2 * len(grid["a"]),
        "ways": n_ways,
        "gp_practices": preset.n_gp,
        "specialist_services": preset.n_spc,
        "facilities": preset.n_gp + preset.n_spc,
        "populated_cells": sums["cells"],
        "raster_cells": shape[0] * shape[1],
        "cell_m": preset.cell_m,
        "region_km": round(shape[1] * preset.cell_m / 1e3, 1),
        "subareas": len(areas),
        "people": round(float(sums["total"].sum())),
        "generate_s": round(time.perf_counter() - start, 1),
        "files_mb": {p.name: round(p.stat().st_size / MB, 2) for p in sorted(folder.iterdir())},
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return folder, {**meta, "cached": False}


def write_config(folder: Path, name: str, partition: dict[str, Any] | None) -> Path:
    """The region config (mirrors ``geo/demo/demo.yml``; files beside it)."""
    import yaml

    config: dict[str, Any] = {
        "region": {
            "name": f"Benchmark region '{name}' (synthetic)",
            "crs": f"EPSG:{EPSG}",
            "country": "au",
            "boundary": "region.geojson",
        },
        "roads": {"path": "roads.osm.pbf", "speed_profile": "au"},
        "gp_practices": {
            "path": "gp_practices.csv",
            "crs": "EPSG:4326",
            "columns": {
                "id": "practice_id",
                "name": "name",
                "x": "longitude",
                "y": "latitude",
                "capacity": "fte",
            },
        },
        "specialist_services": {
            "path": "spc_services.csv",
            "crs": "EPSG:4326",
            "columns": {
                "id": "service_id",
                "name": "name",
                "x": "longitude",
                "y": "latitude",
                "capacity": "capacity",
                "service_type": "service_type",
                "accepts_non_cancer": "accepts_non_cancer",
            },
        },
        "population": {
            "kind": "raster",
            "path": "population.tif",
            "count": 1,
            "age_bands": {"pop_65plus": 2},
        },
        "remoteness": {
            "scheme": "abs_ra_2016",
            "path": "remoteness.gpkg",
            "layer": "remoteness",
            "class_column": "ra_name",
        },
        "subareas": {
            "path": "subareas.gpkg",
            "layer": "subareas",
            "id_column": "area_id",
            "name_column": "area_name",
        },
        "need": {
            "model": "etkind",
            "source": "deaths",
            "deaths": {
                "path": "deaths.csv",
                "area_column": "area_id",
                "cause_column": "cause",
                "count_column": "deaths",
            },
        },
        "thresholds": {
            "gp_min": 30,
            "spc_min": 60,
            "by_remoteness": {"Remote": {"gp_min": 54}, "Very Remote": {"gp_min": 54}},
        },
    }
    if partition is not None:
        config["partition"] = partition
        config["catchments"] = {"enabled": False}  # partitioned runs refuse catchments
    path = folder / ("region-partitioned.yml" if partition else "region.yml")
    header = "# Written by scripts/benchmark_region.py (synthetic benchmark region).\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


# -- running the CLI ------------------------------------------------------------------------------
def _status_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of a process in kB (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return {
                line.split(":")[0]: int(line.split()[1])
                for line in fh
                if line.startswith(("VmRSS:", "VmHWM:"))
            }
    except (OSError, ValueError):
        return {}


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (``/proc/<pid>/task/*/children``)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


@dataclass
class Watch:
    """Memory of the CLI process and its descendants, sampled while it runs, and when its
    output lock (taken as the pipeline starts) and staging folder (outputs) first appear."""

    out_dir: Path
    main_hwm_kb: int = 0
    tree_peak_kb: int = 0
    tree_now_kb: int = 0
    children_hwm_kb: dict[int, int] = field(default_factory=dict)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def sample(self, pid: int, elapsed: float) -> None:
        main = _status_kb(pid)
        self.main_hwm_kb = max(self.main_hwm_kb, main.get("VmHWM", 0))
        tree = main.get("VmRSS", 0)
        for child in _descendants(pid):
            status = _status_kb(child)
            tree += status.get("VmRSS", 0)
            hwm = status.get("VmHWM", 0)
            self.children_hwm_kb[child] = max(self.children_hwm_kb.get(child, 0), hwm)
        self.tree_now_kb = tree
        self.tree_peak_kb = max(self.tree_peak_kb, tree)
        self.timeline.append((elapsed, main.get("VmRSS", 0) / 1024.0, tree / 1024.0))
        name = self.out_dir.name
        if "pipeline" not in self.marks and (self.out_dir.parent / f".{name}.lock").exists():
            self.marks["pipeline"] = elapsed
        if "staging" not in self.marks and any(self.out_dir.parent.glob(f".{name}.tmp-*")):
            self.marks["staging"] = elapsed


# A run past its limits: SIGINT first (so a cProfile run still writes its profile), then the
# whole process group (Dask workers included) with SIGTERM and SIGKILL: (seconds after, target).
STOP_SIGNALS = ((0.0, "main", signal.SIGINT), (10.0, "group", signal.SIGTERM))
STOP_SIGNALS += ((20.0, "group", signal.SIGKILL),)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _stop(pid: int, since: float, pending: list[tuple[float, str, int]]) -> None:
    """Send (and drop from ``pending``) the stop signals due ``since`` seconds after the kill."""
    while pending and since >= pending[0][0]:
        _, target, sig = pending.pop(0)
        if target == "group":
            _kill_group(pid, sig)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _timestamp_lines(stream: Any, sink: Any, start: float, marks: dict[str, Any]) -> None:
    """Copy the CLI's ``-v`` log to ``sink`` with seconds since its start; note each stage's
    start in ``marks["stages"]``."""
    for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        elapsed = time.perf_counter() - start
        sink.write(f"{elapsed:9.2f} {line}\n")
        sink.flush()
        found = STAGE_LINE.search(line)
        if found:
            marks.setdefault("stages", []).append((found.group(1), round(elapsed, 2)))


def run_cli(
    cmd: list[str], env: dict[str, str], out_dir: Path, limits: dict[str, float]
) -> dict[str, Any]:
    """Run ``cmd`` in its own session; wall time, memory, exit; killed past the limits.

    A ``-v`` command's log is read as it comes (stage starts timed); otherwise standard error
    goes straight to ``stderr.txt``.
    """
    logs = out_dir.with_name(f"logs-{out_dir.name}")
    logs.mkdir(exist_ok=True)
    watch = Watch(out_dir)
    state = {"timed_out": False, "killed_for_memory": False}
    killed_at, stopping, reader = None, [], None
    with open(logs / "stdout.txt", "w") as out, open(logs / "stderr.txt", "w") as err:
        start = time.perf_counter()
        piped = "-v" in cmd
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.PIPE if piped else err,
            env=env,
            start_new_session=True,
        )
        if piped:
            reader = threading.Thread(
                target=_timestamp_lines, args=(proc.stderr, err, start, watch.marks), daemon=True
            )
            reader.start()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - start
            watch.sample(proc.pid, elapsed)
            if killed_at is None:
                state["timed_out"] = elapsed > limits["timeout_s"]
                state["killed_for_memory"] = watch.tree_now_kb / 1024.0 > limits["mem_cap_mb"]
                if state["timed_out"] or state["killed_for_memory"]:
                    killed_at = elapsed
                    stopping = list(STOP_SIGNALS)
            if killed_at is not None:
                _stop(proc.pid, elapsed - killed_at, stopping)
            time.sleep(0.25)
        wall = time.perf_counter() - start
        if reader is not None:
            reader.join(timeout=10.0)  # a Dask worker left behind may hold the pipe open
    proc.returncode = os.waitstatus_to_exitcode(status)
    if killed_at is not None:
        _kill_group(proc.pid, signal.SIGKILL)  # any worker left behind
    rows = ["seconds,main_rss_mb,tree_rss_mb"] + [
        f"{t:.2f},{m:.1f},{r:.1f}" for t, m, r in watch.timeline
    ]
    (logs / "rss.csv").write_text("\n".join(rows) + "\n")
    return {
        "returncode": proc.returncode,
        **state,
        "wall_s": round(wall, 2),
        "peak_rss_mb_main": round(watch.main_hwm_kb / 1024.0, 1),
        "peak_rss_mb_largest_process": round(usage.ru_maxrss / 1024.0, 1),
        "peak_rss_mb_tree_sampled": round(watch.tree_peak_kb / 1024.0, 1),
        "peak_rss_mb_children": sorted(
            (round(v / 1024.0, 1) for v in watch.children_hwm_kb.values() if v), reverse=True
        )[:8],
        "_timeline": watch.timeline,
        "_marks": watch.marks,
    }


def stage_windows(
    wall: float, marks: dict[str, float], timings: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """When each stage ran (seconds from the CLI's start): the stages of ``run.json`` in order
    from the moment the output lock appeared; ``startup`` before (imports, config and input
    checks), ``outputs`` after (writing, which run.json cannot time: it is written there)."""
    logged = marks.get("stages")
    if logged:  # -v: the stages as they started (``outputs`` included)
        ends = [t for _, t in logged[1:]] + [wall]
        windows = {"startup": (0.0, logged[0][1])}
        for (name, t0), t1 in zip(logged, ends, strict=True):
            windows[name if name not in windows else f"{name}#{t0:.0f}"] = (t0, t1)
        return windows
    start = marks.get("pipeline")
    if start is None:
        return {}
    windows = {"startup": (0.0, start)}
    for name, seconds in timings.items():
        windows[name] = (start, start + seconds)
        start += seconds
    windows["outputs" if timings else "stages (no run.json)"] = (start, wall)
    return windows


def stage_memory(
    timeline: list[tuple[float, float, float]], windows: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Peak sampled RSS of the main process within each stage's window (MB)."""
    peaks = {}
    for name, (t0, t1) in windows.items():
        inside = [main for t, main, _ in timeline if t0 - 0.25 <= t <= t1 + 0.25]
        if inside:
            peaks[name] = round(max(inside), 1)
    return peaks


def profile_summary(path: Path, top: int = 12) -> dict[str, list[str]]:
    """The top functions of a cProfile file by cumulative and by own time."""
    import pstats

    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        where = f"{Path(file).name}:{line}({func})" if line else func
        rows.append((cumtime, tottime, ncalls, where, file))

    def fmt(r: tuple) -> str:
        return f"{r[0]:8.1f}s cum {r[1]:7.1f}s own {r[2]:>9} calls  {r[3]}"

    by_cum = sorted(rows, reverse=True)
    geo_rows = [r for r in by_cum if "/geo/" in r[4]]
    return {
        "by_cumulative": [fmt(r) for r in by_cum[:top]],
        "by_cumulative_geo": [fmt(r) for r in geo_rows[:top]],
        "by_own_time": [fmt(r) for r in sorted(rows, key=lambda r: -r[1])[:top]],
    }


def read_outputs(out_dir: Path) -> dict[str, Any]:
    """What ``run.json`` says (timings, network, totals, warnings) and the output sizes."""
    found: dict[str, Any] = {}
    sizes = {
        f"{name.replace('.', '_')}_mb": round((out_dir / name).stat().st_size / MB, 2)
        for name in ("layers.gpkg", "map.html", "report.html")
        if (out_dir / name).is_file()
    }
    files = [p for p in out_dir.rglob("*") if p.is_file()] if out_dir.is_dir() else []
    sizes["all_outputs_mb"] = round(sum(p.stat().st_size for p in files) / MB, 2)
    sizes["files"] = len(files)
    found.update(sizes)
    run_json = out_dir / "run.json"
    if not run_json.is_file():
        return found
    prov = json.loads(run_json.read_text())
    timings = prov.get("timings_s", {})
    network = prov.get("road_network", {}).get("network", {})
    totals = prov.get("totals", {})
    warnings = prov.get("warnings", [])
    found.update(
        {
            "timings_s": timings,
            "stages_sum_s": round(sum(timings.values()), 2),
            "network": {k: network.get(k) for k in ("nodes", "edges") if k in network},
            "origins": totals.get("origins"),
            "origins_unreachable": totals.get("origins_unreachable"),
            "gp_practices": totals.get("gp_practices"),
            "specialist_services": totals.get("specialist_services"),
            "warnings": len(warnings),
            "catchment_warnings": [w for w in warnings if "catchment" in w.lower()],
            "headline_shares": prov.get("headline_shares"),
        }
    )
    return found


def attempt(folder: Path, name: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One ``gapmap run`` of the preset's config (``whole`` network or ``partitioned``)."""
    preset = PRESETS[name]
    partition = None
    if mode == "partitioned":
        partition = {"tile_size_km": args.tile_km or preset.tile_km or 400.0}
        partition["workers"] = args.workers
    config = write_config(folder, name, partition)
    out_dir = folder / f"out-{mode}"
    logs = folder / f"logs-out-{mode}"
    shutil.rmtree(out_dir, ignore_errors=True)
    logs.mkdir(exist_ok=True)
    env = dict(os.environ, GAPMAP_CACHE=str(folder / "gapmap-cache"))
    if not args.warm_cache:
        shutil.rmtree(folder / "gapmap-cache", ignore_errors=True)
    verbosity = "-v" if args.log_stages else "-q"
    cmd = [str(VENV_BIN / "gapmap"), "run", str(config), "--out", str(out_dir), verbosity]
    if args.profile:
        prof = logs / "cli.prof"
        cmd = [str(VENV_BIN / "python"), "-m", "cProfile", "-o", str(prof), "-m", "geo", *cmd[1:]]
    limits = {"timeout_s": args.timeout, "mem_cap_mb": args.mem_cap_gb * 1024.0}
    result: dict[str, Any] = {"mode": mode, "command": " ".join(cmd), "profiled": args.profile}
    result.update(run_cli(cmd, env, out_dir, limits))
    timeline, marks = result.pop("_timeline"), result.pop("_marks")
    result["ok"] = result["returncode"] == 0 and (out_dir / "run.json").is_file()
    if not result["ok"]:
        lines = (logs / "stderr.txt").read_text(errors="replace").strip().splitlines()
        result["stderr_tail"] = lines[-40:]
    result.update(read_outputs(out_dir))
    windows = stage_windows(result["wall_s"], marks, result.get("timings_s", {}))
    if windows:  # run.json is written inside the outputs stage, so it cannot time that stage
        result["startup_s"] = round(windows["startup"][1], 2)
        if "outputs" in windows:
            t0, t1 = windows["outputs"]
            result["outputs_s" if "stages" in marks else "outputs_s_estimated"] = round(t1 - t0, 2)
        if "stages" in marks:
            result["stage_starts_s"] = dict(marks["stages"])
            result["last_stage_started"] = marks["stages"][-1][0]
        staging = marks.get("staging")
        result["staging_folder_seen_s"] = None if staging is None else round(staging, 2)
        result["peak_rss_mb_main_by_stage"] = stage_memory(timeline, windows)
    if args.profile and (logs / "cli.prof").is_file():
        result["profile"] = profile_summary(logs / "cli.prof")
    result["targets"] = check_targets(result, preset.targets)
    result["meets_targets"] = all(t["meets_target"] for t in result["targets"].values())
    return result


def check_targets(result: dict[str, Any], targets: dict[str, float]) -> dict[str, dict]:
    """Each target next to its figure; a failed or killed run meets none."""
    return {
        key: {
            "value": result.get(key),
            "target_max": limit,
            "meets_target": bool(result["ok"] and result.get(key) is not None)
            and result[key] <= limit,
        }
        for key, limit in targets.items()
    }


def machine() -> dict[str, Any]:
    """CPUs, memory, Python and the load when the benchmark started (timings are noisy)."""
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "mem_gb": round(mem_kb / 1024**2, 1),
        "python": sys.version.split()[0],
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
    }


def code_state() -> dict[str, Any]:
    """The commit and uncommitted changes under ``geo/`` that were measured (read-only git)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "geo").splitlines()]
    return {"commit": git("rev-parse", "--short=12", "HEAD"), "geo_uncommitted": changed}


def modes_for(mode: str, preset: Preset) -> list[str]:
    if mode == "both":
        return ["whole", "partitioned"]
    if mode == "auto":
        return ["whole", "partitioned"] if preset.tile_km else ["whole"]
    return [mode]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument(
        "--mode",
        choices=["auto", "whole", "partitioned", "both"],
        default="auto",
        help="auto: whole network, then partitioned if that missed a target (national only)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask workers when partitioned")
    parser.add_argument("--tile-km", type=float, default=None, help="tile side when partitioned")
    parser.add_argument("--timeout", type=float, default=1500.0, help="kill the CLI after (s)")
    parser.add_argument(
        "--mem-cap-gb", type=float, default=16.0, help="kill the CLI when its processes pass"
    )
    parser.add_argument("--warm-cache", action="store_true", help="reuse the built network")
    parser.add_argument("--profile", action="store_true", help="run the CLI under cProfile")
    parser.add_argument(
        "--log-stages",
        action="store_true",
        help="run the CLI with -v instead of -q and time each stage's start from its log "
        "(which stage a killed run was in; the outputs stage, which run.json cannot time)",
    )
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    start = time.perf_counter()
    folder, inputs = prepare(args.preset, preset)
    report: dict[str, Any] = {
        "preset": args.preset,
        "machine": machine(),
        "inputs": inputs,
        "inputs_folder": str(folder),
        "prepare_s": round(time.perf_counter() - start, 1),
        "targets": preset.targets,
        "attempts": [],
    }
    for mode in modes_for(args.mode, preset):
        if args.mode == "auto" and report["attempts"] and report["attempts"][-1]["meets_targets"]:
            break
        before = code_state()
        result = attempt(folder, args.preset, mode, args)
        result["code"] = before
        if code_state() != before:
            result["code_changed_during_run"] = code_state()
        report["attempts"].append(result)
        print(json.dumps({k: result.get(k) for k in ("mode", "ok", "wall_s")}), file=sys.stderr)
    report["meets_targets"] = any(a["meets_targets"] for a in report["attempts"])
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
