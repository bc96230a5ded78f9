"""Road ingest edge cases: compressed XML, empty and roadless extracts, opt-in downloads,
and facilities beyond the road network."""

from __future__ import annotations

import bz2
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from geo.analysis.service_times import compute_service_times
from geo.errors import InputError
from geo.inputs.roads import build_network, download_roads, load_roads
from geo.inputs.speeds import SpeedSettings
from geo.routing.network import RoadNetwork, Snaps
from tests.conftest import DEMO_DIR

CRS = "EPSG:7855"


def test_bz2_xml_reads_like_plain_xml(tmp_path):
    packed = tmp_path / "roads.osm.bz2"
    packed.write_bytes(bz2.compress((DEMO_DIR / "roads.osm").read_bytes()))
    plain = load_roads(DEMO_DIR / "roads.osm")
    again = load_roads(packed)
    assert len(again.edges) == len(plain.edges)
    assert again.edges["travel_time_s"].sum() == pytest.approx(plain.edges["travel_time_s"].sum())


def test_empty_and_roadless_extracts(tmp_path):
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_roads(empty)
    footpaths = tmp_path / "paths.osm"
    footpaths.write_text(
        '<osm version="0.6"><node id="1" lat="-32" lon="147"/><node id="2" lat="-32.001" '
        'lon="147"/><way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/>'
        "</way></osm>"
    )
    with pytest.raises(InputError, match="no drivable roads"):  # a bad input: exit status 2
        load_roads(footpaths)


def _overpass_response() -> dict:
    """A tiny drivable network as the Overpass API returns it (JSON)."""
    nodes = [
        {"type": "node", "id": i + 1, "lat": -32.0, "lon": 147.0 + i * 0.001} for i in range(5)
    ]
    way = {
        "type": "way",
        "id": 10,
        "nodes": [1, 2, 3, 4, 5],
        "tags": {"highway": "residential", "maxspeed": "50"},
    }
    return {"version": 0.6, "elements": [*nodes, way]}


@pytest.fixture()
def overpass_server():
    body = json.dumps(_overpass_response()).encode()
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply  # noqa: N815 (http.server's method names)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api", requests
    server.shutdown()
    server.server_close()


def test_download_is_opt_in_and_goes_through_osmnx(tmp_path, overpass_server, monkeypatch):
    import osmnx as ox

    url, requests = overpass_server
    monkeypatch.setattr(ox.settings, "overpass_url", url)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "use_cache", False)
    polygon = tmp_path / "area.geojson"
    gpd.GeoDataFrame(geometry=[box(146.99, -32.01, 147.01, -31.99)], crs=4326).to_file(polygon)
    path = download_roads(None, polygon, cache_dir=tmp_path / "cache")
    assert requests, "osmnx did not query the (local) Overpass server"
    roads = load_roads(path)
    assert len(roads.edges) == 8  # 4 segments, both directions
    assert roads.edges["speed_kph"].unique().tolist() == [50.0]
    assert ox.settings.all_oneway is False  # the process-wide osmnx setting is restored


def test_facilities_beyond_the_network_are_listed_with_a_reason(caplog):
    net = build_network(DEMO_DIR / "roads.osm", SpeedSettings(profile="au"), CRS).network
    x0, y0 = net.node_x[0], net.node_y[0]
    points = [Point(x0 + 10, y0), Point(x0 + 90_000_000, y0)]

    def facilities(kind):
        return gpd.GeoDataFrame(
            {
                "facility_id": ["A", "FAR"],
                "name": ["Near", "Offshore Clinic"],
                "kind": kind,
                "service_type": "inpatient" if kind == "spc" else "gp",
                "accepts_non_cancer": True,
            },
            geometry=points,
            crs=CRS,
        )

    origins = gpd.GeoDataFrame({"pop_count": [1.0, 1.0]}, geometry=points, crs=CRS)
    gps, spcs = facilities("gp"), facilities("spc")
    snaps = Snaps.of(net, origins, gps, spcs)
    with caplog.at_level(logging.WARNING):
        times = compute_service_times(net, gps, spcs, snaps)
    assert "Offshore Clinic" in caplog.text
    gps = times.gp_practices
    assert gps["reachable"].tolist() == [True, False]
    assert "no road within 5000 m" in gps["unreachable_reason"].iloc[1]
    assert np.isnan(gps["spc_travel_time_min"].iloc[1])
    minutes = times.origin_columns["gp_travel_time_min"]
    # Origin and practice share a point 10 m off node 0: two 10 m connectors at 15 km/h.
    assert minutes[0] == pytest.approx(2 * 10 / (15 / 3.6) / 60)
    assert np.isnan(minutes[1])
    assert times.origin_columns["unreachable_reason"][1].startswith("no road within")


def test_from_arrays_is_public_and_routable():
    net = RoadNetwork.from_arrays([0, 1], [1, 0], [60.0, 60.0], [0.0, 1000.0], [0.0, 0.0], CRS)
    assert net.n_nodes == 2 and net.graph[0, 1] == 60.0


def test_an_extract_without_dates_has_no_data_date(tmp_path):
    """Files written without metadata carry the epoch; that is no date, not 1970-01-01."""
    xml = tmp_path / "nodate.osm"
    xml.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="-32.0" lon="147.0"/><node id="2" lat="-32.0" lon="147.01"/>'
        '<way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/></way></osm>'
    )
    roads = load_roads(xml)
    assert roads.data_date is None
