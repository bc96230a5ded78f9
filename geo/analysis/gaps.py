"""Gap tables: people and palliative need by coverage class, remoteness, sub-area and travel time.

Coverage tables are long and tidy: a row counts the people and the need of one need group
(``need_group``: ``cancer`` or ``non_cancer``) whose coverage class *for that group* is the row's
``coverage_class`` (classes from :mod:`geo.analysis.coverage`), so a row never mixes two
populations and never has need without people. Each (grouping, need group) block adds up to the
area's people and that group's need; region totals are a separate table (``coverage_totals``),
never an ``All`` row inside a table.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.analysis.classes import (
    CLASS_COLUMN,
    COUNT_COLUMNS,
    COVERAGE_CLASSES,
    NEED_COLUMN,
    SPC_BEYOND,
)
from geo.clusters import cluster_outlines, radius_clusters

OUTSIDE_SUBAREAS = "(outside sub-areas)"
UNKNOWN_BAND = "unknown"
COVERAGE_COLUMNS = ("need_group", "coverage_class", "pop_count", "need", "pop_pct", "need_pct")


def coverage_table(
    origins: pd.DataFrame, *, by: str | None, categories: Sequence[str] | None = None
) -> pd.DataFrame:
    """People and need by ``by`` × need group × coverage class (long, tidy).

    Parameters
    ----------
    origins
        Origins with ``pop_count``, ``need_cancer``, ``need_non_cancer``, ``coverage_class``,
        ``coverage_class_non_cancer`` and the ``by`` column.
    by
        Grouping column, e.g. ``remoteness_class`` or ``area_id``; None for area totals.
    categories
        All values of ``by`` to list (in order), including those with nobody; default: the
        values present, sorted.

    Returns
    -------
    pandas.DataFrame
        Columns ``by`` (unless None), ``need_group``, ``coverage_class``, ``pop_count``,
        ``need`` (people a year), ``pop_pct`` and ``need_pct`` (0-100, of the row's
        ``by`` × need-group block; NaN for an empty block).
    """
    if by:
        groups = (
            list(categories) if categories is not None else sorted(origins[by].dropna().unique())
        )
        group_code = pd.Index(groups).get_indexer(origins[by])  # -1: not listed, or NaN
    else:
        groups = ["all"]
        group_code = np.zeros(len(origins), np.int64)
    n_classes = len(COVERAGE_CLASSES)
    pop = np.nan_to_num(origins["pop_count"].to_numpy(float), nan=0.0)  # NaN adds nothing
    columns: dict[str, list] = {c: [] for c in ("pop_count", "need", "pop_pct", "need_pct")}
    for group, class_column in CLASS_COLUMN.items():
        class_code = pd.Index(COVERAGE_CLASSES).get_indexer(origins[class_column])
        keep = (group_code >= 0) & (class_code >= 0)
        cell = group_code[keep] * n_classes + class_code[keep]
        need = np.nan_to_num(origins[NEED_COLUMN[group]].to_numpy(float), nan=0.0)
        for name, values in (("pop_count", pop), ("need", need)):
            sums = _weighted_bincount(cell, values[keep], len(groups) * n_classes)
            block = sums.reshape(len(groups), n_classes)
            total = block.sum(axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = 100.0 * block / np.where(total > 0, total, np.nan)
            columns[name].append(block)
            columns[name.replace("_count", "") + "_pct"].append(share)
    # Rows: each group (in order), then need group, then coverage class.
    stacked = {name: np.stack(parts, axis=1).ravel() for name, parts in columns.items()}
    n_groups = len(CLASS_COLUMN)
    keys = {by: [g for g in groups for _ in range(n_groups * n_classes)]} if by else {}
    return pd.DataFrame(
        {
            **keys,
            "need_group": [ng for _ in groups for ng in CLASS_COLUMN for _ in COVERAGE_CLASSES],
            "coverage_class": list(COVERAGE_CLASSES) * (len(groups) * n_groups),
            **{c: stacked[c] for c in ("pop_count", "need", "pop_pct", "need_pct")},
        }
    )


def _weighted_bincount(codes: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
    """Sums of ``weights`` per code 0..length-1, always float (NumPy gives ints when empty)."""
    return np.bincount(codes, weights=weights, minlength=length).astype(float, copy=False)


def coverage_totals(origins: pd.DataFrame) -> pd.DataFrame:
    """The area's people and need by need group × coverage class (the region totals)."""
    return coverage_table(origins, by=None)


