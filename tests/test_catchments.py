"""Catchments: travel-time surface and isochrones (nested, holes kept, no unreachable land)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from geo.analysis.catchments import SurfaceGrid, catchments_by_facility, isochrone_polygons
from geo.routing.network import RoadNetwork
from geo.routing.travel import nearest_facility

CRS = "EPSG:7855"


def _straight_road(n=21, spacing=100.0, seconds=10.0):
    """A two-way road along y=0: node i at x = i * spacing, 10 s per link (36 km/h)."""
    src = np.concatenate([np.arange(n - 1), np.arange(1, n)])
    dst = np.concatenate([np.arange(1, n), np.arange(n - 1)])
    return RoadNetwork.from_arrays(
        src, dst, np.full(len(src), seconds), np.arange(n) * spacing, np.zeros(n), CRS
    )


def test_surface_is_node_time_plus_offroad_time():
    net = _straight_road()
    grid = SurfaceGrid.build(
        net,
        cell_size_m=100,
        offroad_speed_kph=3.6,
        max_offroad_m=250,
        bounds=(-50, -350, 2050, 350),
    )
    node_time = nearest_facility(net, [0], direction="from_facility").time_s
    surface = grid.surface_min(node_time)
    # Cell centre (0, 0) sits on node 0: 0 min; (1000, 200): node 10 (100 s) + 200 m at 1 m/s.
    row_of = {300.0: 0, 200.0: 1, 100.0: 2, 0.0: 3}
    assert surface[row_of[0.0], 0] == pytest.approx(0.0)
    assert surface[row_of[200.0], 10] == pytest.approx((100 + 200) / 60)
    assert np.isnan(surface[row_of[300.0], 10])  # 300 m from the road: beyond max_offroad_m


def test_isochrones_nested_holes_kept_and_never_unreachable():
    surface = np.full((7, 7), 5.0)
    surface[3, 3] = np.nan  # an unreachable cell in the middle (a lake, a reserve)
    surface[0, :] = 20.0
    transform = SurfaceGrid.build(_straight_road(), cell_size_m=10).transform
    small, large = isochrone_polygons(surface, transform, [10, 30])
    assert small.is_valid and large.is_valid
    assert large.contains(small) or large.equals(small)
    assert small.area == pytest.approx((6 * 7 - 1) * 100)
    assert len(small.geoms[0].interiors) == 1  # the hole is kept
    hole = transform @ (3.5, 3.5)
    assert not small.contains(Point(hole))


def test_per_facility_catchments_follow_direction():
    # One-way road 0 -> 1 -> ... : a facility at node 5 reaches downstream only.
    n = 11
    net = RoadNetwork.from_arrays(
        np.concatenate([np.arange(n - 1), [n - 1]]),
        np.concatenate([np.arange(1, n), [0]]),
        np.concatenate([np.full(n - 1, 30.0), [1e6]]),
        np.arange(n) * 500.0,
        np.zeros(n),
        CRS,
    )
    grid = SurfaceGrid.build(net, cell_size_m=100, offroad_speed_kph=6, max_offroad_m=200)
    out = catchments_by_facility(
        net,
        grid,
        [5],
        ["F"],
        kind="spc_community",
        thresholds_min=[1.5, 3.0],
        direction="from_facility",
    )
    two_min = out[out["threshold_min"] == 1.5].geometry.iloc[0]
    assert two_min.contains(Point(6 * 500, 0)) and not two_min.contains(Point(4 * 500, 0))
    inbound = catchments_by_facility(
        net, grid, [5], ["F"], kind="gp", thresholds_min=[1.5], direction="to_facility"
    )
    assert inbound.geometry.iloc[0].contains(Point(4 * 500, 0))
    assert set(out["area_km2"].round(3)) and (out["area_km2"].diff().dropna() >= 0).all()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    thresholds=st.lists(st.floats(0.5, 30), min_size=2, max_size=4, unique=True),
)
def test_random_graphs_obey_invariants(seed, thresholds):
    rng = np.random.default_rng(seed)
    n = 60
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    src = rng.integers(0, n, 200)
    dst = rng.integers(0, n, 200)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    # Two-way graph so times are symmetric in direction.
    s = np.concatenate([src, dst])
    d = np.concatenate([dst, src])
    t = np.concatenate([rng.uniform(5, 120, keep.sum())] * 2)
    net = RoadNetwork.from_arrays(s, d, t, x, y, CRS)
    facility = [0]
    to_fac = nearest_facility(net, facility, direction="to_facility").time_s
    from_fac = nearest_facility(net, facility, direction="from_facility").time_s
    assert to_fac[0] == 0 and (to_fac >= 0).all()
    np.testing.assert_allclose(to_fac, from_fac)
    grid = SurfaceGrid.build(net, cell_size_m=250, max_offroad_m=500)
    polys = isochrone_polygons(grid.surface_min(to_fac), grid.transform, sorted(thresholds))
    areas = [p.area for p in polys]
    assert areas == sorted(areas)
    for inner, outer in itertools.pairwise(polys):
        assert inner.is_empty or outer.buffer(1e-6).contains(inner)


@pytest.mark.parametrize("seed", range(8))
def test_isochrones_equal_each_threshold_polygonised_alone(seed):
    """The banded polygonisation (one pass, coverage unions) equals polygonising each
    threshold's cells on their own with rasterio and shapely (the textbook way)."""
    import rasterio.features
    from affine import Affine
    from shapely import union_all
    from shapely.geometry import shape

    rng = np.random.default_rng(seed)
    # A smooth-ish surface with plateaus, holes, unreachable cells and values on the edges.
    surface = np.round(rng.gamma(2.0, 15.0, (60, 80)) / 5.0) * 5.0
    surface[rng.random(surface.shape) < 0.05] = np.nan
    transform = Affine(250.0, 0.0, 1000.0, 0.0, -250.0, 9000.0)
    thresholds = [60.0, 15.0, 30.0, 120.0]
    got = isochrone_polygons(surface, transform, thresholds)
    for threshold, polygon in zip(thresholds, got, strict=True):
        mask = np.nan_to_num(surface, nan=np.inf) <= threshold
        cells = [
            shape(g)
            for g, v in rasterio.features.shapes(
                mask.astype(np.uint8), mask=mask, transform=transform
            )
            if v == 1
        ]
        expected = union_all(cells)
        assert polygon.geom_type == "MultiPolygon"
        assert polygon.area == pytest.approx(mask.sum() * 250.0**2)
        assert polygon.symmetric_difference(expected).area == pytest.approx(0.0, abs=1e-6)


