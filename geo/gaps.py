"""Gap tables: people and palliative need by coverage class, remoteness, sub-area and travel time.

Every table counts ``pop_count``, ``need_cancer``, ``need_non_cancer`` and ``need_total``, and every
table's totals equal the region's totals (each origin lands in exactly one row per grouping).

Non-cancer need is classified with ``coverage_class_non_cancer`` when the origins carry it: a
specialist service that takes cancer referrals only does not cover a person dying of heart
failure. People and cancer need use ``coverage_class``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.access import COVERAGE_CLASSES

COUNT_COLUMNS = ("pop_count", "need_cancer", "need_non_cancer", "need_total")
ALL = "All"
OUTSIDE_SUBAREAS = "(outside sub-areas)"
UNREACHABLE_BAND = "unreachable"


def coverage_table(
    origins: pd.DataFrame, *, by: str, categories: Sequence[str] | None = None
) -> pd.DataFrame:
    """People and need by ``by`` × coverage class, long format, with ``All`` total rows.

    Parameters
    ----------
    origins
        Origins with ``coverage_class``, count columns and the ``by`` column
        (``coverage_class_non_cancer`` optional, see the module docstring).
    by
        Grouping column, e.g. ``remoteness_class`` or ``area_id``.
    categories
        All values of ``by`` to list (in order), including those with nobody; default: the
        values present, sorted.

    Returns
    -------
    pandas.DataFrame
        Columns ``by``, ``coverage_class``, the count columns and ``*_pct`` shares of each
        group's total (percent, NaN for an empty group).
    """
    groups = list(categories) if categories is not None else sorted(origins[by].dropna().unique())
    index = pd.MultiIndex.from_product([groups, COVERAGE_CLASSES], names=[by, "coverage_class"])
    non_cancer_class = origins.get("coverage_class_non_cancer", origins["coverage_class"])
    parts = [
        _sum_by(origins, [origins[by], origins["coverage_class"]], ["pop_count", "need_cancer"]),
        _sum_by(
            origins, [origins[by], non_cancer_class.rename("coverage_class")], ["need_non_cancer"]
        ),
    ]
    table = pd.concat(parts, axis=1).reindex(index, fill_value=0.0).fillna(0.0)
    totals = table.groupby(level="coverage_class", sort=False).sum()
    totals.index = pd.MultiIndex.from_product([[ALL], totals.index], names=index.names)
    table = pd.concat([table, totals])
    table["need_total"] = table["need_cancer"] + table["need_non_cancer"]
    table = table.reset_index()
    return _add_shares(table, by)


def _sum_by(origins: pd.DataFrame, keys: list[pd.Series], columns: list[str]) -> pd.DataFrame:
    return origins[columns].groupby(keys, dropna=False, observed=True).sum()


def _add_shares(table: pd.DataFrame, by: str) -> pd.DataFrame:
    for col in COUNT_COLUMNS:
        group_total = table.groupby(by, sort=False)[col].transform("sum")
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"{col.removesuffix('_count')}_pct"] = 100.0 * table[col] / group_total
    return table


def coverage_by_remoteness(origins: pd.DataFrame, *, class_order: Sequence[str]) -> pd.DataFrame:
    """Coverage by remoteness class (least to most remote, then ``All``)."""
    present = set(origins["remoteness_class"].dropna().unique())
    order = list(class_order) + sorted(present - set(class_order))
    return coverage_table(origins, by="remoteness_class", categories=order)


def coverage_by_subarea(
    origins: pd.DataFrame,
    subareas: pd.DataFrame | None,
    *,
    suppress_below: float = 5.0,
) -> pd.DataFrame:
    """Coverage by sub-area, with names and a small-count flag for reports.

    Origins outside every sub-area are grouped as ``(outside sub-areas)`` so totals still add up.
    ``small_count`` is True where a sub-area's total need is positive but under
    ``suppress_below``: reports suppress those rows' need figures.
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
    names.update({ALL: "All sub-areas", OUTSIDE_SUBAREAS: OUTSIDE_SUBAREAS})
    table.insert(1, "area_name", table["area_id"].map(names).fillna(table["area_id"]))
    need = table.groupby("area_id", sort=False)["need_total"].transform("sum")
    table["small_count"] = (need > 0) & (need < suppress_below)
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
        Times of ``inf`` fall in the last (open) band; NaN (no road) in ``unreachable``.

    Returns
    -------
    pandas.DataFrame
        Columns ``service_kind``, ``band``, ``band_order``, the count columns, and ``*_pct`` of the
        region total. Unreachable origins form the ``unreachable`` band.
    """
    labels = [*band_labels(bands_min), UNREACHABLE_BAND]
    edges = np.array([0.0, *bands_min])
    frames = []
    for kind, col in service_columns.items():
        minutes = origins[col].to_numpy(float)
        idx = np.searchsorted(edges, minutes, side="left") - 1
        idx = np.clip(idx, 0, len(edges) - 1)
        # NaN: no road (unreachable); +inf: beyond every band (e.g. beyond a partitioned
        # run's search limit), counted in the last band.
        idx[np.isnan(minutes)] = len(labels) - 1
        sums = (
            origins[["pop_count", "need_cancer", "need_non_cancer"]]
            .groupby(idx)
            .sum()
            .reindex(range(len(labels)), fill_value=0.0)
        )
        sums.insert(0, "band", labels)
        sums.insert(0, "service_kind", kind)
        frames.append(sums.rename_axis("band_order").reset_index())
    table = pd.concat(frames, ignore_index=True)
    table = table[
        ["service_kind", "band", "band_order", "pop_count", "need_cancer", "need_non_cancer"]
    ]
    table["need_total"] = table["need_cancer"] + table["need_non_cancer"]
    return _add_shares(table, "service_kind")


def gp_specialist_links(gp_practices: pd.DataFrame, services: pd.DataFrame) -> pd.DataFrame:
    """Each GP practice: its nearest SPC service, travel time, the need it serves, isolation."""
    names = dict(zip(services["facility_id"], services["name"], strict=True))
    table = pd.DataFrame(
        {
            "facility_id": gp_practices["facility_id"].to_numpy(),
            "name": gp_practices["name"].to_numpy(),
            "nearest_spc_id": gp_practices["nearest_spc_id"].to_numpy(),
            "spc_travel_time_min": gp_practices["spc_travel_time_min"].to_numpy(float),
            "pop_served": gp_practices["pop_served"].to_numpy(float),
            "need_cancer_served": gp_practices["need_cancer_served"].to_numpy(float),
            "need_non_cancer_served": gp_practices["need_non_cancer_served"].to_numpy(float),
            "isolated": gp_practices["isolated"].to_numpy(bool),
        }
    )
    table.insert(3, "nearest_spc_name", table["nearest_spc_id"].map(names))
    return table.sort_values(
        "spc_travel_time_min", ascending=False, na_position="first", ignore_index=True
    )


def hotspots(
    origins: gpd.GeoDataFrame,
    *,
    uncovered: np.ndarray,
    eps_m: float = 5000.0,
    min_need: float = 1.0,
    weight_column: str = "need_total",
) -> gpd.GeoDataFrame:
    """Clusters of uncovered palliative need, as polygons with their people and need.

    Origins outside specialist reach are clustered with DBSCAN (scikit-learn) on their projected
    coordinates, each weighted by its need, so a cluster is a place where at least ``min_need``
    people a year who need palliative care live within ``eps_m`` of each other.

    Parameters
    ----------
    origins
        Origins in a projected CRS with ``pop_count``, ``need_cancer``, ``need_non_cancer``.
    uncovered
        Boolean mask of origins outside reach (e.g. beyond the SPC threshold).
    eps_m
        Neighbourhood radius in metres.
    min_need
        Least total need (weighted sample count) to form a cluster core.
    weight_column
        Weight of each origin; ``need_total`` is need_cancer + need_non_cancer.

    Returns
    -------
    geopandas.GeoDataFrame
        ``hotspot_id`` (1 = most need), ``pop_count``, ``need_cancer``, ``need_non_cancer``,
        ``need_total``, ``origins`` and a polygon (the members buffered by ``eps_m / 2``), in
        the origins' CRS. Empty (with those columns) when there is no hotspot.
    """
    from sklearn.cluster import DBSCAN

    columns = ["hotspot_id", "pop_count", "need_cancer", "need_non_cancer", "need_total", "origins"]
    frame = origins.loc[np.asarray(uncovered, bool)]
    need = frame["need_cancer"].to_numpy(float) + frame["need_non_cancer"].to_numpy(float)
    weights = need if weight_column == "need_total" else frame[weight_column].to_numpy(float)
    keep = weights > 0
    frame, weights = frame.loc[keep], weights[keep]
    if frame.empty:
        return gpd.GeoDataFrame(
            columns=[*columns, "geometry"], geometry="geometry", crs=origins.crs
        )
    xy = np.column_stack([frame.geometry.x, frame.geometry.y])
    # Need is the sample weight: a core point has at least ``min_need`` need within eps_m
    # (weights are scaled so that DBSCAN's integer min_samples of 1 means min_need).
    scaled = weights / max(min_need, 1e-12)
    labels = DBSCAN(eps=eps_m, min_samples=1).fit(xy, sample_weight=scaled).labels_
    frame = frame.assign(
        _label=labels,
        need_total=weights
        if weight_column == "need_total"
        else frame["need_cancer"] + frame["need_non_cancer"],
    )
    frame = frame[frame["_label"] >= 0]
    if frame.empty:
        return gpd.GeoDataFrame(
            columns=[*columns, "geometry"], geometry="geometry", crs=origins.crs
        )
    sums = frame.groupby("_label")[
        ["pop_count", "need_cancer", "need_non_cancer", "need_total"]
    ].sum()
    sums["origins"] = frame.groupby("_label").size()
    shapes = (
        frame.geometry.buffer(eps_m / 2.0, quad_segs=8)
        .groupby(frame["_label"])
        .agg(lambda s: s.union_all().simplify(eps_m / 20.0))
    )
    out = gpd.GeoDataFrame(sums, geometry=shapes.reindex(sums.index).to_numpy(), crs=origins.crs)
    out = out.sort_values("need_total", ascending=False, ignore_index=True)
    out.insert(0, "hotspot_id", np.arange(1, len(out) + 1))
    return out


def headline_shares(
    origins: pd.DataFrame, *, gp_threshold_min: np.ndarray, spc_threshold_min: np.ndarray
) -> dict[str, float]:
    """The shares a planner quotes: need within SPC reach (all, non-cancer), coverage classes.

    ``origins`` needs ``pop_count``, ``need_cancer``, ``need_non_cancer``,
    ``gp_travel_time_min``, ``spc_travel_time_min`` and ``spc_non_cancer_travel_time_min``.
    """

    def within(col: str, th: np.ndarray) -> np.ndarray:
        return np.nan_to_num(origins[col].to_numpy(float), nan=np.inf) <= th

    gp = within("gp_travel_time_min", gp_threshold_min)
    spc = within("spc_travel_time_min", spc_threshold_min)
    spc_nc = within("spc_non_cancer_travel_time_min", spc_threshold_min)
    people = origins["pop_count"].to_numpy(float)
    cancer = origins["need_cancer"].to_numpy(float)
    non_cancer = origins["need_non_cancer"].to_numpy(float)
    need = cancer + non_cancer

    def share(values: np.ndarray, mask: np.ndarray) -> float:
        total = values.sum()
        return float(values[mask].sum() / total) if total > 0 else float("nan")

    return {
        "share_need_within_spc": share(need, spc),
        "share_cancer_need_within_spc": share(cancer, spc),
        "share_non_cancer_need_within_spc": share(non_cancer, spc_nc),
        "share_people_both": share(people, gp & spc),
        "share_people_gp_only": share(people, gp & ~spc),
        "share_people_neither": share(people, ~gp & ~spc),
    }


def travel_time_bands_by_remoteness(
    origins: pd.DataFrame,
    *,
    column: str,
    bands_min: Sequence[float],
    class_order: Sequence[str],
    service_kind: str = "spc",
) -> pd.DataFrame:
    """People and need by travel-time band within each remoteness class.

    Same columns as :func:`travel_time_bands` plus ``remoteness_class``; ``*_pct`` are shares
    of the class's own total, so rows of one class add up to 100.
    """
    frames = []
    classes = origins["remoteness_class"].astype(str)
    present = set(classes)
    for name in [c for c in class_order if c in present]:
        part = travel_time_bands(
            origins[classes == name], service_columns={service_kind: column}, bands_min=bands_min
        )
        part.insert(0, "remoteness_class", name)
        frames.append(part)
    if not frames:
        empty = travel_time_bands(
            origins.iloc[0:0], service_columns={service_kind: column}, bands_min=bands_min
        )
        return empty.assign(remoteness_class=pd.Series(dtype=object))
    return pd.concat(frames, ignore_index=True)
