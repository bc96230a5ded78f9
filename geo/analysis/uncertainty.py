"""Speed uncertainty: Monte Carlo over speed multipliers, 90% intervals for headline shares.

Modelled free-flow speeds are assumptions, and their error is systematic: if tracks are driven
slower than assumed, all tracks are. So each draw scales every road class (highway class ×
sealed/unsealed × urban/rural) by one lognormal multiplier, with a wider spread on unsealed and
rural roads, re-runs the nearest-facility searches and recomputes the headline shares. The 5th
and 95th percentiles over the draws give a 90% interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from geo.parallel import ordered_map, workers_for
from geo.routing.network import RoadNetwork

log = logging.getLogger(__name__)

UNSEALED_SPREAD_FACTOR = 2.0
RURAL_SPREAD_FACTOR = 1.5


def road_groups(network: RoadNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Group index of every edge (aligned with ``graph.data``) and each group's spread factor."""
    attrs = network.edge_attributes
    n = network.n_edges
    if attrs is None or "highway" not in attrs:
        return np.zeros(n, np.int64), np.ones(1)
    unsealed = attrs["unsealed"].astype(bool) if "unsealed" in attrs else pd.Series(False, range(n))
    urban = attrs["urban"].astype(bool) if "urban" in attrs else pd.Series(True, range(n))
    key = attrs["highway"].astype(str) + "|" + unsealed.astype(str) + "|" + urban.astype(str)
    codes, uniques = pd.factorize(key)
    factor = np.ones(len(uniques))
    for i, k in enumerate(uniques):
        _, is_unsealed, is_urban = k.split("|")
        if is_unsealed == "True":
            factor[i] *= UNSEALED_SPREAD_FACTOR
        if is_urban == "False":
            factor[i] *= RURAL_SPREAD_FACTOR
    return codes.astype(np.int64), factor


def with_speed_multipliers(network: RoadNetwork, multiplier: np.ndarray) -> RoadNetwork:
    """A copy of ``network`` whose edge times are divided by per-edge speed multipliers."""
    return network.with_edge_times(network.graph.data / multiplier)


def monte_carlo(
    network: RoadNetwork,
    headline: Callable[[RoadNetwork], dict[str, float]],
    *,
    draws: int = 30,
    spread: float = 0.15,
    seed: int = 20261125,
    searches_per_draw: int = 1,
) -> pd.DataFrame:
    """90% intervals of headline shares under speed uncertainty.

    Parameters
    ----------
    network
        The road network with its modelled speeds.
    headline
        Computes the headline figures (name → value) on a network.
    draws
        Monte Carlo draws.
    spread
        Lognormal sigma of the speed multiplier on sealed urban roads (×2 unsealed, ×1.5 rural).
    seed
        Seed of the random generator (same seed → same intervals).
    searches_per_draw
        Searches ``headline`` runs (with the network's size and ``draws``, this decides
        whether the draws are shared between worker processes: :mod:`geo.parallel`; the
        intervals are the same either way).

    Returns
    -------
    pandas.DataFrame
        ``measure`` (a headline share, 0-1), ``estimate_share`` (with the modelled speeds),
        ``p05_share``, ``p50_share``, ``p95_share`` (percentiles over the draws), ``draws``,
        ``spread``.
    """
    estimate = headline(network)
    groups, factor = road_groups(network)
    rng = np.random.default_rng(seed)
    # Every draw's multipliers come from one generator, in order, whoever computes the draw.
    multipliers = [np.exp(rng.normal(0.0, spread * factor)) for _ in range(draws)]
    workers = workers_for(draws * searches_per_draw * network.n_nodes)

    def some_draws(batch: list[np.ndarray]) -> list[dict[str, float]]:
        return [headline(with_speed_multipliers(network, m[groups])) for m in batch]

    batches = [list(part) for part in np.array_split(np.arange(draws), workers) if len(part)]
    parts = ordered_map(
        some_draws, [[multipliers[i] for i in part] for part in batches], workers=workers
    )
    samples = [sample for part in parts for sample in part]
    table = pd.DataFrame(samples)
    out = pd.DataFrame(
        {
            "measure": list(estimate),
            "estimate_share": [estimate[m] for m in estimate],
            "p05_share": [float(table[m].quantile(0.05)) for m in estimate],
            "p50_share": [float(table[m].quantile(0.50)) for m in estimate],
            "p95_share": [float(table[m].quantile(0.95)) for m in estimate],
        }
    )
    out["draws"] = draws
    out["spread"] = spread
    log.info("speed uncertainty: %d draws, spread %.2f", draws, spread)
    return out
