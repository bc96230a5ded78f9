"""Benchmark site selection (k outreach sites) on a synthetic region of 1M origins; prints JSON.

The analysis benchmark's synthetic region (a road-like grid of 1M nodes, one origin per node,
300 GP practices, 12 SPC services): baseline travel times and coverage classes, then
:func:`geo.sites_run.choose_sites` with the GP practices as candidates (coverage matrix by
bounded searches + lazy greedy). Side by side: the textbook greedy that re-evaluates every
candidate each round, on the same coverage matrix, and need-weighted k-means grid candidates.

    python scripts/benchmark_sites.py --origins 1000000 --k 10
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _plain_greedy(cover, weight: np.ndarray, k: int) -> tuple[list[int], float]:
    covered = np.zeros(cover.shape[1], bool)
    chosen: list[int] = []
    coverf = cover.astype(float)
    for _ in range(k):
        gains = coverf @ np.where(covered, 0.0, weight)
        gains[chosen] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        row = cover.indices[cover.indptr[best] : cover.indptr[best + 1]]
        covered[row] = True
    return chosen, float(weight[covered].sum())


def main(argv: list[str] | None = None) -> int:
    from benchmark_analysis import synthetic_inputs

    from geo.analysis.region import classify, travel_times
    from geo.analysis.sites import (
        choose_sites,
        coverage_matrix,
        gp_candidates,
        greedy_max_coverage,
        grid_candidates,
        unmet_weight,
    )
    from geo.config import parse_config
    from geo.inputs.region import RegionInputs
    from geo.routing.network import Snaps

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origins", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--spc-min", type=float, default=30.0, help="SPC threshold (30: plenty of unmet need)"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    net, origins, gps, spcs, remoteness, need = synthetic_inputs(args.origins)
    config = parse_config(
        {
            "region": {"name": "synthetic", "crs": "EPSG:3857"},
            "roads": {"path": "synthetic.osm"},
            "gp_practices": {"path": "gp.csv", "columns": {"id": "id", "name": "name"}},
            "specialist_services": {"path": "spc.csv", "columns": {"id": "id", "name": "name"}},
            "population": {"kind": "points", "path": "pop.csv", "count": "n"},
            "thresholds": {"spc_min": args.spc_min},
        },
        path=REPO / "synthetic.yml",
    )
    roads = config.roads
    t1 = time.perf_counter()
    snaps = Snaps.of(net, origins, gps, spcs)
    inputs = RegionInputs(net, gps, spcs, origins, None, remoteness, need, net.crs, snaps)
    times = travel_times(config, inputs)
    origins, gps = classify(config, origins, times)
    t2 = time.perf_counter()
    weight = unmet_weight(origins)
    spc_th = origins["spc_threshold_min"].to_numpy(float)
    snap = snaps.origins
    choice = choose_sites(
        net,
        origins,
        snap,
        gp_candidates(gps),
        k=args.k,
        weight=weight,
        spc_threshold_min=spc_th,
        max_snap_distance_m=roads.max_snap_distance_m,
        offroad_speed_kph=roads.offroad_speed_kph,
    )
    t3 = time.perf_counter()
    cand_snap = net.snap(gps.geometry.x.to_numpy(), gps.geometry.y.to_numpy())
    cover = coverage_matrix(net, snap, cand_snap, spc_th, origins_of_interest=weight > 0)
    t4 = time.perf_counter()
    lazy = greedy_max_coverage(cover, weight, args.k)
    t5 = time.perf_counter()
    plain_order, plain_value = _plain_greedy(cover, weight, args.k)
    t6 = time.perf_counter()
    grid = grid_candidates(origins, weight, net)
    t7 = time.perf_counter()
    report = {
        "origins": len(origins),
        "nodes": net.n_nodes,
        "k": args.k,
        "candidates": len(gps),
        "build_inputs_s": round(t1 - t0, 2),
        "baseline_times_and_coverage_s": round(t2 - t1, 2),
        "site_selection_s": round(t3 - t2, 2),
        "coverage_matrix_s": round(t4 - t3, 2),
        "coverage_pairs": int(cover.nnz),
        "lazy_greedy_s": round(t5 - t4, 4),
        "lazy_evaluations": lazy.evaluations,
        "plain_greedy_s": round(t6 - t5, 4),
        "plain_evaluations": len(gps) * len(plain_order),
        "same_coverage_as_plain_greedy": bool(
            abs(plain_value - lazy.covered_weight) <= 1e-9 * max(1.0, plain_value)
        ),
        "same_choice_as_choose_sites": lazy.order == choice.selection.order,
        "unmet_origins": int((weight > 0).sum()),
        "chosen": choice.table["site_id"].tolist(),
        "share_of_unmet_covered": round(lazy.covered_weight / weight.sum(), 4),
        "certified_ratio": round(lazy.certified_ratio, 4),
        "grid_candidates_kmeans_s": round(t7 - t6, 2),
        "grid_candidates": len(grid),
        "end_to_end_without_input_build_s": round(t3 - t1, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
