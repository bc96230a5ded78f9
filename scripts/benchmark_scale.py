"""Benchmark a partitioned national run on a local Dask cluster; prints JSON.

A synthetic nation: the travel-time benchmark's road-like grid (``benchmark.synthetic_graph``)
with 4M nodes, stretched to 1 km blocks (coordinates and travel times x5, speeds unchanged:
45 km/h local roads, 90 km/h arterials every 10 km), so the nation is about 2,000 km across; a
population GeoTIFF of 500 m cells with 5M populated cells; 3,000 GP practices and 150 SPC
services (inpatient, community, hospital; every fifth cancer-only). Thresholds: GP 30 min, SPC
60 min (buffer = 60 min x 1,500 m/min = 90 km).

End to end, no maps, each measurement in its own process (``peak`` memory is that process's):
build the network from edge arrays (largest strongly connected component), read the raster
window by window (:func:`geo.population_chunks.iter_raster_origins`), snap origins and
facilities, nearest GP and SPC times (overall, per service type, non-cancer), coverage classes
and headline shares. ``partitioned`` runs the travel times as tiles on a LocalCluster of 1 and 2
workers (:func:`geo.partition_services`-style searches); ``single`` runs the same searches on the
whole network in one process, unbounded (what ``compute_service_times`` does). Answers are
compared: within the thresholds they must be identical; beyond, partitioned gives ``inf``.

    python scripts/benchmark_scale.py                         # 4M nodes, 5M cells, 1 and 2 workers
    python scripts/benchmark_scale.py --nodes 250000 --cells 300000 --tile-km 100   # quick
    python scripts/benchmark.py --scale [same options]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
CACHE = REPO / ".cache" / "bench" / "scale"
CRS = "EPSG:3857"
STRETCH = 5.0  # 200 m blocks -> 1 km blocks
CELL_M = 500.0
GP_MIN, SPC_MIN = 30.0, 60.0
N_GP, N_SPC = 3000, 150


def _peak_mb() -> float:
    """This process's own peak (``VmHWM``: a child does not inherit its parent's peak)."""
    from geo.routing.partition import peak_rss_mb

    return peak_rss_mb()


# -- inputs (built once, cached) -------------------------------------------------------------
def prepare(n_nodes: int, n_cells: int) -> Path:
    """Write the nation's edge arrays, population raster and facilities under ``CACHE``."""
    folder = CACHE / f"n{n_nodes}_c{n_cells}"
    if (folder / "done").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    from benchmark import synthetic_graph

    g = synthetic_graph(n_nodes)
    x, y = g["x"] * STRETCH, g["y"] * STRETCH
    np.savez(folder / "graph.npz", src=g["src"], dst=g["dst"], t=g["t"] * STRETCH, x=x, y=y)
    _write_population(folder / "population.tif", x, y, n_cells)
    rng = np.random.default_rng(7)
    gp = rng.choice(len(x), N_GP, replace=False)
    spc = rng.choice(len(x), N_SPC, replace=False)
    np.savez(
        folder / "facilities.npz",
        gp_x=x[gp] + 50.0,
        gp_y=y[gp] + 50.0,
        spc_x=x[spc] - 50.0,
        spc_y=y[spc] + 50.0,
        spc_type=np.array(["inpatient", "community", "hospital"])[np.arange(N_SPC) % 3],
        spc_non_cancer=np.arange(N_SPC) % 5 != 0,
    )
    (folder / "done").write_text("ok")
    return folder


