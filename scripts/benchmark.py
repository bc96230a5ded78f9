"""Benchmark the travel-time engine side by side with its peers; prints JSON.

Graphs: the real Isle of Wight network (``$GEO_DATA_ROOT``) and synthetic road-like grids of 1M and
4M nodes. Tasks: nearest facility for 1,000 facilities; the bounded 60-minute one-to-many table
for 500 facilities; Isle of Wight ingest (pbf → network) against osmnx's XML route; and the 48
isochrones of the island's 12 GP practices against the osmnx ego-graph recipe. Engines: gapmap,
raw ``scipy.sparse.csgraph.dijkstra``, igraph, networkx (osmnx's way) and pandana (extra
``bench``). Every measurement runs in its own process, so ``peak_mb`` is that engine's own peak
(graph loading included); answers are checked against raw scipy.

Beside the engine, the same JSON holds the whole-run figures of ``bench_targets.py`` (regions,
writing, access against PySAL, uncertainty, scenario and sites, the osmnx/networkx/folium
recipe), the 1M-origin analysis (``benchmark_analysis.py``) and the synthetic-region CLI runs
(``benchmark_region.py``: 10,000 facilities, the 4M-node nation), each with its target and a
``meets_target`` verdict.

    python scripts/benchmark.py                              # everything (about 30 minutes)
    python scripts/benchmark.py --suites targets             # whole runs only (about 2 minutes)
    python scripts/benchmark.py --suites engine --graphs iow,1m
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("GEO_DATA_ROOT", str(REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO))
CACHE = REPO / ".cache" / "bench"
HORIZON_S = 3600.0
SIZES = {"1m": 1_000_000, "4m": 4_000_000}
# Peers too slow or too big to run in full are run on a subset and scaled (reported as such).
SUBSET = {"networkx_table": 20, "igraph_table": 50}


def _data_root() -> Path:
    return Path(os.environ.get("GEO_DATA_ROOT", REPO.parent / "shared" / "data"))


def iow_pbf() -> Path:
    return _data_root() / "uk" / "isle_of_wight" / "osm" / "isle-of-wight-2015-01-01.osm.pbf"


# -- graphs ----------------------------------------------------------------------------------
def synthetic_graph(n_nodes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A road-like two-way grid: jittered 200 m blocks, 15% of links missing, fast arterials."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(n_nodes))
    idx = np.arange(side * side).reshape(side, side)
    x = np.tile(np.arange(side), side) * 200.0 + rng.uniform(-40, 40, side * side)
    y = np.repeat(np.arange(side), side) * 200.0 + rng.uniform(-40, 40, side * side)
    pairs = [
        (idx[:, :-1].ravel(), idx[:, 1:].ravel(), np.arange(side).repeat(side - 1)),
        (idx[:-1, :].ravel(), idx[1:, :].ravel(), np.tile(np.arange(side), side - 1)),
    ]
    src, dst, speed = [], [], []
    for a, b, line in pairs:
        keep = rng.random(len(a)) > 0.15
        arterial = line % 10 == 0
        keep |= arterial
        src.append(a[keep])
        dst.append(b[keep])
        speed.append(np.where(arterial[keep], 90.0, 45.0))
    src, dst, speed = np.concatenate(src), np.concatenate(dst), np.concatenate(speed)
    length = np.hypot(x[dst] - x[src], y[dst] - y[src])
    t = length / (speed / 3.6)
    return {
        "src": np.concatenate([src, dst]),
        "dst": np.concatenate([dst, src]),
        "t": np.concatenate([t, t]),
        "x": x,
        "y": y,
    }


def prepare(name: str) -> Path:
    """Build (once) and cache the graph, its facilities and table origins as ``.npz``."""
    from geo.inputs.roads import build_network
    from geo.inputs.speeds import SpeedSettings
    from geo.routing.network import RoadNetwork

    path = CACHE / f"{name}.npz"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    if name == "iow":
        net = build_network(iow_pbf(), SpeedSettings(profile="gb"), "EPSG:27700").network
    else:
        g = synthetic_graph(SIZES[name])
        net = RoadNetwork.from_arrays(g["src"], g["dst"], g["t"], g["x"], g["y"], "EPSG:3857")
    src, dst = net.edge_endpoints()
    rng = np.random.default_rng(1)
    n = net.n_nodes
    origins = np.arange(n) if n <= 100_000 else rng.choice(n, 100_000, replace=False)
    np.savez(
        path,
        src=src,
        dst=dst,
        t=net.graph.data,
        x=net.node_x,
        y=net.node_y,
        facilities=rng.choice(n, 1000, replace=False),
        table_facilities=rng.choice(n, 500, replace=False),
        origins=np.sort(origins),
    )
    return path


# -- one measurement per process -------------------------------------------------------------
def _load(path: Path):
    from geo.routing.network import RoadNetwork

    d = dict(np.load(path))
    net = RoadNetwork.from_arrays(
        d["src"], d["dst"], d["t"], d["x"], d["y"], "EPSG:3857", keep_largest_component=False
    )
    return d, net


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_nearest(engine: str, path: Path) -> dict:
    d, net = _load(path)
    fac = d["facilities"]
    prep = time.perf_counter()
    if engine == "gapmap":
        from geo.routing.travel import nearest_facility

        start = time.perf_counter()
        times = nearest_facility(net, fac, direction="from_facility").time_s
    elif engine == "scipy":
        from scipy.sparse.csgraph import dijkstra

        start = time.perf_counter()
        times = dijkstra(net.graph, directed=True, indices=fac, min_only=True)
    elif engine == "igraph":
        import igraph as ig

        n = net.n_nodes
        edges = np.column_stack(
            [np.concatenate([d["src"], np.full(len(fac), n)]), np.concatenate([d["dst"], fac])]
        )
        g = ig.Graph(n=n + 1, edges=edges, directed=True)
        weights = np.concatenate([d["t"], np.zeros(len(fac))])
        start = time.perf_counter()
        times = np.asarray(g.distances(source=[n], weights=weights, mode="out")[0][:n])
    elif engine == "networkx":
        import networkx as nx

        g = nx.DiGraph()
        g.add_weighted_edges_from(
            zip(d["src"].tolist(), d["dst"].tolist(), d["t"].tolist(), strict=True)
        )
        start = time.perf_counter()
        got = nx.multi_source_dijkstra_path_length(g, set(fac.tolist()))
        times = np.array([got.get(i, np.inf) for i in range(net.n_nodes)])
    elif engine == "pandana":
        import pandana
        import pandas as pd

        nodes = pd.DataFrame({"x": d["x"], "y": d["y"]})
        edges = pd.DataFrame({"from": d["src"], "to": d["dst"], "t": d["t"]})
        pnet = pandana.Network(
            nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["t"]], twoway=False
        )
        pnet.set_pois("f", 5 * HORIZON_S, 1, d["x"][fac], d["y"][fac])
        start = time.perf_counter()
        res = pnet.nearest_pois(5 * HORIZON_S, "f", num_pois=1)
        times = np.array(res[1], dtype=float)
        times[times >= 5 * HORIZON_S] = np.inf
    else:
        raise SystemExit(f"unknown engine {engine}")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "prep_s": start - prep,
        "peak_mb": _peak_mb(),
        "times": times.astype(np.float32),
    }


def run_table(engine: str, path: Path) -> dict:
    d, net = _load(path)
    fac, origins = d["table_facilities"], d["origins"]
    subset = SUBSET.get(f"{engine}_table")
    if engine == "pandana" and net.n_nodes > 100_000:
        subset = 50  # all pairs for 500 facilities would not fit in memory
    if subset:
        fac = fac[:subset]
    prep = time.perf_counter()
    if engine == "gapmap":
        from geo.routing.travel import od_table

        start = time.perf_counter()
        table = od_table(net, origins, fac, max_time_s=HORIZON_S, direction="from_facility")
        pairs = len(table)
        total = float(table["travel_time_min"].sum() * 60)
    elif engine == "scipy":
        from scipy.sparse.csgraph import dijkstra

        # One call for all facilities (a dense facilities x nodes matrix), unless that would
        # not fit in 6 GB; then batches of 100.
        batch = len(fac) if len(fac) * net.n_nodes * 8 <= 6e9 else 100
        start = time.perf_counter()
        pairs, total = 0, 0.0
        for i in range(0, len(fac), batch):
            dist = dijkstra(net.graph, directed=True, indices=fac[i : i + batch], limit=HORIZON_S)[
                :, origins
            ]
            within = dist <= HORIZON_S
            pairs, total = pairs + int(within.sum()), total + float(dist[within].sum())
    elif engine == "igraph":
        import igraph as ig

        g = ig.Graph(n=net.n_nodes, edges=np.column_stack([d["src"], d["dst"]]), directed=True)
        start = time.perf_counter()
        dist = np.asarray(g.distances(source=fac, target=origins, weights=d["t"], mode="out"))
        within = dist <= HORIZON_S
        pairs, total = int(within.sum()), float(dist[within].sum())
    elif engine == "networkx":
        import networkx as nx

        g = nx.DiGraph()
        g.add_weighted_edges_from(
            zip(d["src"].tolist(), d["dst"].tolist(), d["t"].tolist(), strict=True)
        )
        wanted = set(origins.tolist())
        start = time.perf_counter()
        pairs, total = 0, 0.0
        for f in fac.tolist():
            reach = nx.single_source_dijkstra_path_length(g, f, cutoff=HORIZON_S)
            hits = [v for k, v in reach.items() if k in wanted]
            pairs += len(hits)
            total += float(sum(hits))
    elif engine == "pandana":
        import pandana
        import pandas as pd

        edges = pd.DataFrame({"t": d["t"]})
        pnet = pandana.Network(
            pd.Series(d["x"]),
            pd.Series(d["y"]),
            pd.Series(d["src"]),
            pd.Series(d["dst"]),
            edges,
            twoway=False,
        )
        start = time.perf_counter()
        reach = pnet.nodes_in_range(fac.tolist(), HORIZON_S)
        reach = reach[reach["destination"].isin(origins)]
        pairs, total = len(reach), float(reach.iloc[:, 2].sum())
    else:
        raise SystemExit(f"unknown engine {engine}")
    seconds = time.perf_counter() - start
    scale = len(d["table_facilities"]) / len(fac)
    return {
        "seconds": seconds * scale,
        "measured_s": seconds,
        "facilities_run": len(fac),
        "scaled": scale != 1,
        "prep_s": start - prep,
        "peak_mb": _peak_mb(),
        "pairs": int(pairs * scale) if scale != 1 else pairs,
        "sum_s": total * scale,
    }


def run_ingest(engine: str, _path: Path) -> dict:
    pbf = iow_pbf()
    if engine == "gapmap":
        from geo.inputs.roads import build_network
        from geo.inputs.speeds import SpeedSettings

        start = time.perf_counter()
        net = build_network(pbf, SpeedSettings(profile="gb"), "EPSG:27700").network
        size = net.n_edges
    else:  # osmnx reads OSM XML: convert first (untimed), then time its route
        import osmnx as ox

        from geo.inputs.roads import write_drivable_xml

        xml = CACHE / "iow-drive.osm"
        if not xml.is_file():
            write_drivable_xml(pbf, xml, ferries=False)
        start = time.perf_counter()
        g = ox.graph_from_xml(xml, simplify=False, retain_all=False)
        g = ox.routing.add_edge_speeds(g, fallback=30.0)
        g = ox.routing.add_edge_travel_times(g)
        g = ox.projection.project_graph(g, to_crs="EPSG:27700")
        size = g.number_of_edges()
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(), "edges": size}


def run_catchments(engine: str, _path: Path) -> dict:
    from geo.config import load_config
    from geo.inputs.facilities import load_facilities

    cfg = load_config(REPO / "scripts" / "regions" / "isle_of_wight.yml")
    from geo.inputs.roads import build_network
    from geo.inputs.speeds import SpeedSettings

    net = build_network(iow_pbf(), SpeedSettings(profile="gb"), "EPSG:27700").network
    g = cfg.gp_practices
    gps = load_facilities(
        g.path,
        kind="gp",
        columns=g.columns.model_dump(),
        crs="EPSG:27700",
        input_crs=g.crs,
        layer=g.layer,
        where=g.where,
    )
    snap = net.snap(gps.geometry.x.to_numpy(), gps.geometry.y.to_numpy())
    thresholds = [5.0, 10.0, 15.0, 20.0]
    if engine == "gapmap":
        from geo.analysis.catchments import SurfaceGrid, catchments_by_facility

        start = time.perf_counter()
        grid = SurfaceGrid.build(net, cell_size_m=100.0, max_offroad_m=500.0)
        out = catchments_by_facility(
            net,
            grid,
            snap.node,
            gps["facility_id"].to_numpy(),
            kind="gp",
            thresholds_min=thresholds,
            direction="from_facility",
        )
        count = int((~out.geometry.is_empty).sum())
    else:
        import networkx as nx
        import shapely

        src, dst = net.edge_endpoints()
        graph = nx.DiGraph()
        graph.add_weighted_edges_from(
            zip(src.tolist(), dst.tolist(), net.graph.data.tolist(), strict=True), weight="time"
        )
        start = time.perf_counter()
        count = 0
        for node in snap.node.tolist():
            for minutes in thresholds:
                sub = nx.ego_graph(graph, node, radius=minutes * 60, distance="time")
                ids = np.fromiter(sub.nodes, int)
                pts = shapely.points(net.node_x[ids], net.node_y[ids])
                if engine == "osmnx_hull":
                    shape = shapely.convex_hull(shapely.multipoints(pts))
                else:  # buffered reached edges (the osmnx example's "better" isochrones)
                    lines = [
                        shapely.LineString(
                            [(net.node_x[u], net.node_y[u]), (net.node_x[v], net.node_y[v])]
                        )
                        for u, v in sub.edges
                    ]
                    shape = shapely.union_all(shapely.buffer(np.array(lines + list(pts)), 100))
                count += int(not shape.is_empty)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(), "isochrones": count}


def run_end_to_end(engine: str, path: Path) -> dict:
    """gapmap from edge arrays to the 60-minute table in one process (peak memory target)."""
    from geo.routing.network import RoadNetwork
    from geo.routing.travel import nearest_facility, od_table

    name = path.stem
    start = time.perf_counter()
    g = synthetic_graph(SIZES[name]) if name in SIZES else dict(np.load(path))
    net = RoadNetwork.from_arrays(g["src"], g["dst"], g["t"], g["x"], g["y"], "EPSG:3857")
    del g
    built = time.perf_counter()
    rng = np.random.default_rng(1)
    origins = rng.choice(net.n_nodes, min(100_000, net.n_nodes), replace=False)
    nearest_facility(net, rng.choice(net.n_nodes, 1000, replace=False))
    table = od_table(
        net, origins, rng.choice(net.n_nodes, 500, replace=False), max_time_s=HORIZON_S
    )
    return {
        "seconds": time.perf_counter() - start,
        "build_s": built - start,
        "peak_mb": _peak_mb(),
        "pairs": len(table),
        "nodes": net.n_nodes,
    }


TASKS = {
    "end_to_end": run_end_to_end,
    "nearest": run_nearest,
    "table": run_table,
    "ingest": run_ingest,
    "catchments": run_catchments,
}


def worker(task: str, engine: str, path: str, out: str) -> None:
    result = TASKS[task](engine, Path(path))
    times = result.pop("times", None)
    if times is not None:
        np.save(out + ".npy", times)
    Path(out).write_text(json.dumps(result))


# -- orchestration ---------------------------------------------------------------------------
def measure(task: str, engine: str, path: Path, timeout_s: float) -> dict:
    out = CACHE / f"result-{task}-{engine}-{path.stem}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", task, engine, str(path), str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if proc.returncode != 0 or not out.is_file():
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    result = json.loads(out.read_text())
    npy = Path(str(out) + ".npy")
    if npy.is_file():
        result["times_file"] = str(npy)
    return result


def _agreement(results: dict) -> None:
    ref = results.get("scipy", {}).get("times_file")
    if not ref:
        return
    base = np.load(ref).astype(float)
    for res in results.values():
        path = res.pop("times_file", None)
        if path and path != ref:
            other = np.load(path).astype(float)
            both = np.isfinite(base) & np.isfinite(other)
            res["max_abs_diff_s"] = float(np.max(np.abs(base[both] - other[both]), initial=0))
            res["same_reachability"] = bool((np.isfinite(base) == np.isfinite(other)).all())
    results["scipy"].pop("times_file", None)


def _table_agreement(results: dict) -> None:
    """Full (unscaled) tables must hold the same pairs and the same total time as scipy's."""
    ref = results.get("scipy", {})
    for res in results.values():
        if "pairs" in res and "pairs" in ref and not res.get("scaled"):
            res["same_pairs_as_scipy"] = res["pairs"] == ref["pairs"]
            res["sum_rel_diff"] = abs(res["sum_s"] - ref["sum_s"]) / max(ref["sum_s"], 1.0)


