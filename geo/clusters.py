"""Density clusters of points within a radius (DBSCAN's labelling, on scipy).

Hotspots of unmet need and ARIA-style service centres both group points that lie within
``eps_m`` of each other. scikit-learn's DBSCAN does this, but importing scikit-learn costs about
0.7 s, a fifth of an interactive run on a small region; the neighbour search is scipy's k-d tree
either way. :func:`radius_clusters` returns exactly DBSCAN's labels (tested against
scikit-learn): core points are those whose neighbourhood (themselves included, distance ≤
``eps_m``) weighs at least ``min_weight``; cores within ``eps_m`` of each other share a cluster;
a border point joins the lowest-numbered cluster among its neighbouring cores; clusters are
numbered in the order of their first core; everything else is noise (-1).

Memory: the pairs within ``eps_m`` of a dense national layer run to hundreds of millions (5M
cells of 500 m and a 5 km radius: some 800M pairs, 19 GB). Above ``max_pairs`` the points are
cut into strips along x, each searched with the points within ``eps_m`` of it, so no more than
about ``max_pairs`` pairs are held at once; the labels are the same (tested).

:func:`cluster_outlines` draws each cluster as the union of discs around its points: exactly
for up to :data:`EXACT_OUTLINE_MAX_POINTS` points, on a grid above that (same memory bound).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_outlines", "radius_clusters"]

MAX_PAIRS = 20_000_000  # about 0.5 GB of index pairs and their temporaries


def radius_clusters(
    xy: np.ndarray,
    eps_m: float,
    *,
    weights: np.ndarray | None = None,
    min_weight: float = 1.0,
    max_pairs: int = MAX_PAIRS,
) -> np.ndarray:
    """Cluster label of every point (``-1``: noise), as ``DBSCAN(eps, min_samples)``.

    Parameters
    ----------
    xy
        (n, 2) coordinates in a projected CRS (metres).
    eps_m
        Neighbourhood radius in metres (inclusive).
    weights
        Weight of each point (DBSCAN's ``sample_weight``); default 1 each.
    min_weight
        Least neighbourhood weight of a core point (DBSCAN's ``min_samples``).
    max_pairs
        About the most neighbour pairs held at once (more points are searched in strips).

    Returns
    -------
    numpy.ndarray
        int64 labels 0, 1, … in order of each cluster's lowest-indexed core point.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    n = len(xy)
    labels = np.full(n, -1, np.int64)
    if n == 0:
        return labels
    from scipy.spatial import cKDTree  # SciPy loads only when clustering (not for `gapmap report`)

    w = np.ones(n) if weights is None else np.asarray(weights, float)
    strips = _strips(xy, eps_m, max_pairs)
    if len(strips) > 1:
        return _clusters_by_strip(xy, eps_m, w, min_weight, strips)
    pairs = cKDTree(xy).query_pairs(eps_m, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    neighbourhood = w + np.bincount(i, weights=w[j], minlength=n)
    neighbourhood += np.bincount(j, weights=w[i], minlength=n)
    core = neighbourhood >= min_weight
    if not core.any():
        return labels
    _join_cores(labels, core, i, j)
    _attach_borders(labels, core, i, j)
    return labels


def _join_cores(labels: np.ndarray, core: np.ndarray, i: np.ndarray, j: np.ndarray) -> None:
    """Label connected cores, numbered by each component's lowest core index."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cores = np.flatnonzero(core)
    position = np.full(len(core), -1)
    position[cores] = np.arange(len(cores))
    both = core[i] & core[j]
    graph = coo_matrix(
        (np.ones(both.sum()), (position[i[both]], position[j[both]])),
        shape=(len(cores), len(cores)),
    )
    _, component = connected_components(graph, directed=False)
    # Cores are in index order, so a component's first appearance is its lowest core.
    _, first = np.unique(component, return_index=True)
    renumber = np.empty(len(first), np.int64)
    renumber[np.argsort(first)] = np.arange(len(first))
    labels[cores] = renumber[component]


def _attach_borders(labels: np.ndarray, core: np.ndarray, i: np.ndarray, j: np.ndarray) -> None:
    """Give each non-core point within reach of a core that core's lowest cluster label."""
    border = np.concatenate([j[core[i] & ~core[j]], i[core[j] & ~core[i]]])
    via = np.concatenate([i[core[i] & ~core[j]], j[core[j] & ~core[i]]])
    if border.size == 0:
        return
    best = np.full(len(labels), np.iinfo(np.int64).max)
    np.minimum.at(best, border, labels[via])
    reached = best < np.iinfo(np.int64).max
    labels[reached] = best[reached]


# --- Strips: the same labels with a bounded number of pairs ------------------------------------


def _strips(xy: np.ndarray, eps_m: float, max_pairs: int) -> list[tuple[np.ndarray, int, int]]:
    """Cuts along x: ``(points, first, stop)``, ``points`` being a strip's own points and those
    within ``eps_m`` of it in x, ``points[first:stop]`` its own. One strip when the pairs of the
    whole set (estimated from a sample) are within ``max_pairs``."""
    from scipy.spatial import cKDTree

    n = len(xy)
    everything = [(np.arange(n), 0, n)]
    if n * (n - 1) // 2 <= max_pairs:
        return everything
    sample = np.random.default_rng(0).choice(n, size=min(n, 2000), replace=False)
    found = cKDTree(xy).query_ball_point(xy[sample], eps_m, return_length=True)
    neighbours = max(float(np.mean(found)) - 1.0, 1.0)
    if n * neighbours / 2 <= max_pairs:
        return everything
    per_strip = max(int(2 * max_pairs / neighbours), 1000)
    order = np.argsort(xy[:, 0], kind="stable")
    xs = xy[order, 0]
    strips = []
    for start in range(0, n, per_strip):
        stop = min(start + per_strip, n)
        lo = int(np.searchsorted(xs, xs[start] - eps_m, side="left"))
        hi = int(np.searchsorted(xs, xs[stop - 1] + eps_m, side="right"))
        strips.append((order[lo:hi], start - lo, stop - lo))
    return strips


def _strip_pairs(xy, eps_m, strip) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The strip's pairs within ``eps_m`` (global indices) that touch its own points, and
    which of their ends are its own."""
    from scipy.spatial import cKDTree

    points, first, stop = strip
    local = cKDTree(xy[points]).query_pairs(eps_m, output_type="ndarray")
    own_i = (local[:, 0] >= first) & (local[:, 0] < stop)
    own_j = (local[:, 1] >= first) & (local[:, 1] < stop)
    touch = own_i | own_j
    return points[local[touch, 0]], points[local[touch, 1]], own_i[touch], own_j[touch]


def _clusters_by_strip(xy, eps_m, w, min_weight, strips) -> np.ndarray:
    """:func:`radius_clusters` strip by strip: neighbourhoods, then cores joined across
    strips, then borders, each pass searching one strip at a time."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(xy)
    labels = np.full(n, -1, np.int64)
    neighbourhood = w.copy()
    for strip in strips:  # each pair counts once for each of its ends that is the strip's own
        i, j, own_i, own_j = _strip_pairs(xy, eps_m, strip)
        neighbourhood += np.bincount(i[own_i], weights=w[j[own_i]], minlength=n)
        neighbourhood += np.bincount(j[own_j], weights=w[i[own_j]], minlength=n)
    core = neighbourhood >= min_weight
    if not core.any():
        return labels
    component = np.arange(n)
    for strip in strips:  # merge the components joined by this strip's core-core pairs
        i, j, _, _ = _strip_pairs(xy, eps_m, strip)
        both = core[i] & core[j]
        if both.any():
            a, b = component[i[both]], component[j[both]]
            graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
            _, merged = connected_components(graph, directed=False)
            component = merged[component]
    cores = np.flatnonzero(core)
    _, first, members = np.unique(component[cores], return_index=True, return_inverse=True)
    renumber = np.empty(len(first), np.int64)
    renumber[np.argsort(first)] = np.arange(len(first))  # numbered by their lowest core
    labels[cores] = renumber[members.ravel()]
    for strip in strips:
        i, j, _, _ = _strip_pairs(xy, eps_m, strip)
        _attach_borders(labels, core, i, j)
    return labels


# --- Outlines: the union of discs around each cluster's points ---------------------------------

EXACT_OUTLINE_MAX_POINTS = 200_000  # above: drawn on a grid (GEOS unions of millions of discs
# take minutes and tens of GB; a national layer has millions of points beyond reach)
OUTLINE_CELLS_PER_RADIUS = 5
MAX_OUTLINE_CELLS = 40_000_000  # one cluster's grid: about 0.5 GB with its distance transform


def cluster_outlines(
    xy: np.ndarray,
    labels: np.ndarray,
    radius_m: float,
    *,
    tolerance_m: float,
    max_exact_points: int = EXACT_OUTLINE_MAX_POINTS,
) -> dict[int, object]:
    """Each cluster's outline: the union of discs of ``radius_m`` around its points, simplified
    by ``tolerance_m``.

    Up to ``max_exact_points`` clustered points the discs (32-gons) are unioned exactly
    (GEOS). Above it each cluster is drawn on a grid of ``radius_m / 5`` cells over its own
    extent (coarser if that would need more than :data:`MAX_OUTLINE_CELLS`): each point marks
    its cell, every cell within ``radius_m`` of a marked cell is in (a Euclidean distance
    transform), and the cells are polygonised (rasterio). That outline is within about one
    cell diagonal of the exact one (tested) and takes memory for the grid only.

    Parameters
    ----------
    xy
        (n, 2) projected coordinates (metres).
    labels
        Cluster of each point (``-1``: none; ignored).
    radius_m
        Disc radius.
    tolerance_m
        Simplification tolerance of each outline.
    max_exact_points
        The most clustered points unioned exactly.

    Returns
    -------
    dict
        Shapely (multi)polygon per cluster label.
    """
    import shapely

    xy = np.asarray(xy, float).reshape(-1, 2)
    labels = np.asarray(labels, np.int64)
    member = labels >= 0
    xy, labels = xy[member], labels[member]
    if not len(labels):
        return {}
    groups = _members_by_label(labels)
    if len(labels) > max_exact_points:
        pieces = {label: _disc_union_on_grid(xy[g], radius_m) for label, g in groups.items()}
    else:
        discs = shapely.buffer(shapely.points(xy), radius_m, quad_segs=8)
        pieces = {label: shapely.union_all(discs[g]) for label, g in groups.items()}
    outlines = {label: shapely.simplify(shape, tolerance_m) for label, shape in pieces.items()}
    # Simplifying can leave a ring touching itself; buffer(0) repairs a polygon as a polygon.
    return {k: v if v.is_valid else shapely.buffer(v, 0) for k, v in outlines.items()}


def _members_by_label(labels: np.ndarray) -> dict[int, np.ndarray]:
    """The positions of each label's points, by label."""
    order = np.argsort(labels, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
    return {int(labels[g[0]]): g for g in groups}


def _disc_union_on_grid(xy: np.ndarray, radius_m: float) -> object:
    """The union of discs of ``radius_m`` around one cluster's points, as grid cells
    polygonised: a cell is in when its centre is within the radius of a point's cell centre
    (each cluster on its own grid, so clusters may overlap as their discs do)."""
    import rasterio.features
    import shapely
    from affine import Affine
    from scipy.ndimage import distance_transform_edt

    margin = 2.0 * radius_m
    minx, miny = xy.min(axis=0) - margin
    maxx, maxy = xy.max(axis=0) + margin
    cell = radius_m / OUTLINE_CELLS_PER_RADIUS
    cell = max(cell, float(np.sqrt((maxx - minx) * (maxy - miny) / MAX_OUTLINE_CELLS)))
    cols, rows = int(np.ceil((maxx - minx) / cell)), int(np.ceil((maxy - miny) / cell))
    empty = np.ones((rows, cols), bool)
    empty[
        ((maxy - xy[:, 1]) / cell).astype(np.int64), ((xy[:, 0] - minx) / cell).astype(np.int64)
    ] = False
    inside = (distance_transform_edt(empty) * cell <= radius_m).astype(np.uint8)
    del empty
    transform = Affine(cell, 0.0, minx, 0.0, -cell, maxy)
    shapes = rasterio.features.shapes(inside, mask=inside.astype(bool), transform=transform)
    return shapely.union_all([shapely.geometry.shape(geom) for geom, _ in shapes])