def test_a_scenario_reuses_the_isochrones_of_unchanged_facilities(demo_inputs):
    """Per-facility isochrones are computed once per network, facility node, connector time,
    direction and thresholds: a second call (a scenario's) reuses them, and they equal those
    of a fresh computation on a copy of the network."""
    import copy

    net = demo_inputs.network
    gps = demo_inputs.snaps.gp
    rows = np.flatnonzero(gps.reachable)[:4]
    grid = SurfaceGrid.build(net, cell_size_m=1000)

    def per_facility(network, grid, nodes):
        return catchments_by_facility(
            network,
            grid,
            nodes,
            [f"gp{i}" for i in range(len(nodes))],
            kind="gp",
            thresholds_min=[15, 60],
            facility_offset_s=np.full(len(nodes), 30.0),
        )

    first = per_facility(net, grid, gps.node[rows])
    again = per_facility(net, grid, gps.node[rows[::-1]])  # same facilities, other order
    assert again.geometry.iloc[0] is first.geometry.iloc[-2]  # reused, not recomputed
    other = copy.copy(net)
    fresh = per_facility(other, SurfaceGrid.build(other, cell_size_m=1000), gps.node[rows])
    assert [a.equals(b) for a, b in zip(fresh.geometry, first.geometry, strict=True)] == [True] * 8


def test_a_grid_too_large_for_memory_gets_coarser_cells(caplog):
    """A national extent at 250 m would be 64 million cells (several GB): the cells grow to
    the smallest multiple of 50 m within ``max_cells``, with a warning; a region that fits
    keeps its cells and says nothing."""
    from geo.analysis.catchments import grid_cell_size_m

    nation = (0.0, 0.0, 2_000_000.0, 2_000_000.0)
    with caplog.at_level("WARNING", logger="geo"):
        assert grid_cell_size_m(nation, 250.0, 4_000_000) == 1000.0
    assert "catchments.max_cells" in caplog.text and "64,000,000 cells" in caplog.text
    caplog.clear()
    # Not square, not a round size: the smallest 50 m step that fits.
    strip = (0.0, 0.0, 1_234_567.0, 98_765.0)
    size = grid_cell_size_m(strip, 100.0, 1_000_000)
    cells = lambda s: np.ceil(1_234_567.0 / s) * np.ceil(98_765.0 / s)  # noqa: E731
    assert size % 50 == 0 and cells(size) <= 1_000_000 < cells(size - 50)
    caplog.clear()
    island = (0.0, 0.0, 40_000.0, 25_000.0)
    with caplog.at_level("WARNING", logger="geo"):
        assert grid_cell_size_m(island, 250.0, 4_000_000) == 250.0
        assert grid_cell_size_m(island, 250.0, None) == 250.0
    assert caplog.text == ""


def test_a_run_with_few_cells_allowed_draws_coarser_catchments(demo_config, demo_inputs):
    """Through the run: ``catchments.max_cells`` coarsens the surface and says so in the
    run's warnings; the catchments still cover the region's people."""
    from geo.progress import collect_warnings
    from geo.workflows.pipeline import analyse

    cfg = demo_config.catchments.model_copy(update={"max_cells": 2_000, "per_facility": False})
    config = demo_config.model_copy(update={"catchments": cfg})
    with collect_warnings() as caught:
        results = analyse(config, demo_inputs)
    cell_m = results.travel_time_surface["transform"].a
    rows, cols = results.travel_time_surface["array"].shape
    assert cell_m > demo_config.catchments.cell_size_m and rows * cols <= 2_000
    assert any("catchments.max_cells" in m for m in caught.messages)
    spc = results.catchments[results.catchments["kind"] == "spc"]
    widest = spc.loc[spc["threshold_min"].idxmax(), "geometry"]
    # People well inside the widest band (10 minutes to spare) lie in its coarse polygon.
    reached = results.origins["spc_travel_time_min"] <= spc["threshold_min"].max() - 10
    inside = results.origins[reached].within(widest.buffer(cell_m * 1.5))
    assert inside.mean() > 0.99