def _ratios(results: dict, reference: str) -> None:
    base = results.get(reference, {}).get("seconds")
    base_mb = results.get(reference, {}).get("peak_mb")
    for res in results.values():
        if base and "seconds" in res:
            res[f"ratio_to_{reference}"] = round(res["seconds"] / base, 3)
        if base_mb and "peak_mb" in res:
            res[f"peak_ratio_to_{reference}"] = round(res["peak_mb"] / base_mb, 3)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--scale" in argv:  # the partitioned national benchmark (scripts/benchmark_scale.py)
        from benchmark_scale import main as scale_main

        return scale_main([a for a in argv if a != "--scale"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale",
        action="store_true",
        help="run scripts/benchmark_scale.py instead (options after it go to that script)",
    )
    parser.add_argument("--suites", default="engine,targets,analysis,region")
    parser.add_argument("--graphs", default="iow,1m,4m")
    parser.add_argument("--engines", default="gapmap,scipy,igraph,networkx,pandana")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    parser.add_argument("--max-networkx-nodes", type=int, default=1_100_000)
    parser.add_argument("--max-pandana-nodes", type=int, default=1_100_000)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    suites = args.suites.split(",")
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    if "engine" in suites:
        report["engine"] = engine_suite(args)
    report |= whole_run_suites(suites)
    print(json.dumps(report, indent=2))
    return 0


def engine_suite(args: argparse.Namespace) -> dict:
    """Nearest facility and bounded tables against scipy, igraph, networkx and pandana."""
    engines = args.engines.split(",")
    report: dict = {"targets": ENGINE_TARGETS}
    for name in args.graphs.split(","):
        if name == "iow" and not iow_pbf().is_file():
            report[name] = {"skipped": f"{iow_pbf()} not found"}
            continue
        path = prepare(name)
        n_nodes = len(np.load(path)["x"])
        entry: dict = {"nodes": n_nodes, "edges": len(np.load(path)["src"])}
        for task in ("nearest", "table"):
            results = {}
            for engine in engines:
                limit = {
                    "networkx": args.max_networkx_nodes,
                    "pandana": args.max_pandana_nodes,
                }.get(engine)
                if limit and n_nodes > limit:
                    results[engine] = {"skipped": f"more than {limit:,} nodes"}
                    continue
                results[engine] = measure(task, engine, path, args.timeout)
                print(f"{name} {task} {engine}: {results[engine]}", file=sys.stderr)
            _agreement(results)
            _table_agreement(results)
            _ratios(results, "scipy")
            entry[task] = results
        entry["end_to_end"] = {"gapmap": measure("end_to_end", "gapmap", path, args.timeout)}
        if name == "iow":
            for task, peers in (
                ("ingest", ["gapmap", "osmnx"]),
                ("catchments", ["gapmap", "osmnx_hull", "osmnx_buffer"]),
            ):
                entry[task] = {e: measure(task, e, path, args.timeout) for e in peers}
                _ratios(entry[task], "gapmap")
                print(f"{name} {task}: {entry[task]}", file=sys.stderr)
        entry["meets_target"] = _engine_verdicts(entry)
        report[name] = entry
    return report


# Engine against raw scipy on the same graph: time and peak-memory ratios (issue 17).
ENGINE_TARGETS = {"nearest_time_ratio": 1.05, "table_time_ratio": 1.1, "table_peak_ratio": 1.5}


def _engine_verdicts(entry: dict) -> dict:
    out = {}
    for task, key in (("nearest", "nearest_time_ratio"), ("table", "table_time_ratio")):
        ours = entry.get(task, {}).get("gapmap", {})
        if "ratio_to_scipy" in ours:
            out[key] = ours["ratio_to_scipy"] <= ENGINE_TARGETS[key]
        if task == "table" and "peak_ratio_to_scipy" in ours:
            out["table_peak_ratio"] = (
                ours["peak_ratio_to_scipy"] <= ENGINE_TARGETS["table_peak_ratio"]
            )
    return out


def _script_json(script: str, *args: str, timeout_s: float = 3600.0) -> dict:
    """Run another benchmark script in its own process and read its JSON."""
    try:
        out = subprocess.run(
            [sys.executable, str(REPO / "scripts" / script), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"timed_out": True, "timeout_s": timeout_s}
    except subprocess.CalledProcessError as exc:
        return {"failed": exc.returncode, "stderr": exc.stderr[-2000:]}
    return json.loads(out.stdout)


def whole_run_suites(suites: list[str]) -> dict:
    """Whole runs: regions, access, uncertainty, workflows, the peer recipe, 1M origins and
    the synthetic-region CLI runs, each with its target."""
    report: dict = {}
    if "targets" in suites:
        report["runs"] = _script_json("bench_targets.py")
    if "analysis" in suites:
        analysis = _script_json("benchmark_analysis.py", "--origins", "1000000")
        if "analysis_s" in analysis:
            analysis["meets_target"] = {
                "analysis_s": analysis["analysis_s"] <= 25.0,
                "peak_mb": analysis["peak_mb"] <= 3072,
            }
        report["analysis_1m"] = analysis
    if "region" in suites and (REPO / "scripts" / "benchmark_region.py").is_file():
        report["facilities_10k"] = _script_json("benchmark_region.py", "--preset", "facilities10k")
        report["national"] = _script_json("benchmark_region.py", "--preset", "national")
    return report


if __name__ == "__main__":
    raise SystemExit(main())
