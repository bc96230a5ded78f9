"""Density clusters on scipy against scikit-learn's DBSCAN (the reference implementation)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from geo.clusters import radius_clusters


@pytest.mark.parametrize("seed", range(12))
def test_labels_equal_scikit_learn_dbscan_with_weights(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    # Clumps and scattered points, so there are cores, borders, noise and chained clusters.
    centres = rng.uniform(0, 50_000, (6, 2))
    xy = centres[rng.integers(0, 6, n)] + rng.normal(0, rng.uniform(500, 5000), (n, 2))
    weights = rng.gamma(0.5, 0.4, n)
    eps_m = float(rng.uniform(800, 4000))
    min_weight = float(rng.uniform(0.3, 3.0))
    expected = DBSCAN(eps=eps_m, min_samples=1).fit(xy, sample_weight=weights / min_weight).labels_
    got = radius_clusters(xy, eps_m, weights=weights, min_weight=min_weight)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("min_samples", [1, 3, 5])
def test_unweighted_labels_equal_dbscan_min_samples(min_samples):
    rng = np.random.default_rng(min_samples)
    xy = rng.uniform(0, 10_000, (600, 2))
    expected = DBSCAN(eps=450.0, min_samples=min_samples).fit(xy).labels_
    got = radius_clusters(xy, 450.0, min_weight=min_samples)
    np.testing.assert_array_equal(got, expected)
    assert (got == -1).any() or min_samples == 1


def test_hand_worked_chain_border_and_noise():
    # a-b-c chain within 1 km of each other; d touches only c; e is alone.
    xy = np.array([[0, 0], [900, 0], [1800, 0], [2700, 0], [9000, 0]], float)
    # c has three neighbours (b, c, d) and is a core with min_weight 3; a, b have two.
    assert radius_clusters(xy, 1000.0, min_weight=3).tolist() == [0, 0, 0, 0, -1]
    assert radius_clusters(xy, 1000.0, min_weight=4).tolist() == [-1] * 5
    assert radius_clusters(xy, 1000.0).tolist() == [0, 0, 0, 0, 1]
    assert radius_clusters(np.zeros((0, 2)), 1000.0).tolist() == []


@pytest.mark.parametrize("seed", range(4))
def test_strips_give_the_same_labels_with_few_pairs_held(seed):
    """A layer too dense to hold all its pairs is searched in strips along x: the labels are
    DBSCAN's still, with clusters spanning strips, duplicate points and shared x values."""
    from geo.clusters import _strips

    rng = np.random.default_rng(seed)
    n = 3500
    centres = rng.uniform(0, 60_000, (8, 2))
    xy = centres[rng.integers(0, 8, n)] + rng.normal(0, rng.uniform(1000, 6000), (n, 2))
    xy[:200] = xy[200:400]  # duplicates
    xy[400:600, 0] = np.round(xy[400:600, 0], -3)  # many points on the same x
    weights = rng.gamma(0.5, 0.4, n)
    eps_m, min_weight = 2500.0, 2.0
    assert len(_strips(xy, eps_m, 20_000)) > 2  # the test does cut the layer
    expected = DBSCAN(eps=eps_m, min_samples=1).fit(xy, sample_weight=weights / min_weight).labels_
    got = radius_clusters(xy, eps_m, weights=weights, min_weight=min_weight, max_pairs=20_000)
    np.testing.assert_array_equal(got, expected)
    whole = radius_clusters(xy, eps_m, weights=weights, min_weight=min_weight)
    np.testing.assert_array_equal(got, whole)
    assert got.max() >= 1  # several clusters


@pytest.mark.parametrize("seed", range(3))
def test_outlines_drawn_on_a_grid_are_within_a_cell_of_the_exact_union_of_discs(seed):
    """Above ``max_exact_points`` (a national layer) outlines come from a grid of radius/5
    cells: each within about one cell diagonal of GEOS's exact union of the discs (and the
    other way round), under a tenth of its area apart, covering every point."""
    import shapely

    from geo.clusters import OUTLINE_CELLS_PER_RADIUS, cluster_outlines

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 80_000, (5, 2))
    xy = centres[rng.integers(0, 5, 3000)] + rng.normal(0, rng.uniform(1000, 6000), (3000, 2))
    labels = radius_clusters(xy, 2500.0, min_weight=4)
    radius, tolerance = 1250.0, 250.0
    exact = cluster_outlines(xy, labels, radius, tolerance_m=tolerance)
    grid = cluster_outlines(xy, labels, radius, tolerance_m=tolerance, max_exact_points=0)
    assert sorted(grid) == sorted(exact) == sorted(set(labels[labels >= 0]))
    cell = radius / OUTLINE_CELLS_PER_RADIUS
    for label, shape in exact.items():
        drawn = grid[label]
        near = 1.5 * cell * np.sqrt(2) + tolerance  # each within this of the other
        assert shape.buffer(near).covers(drawn) and drawn.buffer(near).covers(shape)
        assert drawn.symmetric_difference(shape).area <= 0.1 * shape.area
        members = shapely.points(xy[labels == label])
        assert shapely.covers(drawn.buffer(tolerance), members).all()


def test_no_clustered_point_gives_no_outline():
    from geo.clusters import cluster_outlines

    xy = np.array([[0.0, 0.0], [10_000.0, 0.0]])
    assert cluster_outlines(xy, np.array([-1, -1]), 500.0, tolerance_m=50.0) == {}
