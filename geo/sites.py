"""Site selection: where should k specialist outreach clinics go to cover the most unmet need?

Maximal covering location, solved greedily with lazy evaluation (CELF; Leskovec et al. 2007):
the need covered is a monotone submodular function of the chosen set, so the greedy choice
covers at least ``1 - 1/e`` (63.2%) of the best possible (Nemhauser, Wolsey & Fisher 1978).
Each run also reports a data-dependent certificate: for any set S of k sites,
``OPT <= f(S) + sum of the k largest marginal gains given S`` (Minoux 1978), usually much
tighter than the worst-case bound.

Need counts as unmet where no SPC service is within the origin's SPC threshold by road
(cancer need) or no service accepting non-cancer referrals is (non-cancer need); a clinic at a
candidate covers an origin whose travel time to it is within that origin's threshold.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from geo.errors import InputError
from geo.network import RoadNetwork, SnapResult
from geo.travel import od_table

log = logging.getLogger(__name__)

GREEDY_GUARANTEE = 1.0 - 1.0 / np.e


@dataclass
class Selection:
    """The greedy choice and its quality figures.

    Attributes
    ----------
    order
        Chosen candidate rows, in the order picked.
    gains
        Weighted need newly covered by each pick (marginal gains, non-increasing).
    covered_weight
        Total weighted need covered by the chosen set.
    upper_bound
        Certified upper bound on the best k-set's coverage (``>= covered_weight``).
    evaluations
        Marginal-gain evaluations made (lazy evaluation skips most of ``k × n``).
    """

    order: list[int]
    gains: list[float]
    covered_weight: float
    upper_bound: float
    evaluations: int
    covered: np.ndarray = field(repr=False)

    @property
    def certified_ratio(self) -> float:
        """``covered_weight / upper_bound``: a lower bound on coverage / optimum."""
        return self.covered_weight / self.upper_bound if self.upper_bound > 0 else 1.0


def coverage_matrix(
    network: RoadNetwork,
    origin_snap: SnapResult,
    candidate_snap: SnapResult,
    threshold_min: np.ndarray,
    *,
    direction: str = "to_facility",
    origins_of_interest: np.ndarray | None = None,
) -> sparse.csr_matrix:
    """Boolean candidates × origins matrix: True where the origin is within its threshold.

    One bounded search per candidate (limited to the largest threshold), run in chunks.
    Unreachable origins or candidates (off the road network) cover nothing. With
    ``origins_of_interest`` (a boolean mask, e.g. origins with unmet need) only those columns
    are filled, which keeps the matrix small when most need is already covered.
    """
    n_cand, n_orig = len(candidate_snap.node), len(origin_snap.node)
    wanted = origin_snap.reachable
    if origins_of_interest is not None:
        wanted = wanted & np.asarray(origins_of_interest, bool)
    o_rows = np.flatnonzero(wanted)
    c_rows = np.flatnonzero(candidate_snap.reachable)
    if not o_rows.size or not c_rows.size:
        return sparse.csr_matrix((n_cand, n_orig), dtype=bool)
    table = od_table(
        network,
        origin_snap.node[o_rows],
        candidate_snap.node[c_rows],
        max_time_s=float(np.max(threshold_min)) * 60.0,
        direction=direction,
        origin_ids=o_rows,
        facility_ids=c_rows,
        origin_offset_s=origin_snap.connector_time_s[o_rows],
        facility_offset_s=candidate_snap.connector_time_s[c_rows],
    )
    org = table["origin_id"].to_numpy()
    fac = table["facility_id"].to_numpy()
    keep = table["travel_time_min"].to_numpy() <= threshold_min[org]
    data = np.ones(int(keep.sum()), dtype=bool)
    return sparse.csr_matrix((data, (fac[keep], org[keep])), shape=(n_cand, n_orig))


def greedy_max_coverage(cover: sparse.csr_matrix, weight: np.ndarray, k: int) -> Selection:
    """Pick ``k`` rows of ``cover`` maximising the weight of covered columns (lazy greedy).

    Parameters
    ----------
    cover
        Boolean candidates × origins matrix (see :func:`coverage_matrix`).
    weight
        Weight of each origin (0 for need already covered).
    k
        Number of sites; fewer are returned when no candidate adds anything.
    """
    cover = sparse.csr_matrix(cover, dtype=bool)
    weight = np.asarray(weight, float)
    if k < 1:
        raise InputError(f"k must be at least 1 (got {k})")
    covered = np.zeros(cover.shape[1], dtype=bool)
    gains0 = cover.astype(float) @ weight
    heap = [(-g, j) for j, g in enumerate(gains0) if g > 0]
    heapq.heapify(heap)
    order: list[int] = []
    gains: list[float] = []
    evaluations = cover.shape[0]
    while heap and len(order) < k:
        _, j = heapq.heappop(heap)
        cols = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        gain = float(weight[cols][~covered[cols]].sum())
        evaluations += 1
        if gain <= 0:
            continue
        if not heap or gain >= -heap[0][0]:  # still the best: stale bounds only fall
            order.append(j)
            gains.append(gain)
            covered[cols] = True
        else:
            heapq.heappush(heap, (-gain, j))
    total = float(weight[covered].sum())
    residual = cover.astype(float) @ np.where(covered, 0.0, weight)
    upper = total + float(np.sort(residual)[::-1][:k].sum())
    return Selection(order, gains, total, upper, evaluations, covered)


def unmet_weight(
    origins: pd.DataFrame,
    *,
    non_cancer_weight: float = 1.0,
    remote_weight: float = 1.0,
    remote_classes: list[str] | None = None,
) -> np.ndarray:
    """Weighted need not yet within specialist reach, per origin.

    ``cancer need × [no SPC in reach] + non_cancer_weight × non-cancer need × [no SPC taking
    non-cancer referrals in reach]`` (from the run's coverage classes, so home-visit reach and
    per-remoteness thresholds count), multiplied by ``remote_weight`` in ``remote_classes``.
    """
    reach = ("both", "spc_only")
    unmet = ~origins["coverage_class"].isin(reach).to_numpy()
    unmet_nc = ~origins["coverage_class_non_cancer"].isin(reach).to_numpy()
    weight = origins["need_cancer"].to_numpy(float) * unmet
    weight = weight + non_cancer_weight * origins["need_non_cancer"].to_numpy(float) * unmet_nc
    if remote_classes and remote_weight != 1.0:
        remote = origins["remoteness_class"].astype(str).isin(remote_classes).to_numpy()
        weight = np.where(remote, weight * remote_weight, weight)
    return weight
