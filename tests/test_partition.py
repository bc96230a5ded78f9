"""Partitioned national runs: tiles on Dask give the unpartitioned times within the threshold;
population rasters read window by window give the cells of a whole read."""

from __future__ import annotations

import importlib
import os
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from geo.analysis.service_times import compute_service_times
from geo.inputs.population import origins_from_raster
from geo.inputs.population_chunks import chunk_windows, iter_raster_origins
from geo.routing.cluster import dask_client
from geo.routing.network import Snaps
from geo.routing.partition import (
    assign_tiles,
    buffer_for,
    grid_tiles,
    max_speed_m_per_min,
    partitioned_nearest,
    polygon_tiles,
    unpartitioned_nearest,
)
from geo.routing.travel import Search
from tests.conftest import REPO_ROOT

N_NODES = 100_000
GP_MIN, SPC_MIN = 6.0, 12.0  # small thresholds, so the buffer (18 km) cuts the 63 km region
TILE_M = 16_000.0  # 4 x 4 tiles over the 63 km region
TIME_COLUMNS = (
    ("gp_travel_time_min", GP_MIN),
    ("spc_travel_time_min", SPC_MIN),
    ("spc_non_cancer_travel_time_min", SPC_MIN),
    ("spc_inpatient_travel_time_min", SPC_MIN),
    ("spc_community_travel_time_min", SPC_MIN),
    ("spc_hospital_travel_time_min", SPC_MIN),
)


def _synthetic_inputs(n: int):
    """``scripts/benchmark_analysis.synthetic_inputs`` (the benchmarks' region), imported without
    the scripts' side effect on ``GEO_DATA_ROOT``."""
    saved_env, saved_path = os.environ.get("GEO_DATA_ROOT"), list(sys.path)
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        module = importlib.import_module("benchmark_analysis")
        return module.synthetic_inputs(n)
    finally:
        sys.path[:] = saved_path
        if saved_env is None:
            os.environ.pop("GEO_DATA_ROOT", None)
        else:
            os.environ["GEO_DATA_ROOT"] = saved_env


@pytest.fixture(scope="module")
def region():
    net, origins, gps, spcs, _, _ = _synthetic_inputs(N_NODES)
    snaps = Snaps.of(net, origins, gps, spcs)
    reference = compute_service_times(net, gps, spcs, snaps)
    return net, snaps, gps, spcs, reference.origin_columns


def _partitioned(region, **partition):
    """The one search plan, run tile by tile (GP searches bounded by GP_MIN, SPC by SPC_MIN)."""
    net, snaps, gps, spcs, _ = region
    times = compute_service_times(
        net, gps, spcs, snaps, partition=partition, limit_min=SPC_MIN, gp_limit_min=GP_MIN
    )
    return times.origin_columns, times.partition


def _assert_exact_within_threshold(columns, reference) -> None:
    for column, threshold in TIME_COLUMNS:
        ref, got = reference[column], columns[column]
        within = ref <= threshold
        assert within.mean() > 0.05, column  # the comparison is not vacuous
        np.testing.assert_array_equal(got[within], ref[within], err_msg=column)
        assert np.isinf(got[~within & reference["reachable"]]).all(), column
        assert np.isnan(got[~reference["reachable"]]).all(), column
    within_spc = reference["spc_travel_time_min"] <= SPC_MIN
    assert (columns["nearest_spc_id"][within_spc] == reference["nearest_spc_id"][within_spc]).all()
    within_gp = reference["gp_travel_time_min"] <= GP_MIN
    assert (columns["nearest_gp_id"][within_gp] == reference["nearest_gp_id"][within_gp]).all()


@pytest.mark.slow
def test_tiles_on_dask_equal_the_unpartitioned_run_within_the_threshold(region) -> None:
    net = region[0]
    with dask_client(n_workers=2) as client:
        columns, times = _partitioned(region, tile_size_m=TILE_M, client=client)
    assert len(times.tiles) >= 4
    # Each tile really is cut: its buffered subgraph is a part of the network.
    assert times.tiles["nodes"].max() < 0.8 * net.n_nodes
    # Origins and GP practices (their SPC link) are the points routed.
    routed = int(region[4]["reachable"].sum()) + int(region[1].gp.reachable.sum())
    assert times.tiles["origins"].sum() == routed
    assert (times.tiles["peak_rss_mb"] > 0).all()
    assert set(times.tiles["worker"]) != {"local"}
    assert times.buffer_m == pytest.approx(SPC_MIN * 1500.0)
    _assert_exact_within_threshold(columns, region[4])
    spc = region[4]["spc_travel_time_min"]
    assert (spc > SPC_MIN).mean() > 0.05  # origins beyond the threshold exist and are inf


def test_polygon_tiles_give_the_same_times(region) -> None:
    net = region[0]
    xmid = float(np.median(net.node_x))
    ymid = float(np.median(net.node_y))
    box = shapely.box(net.node_x.min() - 1, net.node_y.min() - 1, xmid, net.node_y.max() + 1)
    rest = shapely.box(xmid, net.node_y.min() - 1, net.node_x.max() + 1, ymid)
    top = shapely.box(xmid, ymid, net.node_x.max() + 1, net.node_y.max() + 1)
    columns, times = _partitioned(region, tiles=polygon_tiles([box, rest, top], ["w", "se", "ne"]))
    assert sorted(times.tiles["tile_id"]) == ["ne", "se", "w"]
    _assert_exact_within_threshold(columns, region[4])


