"""Compare the computed ARIA-style remoteness with the official classes; prints confusion tables.

    python scripts/compare_remoteness.py                     # demo region
    GEO_DATA_ROOT=../shared/data python scripts/compare_remoteness.py --iow

Rows are the official classes, columns the computed ones, cells people; ``agreement`` is the
share of people whose computed class equals the official one (for the Isle of Wight, whose
official scheme is the ONS Rural-Urban Classification, urban is compared with Major Cities or
Inner Regional and rural with the rest).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _run(config_path: Path):
    from geo.config import load_config
    from geo.inputs.layers import assign_subareas, load_population, load_remoteness, load_subareas
    from geo.inputs.remoteness import computed_aria
    from geo.inputs.roads import SpeedSettings, build_network

    cfg = load_config(config_path)
    crs = cfg.region.crs
    net = build_network(cfg.roads.path, SpeedSettings(profile=cfg.region.country), crs).network
    origins = load_population(cfg.population, crs=crs, boundary=cfg.region.boundary, network=net)
    origins = assign_subareas(origins, load_subareas(cfg.subareas, crs=crs))
    official = load_remoteness(cfg.remoteness, origins, crs=crs, network=net)
    computed = computed_aria(origins, net)
    return origins, official, computed


def confusion(origins, official, computed, *, urban_rural: bool) -> dict:
    """Confusion table (people) and agreement share."""
    table = pd.crosstab(
        official.classes.to_numpy(),
        computed.classes.to_numpy(),
        values=origins["pop_count"].to_numpy(),
        aggfunc="sum",
    ).fillna(0.0)
    if urban_rural:
        urban_official = official.classes.str.startswith("Urban").to_numpy()
        urban_computed = computed.classes.isin(["Major Cities", "Inner Regional"]).to_numpy()
        same = urban_official == urban_computed
    else:
        same = official.classes.to_numpy() == computed.classes.to_numpy()
    agreement = float(origins.loc[same, "pop_count"].sum() / origins["pop_count"].sum())
    return {
        "people_by_official_x_computed": table.round(0).to_dict(orient="index"),
        "agreement": round(agreement, 4),
        "computed_stats": computed.stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iow", action="store_true", help="the Isle of Wight instead of the demo")
    args = parser.parse_args(argv)
    name = "isle_of_wight" if args.iow else "demo"
    origins, official, computed = _run(REPO / "scripts" / "regions" / f"{name}.yml")
    print(
        json.dumps(
            {name: confusion(origins, official, computed, urban_rural=args.iow)},
            indent=2,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
