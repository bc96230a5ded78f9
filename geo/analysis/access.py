"""Access scores: floating catchment and gravity measures, and their equity by remoteness.

The measures take a long, sparse origin-destination table (``origin_id``, ``facility_id``,
``travel_time_min``: only pairs that can reach each other, e.g. from
:func:`geo.routing.travel.od_table`), demand per origin (people or palliative need) and supply
per facility (GP FTE, or registered patients when GP capacity is the list size; SPC capacity).
Formulas follow Luo & Wang 2003 (2SFCA), Luo & Qi 2009
(E2SFCA, step weights) and Dai 2010 / PySAL ``access`` (Gaussian weights), and are checked
against PySAL ``access``. :func:`access_scores` applies them to a region run, reusing its
snapping; :func:`access_equity` summarises them by remoteness class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.analysis.service_times import ServiceTimes
from geo.parallel import ordered_map, workers_for
from geo.routing.network import RoadNetwork, SnapResult
from geo.routing.travel import od_pairs

log = logging.getLogger(__name__)

# E2SFCA decay: Gaussian with sigma = threshold / 2 (weight ~0.14 at the catchment edge).
SIGMA_SHARE = 0.5

WeightFunction = Callable[[np.ndarray], np.ndarray]


def step_weights(steps: Mapping[float, float]) -> WeightFunction:
    """Step weights: ``{10: 1.0, 20: 0.68, 30: 0.22}`` gives 1 up to 10 min, 0.68 to 20, ...

    Beyond the largest step the weight is 0. Same convention as PySAL ``access.weights.step_fn``
    (a time equal to a step edge takes that step's weight). The default E2SFCA steps of Luo &
    Qi 2009 are ``{10: 1.0, 20: 0.68, 30: 0.22}`` scaled to the catchment size.
    """
    edges = np.array(sorted(steps), dtype=float)
    values = np.array([steps[k] for k in sorted(steps)], dtype=float)
    if (values < 0).any():
        raise ValueError("step weights must be non-negative")

    def weight(minutes: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, np.asarray(minutes, float), side="left")
        padded = np.append(values, 0.0)
        return padded[idx]

    return weight


def gaussian_weights(sigma_min: float) -> WeightFunction:
    """Gaussian distance decay ``exp(-t² / 2σ²)`` (weight 1 at zero time), as PySAL ``access``."""
    if sigma_min <= 0:
        raise ValueError("sigma_min must be positive")
    return lambda minutes: np.exp(-np.square(np.asarray(minutes, float)) / (2.0 * sigma_min**2))


def power_weights(beta: float, *, min_time_min: float = 1.0) -> WeightFunction:
    """Gravity decay ``max(t, t_min)^-β`` (the floor avoids infinite weight at zero time)."""
    return lambda minutes: np.maximum(np.asarray(minutes, float), min_time_min) ** -beta


@dataclass(frozen=True)
class _Pairs:
    origin: np.ndarray
    facility: np.ndarray
    minutes: np.ndarray
    origin_ids: pd.Index
    facility_ids: pd.Index


def _pairs(
    od: pd.DataFrame, demand: pd.Series, supply: pd.Series, threshold_min: float | None
) -> _Pairs:
    """Index the OD table against the demand and supply ids; drop pairs beyond the threshold."""
    minutes = od["travel_time_min"].to_numpy(float)
    keep = np.isfinite(minutes)
    if threshold_min is not None:
        keep &= minutes <= threshold_min
    origin = demand.index.get_indexer(od["origin_id"].to_numpy()[keep])
    facility = supply.index.get_indexer(od["facility_id"].to_numpy()[keep])
    known = (origin >= 0) & (facility >= 0)
    return _Pairs(origin[known], facility[known], minutes[keep][known], demand.index, supply.index)


def cumulative_opportunities(
    od: pd.DataFrame, supply: pd.Series, *, threshold_min: float, origin_ids: pd.Index
) -> pd.Series:
    """Supply reachable within the threshold from each origin (e.g. GP FTE within 30 min).

    Parameters
    ----------
    od
        Long OD table (``origin_id``, ``facility_id``, ``travel_time_min``).
    supply
        Supply per facility, indexed by ``facility_id``.
    threshold_min
        Catchment in minutes (inclusive).
    origin_ids
        All origins to report (origins with no pair get 0).

    Returns
    -------
    pandas.Series
        Reachable supply per origin.
    """
    demand = pd.Series(0.0, index=pd.Index(origin_ids))
    p = _pairs(od, demand, supply, threshold_min)
    values = np.bincount(
        p.origin, weights=supply.to_numpy(float)[p.facility], minlength=len(demand)
    )
    return pd.Series(values, index=demand.index, name="cumulative_supply")


def two_step_fca(
    od: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    *,
    threshold_min: float | None,
    weight: WeightFunction | None = None,
) -> pd.Series:
    """Two-step floating catchment access (2SFCA; E2SFCA when ``weight`` is given).

    Step 1, per facility j: ``R_j = S_j / Σ_i D_i W(t_ij)`` over origins within the threshold.
    Step 2, per origin i: ``A_i = Σ_j R_j W(t_ij)`` over facilities within the threshold.
    With ``weight=None`` W is 1 (classic 2SFCA, Luo & Wang 2003).

    Parameters
    ----------
    od
        Long OD table (``origin_id``, ``facility_id``, ``travel_time_min``).
    demand
        Demand per origin (people or need), indexed by ``origin_id``.
    supply
        Supply per facility (FTE, beds), indexed by ``facility_id``.
    threshold_min
        Catchment size in minutes (inclusive); None uses every pair in the table.
    weight
        Distance-decay weight of travel time in minutes (see :func:`step_weights`,
        :func:`gaussian_weights`).

    Returns
    -------
    pandas.Series
        Supply per unit of demand reachable from each origin (0 where none is).
        A facility whose catchment holds no demand contributes nothing.
    """
    p = _pairs(od, demand, supply, threshold_min)
    w = np.ones_like(p.minutes) if weight is None else weight(p.minutes)
    demand_w = np.bincount(
        p.facility, weights=demand.to_numpy(float)[p.origin] * w, minlength=len(supply)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand_w > 0, supply.to_numpy(float) / demand_w, 0.0)
    values = np.bincount(p.origin, weights=ratio[p.facility] * w, minlength=len(demand))
    return pd.Series(values, index=demand.index, name="access_2sfca")


def gravity_access(
    od: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    *,
    weight: WeightFunction,
    threshold_min: float | None = None,
) -> pd.Series:
    """Gravity access with competition (Joseph & Bantock 1982; Wang 2012).

    ``A_i = Σ_j S_j f(t_ij) / V_j`` with ``V_j = Σ_k D_k f(t_kj)``: the 2SFCA family's limit
    with a continuous decay and no hard catchment (numerically :func:`two_step_fca` with the
    same weight).
    """
    return two_step_fca(od, demand, supply, threshold_min=threshold_min, weight=weight).rename(
        "access_gravity"
    )


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted Gini coefficient of ``values`` (0 equal, 1 all in one place).

    Uses the Lorenz-curve trapezoid formula on values sorted ascending, each weighted by
    ``weights`` (e.g. people or need). NaN values are ignored.
    """
    x = np.asarray(values, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if x.size == 0 or (x * w).sum() == 0:
        return float("nan") if x.size == 0 else 0.0
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cum_w = np.cumsum(w) / w.sum()
    cum_xw = np.cumsum(x * w) / (x * w).sum()
    prev = np.concatenate([[0.0], cum_xw[:-1]])
    return float(1.0 - np.sum(np.diff(np.concatenate([[0.0], cum_w])) * (cum_xw + prev)))


def concentration_index(
    values: np.ndarray, rank_by: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Weighted concentration index of ``values`` ranked by ``rank_by`` (Kakwani et al. 1997).

    ``C = 2 cov_w(h, r) / mean_w(h)`` with r the weighted fractional rank of ``rank_by``
    (ties share their mean rank). Ranking origins from least to most remote, a negative index
    means access concentrates among the more remote, positive among the less remote.
    """
    h = np.asarray(values, float)
    key = np.asarray(rank_by, float)
    w = np.ones_like(h) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(h) & np.isfinite(key) & (w > 0)
    h, key, w = h[ok], key[ok], w[ok]
    if h.size == 0:
        return float("nan")
    wn = w / w.sum()
    rank = _fractional_rank(key, wn)
    mean = np.sum(wn * h)
    if mean == 0:
        return float("nan")
    cov = np.sum(wn * (h - mean) * (rank - np.sum(wn * rank)))
    return float(2.0 * cov / mean)


def _fractional_rank(key: np.ndarray, wn: np.ndarray) -> np.ndarray:
    order = np.argsort(key, kind="stable")
    sorted_key, sorted_w = key[order], wn[order]
    cum = np.cumsum(sorted_w)
    mid = cum - sorted_w / 2.0
    # Ties share the weighted mean rank of their group.
    _, group = np.unique(sorted_key, return_inverse=True)
    group_mid = np.bincount(group, weights=mid * sorted_w) / np.bincount(group, weights=sorted_w)
    rank = np.empty_like(mid)
    rank[order] = group_mid[group]
    return rank


# --- Access scores of a region run -------------------------------------------------------------


def streamed_access(
    network: RoadNetwork,
    o_snap: SnapResult,
    snap: SnapResult,
    demand: np.ndarray,
    supply: np.ndarray,
    *,
    threshold_min: float,
    weight: WeightFunction,
) -> tuple[np.ndarray, np.ndarray]:
    """Supply within reach and E2SFCA of every origin, accumulated chunk by chunk.

    The same figures as :func:`cumulative_opportunities` and :func:`two_step_fca` on the OD
    table, without building it: the searches come in chunks of facilities
    (:func:`geo.routing.travel.od_pairs`) holding all of their pairs, so each facility's
    demand (step 1) is complete within its chunk and each origin's access (step 2) is a sum
    over chunks. Memory stays at one chunk's pairs, however many origins. Large work is
    shared by facility between worker processes (:mod:`geo.parallel`).

    Returns
    -------
    within : numpy.ndarray
        Supply reachable within the threshold from each origin (0 where none is).
    access : numpy.ndarray
        E2SFCA: supply per unit of demand reachable from each origin.
    """
    origin_rows, facility_rows = np.flatnonzero(o_snap.reachable), np.flatnonzero(snap.reachable)
    origins = (o_snap.node[origin_rows], o_snap.connector_time_s[origin_rows], origin_rows)

    def part(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        facilities = (snap.node[rows], snap.connector_time_s[rows], rows)
        return _access_part(
            network, origins, facilities, demand, supply, threshold_min=threshold_min, weight=weight
        )

    # Each facility's pairs are whole within its group, so groups can run on worker processes.
    workers = workers_for(len(facility_rows) * network.n_nodes)
    groups = [g for g in np.array_split(facility_rows, workers) if len(g)] or [facility_rows]
    parts = ordered_map(part, groups, workers=workers)
    within = np.sum([p[0] for p in parts], axis=0)
    access = np.sum([p[1] for p in parts], axis=0)
    return within, access


def _access_part(
    network: RoadNetwork,
    origins: tuple[np.ndarray, np.ndarray, np.ndarray],
    facilities: tuple[np.ndarray, np.ndarray, np.ndarray],
    demand: np.ndarray,
    supply: np.ndarray,
    *,
    threshold_min: float,
    weight: WeightFunction,
) -> tuple[np.ndarray, np.ndarray]:
    """The supply within reach and E2SFCA that some facilities give every origin.

    ``origins`` and ``facilities`` are (road node, connector seconds, row) of the snapped
    ones. Searches run chunk by chunk (:func:`geo.routing.travel.od_pairs`), each chunk
    holding every pair of its facilities, so each facility's demand (step 1) is complete
    within its chunk and each origin's access (step 2) is a sum over chunks.
    """
    n = len(demand)
    within, access = np.zeros(n), np.zeros(n)
    o_node, o_offset, origin_rows = origins
    f_node, f_offset, facility_rows = facilities
    pairs = od_pairs(
        network,
        o_node,
        f_node,
        max_time_s=threshold_min * 60.0,
        origin_offset_s=o_offset,
        facility_offset_s=f_offset,
    )
    for fac, org, seconds in pairs:
        minutes = seconds / 60.0
        keep = minutes <= threshold_min  # the OD table's own test (inclusive, in minutes)
        f, o, minutes = facility_rows[fac[keep]], origin_rows[org[keep]], minutes[keep]
        w = weight(minutes)
        within += np.bincount(o, weights=supply[f], minlength=n)
        demand_w = np.bincount(f, weights=demand[o] * w, minlength=len(supply))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(demand_w > 0, supply / demand_w, 0.0)
        access += np.bincount(o, weights=ratio[f] * w, minlength=n)
    return within, access


def access_scores(
    network: RoadNetwork,
    origins: pd.DataFrame,
    times: ServiceTimes,
    *,
    gp_min: float,
    spc_min: float,
) -> pd.DataFrame:
    """Per-origin access: GP FTE within reach, GP and SPC E2SFCA with need as demand.

    Uses the run's snapping (``times.snaps``) and facility tables; capacities missing in the
    input count as 1. GP supply is the practices' ``capacity`` in whatever units it was given
    (``capacity_units``): with GP FTE the GP columns are FTE; with registered list sizes
    (``capacity_table``) ``gp_fte_within_threshold`` holds registered patients within reach
    and ``access_gp_e2sfca`` registered patients per 1,000 people (about 1,000 where lists
    and residents balance). Computed by :func:`streamed_access` (equal to
    :func:`cumulative_opportunities` and :func:`two_step_fca` on the OD table, tested).

    Returns
    -------
    pandas.DataFrame
        Aligned to ``origins``: ``gp_fte_within_threshold``, ``access_gp_e2sfca`` (GP capacity
        per 1,000 people), ``access_spc_e2sfca`` (SPC capacity per 100 people in need a year).
    """
    o_snap = times.snaps.origins
    gps, spcs = times.gp_practices, times.specialist_services
    people = origins["pop_count"].to_numpy(float)
    need = (origins["need_cancer"] + origins["need_non_cancer"]).to_numpy(float)
    gp_within, gp_access = streamed_access(
        network,
        o_snap,
        times.snaps.gp,
        people,
        gps["capacity"].fillna(1.0).to_numpy(float),
        threshold_min=gp_min,
        weight=gaussian_weights(gp_min * SIGMA_SHARE),
    )
    _, spc_access = streamed_access(
        network,
        o_snap,
        times.snaps.spc,
        need,
        spcs["capacity"].fillna(1.0).to_numpy(float),
        threshold_min=spc_min,
        weight=gaussian_weights(spc_min * SIGMA_SHARE),
    )
    out = pd.DataFrame(index=origins.index)
    out["gp_fte_within_threshold"] = gp_within
    out["access_gp_e2sfca"] = 1000 * gp_access
    out["access_spc_e2sfca"] = 100 * spc_access
    return out


ACCESS_MEASURES = ("access_gp_e2sfca", "access_spc_e2sfca", "gp_fte_within_threshold")


def access_equity(origins: pd.DataFrame, class_order: tuple[str, ...]) -> pd.DataFrame:
    """Need-weighted mean access by remoteness class, with Gini and concentration indices.

    Long format: one row per measure and remoteness class (``mean_need_weighted``), plus the
    measure's region-wide ``gini`` and ``concentration_index_by_remoteness`` on every row of
    that measure. The concentration index ranks origins from least to most remote: negative
    means access concentrates among the more remote, positive among the less remote.
    """
    need = (origins["need_cancer"] + origins["need_non_cancer"]).to_numpy(float)
    rank = origins["remoteness_class"].map({c: i for i, c in enumerate(class_order)})
    rows = []
    for measure in ACCESS_MEASURES:
        values = origins[measure].to_numpy(float)
        g = gini(values, need)
        ci = concentration_index(values, rank.to_numpy(float), need)
        for cls in class_order:
            mask = (origins["remoteness_class"] == cls).to_numpy() & (need > 0)
            if not mask.any():
                continue
            rows.append(
                {
                    "measure": measure,
                    "remoteness_class": cls,
                    "mean_need_weighted": float(np.average(values[mask], weights=need[mask])),
                    "need": float(need[mask].sum()),
                    "gini": g,
                    "concentration_index_by_remoteness": ci,
                }
            )
    columns = ["measure", "remoteness_class", "mean_need_weighted", "need", "gini"]
    return pd.DataFrame(rows, columns=[*columns, "concentration_index_by_remoteness"])
