"""Placing rows by postcode (offline) and by address (online, opt-in, local server only)."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from geo.config import load_config, parse_config
from geo.errors import ConfigError, InputError, InputErrors, OnlineServiceError
from geo.inputs.facilities import read_facilities
from geo.inputs.geocode import (
    CODEPOINT_COLUMNS,
    Geocoding,
    OnlineGeocoder,
    PostcodeDirectory,
    format_postcode,
    geocode_online,
    geocode_table,
    lookup_postcodes,
    normalise_postcodes,
)
from geo.inputs.layers import geocoded_population, geocoding_of, load_population
from geo.render.map_style import gp_popup, spc_popup
from tests.conftest import DEMO_CONFIG, REPO_ROOT

BNG = "EPSG:27700"


def _directory(tmp_path, rows=None):
    rows = rows or [
        ("PO30 1NR", 448687, 88221),
        ("PO381EZ", 456452, 77506),
        ("po33 2eh", 459471, 92818),
        ("ZZ9 9ZZ", 0, 0),  # Code-Point quality 90: listed without coordinates
    ]
    path = tmp_path / "postcodes.csv"
    pd.DataFrame(rows, columns=["pcd", "east", "north"]).to_csv(path, index=False)
    return PostcodeDirectory.of(path, postcode="pcd", x="east", y="north", crs=BNG)


def test_postcodes_are_normalised_and_formatted():
    keys = normalise_postcodes(pd.Series([" po30 1nr", "PO30\t1NR", "PO301NR", None, "SW1A 1AA"]))
    assert keys.tolist() == ["PO301NR", "PO301NR", "PO301NR", "", "SW1A1AA"]
    assert [format_postcode(k) for k in ("PO301NR", "SW1A1AA", "M11AE", "2600")] == [
        "PO30 1NR",
        "SW1A 1AA",
        "M1 1AE",
        "2600",
    ]


def test_lookup_reads_only_wanted_postcodes_and_flags_missing_coordinates(tmp_path):
    found = lookup_postcodes(["PO301NR", "PO332EH", "ZZ99ZZ", "AB10 1XX"], _directory(tmp_path))
    assert found.loc["PO301NR"].tolist() == [448687.0, 88221.0]
    assert found.loc["PO332EH"].tolist() == [459471.0, 92818.0]  # lower case in the directory
    assert found.loc["ZZ99ZZ"].isna().all()  # 0, 0 means no coordinates
    assert "AB101XX" not in found.index and "PO381EZ" not in found.index


def test_raw_codepoint_folder_without_header_rows(tmp_path):
    folder = tmp_path / "codepo_gb"
    folder.mkdir()
    areas = {"po": [("PO301NR", 10, 448687, 88221)], "so": [("SO141AA", 10, 1, 2)]}
    for area, rows in areas.items():
        frame = pd.DataFrame(
            [(*r, "E92000001", "", "", "", "E06000046", "") for r in rows],
            columns=list(CODEPOINT_COLUMNS),
        )
        frame.to_csv(folder / f"{area}.csv", index=False, header=False)
    directory = PostcodeDirectory.of(folder, format="codepoint")
    assert (directory.postcode_column, directory.crs) == ("Postcode", BNG)
    found = lookup_postcodes(["PO301NR", "SO141AA"], directory)
    assert found.loc["SO141AA"].tolist() == [1.0, 2.0]
    onspd = PostcodeDirectory.of(tmp_path / "x.csv", format="onspd")
    columns = (onspd.postcode_column, onspd.x_column, onspd.y_column)
    assert columns == ("pcds", "oseast1m", "osnrth1m")


def _practices(tmp_path, n_bad=0):
    rows = [
        ("P1", "One", "po30 1nr", "A"),
        ("P2", "Two", "PO38 1EZ", "A"),
        ("P3", "Closed", "XX1 1XX", "C"),  # filtered out before geocoding: never unmatched
        ("P4", "Three", "PO33 2EH", "A"),
    ]
    rows += [(f"B{i}", f"Bad {i}", f"AB{i} 1XX", "A") for i in range(n_bad)]
    path = tmp_path / "practices.csv"
    pd.DataFrame(rows, columns=["code", "name", "postcode", "status"]).to_csv(path, index=False)
    return path


def test_facilities_placed_by_postcode_after_the_row_filter(tmp_path):
    read = read_facilities(
        _practices(tmp_path),
        kind="gp",
        columns={"id": "code", "name": "name", "postcode": "postcode"},
        crs=BNG,
        where={"status": ["A"]},
        geocoding=Geocoding(postcodes=_directory(tmp_path)),
    )
    gps = read.frame
    assert gps["facility_id"].tolist() == ["P1", "P2", "P4"]
    assert (gps.geometry.x.tolist(), gps.geometry.y.tolist()) == (
        [448687.0, 456452.0, 459471.0],
        [88221.0, 77506.0, 92818.0],
    )
    assert gps["location_precision"].unique().tolist() == ["postcode unit centroid"]
    assert gps["location_query"].tolist() == ["PO30 1NR", "PO38 1EZ", "PO33 2EH"]
    assert read.geocoding.placed_by_postcode == 3 and read.geocoding.unmatched == 0
    popup = gp_popup({**gps.iloc[0].to_dict(), "capacity_units": "registered patients"})
    assert "Location: postcode unit centroid (PO30 1NR)" in popup
    assert "Capacity: not given<" in popup  # no units after an unknown capacity


def test_unmatched_postcodes_are_listed_and_stop_the_run_or_are_dropped(tmp_path, caplog):
    path = _practices(tmp_path, n_bad=23)
    options = {
        "kind": "spc",
        "columns": {"id": "code", "name": "name", "postcode": "postcode"},
        "crs": BNG,
        "where": {"status": ["A"]},
        "default_service_type": "inpatient",
    }
    directory = _directory(tmp_path)
    with pytest.raises(InputError) as err:
        read_facilities(path, geocoding=Geocoding(postcodes=directory), **options)
    message = str(err.value)
    # The first bad row is the file's row 6 (header row 1, the closed row 4 filtered out).
    assert "23 value(s) are postcodes not found" in message
    assert "row 6 ('AB0 1XX')" in message and "and 3 more" in message
    assert "on_unmatched: drop" in message and err.value.column == "postcode"
    with caplog.at_level(logging.WARNING, logger="geo"):
        read = read_facilities(
            path, geocoding=Geocoding(postcodes=directory, on_unmatched="drop"), **options
        )
    assert read.frame["facility_id"].tolist() == ["P1", "P2", "P4"]
    assert read.geocoding.unmatched == 23 and len(read.geocoding.unmatched_rows) == 20
    assert read.geocoding.unmatched_rows[0] == "row 6 ('AB0 1XX')"
    assert "left out (on_unmatched: drop)" in caplog.text
    popup = spc_popup(read.frame.iloc[0].to_dict())
    assert "Location: postcode unit centroid (PO30 1NR)" in popup


def test_point_population_by_postcode(tmp_path, demo_config):
    people = tmp_path / "people.csv"
    pd.DataFrame(
        {"pc": ["PO30 1NR", "PO381EZ", "ZZ9 9ZZ"], "n": [10, 20, 5], "lsoa": ["a", "b", "c"]}
    ).to_csv(people, index=False)
    directory = _directory(tmp_path)
    raw = {
        "kind": "points",
        "path": str(people),
        "count": "n",
        "id_column": "lsoa",
        "postcode": "pc",
        "geocode": {
            "postcodes": {"path": str(directory.path), "postcode": "pcd", "x": "east"}
            | {"y": "north", "crs": BNG},
            "on_unmatched": "drop",
        },
    }
    config = demo_config.model_dump(mode="json", exclude={"source_path"})
    config["population"] = raw
    cfg = parse_config(config, path=DEMO_CONFIG).population
    points, report = geocoded_population(cfg, cache_dir=tmp_path, online=False)
    assert report.unmatched == 1 and report.placed_by_postcode == 2
    origins = load_population(cfg, crs=BNG, region=None, network=None, points=points)
    assert origins["pop_count"].tolist() == [10.0, 20.0]
    assert origins["source_area_id"].tolist() == ["a", "b"]
    assert origins["location_query"].tolist() == ["PO30 1NR", "PO38 1EZ"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"columns": {"id": "a", "name": "b", "postcode": "pc"}}, "needs a geocode section"),
        (
            {"columns": {"id": "a", "name": "b", "address": "ad"}, "geocode": {"online": False}},
            "postcode directory",
        ),
        (
            {
                "columns": {"id": "a", "name": "b", "address": "ad"},
                "geocode": {"online": True, "on_unmatched": "keep"},
            },
            "on_unmatched",
        ),
        (
            {
                "columns": {"id": "a", "name": "b", "x": "x", "y": "y", "capacity": "c"},
                "capacity_table": {"path": "t.csv", "id_column": "i", "capacity_column": "n"},
            },
            "not both",
        ),
    ],
)
def test_config_says_what_is_missing(section, message, demo_config):
    config = demo_config.model_dump(mode="json", exclude={"source_path"})
    config["gp_practices"] = {"path": "gp.csv", **section}
    with pytest.raises((ConfigError, InputErrors), match=message):
        parse_config(config, path=DEMO_CONFIG)


# -- the online geocoder, against a local server only ----------------------------------------
@pytest.fixture()
def nominatim_server():
    """A local Nominatim-compatible search API: knows two addresses, logs every request."""
    known = {
        "1 Main St, Marrang": {"lon": "148.43", "lat": "-31.98", "addresstype": "building"},
        "Railway Parade, Marrang": {"lon": "148.41", "lat": "-31.97", "addresstype": "road"},
    }
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = parse_qs(urlparse(self.path).query)
            requests.append(
                {"q": query["q"][0], "ua": self.headers["User-Agent"], "t": time.monotonic()}
                | {"params": query}
            )
            if query["q"][0] == "break":
                self.send_response(500)
                self.end_headers()
                return
            hit = known.get(query["q"][0])
            body = json.dumps([{**hit, "display_name": query["q"][0]}] if hit else []).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/search", requests
    server.shutdown()
    server.server_close()


def _geocoder(tmp_path, url, *, allowed, interval=0.2):
    return OnlineGeocoder(
        cache_path=tmp_path / "cache" / "geocode.json",
        allowed=allowed,
        url=url,
        user_agent="gapmap-tests/1.0 (local server)",
        country_codes=("au",),
        min_interval_s=interval,
    )


def test_online_geocoder_is_rate_limited_identified_and_cached(tmp_path, nominatim_server):
    url, requests = nominatim_server
    queries = ["1 Main St, Marrang", "Railway Parade, Marrang", "Nowhere Rd", "1 Main St, Marrang"]
    answers, stats = geocode_online(queries, _geocoder(tmp_path, url, allowed=True))
    assert [r["q"] for r in requests] == queries[:3]  # each distinct address asked once
    assert {r["ua"] for r in requests} == {"gapmap-tests/1.0 (local server)"}
    assert requests[0]["params"]["countrycodes"] == ["au"]
    gaps = np.diff([r["t"] for r in requests])
    assert (gaps >= 0.19).all(), gaps  # at least min_interval_s between requests
    assert answers["1 Main St, Marrang"]["kind"] == "building"
    assert answers["Nowhere Rd"] is None and stats == {"requests": 3, "cache_hits": 0}
    # A second run reads the cache and needs no network, not even permission to use it.
    again, stats = geocode_online(queries, _geocoder(tmp_path, url, allowed=False))
    assert len(requests) == 3 and stats == {"requests": 0, "cache_hits": 3} and again == answers


def test_online_geocoder_is_off_unless_asked(tmp_path, nominatim_server):
    url, requests = nominatim_server
    with pytest.raises(InputError, match="online geocoding is off"):
        geocode_online(["1 Main St, Marrang"], _geocoder(tmp_path, url, allowed=False))
    assert requests == []
    # geocode.online: false makes no geocoder at all; true without --online forbids requests.
    config = load_config(DEMO_CONFIG).model_dump(mode="json", exclude={"source_path"})
    cfg = config["gp_practices"] | {
        "columns": {"id": "practice_id", "name": "name", "address": "address"},
        "geocode": {"online": True, "url": url, "min_interval_s": 0},
    }
    config["gp_practices"] = cfg
    parsed = parse_config(config, path=DEMO_CONFIG).gp_practices
    assert geocoding_of(parsed.geocode, cache_dir=tmp_path, online=False).online.allowed is False
    assert parsed.geocode.online and parsed.geocode.min_interval_s == 0
    from geo.config.sources import GeocodeConfig

    assert GeocodeConfig(postcodes=None, online=True).min_interval_s == 1.0  # the default


def test_addresses_placed_online_after_postcodes(tmp_path, nominatim_server):
    url, requests = nominatim_server
    path = tmp_path / "services.csv"
    pd.DataFrame(
        {
            "id": ["S1", "S2", "S3"],
            "name": ["By postcode", "By address", "Lost"],
            "postcode": ["PO30 1NR", "", ""],
            "address": ["", "1 Main St, Marrang", "Nowhere Rd"],
        }
    ).to_csv(path, index=False)
    geocoding = Geocoding(
        postcodes=_directory(tmp_path),
        online=_geocoder(tmp_path, url, allowed=True, interval=0.0),
        on_unmatched="drop",
    )
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    points, report = geocode_table(
        frame, geocoding, path=path, postcode_column="postcode", address_column="address"
    )
    assert points["id"].tolist() == ["S1", "S2"]
    assert points["location_precision"].tolist() == [
        "postcode unit centroid",
        "online geocoder: building",
    ]
    assert points.crs.to_epsg() == 27700  # online answers are put in the directory's CRS
    assert (report.placed_by_postcode, report.placed_online, report.unmatched) == (1, 1, 1)
    assert [r["q"] for r in requests] == ["1 Main St, Marrang", "Nowhere Rd"]


def test_a_failing_geocoder_is_an_error_and_keeps_earlier_answers(tmp_path, nominatim_server):
    url, _ = nominatim_server
    geocoder = _geocoder(tmp_path, url, allowed=True, interval=0.0)
    with pytest.raises(OnlineServiceError, match="no usable answer"):
        geocode_online(["1 Main St, Marrang", "break"], geocoder)
    cached = json.loads(geocoder.cache_path.read_text())["answers"]
    assert any(key.endswith("1 Main St, Marrang") for key in cached)


# -- real data: the Isle of Wight -------------------------------------------------------------
IOW_EPRACCUR = REPO_ROOT / "scripts" / "regions" / "isle_of_wight_epraccur.yml"


@pytest.fixture()
def iow_epraccur(geo_data_root_env):
    return load_config(IOW_EPRACCUR)


@pytest.mark.realdata
def test_iow_practices_from_epraccur_match_the_reference_coordinates(iow_epraccur, iow_dir):
    from geo.inputs.region import read_region_facilities

    read = read_region_facilities(iow_epraccur)
    gps = read.gp_practices.set_index("facility_id")
    reference = pd.read_csv(iow_dir / "gp" / "gp_practices_isle_of_wight_geocoded.csv")
    active = reference[reference["status_code"] == "A"].set_index("organisation_code")
    assert sorted(gps.index) == sorted(active.index)  # every active practice, nothing else
    gps = gps.loc[active.index]
    distance_m = np.hypot(
        gps.geometry.x - active["easting"].to_numpy(), gps.geometry.y - active["northing"]
    )
    assert distance_m.max() < 1.0
    assert (gps["location_precision"] == "postcode unit centroid").all()
    # List sizes joined by practice code equal the reference file's.
    assert gps["capacity"].tolist() == active["registered_patients_2021_01"].tolist()
    assert (gps["capacity_units"] == "registered patients").all()
    assert read.sources["capacity"]["gp_practices"]["matched"] == 12


@pytest.mark.realdata
def test_national_hospices_on_the_island_postcodes(iow_epraccur, caplog):
    from geo.inputs.region import read_region_facilities

    with caplog.at_level(logging.WARNING, logger="geo"):
        read = read_region_facilities(iow_epraccur)
    spcs = read.specialist_services
    assert spcs["facility_id"].tolist() == ["Y06103"]  # Earl Mountbatten Hospice, PO30 2ER
    assert spcs["location_query"].tolist() == ["PO30 2ER"]
    report = read.sources["geocoding"]["specialist_services"]
    assert report["rows"] == 146 and report["unmatched"] == 145  # active rows; mainland ones
    assert len(report["unmatched_rows"]) == 20 and "145 value(s)" in caplog.text
    strict = iow_epraccur.specialist_services.geocode.model_copy(update={"on_unmatched": "error"})
    services = iow_epraccur.specialist_services.model_copy(update={"geocode": strict})
    with pytest.raises(InputError, match=r"145 value\(s\).* and 125 more"):
        read_region_facilities(iow_epraccur.model_copy(update={"specialist_services": services}))


@pytest.mark.realdata
def test_unmatched_hospices_stop_the_cli_run_with_status_2(geo_data_root_env, tmp_path, capsys):
    from geo.cli import main

    text = IOW_EPRACCUR.read_text().replace("on_unmatched: drop", "on_unmatched: error")
    config = tmp_path / "strict.yml"
    config.write_text(text)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "145 value(s) are postcodes not found" in err and "and 125 more" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_iow_epraccur_run_records_locations_list_sizes_and_smrs(iow_epraccur, tmp_path):
    from geo.workflows.pipeline import run

    off = {"enabled": False}
    config = iow_epraccur.model_copy(
        update={
            "uncertainty": iow_epraccur.uncertainty.model_copy(update=off),
            "catchments": iow_epraccur.catchments.model_copy(update=off),
        }
    )
    outcome = run(config, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    placed = saved["geocoding"]["gp_practices"]["facilities"]
    assert len(placed) == 12
    assert {p["location_precision"] for p in placed} == {"postcode unit centroid"}
    assert saved["geocoding"]["specialist_services"]["unmatched"] == 145
    assert saved["capacity"]["gp_practices"]["units"] == "registered patients"
    assert saved["need"]["stats"]["smr"]["areas_with_smr"] == 18
    assert "gp_practices_postcodes" in saved["inputs"] and "need_smr" in saved["inputs"]
    page = (tmp_path / "out" / "map.html").read_text()
    assert "Location: postcode unit centroid (PO30 2ER)" in page
    assert "Capacity: 23,758 registered patients" in page
    report = (tmp_path / "out" / "report.html").read_text()
    assert "adjusted by local SMRs (cancer x0.961" in report
    assert "registered patients per 1,000 people" in report
    # Access scores count registered patients: E2SFCA is list size per 1,000 people, about
    # 145,000 registered / 141,000 residents = 1,029 per 1,000 across the island.
    origins = outcome.results.origins
    mean = np.average(origins["access_gp_e2sfca"], weights=origins["pop_count"])
    assert mean == pytest.approx(145_130 / 140_984 * 1000, rel=0.25)


def test_validate_checks_the_postcode_directory_and_all_cause_hint(tmp_path, demo_config):
    from geo.inputs.validate import check_inputs

    directory = _directory(tmp_path)
    practices = _practices(tmp_path)
    config = demo_config.model_dump(mode="json", exclude={"source_path"})
    config["gp_practices"] = {
        "path": str(practices),
        "columns": {"id": "code", "name": "name", "postcode": "postcode"},
        "geocode": {"postcodes": {"path": str(directory.path), "format": "onspd"}},
    }
    config["need"]["deaths"]["cause_column"] = "underlying_cause"
    problems = [str(p) for p in check_inputs(parse_config(config, path=DEMO_CONFIG))]
    assert any("'pcds'" in p and "format: onspd" in p for p in problems)
    assert any("cause_column: null" in p for p in problems)
    assert not any("carries no CRS" in p for p in problems)  # postcodes need no crs