def coverage_by_remoteness(origins: pd.DataFrame, *, class_order: Sequence[str]) -> pd.DataFrame:
    """Coverage by remoteness class (least to most remote; classes present in the data only
    when they are not in the scheme's order)."""
    present = set(origins["remoteness_class"].dropna().unique())
    order = list(class_order) + sorted(present - set(class_order))
    return coverage_table(origins, by="remoteness_class", categories=order)


def coverage_by_subarea(
    origins: pd.DataFrame,
    subareas: pd.DataFrame | None,
    *,
    suppress_below: float = 5.0,
) -> pd.DataFrame:
    """Coverage by sub-area, with names and small-count flags for reports.

    Origins outside every sub-area are grouped as ``(outside sub-areas)`` so totals still add
    up. ``small_count`` is True on a row whose people or need is positive but under
    ``suppress_below``: reports suppress those cells (with complementary cells, see
    :mod:`geo.render.suppression`).
    """
    area = origins["area_id"].astype(object).where(origins["area_id"].notna(), OUTSIDE_SUBAREAS)
    frame = origins.assign(area_id=area)
    ids = list(subareas["area_id"]) if subareas is not None else []
    extra = sorted(set(frame["area_id"]) - set(ids))
    table = coverage_table(frame, by="area_id", categories=ids + extra)
    names = (
        {}
        if subareas is None
        else dict(zip(subareas["area_id"], subareas["area_name"], strict=True))
    )
    names[OUTSIDE_SUBAREAS] = OUTSIDE_SUBAREAS
    table.insert(1, "area_name", table["area_id"].map(names).fillna(table["area_id"]))
    small = lambda v: (v > 0) & (v < suppress_below)  # noqa: E731
    table["small_count"] = small(table["pop_count"]) | small(table["need"])
    return table


def band_labels(bands_min: Sequence[float]) -> list[str]:
    """Labels such as ``0-15``, ``15-30``, ..., ``120+`` for band edges in minutes."""
    edges = [0.0, *bands_min]
    labels = [f"{_fmt(a)}-{_fmt(b)}" for a, b in itertools.pairwise(edges)]
    return [*labels, f"{_fmt(edges[-1])}+"]


def _fmt(x: float) -> str:
    return f"{x:g}"


def travel_time_bands(
    origins: pd.DataFrame, *, service_columns: dict[str, str], bands_min: Sequence[float]
) -> pd.DataFrame:
    """People and need by travel-time band for each service kind.

    Parameters
    ----------
    origins
        Origins with count columns and the travel-time columns named in ``service_columns``.
    service_columns
        Service kind (e.g. ``gp``, ``spc``) -> travel-time column in minutes.
    bands_min
        Upper band edges in minutes (a band includes its upper edge: 15 min is in ``0-15``).
        Times of ``inf`` fall in the last (open) band; NaN (unknown) in ``unknown``.

    Returns
    -------
    pandas.DataFrame
        Columns ``service_kind``, ``band``, ``band_order``, ``lower_min``, ``upper_min`` (NaN
        for the open and unknown bands), ``pop_count``, ``need_cancer``, ``need_non_cancer``,
        and ``pop_pct``, ``need_cancer_pct``, ``need_non_cancer_pct`` (0-100 of the region
        total). Origins whose time is unknown form the ``unknown`` band.
    """
    counts = _counts(origins)
    n_bands = len(bands_min) + 2
    sums = [
        _band_sums(_band_codes(origins[col], bands_min), counts, n_bands)
        for col in service_columns.values()
    ]
    return _bands_table({"service_kind": list(service_columns)}, sums, bands_min)


def _band_codes(minutes: pd.Series | np.ndarray, bands_min: Sequence[float]) -> np.ndarray:
    """Each time's band: 0 for ``0-<first edge>``, ..., ``len(bands_min)`` for the open band
    (times beyond every edge, +inf included), ``len(bands_min) + 1`` for unknown (NaN)."""
    minutes = np.asarray(minutes, dtype=float)
    edges = np.array([0.0, *bands_min])
    index = np.clip(np.searchsorted(edges, minutes, side="left") - 1, 0, len(edges) - 1)
    # NaN: unknown (off the road network, or no eligible service placed); +inf: beyond
    # every band (no service reachable, or beyond a partitioned run's search limit).
    index[np.isnan(minutes)] = len(edges)
    return index


