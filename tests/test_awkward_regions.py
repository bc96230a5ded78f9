"""Awkward real regions: services outside the road extract, practices far from a road, long snaps.

Each run must say only what its data support: access that cannot be computed is unknown (never
"beyond"), facilities left out of routing are named once and never called isolated, and long
snaps are reported.
"""

from __future__ import annotations

import json
import logging
import re

import geopandas as gpd
import pandas as pd
import pytest

from geo.cli import main
from geo.config import load_config
from geo.render.findings_text import findings_sentences, summary_lines
from geo.render.report import render_report
from geo.workflows.pipeline import analyse, load_inputs, run
from tests.conftest import DEMO_CONFIG, DEMO_DIR, IOW_CONFIG


def _iow_config(tmp_path, data_root, monkeypatch, services: pd.DataFrame, **roads):
    """The Isle of Wight config with other specialist services (a CSV written here)."""
    monkeypatch.setenv("GEO_DATA_ROOT", str(data_root))
    path = tmp_path / "services.csv"
    services.to_csv(path, index=False)
    config = load_config(IOW_CONFIG)
    spc = config.specialist_services.model_copy(
        update={
            "path": path,
            "columns": config.specialist_services.columns.model_copy(
                update={"service_type": "kind", "id": "id", "name": "name"}
            ),
            "service_types": {},
        }
    )
    update = {
        "specialist_services": spc,
        "uncertainty": config.uncertainty.model_copy(update={"draws": 3}),
        "catchments": config.catchments.model_copy(update={"enabled": False}),
    }
    if roads:
        update["roads"] = config.roads.model_copy(update=roads)
    return config.model_copy(update=update)


def _island(iow_dir) -> pd.DataFrame:
    table = pd.read_csv(iow_dir / "services" / "spc_and_acute_services_isle_of_wight.csv")
    kind = (
        table["service_category"]
        .str.startswith("hospice")
        .map({True: "inpatient", False: "hospital"})
    )
    return pd.DataFrame(
        {
            "id": table["ods_code"],
            "name": table["name"],
            "kind": kind,
            "longitude": table["longitude"],
            "latitude": table["latitude"],
        }
    )


def _mainland(iow_dir) -> pd.DataFrame:
    points = gpd.read_file(iow_dir / "services" / "hospitals_england_2022_geographr.geojson")
    return pd.DataFrame(
        {
            "id": [f"H{i:04d}" for i in range(len(points))],
            "name": points["hospital22_name"],
            "kind": "hospital",
            "longitude": points.geometry.x,
            "latitude": points.geometry.y,
        }
    )


@pytest.mark.realdata
def test_national_hospitals_leave_island_coverage_to_island_services(
    tmp_path, data_root, iow_dir, monkeypatch
):
    services = pd.concat([_island(iow_dir), _mainland(iow_dir)], ignore_index=True)
    config = _iow_config(tmp_path, data_root, monkeypatch, services)
    results = run(config, write_outputs=False, cache_dir=tmp_path / "cache").results
    island_ids = set(_island(iow_dir)["id"])
    assert set(results.origins["nearest_spc_id"]) <= island_ids
    assert not results.findings.spc_unknown
    # Mainland hospitals within reach of the island are named as left out, the rest counted.
    left_out = {f["name"] for f in results.findings.excluded_facilities}
    assert "Southampton General Hospital" in left_out
    assert "Airedale General Hospital" not in left_out  # far in the north: cannot matter
    assert results.findings.edge["left_out_beyond_reach"] > 100
    assert all(f["facility_id"] not in island_ids for f in results.findings.excluded_facilities)
    # The extract is the island: it does not reach an hour's travel beyond it, and says so.
    assert results.findings.edge["extract_short"]
    page = render_report(results)
    assert "Sites left out or far from a road" in page
    assert "Southampton General Hospital" in page