def _write_population(path: Path, x: np.ndarray, y: np.ndarray, n_cells: int) -> None:
    """A float32 GeoTIFF over the road grid with about ``n_cells`` populated cells."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    width = int(np.ceil((x.max() - x.min()) / CELL_M))
    height = int(np.ceil((y.max() - y.min()) / CELL_M))
    share = min(1.0, n_cells / (width * height))
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": from_origin(x.min(), y.max(), CELL_M, CELL_M),
        "nodata": -1,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    rng = np.random.default_rng(11)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, height, 512):
            rows = min(512, height - row)
            populated = rng.random((rows, width)) < share
            counts = np.where(populated, rng.gamma(1.2, 10.0, (rows, width)) + 0.01, 0.0)
            dst.write(counts.astype("float32"), 1, window=Window(0, row, width, rows))


# -- one measurement (its own process) -------------------------------------------------------
def _inputs(folder: Path, timings: dict) -> dict:
    import geopandas as gpd

    from geo.inputs.population_chunks import iter_raster_origins
    from geo.routing.network import RoadNetwork

    start = time.perf_counter()
    with np.load(folder / "graph.npz") as g:
        net = RoadNetwork.from_arrays(g["src"], g["dst"], g["t"], g["x"], g["y"], CRS)
    timings["network_s"] = time.perf_counter() - start
    start = time.perf_counter()
    parts = [(c.x, c.y, c.pop_count) for c in iter_raster_origins(folder / "population.tif")]
    x, y, pop = (np.concatenate(p) for p in zip(*parts, strict=True))
    timings["population_s"] = time.perf_counter() - start
    start = time.perf_counter()
    snap = net.snap(x, y)
    del x, y
    with np.load(folder / "facilities.npz") as f:
        gps = gpd.GeoDataFrame(
            {"facility_id": [f"gp{i}" for i in range(N_GP)]},
            geometry=gpd.points_from_xy(f["gp_x"], f["gp_y"]),
            crs=CRS,
        )
        spcs = gpd.GeoDataFrame(
            {
                "facility_id": [f"spc{i}" for i in range(N_SPC)],
                "service_type": f["spc_type"],
                "accepts_non_cancer": f["spc_non_cancer"],
            },
            geometry=gpd.points_from_xy(f["spc_x"], f["spc_y"]),
            crs=CRS,
        )
    searches, outputs = _searches(net, snap, gps, spcs)
    timings["snap_s"] = time.perf_counter() - start
    return {"net": net, "snap": snap, "pop": pop, "searches": searches, "outputs": outputs}


def _searches(net, snap, gps, spcs):
    """The pipeline's one search plan (GP searches bounded by GP_MIN, SPC by SPC_MIN)."""
    from geo.analysis.service_times import plan_searches
    from geo.routing.network import Snaps

    kw = {"max_snap_distance_m": 5000.0, "offroad_speed_kph": 15.0}
    snaps = Snaps(snap, net.snap_points(gps, **kw), net.snap_points(spcs, **kw), **kw)
    plan = plan_searches(snaps, spcs, limit_min=SPC_MIN, gp_limit_min=GP_MIN)
    return plan.searches, plan.outputs


def _coverage(times: dict[str, np.ndarray], pop: np.ndarray) -> dict[str, float]:
    from geo.analysis.coverage import COVERAGE_CLASSES, classify, reach

    classes = classify(
        reach(times["gp_travel_time_min"], GP_MIN), reach(times["spc_travel_time_min"], SPC_MIN)
    )
    total = pop.sum()
    return {c: round(float(pop[classes == c].sum() / total), 6) for c in COVERAGE_CLASSES}


def run_measurement(mode: str, folder: Path, n_workers: int, tile_km: float) -> dict:
    """Build, read, snap, route and classify; save the time arrays; report timings/memory."""
    from geo.routing.partition import partitioned_nearest, unpartitioned_nearest

    start = time.perf_counter()
    timings: dict = {}
    d = _inputs(folder, timings)
    net, snap = d["net"], d["snap"]
    offsets = np.where(snap.reachable, snap.connector_time_s, 0.0)
    travel = time.perf_counter()
    extra: dict = {}
    if mode == "single":
        ref = unpartitioned_nearest(net, snap.node, offsets, d["searches"], outputs=d["outputs"])
        times = {k: v[0] for k, v in ref.items()}
    else:
        times, extra = _partitioned(net, snap, offsets, d, n_workers, tile_km, partitioned_nearest)
    timings["travel_s"] = time.perf_counter() - travel
    coverage = _coverage(times, d["pop"])
    timings["end_to_end_s"] = time.perf_counter() - start
    for name in ("gp_travel_time_min", "spc_travel_time_min", "spc_non_cancer_travel_time_min"):
        np.save(folder / f"{mode}-{n_workers}-{name}.npy", times[name])
    return {
        "mode": mode,
        "workers": n_workers if mode != "single" else 0,
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "origins": len(snap.node),
        "origins_reachable": int(snap.reachable.sum()),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "peak_mb_main_process": round(_peak_mb(), 1),
        "coverage_share_of_people": coverage,
        **extra,
    }


