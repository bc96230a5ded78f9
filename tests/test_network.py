"""RoadNetwork: construction, components, snapping, caching; OSM ingest rules on the demo."""

from __future__ import annotations

import numpy as np
import pytest

from geo.errors import InputError, NetworkError
from geo.inputs.roads import build_network, load_roads
from geo.inputs.speeds import SpeedSettings
from geo.routing.network import RoadNetwork
from tests.conftest import DEMO_DIR

CRS = "EPSG:7855"


def _line_network(**kwargs):
    # 0 <-> 1 <-> 2, plus a one-way dead end 2 -> 3 and an isolated pair 4 <-> 5.
    src = [0, 1, 1, 2, 2, 4, 5]
    dst = [1, 0, 2, 1, 3, 5, 4]
    t = [10.0, 10.0, 20.0, 20.0, 5.0, 1.0, 1.0]
    x = [0.0, 100.0, 200.0, 300.0, 5000.0, 5100.0]
    y = [0.0] * 6
    return RoadNetwork.from_arrays(src, dst, t, x, y, CRS, **kwargs)


def test_largest_strongly_connected_component_is_kept_and_counted():
    net = _line_network()
    assert net.n_nodes == 3
    assert net.n_edges == 4
    assert net.stats["nodes_dropped_outside_largest_component"] == 3
    assert net.stats["edges_dropped_outside_largest_component"] == 3
    assert net.node_x.tolist() == [0.0, 100.0, 200.0]


def test_everything_kept_when_asked():
    net = _line_network(keep_largest_component=False)
    assert net.n_nodes == 6 and net.n_edges == 7


def test_parallel_edges_keep_the_fastest_and_zero_times_survive():
    net = RoadNetwork.from_arrays(
        [0, 0, 1, 0], [1, 1, 0, 1], [30.0, 12.0, 0.0, 50.0], [0, 10], [0, 0], CRS
    )
    assert net.graph[0, 1] == 12.0
    assert net.graph[1, 0] > 0  # zero time kept as a (tiny) edge, not dropped
    assert net.stats["duplicate_edges_merged"] == 2
    assert net.graph_length_m[0, 1] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0], [1], [1.0, 2.0], [0, 1], [0, 1], CRS), "same length"),
        (([0], [5], [1.0], [0, 1], [0, 1], CRS), "node positions"),
        (([0], [1], [-1.0], [0, 1], [0, 1], CRS), "non-negative"),
        (([0], [1], [np.nan], [0, 1], [0, 1], CRS), "finite"),
        (([0], [1], [1.0], [0, 1], [0, 1], "EPSG:4326"), "not projected"),
        (([], [], [], [0], [0], CRS), "no edges"),
    ],
)
def test_bad_arrays_raise_network_error(args, message):
    with pytest.raises(NetworkError, match=message):
        RoadNetwork.from_arrays(*args)


def test_snap_reports_distance_connector_time_and_unreachable():
    net = _line_network()
    snap = net.snap(
        np.array([90.0, 200.0, 9000.0]),
        np.array([30.0, 0.0, 0.0]),
        max_snap_distance_m=1000,
        offroad_speed_kph=18,
    )
    assert snap.node.tolist() == [1, 2, -1]
    assert snap.snap_distance_m[0] == pytest.approx(np.hypot(10, 30))
    assert snap.connector_time_s[0] == pytest.approx(np.hypot(10, 30) / 5.0)
    assert snap.reachable.tolist() == [True, True, False]
    assert snap.snap_distance_m[2] == pytest.approx(8800.0)  # reported, never hidden


def test_demo_ingest_follows_osm_rules():
    roads = load_roads(DEMO_DIR / "roads.osm", settings=SpeedSettings(profile="au"))
    edges = roads.edges
    assert roads.stats["ways_dropped_access"] == 1  # the private depot road
    assert roads.stats["ways_maxspeed_unparsed"] == 1  # 'fast'
    ferry = edges[edges["is_ferry"]]
    assert len(ferry) == 2 and ferry["travel_time_s"].sum() == pytest.approx(2 * 900)
    assert roads.data_date.startswith("2026-01-01")
    # The one-way rows exist in one direction only; two-way streets in both.
    pairs = set(zip(edges["u"], edges["v"], strict=True))
    one_way = edges[edges["osm_way_id"].isin(_ways_with_tag("oneway"))]
    assert not any((v, u) in pairs for u, v in zip(one_way["u"], one_way["v"], strict=True))
    unsealed = edges[edges["unsealed"]]
    assert (unsealed["highway"].isin(["track", "unclassified"])).all()
    mph = edges[edges["osm_way_id"].isin(_ways_with_tag("maxspeed", "60 mph"))]
    assert mph["speed_kph"].round(2).unique().tolist() == [96.56]


def _ways_with_tag(key, value=None):
    import osmium

    return {
        w.id
        for w in osmium.FileProcessor(str(DEMO_DIR / "roads.osm"))
        if w.is_way() and key in w.tags and (value is None or w.tags[key] == value)
    }


def test_missing_or_corrupt_road_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_roads(tmp_path / "absent.osm.pbf")
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id=")
    with pytest.raises(InputError, match=r"bad\.osm"):
        load_roads(bad)
    wrong = tmp_path / "roads.shp"
    wrong.write_text("x")
    with pytest.raises(InputError, match="unsupported"):
        load_roads(wrong)


def test_network_cache_is_reused_and_keyed_by_settings(tmp_path):
    path = DEMO_DIR / "roads.osm"
    first = build_network(path, SpeedSettings(profile="au"), CRS, cache_dir=tmp_path)
    again = build_network(path, SpeedSettings(profile="au"), CRS, cache_dir=tmp_path)
    other = build_network(
        path, SpeedSettings(profile="au", unsealed_factor=0.3), CRS, cache_dir=tmp_path
    )
    assert not first.info["from_cache"] and again.info["from_cache"]
    assert not other.info["from_cache"]
    assert len(list(tmp_path.glob("network-*.npz"))) == 2
    a, b = first.network, again.network
    assert (a.graph != b.graph).nnz == 0
    np.testing.assert_array_equal(a.node_x, b.node_x)
    assert again.info["data_date"] == first.info["data_date"]
    assert other.network.graph.data.sum() > a.graph.data.sum()  # slower unsealed roads


def test_real_isle_of_wight_network(iow_dir):
    built = build_network(
        iow_dir / "osm" / "isle-of-wight-2015-01-01.osm.pbf",
        SpeedSettings(profile="gb"),
        "EPSG:27700",
    )
    net = built.network
    assert built.info["data_date"] == "2015-01-01T21:22:01Z"
    assert 20_000 < net.n_nodes < 40_000
    # The island fits in a 40 km x 25 km box in British National Grid metres.
    assert net.node_x.min() > 430_000 and net.node_x.max() < 470_000
    # Car ferries reach the mainland around Southampton and Portsmouth (northing ~111 km).
    assert net.node_y.min() > 70_000 and net.node_y.max() < 115_000
    assert 900 < built.info["roads"]["drivable_km"] < 1500