def test_a_buffer_narrower_than_the_fastest_path_loses_exactness(region) -> None:
    """The test above can fail: with a third of the buffer, some paths leave their tile."""
    net = region[0]
    columns, _ = _partitioned(region, tile_size_m=TILE_M, buffer_m=buffer_for(net, SPC_MIN) / 3)
    ref = region[4]["spc_travel_time_min"]
    within = ref <= SPC_MIN
    assert (columns["spc_travel_time_min"][within] != ref[within]).any()


def test_grid_tiles_own_every_node_once_and_buffer_follows_the_fastest_edge(region) -> None:
    net = region[0]
    tiles = grid_tiles(net.node_x, net.node_y, tile_size_m=TILE_M)
    owner = assign_tiles(net.node_x, net.node_y, tiles)
    assert (owner >= 0).all() and len(tiles) == 16
    bounds = np.array([t.bounds for t in tiles])[owner]
    assert ((net.node_x >= bounds[:, 0]) & (net.node_x < bounds[:, 2])).all()
    assert ((net.node_y >= bounds[:, 1]) & (net.node_y < bounds[:, 3])).all()
    assert max_speed_m_per_min(net) == pytest.approx(90_000 / 60)  # 90 km/h arterials
    assert buffer_for(net, 60) == pytest.approx(90_000)


def test_generic_searches_report_rows_and_inf_beyond(region) -> None:
    net, snaps, gps, _, _ = region
    snap = snaps.origins
    gp = net.snap(gps.geometry.x.to_numpy(), gps.geometry.y.to_numpy())
    rows = np.arange(len(gps))[::3]
    searches = {
        "some_gps": Search(gp.node[rows], gp.connector_time_s[rows], rows, "to_facility", 4.0)
    }
    ref = unpartitioned_nearest(net, snap.node, snap.connector_time_s, searches)["some_gps"]
    got = partitioned_nearest(net, snap.node, snap.connector_time_s, searches, tile_size_m=20_000)
    within = ref[0] <= 4.0
    np.testing.assert_array_equal(got.time_min["some_gps"][within], ref[0][within])
    np.testing.assert_array_equal(got.facility_row["some_gps"][within], ref[1][within])
    assert set(np.unique(got.facility_row["some_gps"][within])) <= set(rows)
    assert np.isinf(got.time_min["some_gps"][~within]).all()
    assert (got.facility_row["some_gps"][~within] == -1).all()


# -- population rasters in windows -----------------------------------------------------------
def _write_population(path: Path, height: int, width: int, *, block: int = 128) -> None:
    rng = np.random.default_rng(3)
    pop = np.where(rng.random((height, width)) < 0.3, rng.gamma(1.2, 10, (height, width)), 0)
    pop = pop.astype("float32")
    pop[rng.random((height, width)) < 0.05] = -9999  # nodata
    old = (np.clip(pop, 0, None) * rng.uniform(0.1, 0.3, (height, width))).astype("float32")
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 2,
        "dtype": "float32",
        "crs": "EPSG:7855",
        "transform": from_origin(500000.5, 6500000.25, 100.0, 100.0),
        "nodata": -9999,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pop, 1)
        dst.write(old, 2)


def test_windowed_raster_read_equals_a_whole_read(tmp_path: Path) -> None:
    path = tmp_path / "pop.tif"
    _write_population(path, 700, 900)
    max_cells = 128 * 128 * 3
    chunks = list(iter_raster_origins(path, age_bands={"pop_65plus": 2}, max_cells=max_cells))
    assert len(chunks) > 4
    assert all(c.window.width * c.window.height <= max_cells for c in chunks)
    got = {k: np.concatenate([getattr(c, k) for c in chunks]) for k in ("x", "y", "pop_count")}
    got["pop_65plus"] = np.concatenate([c.ages["pop_65plus"] for c in chunks])
    full = origins_from_raster(path, crs="EPSG:7855", age_bands={"pop_65plus": 2})
    want = {
        "x": full.geometry.x.to_numpy(),
        "y": full.geometry.y.to_numpy(),
        "pop_count": full["pop_count"].to_numpy(),
        "pop_65plus": full["pop_65plus"].to_numpy(),
    }
    order_got = np.lexsort((got["x"], -got["y"]))
    order_want = np.lexsort((want["x"], -want["y"]))
    assert len(order_got) == len(order_want) > 100_000
    for key in want:
        np.testing.assert_array_equal(got[key][order_got], want[key][order_want], err_msg=key)


def test_windowed_raster_read_bounds_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    _write_population(path, 2048, 2048, block=256)  # 4M cells: 32 MB per band as float64

    def peak_mb(read) -> float:
        tracemalloc.start()
        try:
            read()
            return tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()

    def windowed() -> None:
        for chunk in iter_raster_origins(path, max_cells=256 * 256):
            assert chunk.pop_count.size <= 256 * 256

    def whole() -> None:
        with rasterio.open(path) as src:
            src.read(1, masked=True).astype(float)

    assert peak_mb(windowed) < 8 < 32 < peak_mb(whole)


def test_chunk_windows_are_whole_blocks_and_cover_the_raster() -> None:
    windows = chunk_windows(1000, 700, (128, 128), max_cells=300_000)
    cells = sum(w.width * w.height for w in windows)
    assert cells == 1000 * 700
    assert all(w.col_off % 128 == 0 and w.row_off % 128 == 0 for w in windows)
    assert all(w.width * w.height <= 300_000 for w in windows)
    strips = chunk_windows(1000, 700, (1, 1000), max_cells=10)  # one block is the minimum
    assert len(strips) == 700
