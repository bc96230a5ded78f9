"""Benchmark the whole analysis (no maps) on a synthetic region of 1M origins; prints JSON.

A road-like grid of 1M nodes (the travel-time benchmark's graph), one origin per node with
people and a 65+ share, 300 GP practices, 12 SPC services of the three types (one cancer-only),
remoteness by distance from the centre, need from the Australian rates — then
:func:`geo.analysis.region.analyse`: travel times, coverage, speed uncertainty, access scores,
hotspots and every table. Catchments are left out (they are a map layer).

    python scripts/benchmark_analysis.py --origins 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CRS = "EPSG:3857"


def synthetic_inputs(n_origins: int, seed: int = 0):
    """A synthetic region's inputs, built in memory."""
    from benchmark import synthetic_graph

    from geo.inputs.need import need_from_rates
    from geo.inputs.remoteness import ABS_CLASSES, RemotenessResult
    from geo.routing.network import RoadNetwork

    g = synthetic_graph(n_origins, seed)
    net = RoadNetwork.from_arrays(g["src"], g["dst"], g["t"], g["x"], g["y"], CRS)
    rng = np.random.default_rng(seed)
    n = net.n_nodes
    pop = rng.gamma(1.2, 10.0, n)
    origins = gpd.GeoDataFrame(
        {
            "origin_id": np.arange(n),
            "pop_count": pop,
            "pop_65plus": pop * rng.uniform(0.1, 0.3, n),
            "area_id": None,
        },
        geometry=gpd.points_from_xy(net.node_x + 30.0, net.node_y + 30.0),
        crs=CRS,
    )
    cx, cy = np.median(net.node_x), np.median(net.node_y)
    dist_km = np.hypot(net.node_x - cx, net.node_y - cy) / 1000
    code = np.digitize(dist_km, [10, 40, 80, 120])
    remoteness = RemotenessResult(
        classes=pd.Series(np.asarray(ABS_CLASSES)[code]),
        scheme="synthetic",
        version="-",
        class_order=ABS_CLASSES,
    )
    origins["remoteness_class"] = remoteness.classes.to_numpy()
    need = need_from_rates(origins, country="au")
    origins["need_cancer"] = need.origins["need_cancer"].to_numpy()
    origins["need_non_cancer"] = need.origins["need_non_cancer"].to_numpy()

    def facilities(k: int, kind: str, types: list[str]) -> gpd.GeoDataFrame:
        at = rng.choice(n, k, replace=False)
        return gpd.GeoDataFrame(
            {
                "facility_id": [f"{kind}{i}" for i in range(k)],
                "name": [f"{kind} {i}" for i in range(k)],
                "kind": kind,
                "service_type": [types[i % len(types)] for i in range(k)],
                "capacity": rng.uniform(1, 8, k),
                "accepts_non_cancer": np.arange(k) != 0,
            },
            geometry=gpd.points_from_xy(net.node_x[at], net.node_y[at]),
            crs=CRS,
        )

    gps = facilities(300, "gp", ["gp"])
    spcs = facilities(12, "spc", ["inpatient", "community", "hospital"])
    return net, origins, gps, spcs, remoteness, need


def main(argv: list[str] | None = None) -> int:
    from geo.analysis.region import analyse
    from geo.config import parse_config
    from geo.inputs.region import RegionInputs
    from geo.progress import StageTimer
    from geo.routing.network import Snaps

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origins", type=int, default=1_000_000)
    parser.add_argument("--draws", type=int, default=30, help="uncertainty draws")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    net, origins, gps, spcs, remoteness, need = synthetic_inputs(args.origins)
    built = time.perf_counter()
    # Paths are placeholders: analyse() reads no file.
    config = parse_config(
        {
            "region": {"name": "synthetic 1M", "crs": CRS},
            "roads": {"path": "synthetic.osm"},
            "gp_practices": {"path": "gp.csv", "columns": {"id": "id", "name": "name"}},
            "specialist_services": {"path": "spc.csv", "columns": {"id": "id", "name": "name"}},
            "population": {"kind": "points", "path": "pop.csv", "count": "n"},
            "catchments": {"enabled": False},
            "uncertainty": {"draws": args.draws},
        },
        path=REPO / "synthetic.yml",
    )
    timer = StageTimer()
    with timer.stage("snapping", "snapping origins and facilities"):
        snaps = Snaps.of(net, origins, gps, spcs)
    inputs = RegionInputs(net, gps, spcs, origins, None, remoteness, need, net.crs, snaps)
    results = analyse(config, inputs, timer=timer)
    done = time.perf_counter()
    report = {
        "origins": len(results.origins),
        "nodes": net.n_nodes,
        "build_inputs_s": round(built - start, 2),
        "analysis_s": round(done - built, 2),
        "stages_s": timer.timings_s,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "tables": sorted(results.tables),
        "hotspots": len(results.hotspots),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
