"""Travel times against independent references: hand-worked cases and networkx Dijkstra."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geo.errors import NetworkError
from geo.inputs.roads import build_network
from geo.inputs.speeds import SpeedSettings
from geo.routing.network import RoadNetwork
from geo.routing.travel import k_nearest, nearest_facility, od_table
from tests.conftest import DEMO_DIR

CRS = "EPSG:7855"


@pytest.fixture()
def one_way_square():
    # 0 -> 1 -> 2 -> 3 -> 0 one way (10 s each) plus a slow two-way diagonal 0 <-> 2 (25 s).
    src = [0, 1, 2, 3, 0, 2]
    dst = [1, 2, 3, 0, 2, 0]
    t = [10.0, 10.0, 10.0, 10.0, 25.0, 25.0]
    return RoadNetwork.from_arrays(src, dst, t, [0, 100, 100, 0], [0, 0, 100, 100], CRS)


def test_directions_differ_on_one_way_streets(one_way_square):
    to_fac = nearest_facility(one_way_square, [0], direction="to_facility")
    from_fac = nearest_facility(one_way_square, [0], direction="from_facility")
    # Hand-worked: to node 0 from 1: 1->2->3->0 = 30 (or 1->2->0 = 35); from 0 to 1: 10.
    assert to_fac.time_s.tolist() == pytest.approx([0, 30, 20, 10])
    assert from_fac.time_s.tolist() == pytest.approx([0, 10, 20, 30])


def test_offsets_and_facility_index(one_way_square):
    res = nearest_facility(
        one_way_square, [0, 2], direction="from_facility", facility_offset_s=[0.0, 15.0]
    )
    # Node 3: from facility 1 (node 2) 15 + 10 = 25; from facility 0 (node 0) 30.
    assert res.time_s.tolist() == pytest.approx([0, 10, 15, 25])
    assert res.facility_index.tolist() == [0, 0, 1, 1]


def test_limit_and_no_facilities(one_way_square):
    res = nearest_facility(one_way_square, [0], direction="from_facility", limit=15)
    assert np.isinf(res.time_s[[2, 3]]).all()
    assert res.facility_index[3] == -1
    empty = nearest_facility(one_way_square, [])
    assert np.isinf(empty.time_s).all() and (empty.facility_index == -1).all()
    with pytest.raises(NetworkError, match="node indices"):
        nearest_facility(one_way_square, [7])
    with pytest.raises(NetworkError, match="direction"):
        nearest_facility(one_way_square, [0], direction="sideways")


def test_od_table_k_nearest_hand_worked(one_way_square):
    table = od_table(
        one_way_square,
        [1, 3],
        [0, 2],
        direction="to_facility",
        origin_ids=np.array(["a", "b"]),
        facility_ids=np.array(["F0", "F2"]),
        max_time_s=1e9,
        chunk_size=1,
    )
    got = {(o, f): round(m * 60, 6) for o, f, m in table.itertuples(index=False)}
    # b -> F2: 3->0->1->2 = 30 beats 3->0 then the diagonal = 35.
    assert got == {("a", "F0"): 30, ("a", "F2"): 10, ("b", "F0"): 10, ("b", "F2"): 30}
    bounded = od_table(one_way_square, [1, 3], [0, 2], max_time_s=20)
    assert len(bounded) == 2
    nearest = k_nearest(one_way_square, [1, 3], [0, 2], k=1)
    assert nearest["facility_id"].tolist() == [1, 0] and nearest["rank"].tolist() == [1, 1]


def _nx_graph(net, reverse=False):
    src, dst = net.edge_endpoints()
    graph = nx.DiGraph()
    pairs = zip(dst, src, strict=True) if reverse else zip(src, dst, strict=True)
    graph.add_weighted_edges_from(
        (int(a), int(b), float(w)) for (a, b), w in zip(pairs, net.graph.data, strict=True)
    )
    return graph


def _compare_with_networkx(net, seed):
    rng = np.random.default_rng(seed)
    facilities = rng.choice(net.n_nodes, 6, replace=False)
    offsets = rng.uniform(0, 120, 6)
    for direction, reverse in (("to_facility", True), ("from_facility", False)):
        ours = nearest_facility(net, facilities, direction=direction, facility_offset_s=offsets)
        graph = _nx_graph(net, reverse=reverse)
        for i, f in enumerate(facilities):
            graph.add_edge(("virtual", i), int(f), weight=float(offsets[i]))
        ref = nx.multi_source_dijkstra_path_length(
            graph, [("virtual", i) for i in range(len(facilities))]
        )
        expected = np.array([ref.get(n, np.inf) for n in range(net.n_nodes)])
        np.testing.assert_allclose(ours.time_s, expected, rtol=1e-9, atol=1e-6)
    origins = rng.choice(net.n_nodes, 40, replace=False)
    table = od_table(net, origins, facilities, max_time_s=1800, chunk_size=4)
    graph = _nx_graph(net)
    for o, f, minutes in table.sample(20, random_state=seed).itertuples(index=False):
        expected = nx.dijkstra_path_length(graph, int(origins[o]), int(facilities[f]))
        assert minutes * 60 == pytest.approx(expected, rel=1e-9)


def test_demo_network_matches_networkx():
    built = build_network(DEMO_DIR / "roads.osm", SpeedSettings(profile="au"), CRS)
    _compare_with_networkx(built.network, seed=1)


@pytest.mark.realdata
def test_isle_of_wight_matches_networkx(iow_dir):
    built = build_network(
        iow_dir / "osm" / "isle-of-wight-2015-01-01.osm.pbf",
        SpeedSettings(profile="gb"),
        "EPSG:27700",
    )
    _compare_with_networkx(built.network, seed=2)


def test_both_ways_of_reading_pairs_give_the_same_table(demo_inputs, monkeypatch):
    """od_table read at the origins' nodes and by expanding reached nodes to their origins
    (the way for origins much sparser than nodes) gives the same pairs and times."""
    import geo.routing.travel as travel

    net, snaps = demo_inputs.network, demo_inputs.snaps
    ok = snaps.origins.reachable
    origins = snaps.origins.node[ok][::3]  # sparser than nodes, several sharing a node
    origins = np.concatenate([origins, origins[:50]])
    tables = []
    for share in (0.0, 10.0):
        monkeypatch.setattr(travel, "SPARSE_ORIGINS_SHARE", share)
        od = od_table(net, origins, snaps.gp.node[snaps.gp.reachable], max_time_s=3600)
        tables.append(od.sort_values(["origin_id", "facility_id"], ignore_index=True))
    assert len(tables[0]) > 1000
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_facilities_without_connectors_search_from_their_nodes(demo_inputs):
    """Zero connector times take SciPy's search from the nodes themselves (no virtual
    sources): the same times as the virtual-source search, and each node's facility is one
    at the time found; two facilities on one node report the first listed."""
    net = demo_inputs.network
    rng = np.random.default_rng(2)
    nodes = rng.choice(net.n_nodes, 40, replace=False)
    nodes = np.concatenate([nodes, nodes[:5]])  # facilities 40..44 share nodes with 0..4
    direct = nearest_facility(net, nodes, direction="from_facility", limit=3600)
    virtual = nearest_facility(
        net,
        nodes,
        direction="from_facility",
        facility_offset_s=np.full(len(nodes), 1e-7),
        limit=3600,
    )
    reached = np.isfinite(direct.time_s)
    assert reached.sum() > 1000
    np.testing.assert_allclose(direct.time_s[reached], virtual.time_s[reached], atol=1e-6)
    assert (direct.facility_index[reached] < 40).all()  # the first listed of a shared node
    assert (direct.facility_index[~reached] == -1).all()
    # The reported facility really is at the time found (one single-source search each).
    for v in rng.choice(np.flatnonzero(reached), 20, replace=False):
        alone = nearest_facility(net, [nodes[direct.facility_index[v]]], direction="from_facility")
        assert alone.time_s[v] == pytest.approx(direct.time_s[v], abs=1e-6)
    assert direct.time_s[nodes].tolist() == [0.0] * len(nodes)