@pytest.mark.realdata
def test_only_mainland_services_make_specialist_access_unknown(
    tmp_path, data_root, iow_dir, monkeypatch
):
    config = _iow_config(tmp_path, data_root, monkeypatch, _mainland(iow_dir))
    outcome = run(config, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    results = outcome.results
    findings = results.findings
    assert findings.spc_unknown
    origins = results.origins
    assert (origins["coverage_class"] == "unknown").all()
    assert (origins["coverage_class_non_cancer"] == "unknown").all()
    # The first line of the summary and of the report's findings say so; nothing is "beyond".
    first = summary_lines(findings)[0]
    assert first.startswith("Access to specialist palliative care could not be computed")
    assert "extend the road extract" in first.lower()
    sentences = findings_sentences(findings)
    assert sentences[0] == first
    assert not any("lives beyond" in s or "isolated from specialist" in s for s in sentences)
    # Tables, intervals and run.json carry unknown, not 0%.
    totals = pd.read_csv(outcome.out_dir / "tables" / "coverage_totals.csv")
    unknown = totals[totals["coverage_class"] == "unknown"]
    assert unknown["pop_pct"].round(6).eq(100).all()
    recorded = json.loads((outcome.out_dir / "run.json").read_text(encoding="utf-8"))
    assert recorded["headline_shares"]["need_within_spc_share"] is None
    assert recorded["headline_shares"]["need_unknown_spc_share"] == 1.0
    assert "spc_travel_time_min" in recorded["findings"]["unknown_kinds"]
    unc = pd.read_csv(outcome.out_dir / "tables" / "uncertainty.csv").set_index("measure")
    assert unc.loc["need_within_spc_share", ["p05_share", "p95_share"]].isna().all()
    links = pd.read_csv(outcome.out_dir / "tables" / "gp_specialist_links.csv")
    assert set(links["link_status"]) == {"unknown"}
    report = (outcome.out_dir / "report.html").read_text(encoding="utf-8")
    assert "could not be computed" in report and "beyond 60 minutes" not in report


@pytest.mark.realdata
def test_a_practice_900_m_off_road_is_warned_and_shows_its_distance(
    tmp_path, data_root, iow_dir, monkeypatch, caplog
):
    config = _iow_config(tmp_path, data_root, monkeypatch, _island(iow_dir))
    net = load_inputs(config, cache_dir=tmp_path / "cache").network
    # A copy of the first practice moved 900 m from its nearest road node, due south.
    gps = pd.read_csv(config.gp_practices.path)
    active = gps[gps["status_code"] == "A"].iloc[0]
    point = gpd.GeoSeries.from_xy([active["longitude"]], [active["latitude"]], crs=4326)
    point = point.to_crs(net.crs)
    node = net.snap_points(point, max_snap_distance_m=5000, offroad_speed_kph=15).node[0]
    far_x, far_y = net.node_x[node], net.node_y[node] - 900.0
    for dx in range(0, 20_000, 250):  # find a spot 900-1000 m from every road
        moved = gpd.GeoSeries.from_xy([far_x + dx], [far_y], crs=net.crs)
        d = net.snap_points(moved, max_snap_distance_m=5000, offroad_speed_kph=15)
        if 900 <= d.snap_distance_m[0] <= 1000:
            break
    lonlat = moved.to_crs(4326)
    extra = gps[gps["organisation_code"] == active["organisation_code"]].assign(
        organisation_code="ZFAR01",
        name="Farfield Surgery",
        longitude=lonlat.x.iloc[0],
        latitude=lonlat.y.iloc[0],
    )
    path = tmp_path / "gps.csv"
    pd.concat([gps, extra], ignore_index=True).to_csv(path, index=False)
    config = config.model_copy(
        update={"gp_practices": config.gp_practices.model_copy(update={"path": path})}
    )
    with caplog.at_level(logging.WARNING):
        outcome = run(config, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert "Farfield Surgery" in caplog.text and "more than 500 m" in caplog.text
    snaps = {f["name"]: f for f in outcome.results.findings.long_snaps}
    assert 900 <= snaps["Farfield Surgery"]["snap_distance_m"] <= 1000
    recorded = json.loads((outcome.out_dir / "run.json").read_text(encoding="utf-8"))
    assert "Farfield Surgery" in {f["name"] for f in recorded["findings"]["long_snaps"]}
    page = (outcome.out_dir / "map.html").read_text(encoding="utf-8")
    shown = f"Nearest mapped road: {snaps['Farfield Surgery']['snap_distance_m']:,.0f} m"
    assert shown in page
    assert "Farfield Surgery" in (outcome.out_dir / "report.html").read_text(encoding="utf-8")


def test_a_raised_snap_limit_never_lets_a_far_service_in_silently(tmp_path, caplog):
    """A hospice 20 km outside the demo's roads with the facility snap limit raised to 25 km:
    attached, but reported as a long snap in the log, run.json and the report."""
    config = load_config(DEMO_CONFIG)
    services = pd.read_csv(DEMO_DIR / "spc_services.csv")
    far = services.iloc[[0]].assign(
        service_id="SPCFAR",
        name="Offshore Hospice",
        longitude=float(services["longitude"].max()) + 0.45,  # east of the region
    )
    path = tmp_path / "spc.csv"
    pd.concat([services, far], ignore_index=True).to_csv(path, index=False)
    config = config.model_copy(
        update={
            "specialist_services": config.specialist_services.model_copy(update={"path": path}),
            "roads": config.roads.model_copy(update={"max_facility_snap_distance_m": 40_000}),
            "uncertainty": config.uncertainty.model_copy(update={"enabled": False}),
            "catchments": config.catchments.model_copy(update={"enabled": False}),
        }
    )
    with caplog.at_level(logging.WARNING):
        results = analyse(config, load_inputs(config, cache_dir=tmp_path / "cache"))
    far_snap = {f["name"]: f for f in results.findings.long_snaps}["Offshore Hospice"]
    assert far_snap["snap_distance_m"] > 15_000
    assert "Offshore Hospice" in caplog.text
    assert "Offshore Hospice" in render_report(results)


def test_the_cli_names_left_out_practices_without_calling_them_isolated(tmp_path, capsys):
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    gps = pd.read_csv(DEMO_DIR / "gp_practices.csv")
    lost = gps.iloc[[0]].assign(
        practice_id="GPLOST", name="Lost Creek Clinic", longitude=140.0, latitude=-20.0
    )  # far outside the region
    path = tmp_path / "gp.csv"
    pd.concat([gps, lost], ignore_index=True).to_csv(path, index=False)
    config = tmp_path / "demo.yml"
    config.write_text(
        text.replace("../../data/demo/gp_practices.csv", str(path))
        .replace("../../data/demo/", str(DEMO_DIR) + "/")
        .replace("dir: ../../maps/demo", f"dir: {tmp_path / 'out'}")
    )
    assert main(["run", str(config), "-q"]) == 0
    recorded = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    links = {g["name"]: g for g in recorded["findings"]["gp_links"]}
    assert links["Lost Creek Clinic"]["link_status"] == "off_network"
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    findings = re.findall(r'<div class="finding">(.*?)</div>', report, flags=re.S)
    isolated = [f for f in findings if "isolated from" in f]
    assert isolated and not any("Lost Creek Clinic" in f for f in isolated)


def test_a_statewide_sub_area_file_keeps_only_the_region_s_sub_areas(demo_config, tmp_path):
    """Sub-areas of a whole state: those outside the region (here copies 5 degrees east)
    stay out of the region's maps, packs and layers; a file of another place is refused."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from geo.errors import InputError, InputErrors
    from geo.inputs.region import load_inputs

    demo = gpd.read_file(demo_config.subareas.path, layer=demo_config.subareas.layer)
    far = demo.assign(
        area_id="far-" + demo["area_id"].astype(str),
        geometry=demo.geometry.apply(lambda g: shapely.affinity.translate(g, xoff=5.0)),
    )
    state = tmp_path / "state.gpkg"
    pd.concat([demo, far], ignore_index=True).to_file(state, layer="subareas")
    config = demo_config.model_copy(
        update={"subareas": demo_config.subareas.model_copy(update={"path": state})}
    )
    inputs = load_inputs(config, cache_dir=tmp_path / "cache")
    assert sorted(inputs.subareas["area_id"]) == sorted(demo["area_id"].astype(str))
    elsewhere = tmp_path / "elsewhere.gpkg"
    far.to_file(elsewhere, layer="subareas")
    config = demo_config.model_copy(
        update={"subareas": demo_config.subareas.model_copy(update={"path": elsewhere})}
    )
    with pytest.raises((InputError, InputErrors), match=f"none of the {len(far)} sub-areas"):
        load_inputs(config, cache_dir=tmp_path / "cache")