def _counts(origins: pd.DataFrame) -> dict[str, np.ndarray]:
    # NaN counts add nothing, as in a pandas sum
    return {c: np.nan_to_num(origins[c].to_numpy(float), nan=0.0) for c in COUNT_COLUMNS}


def _band_sums(
    codes: np.ndarray, counts: dict[str, np.ndarray], n_bands: int
) -> dict[str, np.ndarray]:
    """Each count summed per band code."""
    return {name: _weighted_bincount(codes, values, n_bands) for name, values in counts.items()}


def _bands_table(
    keys: dict[str, list], sums: list[dict[str, np.ndarray]], bands_min: Sequence[float]
) -> pd.DataFrame:
    """One block of band rows per entry of ``sums`` (key columns from ``keys``, in order),
    with each count's ``_pct`` of its block's total."""
    labels = [*band_labels(bands_min), UNKNOWN_BAND]
    n_bands = len(labels)
    order = np.tile(np.arange(n_bands), len(sums))
    block = np.repeat(np.arange(len(sums)), n_bands)
    counts = {
        name: np.concatenate([part[name] for part in sums]) if sums else np.zeros(0)
        for name in COUNT_COLUMNS
    }
    shares = {}
    for name, values in counts.items():
        total = _weighted_bincount(block, values, len(sums))[block]
        with np.errstate(invalid="ignore", divide="ignore"):
            shares[f"{name.replace('_count', '')}_pct"] = (
                100.0 * values / np.where(total > 0, total, np.nan)
            )
    return pd.DataFrame(
        {
            **{k: np.repeat(np.array(v, dtype=object), n_bands) for k, v in keys.items()},
            "band": np.tile(np.array(labels, dtype=object), len(sums)),
            "band_order": order,
            "lower_min": np.array([0.0, *bands_min, np.nan])[order],
            "upper_min": np.array([*bands_min, np.nan, np.nan])[order],
            **counts,
            **shares,
        }
    )


def gp_specialist_links(gp_practices: pd.DataFrame, services: pd.DataFrame) -> pd.DataFrame:
    """Each GP practice: its nearest SPC service, travel time, the need it serves, link status.

    ``link_status`` is ``linked``, ``isolated`` (no SPC service within the isolation
    threshold), ``off_network`` (the practice is left out of routing) or ``unknown`` (no SPC
    service could be placed on the network); see :func:`geo.analysis.coverage.gp_link_status`.
    """
    names = dict(zip(services["facility_id"], services["name"], strict=True))
    table = pd.DataFrame(
        {
            "facility_id": gp_practices["facility_id"].to_numpy(),
            "name": gp_practices["name"].to_numpy(),
            "nearest_spc_id": gp_practices["nearest_spc_id"].to_numpy(),
            "spc_travel_time_min": gp_practices["spc_travel_time_min"].to_numpy(float),
            "link_status": gp_practices["link_status"].to_numpy(object),
            "snap_distance_m": gp_practices["snap_distance_m"].to_numpy(float),
            "pop_served": gp_practices["pop_served"].to_numpy(float),
            "need_cancer_served": gp_practices["need_cancer_served"].to_numpy(float),
            "need_non_cancer_served": gp_practices["need_non_cancer_served"].to_numpy(float),
        }
    )
    table.insert(3, "nearest_spc_name", table["nearest_spc_id"].map(names))
    return table.sort_values(
        "spc_travel_time_min", ascending=False, na_position="first", ignore_index=True
    )


