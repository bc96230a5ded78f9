"""Site selection: lazy greedy vs an exact MCLP (spopt), coverage vs networkx, the demo's gap."""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from geo.analysis.sites import GREEDY_GUARANTEE, coverage_matrix, greedy_max_coverage, unmet_weight
from geo.cli import main
from geo.errors import InputError
from geo.routing.network import RoadNetwork
from tests.conftest import DEMO_CONFIG, IOW_CONFIG

log = logging.getLogger(__name__)
# PuLP 3.x announces its 4.0 API on every variable; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _plain_greedy(cover: np.ndarray, weight: np.ndarray, k: int) -> list[int]:
    """Textbook greedy, recomputing every gain each round (the lazy version must agree)."""
    covered = np.zeros(cover.shape[1], bool)
    chosen = []
    for _ in range(k):
        gains = (cover & ~covered) @ weight
        gains[chosen] = -1
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        covered |= cover[best]
    return chosen


def _random_instance(seed: int, n_cand: int = 25, n_orig: int = 120):
    rng = np.random.default_rng(seed)
    cand = rng.uniform(0, 100, (n_cand, 2))
    orig = rng.uniform(0, 100, (n_orig, 2))
    cost = np.hypot(*(orig[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    weight = rng.gamma(1.0, 2.0, n_orig) * (rng.uniform(size=n_orig) < 0.85)
    return cost, weight


@pytest.mark.parametrize("seed", range(6))
def test_lazy_greedy_equals_plain_greedy(seed):
    cost, weight = _random_instance(seed)
    cover = cost.T <= 22.0
    selection = greedy_max_coverage(sparse.csr_matrix(cover), weight, 4)
    assert selection.order == _plain_greedy(cover, weight, 4)
    assert selection.covered_weight == pytest.approx(weight[cover[selection.order].any(0)].sum())
    assert selection.evaluations < 4 * cover.shape[0] + cover.shape[0]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [2, 4])
def test_greedy_meets_its_guarantee_against_exact_mclp(seed, k):
    pulp = pytest.importorskip("pulp")
    locate = pytest.importorskip("spopt.locate")
    cost, weight = _random_instance(100 + seed)
    radius = 20.0
    mclp = locate.MCLP.from_cost_matrix(cost, weight, service_radius=radius, p_facilities=k)
    mclp = mclp.solve(pulp.PULP_CBC_CMD(msg=False))
    optimum = float(pulp.value(mclp.problem.objective))
    selection = greedy_max_coverage(sparse.csr_matrix(radius >= cost.T), weight, k)
    ratio = selection.covered_weight / optimum
    log.info("seed %d, k %d: greedy/optimum = %.4f", seed, k, ratio)
    assert ratio >= GREEDY_GUARANTEE
    assert selection.covered_weight <= optimum + 1e-6
    assert selection.upper_bound >= optimum - 1e-6  # the certificate really bounds the optimum


def test_coverage_matrix_matches_networkx():
    rng = np.random.default_rng(7)
    n = 60
    xy = rng.uniform(0, 10_000, (n, 2))
    src, dst = [], []
    for i in range(n):  # each node to its 3 nearest neighbours, one-way
        order = np.argsort(np.hypot(*(xy - xy[i]).T))[1:4]
        src += [i] * 3
        dst += list(order)
    src, dst = np.array(src), np.array(dst)
    t = np.hypot(*(xy[src] - xy[dst]).T) / 10.0  # 10 m/s
    net = RoadNetwork.from_arrays(src, dst, t, xy[:, 0], xy[:, 1], "EPSG:3857")
    origins, cands = xy[:40], xy[40:]
    o_snap = net.snap(origins[:, 0], origins[:, 1])
    c_snap = net.snap(cands[:, 0], cands[:, 1])
    threshold = np.full(len(origins), 12.0)
    cover = coverage_matrix(net, o_snap, c_snap, threshold).toarray()
    coo = net.graph.tocoo()
    graph = nx.DiGraph()
    for a, b, w in zip(coo.row, coo.col, coo.data, strict=True):
        graph.add_edge(int(a), int(b), weight=float(w))
    for j, cn in enumerate(c_snap.node):
        lengths = nx.single_source_dijkstra_path_length(graph.reverse(), int(cn), weight="weight")
        for i, on in enumerate(o_snap.node):
            expected = lengths.get(int(on), np.inf) + o_snap.connector_time_s[i]
            expected += c_snap.connector_time_s[j]
            assert cover[j, i] == (expected / 60.0 <= 12.0), (j, i)
    assert cover.any() and not cover.all()


def test_unmet_weight_counts_only_need_beyond_reach():
    origins = pd.DataFrame(
        {
            "coverage_class": ["both", "gp_only", "neither", "gp_only"],
            "coverage_class_non_cancer": ["both", "gp_only", "neither", "both"],
            "need_cancer": [1.0, 2.0, 3.0, 4.0],
            "need_non_cancer": [10.0, 20.0, 30.0, 40.0],
            "remoteness_class": ["A", "A", "Remote", "A"],
        }
    )
    w = unmet_weight(origins, non_cancer_weight=2.0, remote_weight=3.0, remote_classes=["Remote"])
    np.testing.assert_allclose(w, [0.0, 2 + 40, 3 * (3 + 60), 4.0])


@pytest.mark.xdist_group("scenario")
def test_demo_sites_go_to_the_remote_west(demo_sites):
    results, choice, out = demo_sites
    table = choice.table
    assert len(table) == 3
    # Marrang, the only city and SPC hub, is at 148.43 E; the gap is west and remote.
    assert (table["longitude"] < 148.2).all()
    gps = results.gp_practices.set_index("facility_id")
    # The need the sites newly cover lives in the remote classes, not in town.
    covered = choice.selection.covered
    weight = unmet_weight(results.origins)
    remote = results.origins["remoteness_class"].isin(["Outer Regional", "Remote", "Very Remote"])
    assert weight[covered & remote.to_numpy()].sum() >= 0.9 * weight[covered].sum()
    assert set(table["site_id"]) <= set(gps.index)
    gains = table["marginal_weighted_need"].to_numpy()
    assert (np.diff(gains) <= 1e-9).all()  # non-increasing marginal gains
    written = pd.read_csv(out / "tables" / "site_selection.csv")
    pd.testing.assert_series_equal(written["site_id"], table["site_id"])
    assert (out / "sites_map.html").is_file() and (out / "sites.json").is_file()


def test_cli_sites_grid_and_bad_input(tmp_path, capsys):
    assert (
        main(
            [
                "sites",
                str(DEMO_CONFIG),
                "--k",
                "2",
                "--candidates",
                "grid",
                "--out",
                str(tmp_path / "grid"),
            ]
        )
        == 0
    )
    assert "greedy guarantee >= 63.2%" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "grid" / "tables" / "site_selection.csv")) == 2
    assert main(["sites", str(DEMO_CONFIG), "--k", "0", "--out", str(tmp_path / "k0")]) == 2
    far = tmp_path / "far.csv"
    far.write_text("id,name,x,y\nS1,Near,148.43,-31.98\nS2,Sydney Harbour,151.2,-33.85\n")
    code = main(["sites", str(DEMO_CONFIG), "--candidates", str(far), "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "S2" in err and "road network" in err
    assert not (tmp_path / "k0").exists() and not (tmp_path / "f").exists()


def test_empty_candidate_set_is_an_error():
    with pytest.raises(InputError, match="k must be at least 1"):
        greedy_max_coverage(sparse.csr_matrix((2, 2), dtype=bool), np.ones(2), 0)


def test_site_rows_credit_only_need_that_was_unmet_for_its_group():
    """A site near two places: one whose cancer need a cancer-only team already covers (its
    non-cancer need is unmet), one with both unmet. The row credits cancer need of the second
    only, non-cancer need of both, and the people of the second only."""
    import geopandas as gpd

    from geo.analysis.sites import choose_sites

    net = RoadNetwork.from_arrays(
        [0, 1, 1, 2],
        [1, 0, 2, 1],
        [60.0, 60.0, 60.0, 60.0],
        [0, 1000, 2000],
        [0, 0, 0],
        "EPSG:7855",
    )
    origins = gpd.GeoDataFrame(
        {
            "pop_count": [100.0, 50.0],
            "need_cancer": [1.0, 2.0],
            "need_non_cancer": [10.0, 20.0],
            "coverage_class": ["both", "gp_only"],
            "coverage_class_non_cancer": ["gp_only", "gp_only"],
            "remoteness_class": ["A", "A"],
        },
        geometry=gpd.points_from_xy([0, 2000], [0, 0]),
        crs="EPSG:7855",
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["S"], "name": ["Middle"]},
        geometry=gpd.points_from_xy([1000], [0]),
        crs="EPSG:7855",
    )
    snap = net.snap_points(origins, max_snap_distance_m=100, offroad_speed_kph=15)
    weight = unmet_weight(origins)
    choice = choose_sites(
        net,
        origins,
        snap,
        sites,
        k=1,
        weight=weight,
        spc_threshold_min=np.full(2, 60.0),
        max_snap_distance_m=100,
        offroad_speed_kph=15,
    )
    row = choice.table.iloc[0]
    assert row["marginal_need_cancer"] == 2.0
    assert row["marginal_need_non_cancer"] == 30.0
    assert row["marginal_people"] == 50.0
    assert row["marginal_weighted_need"] == pytest.approx(32.0)


def test_a_region_with_no_need_beyond_reach_chooses_no_site(tmp_path, geo_data_root_env, capsys):
    """Everyone on the Isle of Wight is within an hour of specialist care: there is nothing to
    cover, which the summary says (not "0% covered") and sites.json records as unknown."""
    import json

    out = tmp_path / "iow"
    assert main(["sites", str(IOW_CONFIG), "--k", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no need lies beyond specialist reach in this region" in printed
    assert "% of the need" not in printed
    info = json.loads((out / "sites.json").read_text(encoding="utf-8"))
    assert info["weighted_need_unmet_before"] == 0.0 and info["sites_chosen"] == 0
    assert info["share_of_unmet_covered"] is None
    assert pd.read_csv(out / "tables" / "site_selection.csv").empty  # a header, no rows
    page = (out / "sites_map.html").read_text(encoding="utf-8")
    assert "No site chosen: no need lies beyond specialist reach." in page
    # Need-weighted grid candidates: no need, no centre, and still an answer, not an error.
    grid = tmp_path / "grid"
    argv = ["sites", str(IOW_CONFIG), "--candidates", "grid", "--out", str(grid)]
    assert main(argv) == 0
    assert "so no site was chosen" in capsys.readouterr().out
    assert pd.read_csv(grid / "tables" / "site_selection.csv").empty


def test_the_sites_summary_counts_in_words():
    from geo.cli.commands import sites_summary_lines

    info = {
        "sites_chosen": 1,
        "candidates": 12,
        "share_of_unmet_covered": 0.56,
        "greedy_guarantee": GREEDY_GUARANTEE,
        "certified_ratio": 1.0,
    }
    assert sites_summary_lines(info)[0] == (
        "gapmap: 1 site from 12 candidates covers 56% of the need beyond specialist reach"
    )
    nothing = {**info, "sites_chosen": 0, "candidates": 0, "share_of_unmet_covered": None}
    assert sites_summary_lines(nothing) == [
        "gapmap: no need lies beyond specialist reach in this region, so no site was chosen"
    ]
    assert sites_summary_lines({**nothing, "candidates": 1})[0].endswith("(of 1 candidate)")