def _partitioned(net, snap, offsets, d, n_workers, tile_km, partitioned_nearest):
    from geo.routing.cluster import dask_client

    with dask_client(n_workers=n_workers) as client:
        result = partitioned_nearest(
            net,
            snap.node,
            offsets,
            d["searches"],
            outputs=d["outputs"],
            tile_size_m=tile_km * 1000.0,
            client=client,
        )
    tiles = result.tiles
    per_worker = tiles.groupby("worker")["peak_rss_mb"].max().round(1)
    extra = {
        "tiles": len(tiles),
        "tile_km": tile_km,
        "buffer_km": round(result.buffer_m / 1000.0, 1),
        "tile_nodes_mean": int(tiles["nodes"].mean()),
        "tile_nodes_max": int(tiles["nodes"].max()),
        "tile_seconds_sum": round(float(tiles["seconds"].sum()), 1),
        "peak_mb_per_worker": per_worker.to_dict(),
    }
    return result.time_min, extra


# -- orchestration ---------------------------------------------------------------------------
def measure(mode: str, folder: Path, n_workers: int, tile_km: float) -> dict:
    out = folder / f"result-{mode}-{n_workers}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", mode, str(folder), str(n_workers), str(tile_km)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:500]}
    return json.loads(out.read_text())


def compare(folder: Path, reference: str, other: str) -> dict:
    """Within the thresholds identical; beyond them partitioned reports inf."""
    report = {}
    for name, threshold in (
        ("gp_travel_time_min", GP_MIN),
        ("spc_travel_time_min", SPC_MIN),
        ("spc_non_cancer_travel_time_min", SPC_MIN),
    ):
        ref = np.load(folder / f"{reference}-{name}.npy")
        got = np.load(folder / f"{other}-{name}.npy")
        within = ref <= threshold
        beyond = np.isfinite(ref) & ~within
        report[name] = {
            "within_threshold_share": round(float(within.mean()), 4),
            "identical_within_threshold": bool(np.array_equal(got[within], ref[within])),
            "inf_beyond_threshold": bool(np.isinf(got[beyond]).all()),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=4_000_000)
    parser.add_argument("--cells", type=int, default=5_000_000)
    parser.add_argument("--workers", default="1,2", help="local cluster sizes to measure")
    parser.add_argument("--tile-km", type=float, default=400.0)
    parser.add_argument("--no-single", action="store_true", help="skip the single-process run")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        mode, folder, n_workers, tile_km = args.worker
        result = run_measurement(mode, Path(folder), int(n_workers), float(tile_km))
        (Path(folder) / f"result-{mode}-{n_workers}.json").write_text(json.dumps(result))
        return 0
    start = time.perf_counter()
    folder = prepare(args.nodes, args.cells)
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "prepare_s": round(time.perf_counter() - start, 1),
        "runs": [],
    }
    for n in [int(w) for w in args.workers.split(",")]:
        report["runs"].append(measure("partitioned", folder, n, args.tile_km))
        print(json.dumps(report["runs"][-1]), file=sys.stderr)
    if not args.no_single:
        report["runs"].append(measure("single", folder, 0, args.tile_km))
        print(json.dumps(report["runs"][-1]), file=sys.stderr)
        for n in args.workers.split(","):
            report[f"agreement_single_vs_{n}_workers"] = compare(
                folder, "single-0", f"partitioned-{n}"
            )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