def hotspots(
    origins: gpd.GeoDataFrame, *, eps_m: float = 5000.0, min_need: float = 1.0
) -> gpd.GeoDataFrame:
    """Clusters of palliative need beyond specialist reach, as polygons.

    Each origin weighs its need beyond SPC reach (cancer and non-cancer need, each by its own
    coverage class, see :func:`need_beyond_spc`). Origins with such need are clustered with
    DBSCAN (:func:`geo.clusters.radius_clusters`) on their projected coordinates, weighted
    by that need, so a cluster is a place where at least ``min_need`` people a year who need
    palliative care beyond specialist reach live within ``eps_m`` of each other.

    Parameters
    ----------
    origins
        Origins in a projected CRS with counts and coverage classes.
    eps_m
        Neighbourhood radius in metres.
    min_need
        Least need (weighted sample count) to form a cluster core.

    Returns
    -------
    geopandas.GeoDataFrame
        ``hotspot_id`` (1 = most need), ``pop_count`` (people living in it),
        ``need_cancer_beyond_spc``, ``need_non_cancer_beyond_spc``, ``need_beyond_spc``,
        ``origins`` and a polygon (the members buffered by ``eps_m / 2``), in the origins' CRS.
        Empty (with those columns and types) when there is no hotspot.
    """
    cancer = (
        origins["need_cancer"].to_numpy(float)
        * origins[CLASS_COLUMN["cancer"]].isin(SPC_BEYOND).to_numpy()
    )
    non_cancer = (
        origins["need_non_cancer"].to_numpy(float)
        * origins[CLASS_COLUMN["non_cancer"]].isin(SPC_BEYOND).to_numpy()
    )
    weights = cancer + non_cancer
    keep = weights > 0
    if not keep.any():
        return empty_hotspots(origins.crs)
    points = origins.geometry[keep]  # only what a hotspot sums: a national layer is millions
    xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    # Need is the weight: a core point has at least ``min_need`` need within eps_m.
    labels = radius_clusters(xy, eps_m, weights=weights[keep], min_weight=min_need)
    member = labels >= 0
    if not member.any():
        return empty_hotspots(origins.crs)
    frame = pd.DataFrame(
        {
            "_label": labels[member],
            "pop_count": origins["pop_count"].to_numpy(float)[keep][member],
            "need_cancer_beyond_spc": cancer[keep][member],
            "need_non_cancer_beyond_spc": non_cancer[keep][member],
            "need_beyond_spc": weights[keep][member],
        }
    )
    sums = frame.groupby("_label")[list(HOTSPOT_COLUMNS[1:-1])].sum()
    sums["origins"] = frame.groupby("_label").size()
    shapes = cluster_outlines(xy, labels, eps_m / 2.0, tolerance_m=eps_m / 20.0)
    out = gpd.GeoDataFrame(sums, geometry=[shapes[label] for label in sums.index], crs=origins.crs)
    out = out.sort_values("need_beyond_spc", ascending=False, ignore_index=True)
    out.insert(0, "hotspot_id", np.arange(1, len(out) + 1))
    return out


HOTSPOT_COLUMNS = (
    "hotspot_id",
    "pop_count",
    "need_cancer_beyond_spc",
    "need_non_cancer_beyond_spc",
    "need_beyond_spc",
    "origins",
)


def empty_hotspots(crs) -> gpd.GeoDataFrame:
    """A hotspots layer with no rows but its column types and polygon geometry."""
    data = {
        c: pd.Series(dtype="int64" if c in ("hotspot_id", "origins") else "float64")
        for c in HOTSPOT_COLUMNS
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def travel_time_bands_by_remoteness(
    origins: pd.DataFrame,
    *,
    column: str,
    bands_min: Sequence[float],
    class_order: Sequence[str],
    service_kind: str = "spc",
) -> pd.DataFrame:
    """People and need by travel-time band within each remoteness class.

    Same columns as :func:`travel_time_bands` after a first column ``remoteness_class`` (the
    classes of ``class_order`` that have origins, in that order); ``*_pct`` are shares of the
    class's own total, so rows of one class add up to 100.
    """
    classes = origins["remoteness_class"].astype(object).to_numpy()
    present = [c for c in class_order if (classes == c).any()]
    index = _band_codes(origins[column], bands_min)
    counts = _counts(origins)
    n_bands = len(bands_min) + 2
    sums = []
    for name in present:
        rows = classes == name
        sums.append(_band_sums(index[rows], {c: v[rows] for c, v in counts.items()}, n_bands))
    keys = {"remoteness_class": present, "service_kind": [service_kind] * len(present)}
    return _bands_table(keys, sums, bands_min)


def need_beyond_spc(origins: pd.DataFrame) -> np.ndarray:
    """Per origin: its need (cancer and non-cancer, each by its own class) beyond SPC reach."""
    return need_in_classes(origins, SPC_BEYOND)


def need_in_classes(origins: pd.DataFrame, classes: tuple[str, ...]) -> np.ndarray:
    """Per origin: its need (cancer and non-cancer, each by its own class) in ``classes``."""
    cancer = origins[CLASS_COLUMN["cancer"]].isin(classes).to_numpy()
    non_cancer = origins[CLASS_COLUMN["non_cancer"]].isin(classes).to_numpy()
    return (
        origins["need_cancer"].to_numpy(float) * cancer
        + origins["need_non_cancer"].to_numpy(float) * non_cancer
    )
