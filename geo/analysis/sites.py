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
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from geo.analysis.coverage import CLASS_COLUMN
from geo.errors import InputError
from geo.inputs.facilities import load_facilities
from geo.routing.network import RoadNetwork, SnapResult
from geo.routing.travel import od_table

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


def unmet_masks(origins: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Whether each origin's cancer need and non-cancer need are beyond SPC reach.

    From the run's coverage classes (:mod:`geo.analysis.coverage`); need whose reach is
    ``unknown`` is not counted as unmet (a site cannot be credited with covering it).
    """
    unmet = origins[CLASS_COLUMN["cancer"]].isin(("gp_only", "neither")).to_numpy()
    unmet_nc = origins[CLASS_COLUMN["non_cancer"]].isin(("gp_only", "neither")).to_numpy()
    return unmet, unmet_nc


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
    per-remoteness thresholds count; see :func:`unmet_masks`), multiplied by
    ``remote_weight`` in ``remote_classes``.
    """
    unmet, unmet_nc = unmet_masks(origins)
    weight = origins["need_cancer"].to_numpy(float) * unmet
    weight = weight + non_cancer_weight * origins["need_non_cancer"].to_numpy(float) * unmet_nc
    if remote_classes and remote_weight != 1.0:
        remote = origins["remoteness_class"].astype(str).isin(remote_classes).to_numpy()
        weight = np.where(remote, weight * remote_weight, weight)
    return weight


GRID_CANDIDATES = 60


@dataclass
class SiteChoice:
    """A region's site selection: the candidates, the choice and its ranked table."""

    candidates: gpd.GeoDataFrame
    selection: Selection
    table: pd.DataFrame
    total_unmet: float


def gp_candidates(gps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Every GP practice of the region as a candidate outreach site."""
    return gpd.GeoDataFrame(
        {"site_id": gps["facility_id"].to_numpy(), "name": gps["name"].to_numpy()},
        geometry=gps.geometry.to_numpy(),
        crs=gps.crs,
    )


def grid_candidates(
    origins: gpd.GeoDataFrame,
    weight: np.ndarray,
    network: RoadNetwork,
    n_sites: int = GRID_CANDIDATES,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Need-weighted k-means centres of the origins with unmet need (scikit-learn), each
    moved to its nearest road node (a clinic sits on a road, not in a paddock)."""
    from sklearn.cluster import KMeans

    mask = weight > 0
    if not mask.any():
        return gpd.GeoDataFrame({"site_id": [], "name": []}, geometry=[], crs=origins.crs)
    xy = np.column_stack([origins.geometry.x.to_numpy()[mask], origins.geometry.y.to_numpy()[mask]])
    n = int(min(n_sites, len(xy)))
    km = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(xy, sample_weight=weight[mask])
    centres = km.cluster_centers_
    node = network.snap(centres[:, 0], centres[:, 1], max_snap_distance_m=1e12).node
    node = np.unique(node)
    ids = [f"grid-{i + 1:03d}" for i in range(len(node))]
    return gpd.GeoDataFrame(
        {"site_id": ids, "name": [f"Need-weighted centre {i + 1}" for i in range(len(node))]},
        geometry=gpd.points_from_xy(network.node_x[node], network.node_y[node]),
        crs=origins.crs,
    )


def file_candidates(path: Path, crs, *, input_crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Candidate sites from a CSV (``id``, ``name``, ``x``, ``y``) or a vector file."""
    frame = load_facilities(
        path,
        kind="spc",
        columns={"id": "id", "name": "name", "x": "x", "y": "y"},
        crs=crs,
        input_crs=input_crs,
        default_service_type="outreach",
    )
    return gpd.GeoDataFrame(
        {"site_id": frame["facility_id"].to_numpy(), "name": frame["name"].to_numpy()},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )


def choose_sites(
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    origin_snap,
    candidates: gpd.GeoDataFrame,
    *,
    k: int,
    weight: np.ndarray,
    spc_threshold_min: np.ndarray,
    max_snap_distance_m: float,
    offroad_speed_kph: float,
) -> SiteChoice:
    """Coverage matrix, lazy greedy choice and the ranked table (no site when no need is
    unmet: nothing to cover, whatever the candidates, even none)."""
    if not (weight > 0).any():
        nothing = Selection([], [], 0.0, 0.0, 0, covered=np.zeros(len(origins), bool))
        table = _ranked_table(candidates, origins, None, nothing, weight)
        return SiteChoice(candidates, nothing, table, 0.0)
    if candidates.empty:
        raise InputError("no candidate sites: the candidate set is empty")
    snap = network.snap_points(
        candidates, max_snap_distance_m=max_snap_distance_m, offroad_speed_kph=offroad_speed_kph
    )
    off = candidates.loc[~snap.reachable, "site_id"].astype(str).tolist()
    if off:
        raise InputError(
            f"{len(off)} candidate site(s) lie more than {max_snap_distance_m:g} m from the road "
            f"network (e.g. {', '.join(off[:5])}): check their coordinates and CRS"
        )
    cover = coverage_matrix(
        network, origin_snap, snap, spc_threshold_min, origins_of_interest=weight > 0
    )
    selection = greedy_max_coverage(cover, weight, k)
    table = _ranked_table(candidates, origins, cover, selection, weight)
    return SiteChoice(candidates, selection, table, float(weight.sum()))


# The ranked table's columns and their types (None: text, as read), kept when no site is
# chosen (nothing unmet) so that its CSV still has a header.
SITE_COLUMNS = {
    "rank": "int64",
    "site_id": None,
    "name": None,
    "longitude": "float64",
    "latitude": "float64",
    "marginal_weighted_need": "float64",
    "marginal_people": "float64",
    "marginal_need_cancer": "float64",
    "marginal_need_non_cancer": "float64",
}


def _ranked_table(candidates, origins, cover, selection: Selection, weight) -> pd.DataFrame:
    """One row per chosen site: the people and need it newly brings within reach.

    Cancer and non-cancer need are credited only where that group's need was unmet (a site
    near a cancer-only team's patients adds their non-cancer need, not their cancer need);
    people are counted where their cancer-group class (any SPC service) was unmet.
    """
    covered = np.zeros(len(origins), dtype=bool)
    rows = []
    unmet_cancer, unmet_nc = unmet_masks(origins)
    people = origins["pop_count"].to_numpy(float)
    cancer = origins["need_cancer"].to_numpy(float)
    non_cancer = origins["need_non_cancer"].to_numpy(float)
    lonlat = candidates.to_crs(4326)
    for rank, (j, gain) in enumerate(zip(selection.order, selection.gains, strict=True), 1):
        cols = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        new = cols[~covered[cols]]
        covered[cols] = True
        rows.append(
            {
                "rank": rank,
                "site_id": candidates["site_id"].iloc[j],
                "name": candidates["name"].iloc[j],
                "longitude": lonlat.geometry.x.iloc[j],
                "latitude": lonlat.geometry.y.iloc[j],
                "marginal_weighted_need": gain,
                "marginal_people": people[new][unmet_cancer[new]].sum(),
                "marginal_need_cancer": cancer[new][unmet_cancer[new]].sum(),
                "marginal_need_non_cancer": non_cancer[new][unmet_nc[new]].sum(),
            }
        )
    table = pd.DataFrame(rows, columns=list(SITE_COLUMNS))
    table = table.astype({col: kind for col, kind in SITE_COLUMNS.items() if kind})
    table["cumulative_weighted_need"] = table["marginal_weighted_need"].cumsum()
    table["cumulative_unmet_share"] = table["cumulative_weighted_need"] / weight.sum()
    return table


def summary(choice: SiteChoice) -> dict:
    """The choice's quality figures, for ``sites.json`` and the CLI (the share covered is
    None when no need was beyond specialist reach: there was nothing to cover)."""
    sel = choice.selection
    return {
        "sites_chosen": len(sel.order),
        "weighted_need_covered": sel.covered_weight,
        "weighted_need_unmet_before": choice.total_unmet,
        "share_of_unmet_covered": sel.covered_weight / choice.total_unmet
        if choice.total_unmet > 0
        else None,
        "greedy_guarantee": GREEDY_GUARANTEE,
        "certified_upper_bound": sel.upper_bound,
        "certified_ratio": sel.certified_ratio,
        "gain_evaluations": sel.evaluations,
        "candidates": len(choice.candidates),
    }
