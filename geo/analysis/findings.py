"""Findings: every headline figure of a run, computed once from the coverage columns.

:func:`compute_findings` sums the origins' coverage classes (:mod:`geo.analysis.coverage`) per
need group, and reads each GP practice's link status; nothing else in the toolkit recomputes a
headline. The same function serves a whole region, one sub-area (workshop packs) and every
speed-uncertainty draw, so their figures share one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geo.analysis.classes import CLASS_COLUMN, COVERAGE_CLASSES, NEED_COLUMN, SPC_BEYOND
from geo.analysis.gaps import band_labels
from geo.results import Findings


def remote_classes(class_order: Sequence[str], present: Sequence[str] | None = None) -> list[str]:
    """The classes a finding calls remote, among those ``present`` (default: all).

    Classes whose name says "remote" (ABS Remote and Very Remote Australia); for schemes
    without such classes (England's rural-urban classification) the most remote class of the
    ordering that is present. Empty when no class is present.
    """
    present_set = set(class_order if present is None else present)
    ordered = [c for c in class_order if c in present_set]
    named = [c for c in ordered if "remote" in c.lower() and "not remote" not in c.lower()]
    return named or ordered[-1:]


def coverage_counts(origins: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Need group -> coverage class -> people and need of that group in that class."""
    people = origins["pop_count"].to_numpy(float)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group, class_column in CLASS_COLUMN.items():
        # Class codes once (integer comparisons, not strings), then masked sums: the same
        # order of additions as the totals, so "everyone in one class" sums to the total.
        codes = pd.Index(COVERAGE_CLASSES).get_indexer(origins[class_column])  # -1: other
        need = origins[NEED_COLUMN[group]].to_numpy(float)
        out[group] = {}
        for i, c in enumerate(COVERAGE_CLASSES):
            members = codes == i
            out[group][c] = {
                "pop_count": float(people[members].sum()),
                "need": float(need[members].sum()),
            }
    return out


def _by_remoteness(origins: pd.DataFrame, class_order: Sequence[str]) -> dict[str, dict]:
    # Arrays once, then masks per class: a pack cuts a sub-area many times, and selecting
    # rows of a wide frame per class costs more than the sums themselves.
    rem = origins["remoteness_class"].astype(object).to_numpy()
    people = origins["pop_count"].to_numpy(float)
    need = {group: origins[NEED_COLUMN[group]].to_numpy(float) for group in CLASS_COLUMN}
    classes = {group: origins[col].to_numpy(object) for group, col in CLASS_COLUMN.items()}
    out = {}
    for name in [c for c in class_order if (rem == c).any()]:
        rows = rem == name
        beyond = unknown = 0.0
        for group in CLASS_COLUMN:
            part_need, part_classes = need[group][rows], classes[group][rows]
            beyond += float(part_need[np.isin(part_classes, SPC_BEYOND)].sum())
            unknown += float(part_need[part_classes == "unknown"].sum())
        out[name] = {
            "pop_count": float(np.nansum(people[rows])),  # NaN adds nothing, as in pandas
            "need_cancer": float(np.nansum(need["cancer"][rows])),
            "need_non_cancer": float(np.nansum(need["non_cancer"][rows])),
            "need_beyond_spc": beyond,
            "need_unknown_spc": unknown,
        }
    return out


def gp_links(gp_practices: pd.DataFrame) -> list[dict[str, Any]]:
    """Each practice's link to specialist care, for findings and the report."""
    if gp_practices is None or gp_practices.empty or "link_status" not in gp_practices:
        return []
    columns = ("facility_id", "name", "link_status", "spc_travel_time_min")
    served = gp_practices["pop_served"].tolist() if "pop_served" in gp_practices else None
    rows = zip(
        *(gp_practices[c].tolist() for c in columns),
        served or [0.0] * len(gp_practices),
        strict=True,
    )
    return [
        {
            "facility_id": facility_id,
            "name": name,
            "link_status": status,
            "spc_travel_time_min": _finite_or_none(minutes),
            "pop_served": float(pop),
        }
        for facility_id, name, status, minutes, pop in rows
    ]


def _finite_or_none(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _facility_records(
    frame: pd.DataFrame, rows: np.ndarray, extra: dict[str, str] | None = None
) -> list[dict]:
    """The selected facilities as records of their ids, names, kinds and snap distances, plus
    ``extra`` columns under new keys (columns picked before rows: a facility layer carries
    geometry and many columns)."""
    if not rows.any():
        return []
    extra = extra or {}
    wanted = ("facility_id", "name", "kind", "snap_distance_m", *extra)
    records = frame.loc[rows, [c for c in wanted if c in frame]].to_dict("records")
    return [
        {
            "facility_id": row["facility_id"],
            "name": row["name"],
            "kind": row.get("kind"),
            "snap_distance_m": float(row["snap_distance_m"]),
            **{key: row.get(column) for column, key in extra.items()},
        }
        for row in records
    ]


def _reachable(frame: pd.DataFrame) -> np.ndarray:
    return frame["reachable"].astype(bool).to_numpy()


def excluded_facilities(
    *frames: pd.DataFrame, only: set[str] | None = None
) -> list[dict[str, Any]]:
    """Facilities left out of routing (off the road network), with why (``reason``); with
    ``only``, those ids only (the ones that could matter to the area)."""
    rows = []
    for frame in frames:
        if frame is None or "reachable" not in frame:
            continue
        off = ~_reachable(frame)
        if only is not None:
            off &= frame["facility_id"].isin(only).to_numpy()
        rows += _facility_records(frame, off, {"unreachable_reason": "reason"})
    return rows


def long_snaps(*frames: pd.DataFrame, warn_m: float) -> list[dict[str, Any]]:
    """Facilities attached to the network from farther than ``warn_m`` (metres)."""
    rows = []
    for frame in frames:
        if frame is None or "snap_distance_m" not in frame:
            continue
        far = _reachable(frame) & (frame["snap_distance_m"].to_numpy(float) > warn_m)
        rows += _facility_records(frame, far)
    return rows


def compute_findings(
    origins: pd.DataFrame,
    *,
    gp_practices: pd.DataFrame | None,
    specialist_services: pd.DataFrame | None = None,
    class_order: Sequence[str],
    thresholds: dict[str, Any],
    unknown_kinds: dict[str, str] | None = None,
    scope: str = "region",
    edge: dict[str, Any] | None = None,
    warn_snap_distance_m: float = 500.0,
) -> Findings:
    """Every headline figure of ``origins`` (a region's, or one sub-area's).

    Parameters
    ----------
    origins
        Origins with ``pop_count``, ``need_cancer``, ``need_non_cancer``, ``remoteness_class``,
        ``reachable`` and the coverage columns of :func:`geo.analysis.coverage.classify_origins`.
    gp_practices
        The GP practices to report (with ``link_status`` and ``pop_served``).
    specialist_services
        The services (for the list of those left out of routing).
    class_order
        The remoteness scheme's classes, least remote first.
    thresholds
        ``gp_min``, ``spc_min``, ``isolated_gp_min``, ``by_remoteness`` (as configured).
    unknown_kinds
        Time column -> why it is unknown everywhere (from the search plan).
    scope
        ``region`` or ``subarea`` (wording of sentences).
    edge
        Edge effects of the road extract (:func:`geo.inputs.edges.edge_effects`); facilities
        left out of routing are listed when they could matter (within its ``reach_m``).
    warn_snap_distance_m
        Facilities attached from farther than this are listed as long snaps.
    """
    by_rem = _by_remoteness(origins, class_order)
    off = ~origins["reachable"].astype(bool).to_numpy() if len(origins) else np.zeros(0, bool)
    return Findings(
        scope=scope,
        thresholds=dict(thresholds),
        pop_count=float(origins["pop_count"].sum()),
        need_cancer=float(origins["need_cancer"].sum()),
        need_non_cancer=float(origins["need_non_cancer"].sum()),
        origins=len(origins),
        origins_off_network=int(off.sum()),
        pop_off_network=float(origins["pop_count"].to_numpy(float)[off].sum()),
        coverage=coverage_counts(origins),
        by_remoteness=by_rem,
        remote_classes=remote_classes(class_order, present=list(by_rem)),
        gp_links=gp_links(gp_practices),
        unknown_kinds=dict(unknown_kinds or {}),
        excluded_facilities=excluded_facilities(
            gp_practices, specialist_services, only=_could_matter(edge)
        ),
        long_snaps=long_snaps(gp_practices, specialist_services, warn_m=warn_snap_distance_m),
        edge=dict(edge or {}),
        spc_bands=spc_bands(origins, thresholds.get("bands_min") or []),
    )


def headline_findings(
    origins: pd.DataFrame, *, unknown_kinds: dict[str, str] | None = None
) -> Findings:
    """Only what :meth:`~geo.results.Findings.headline_shares` reads (totals and coverage
    counts), from the same coverage counts as :func:`compute_findings`: for the speed
    uncertainty draws, which need the headline shares of many runs and nothing else."""
    return Findings(
        scope="draw",
        thresholds={},
        pop_count=float(origins["pop_count"].sum()),
        need_cancer=float(origins["need_cancer"].sum()),
        need_non_cancer=float(origins["need_non_cancer"].sum()),
        origins=len(origins),
        origins_off_network=0,
        pop_off_network=0.0,
        coverage=coverage_counts(origins),
        by_remoteness={},
        remote_classes=[],
        gp_links=[],
        unknown_kinds=dict(unknown_kinds or {}),
        excluded_facilities=[],
        long_snaps=[],
        edge={},
        spc_bands=[],
    )


def spc_bands(origins: pd.DataFrame, bands_min: Sequence[float]) -> list[dict[str, Any]]:
    """Need by road time to the nearest specialist service that would accept it (see
    :attr:`geo.results.Findings.spc_bands`); unknown times (NaN) fall in no band."""
    if not len(bands_min) or "spc_travel_time_min" not in origins:
        return []
    edges = np.array([0.0, *bands_min, np.inf])
    labels = band_labels(bands_min)
    need = np.zeros(len(labels))
    for group, column in (
        ("need_cancer", "spc_travel_time_min"),
        ("need_non_cancer", "spc_non_cancer_travel_time_min"),
    ):
        minutes = origins[column].to_numpy(float)
        known = ~np.isnan(minutes)
        index = np.clip(np.searchsorted(edges, minutes[known], side="left") - 1, 0, len(labels) - 1)
        need += np.bincount(
            index, weights=origins[group].to_numpy(float)[known], minlength=len(labels)
        )
    uppers = [float(b) for b in bands_min] + [None]
    return [
        {"band": label, "upper_min": upper, "need": float(value)}
        for label, upper, value in zip(labels, uppers, need, strict=True)
    ]


def _could_matter(edge: dict[str, Any] | None) -> set[str] | None:
    if not edge or "left_out_within_reach" not in edge:
        return None
    return {f["facility_id"] for f in edge["left_out_within_reach"]}
