"""The one coverage model: who can reach a GP, a specialist service that would take them, both.

This module is the only place that decides, per origin and per need group, whether a GP and an
eligible specialist palliative care (SPC) service are within reach. Everything that reports
coverage (tables, findings, the CLI summary, the report, the batch summary, workshop packs,
uncertainty intervals, scenarios and site selection) reads the columns it writes.

Rules
-----
* A service is within reach when the road time to the nearest one is within the origin's
  threshold in minutes (a time equal to the threshold is within). Thresholds may differ by
  remoteness class (``thresholds.by_remoteness``: dynamic catchments, McGrail & Humphreys 2014).
* Need groups: **cancer** need counts any SPC service; **non-cancer** need counts only services
  that accept non-cancer referrals (a cancer-only team does not cover a person dying of heart
  failure).
* Home visits (``thresholds.home_visits``): a home a community team can visit within a shift
  (2 × travel + visit ≤ shift) has SPC within reach whatever the SPC threshold; for non-cancer
  need only community teams that take non-cancer referrals count.
* Unknown: a time that is NaN (the origin is off the road network, or every eligible service
  of that kind lies off it) is unknown, never "beyond". A class that depends on an unknown
  half is ``unknown``.

Classes (``coverage_class`` for cancer need and people, ``coverage_class_non_cancer``):

``both``
    A GP and an eligible SPC service within reach: integrated care is geographically possible.
``gp_only``
    The integration gap: a GP within reach but no eligible specialist service.
``spc_only``
    An eligible specialist service within reach but no GP.
``neither``
    Neither half within reach.
``unknown``
    Whether one half is within reach cannot be said from the data (see above).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.analysis.classes import (  # noqa: F401  (the vocabulary, re-exported)
    CLASS_COLUMN,
    COMMUNITY_COLUMN,
    COMMUNITY_NON_CANCER_COLUMN,
    COVERAGE_CLASSES,
    GP_COLUMN,
    GP_LINK_STATUSES,
    GP_WITHIN,
    NEED_COLUMN,
    NEED_GROUPS,
    SPC_BEYOND,
    SPC_COLUMN,
    SPC_NON_CANCER_COLUMN,
    SPC_WITHIN,
    type_column,
)


@dataclass(frozen=True)
class CoverageRule:
    """Thresholds (minutes) and home-visit reach: everything coverage depends on but times.

    Attributes
    ----------
    gp_min, spc_min
        Default thresholds.
    by_remoteness
        Remoteness class -> ``{"gp_min": ..., "spc_min": ...}`` overrides.
    home_visit_reach_min
        One-way travel a community team can cover in a shift, or None (no home-visit rule).
    isolated_gp_min
        A GP practice farther than this from every SPC service is isolated from specialist care.
    """

    gp_min: float = 30.0
    spc_min: float = 60.0
    by_remoteness: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    home_visit_reach_min: float | None = None
    isolated_gp_min: float = 60.0

    @classmethod
    def from_config(cls, thresholds) -> CoverageRule:
        """The rule of a :class:`~geo.config.ThresholdsConfig`."""
        visits = thresholds.home_visits
        return cls(
            gp_min=float(thresholds.gp_min),
            spc_min=float(thresholds.spc_min),
            by_remoteness={k: dict(v) for k, v in thresholds.by_remoteness.items()},
            home_visit_reach_min=None if visits is None else float(visits.reach_min),
            isolated_gp_min=float(thresholds.isolated_gp_min),
        )

    def thresholds(self, remoteness_class: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """GP and SPC thresholds (minutes) of every origin, by its remoteness class."""
        classes = pd.Series(remoteness_class).astype(object).to_numpy()
        gp = np.full(len(classes), self.gp_min)
        spc = np.full(len(classes), self.spc_min)
        for name, values in self.by_remoteness.items():
            match = classes == name
            if "gp_min" in values:
                gp[match] = float(values["gp_min"])
            if "spc_min" in values:
                spc[match] = float(values["spc_min"])
        return gp, spc


@dataclass(frozen=True)
class Reach:
    """Whether each origin has a service within reach: ``within``, or ``unknown``."""

    within: np.ndarray
    unknown: np.ndarray


def reach(minutes: np.ndarray, threshold_min: np.ndarray | float) -> Reach:
    """Within the threshold (inclusive); NaN is unknown, ``inf`` is beyond."""
    minutes = np.asarray(minutes, float)
    unknown = np.isnan(minutes)
    return Reach(~unknown & (minutes <= threshold_min), unknown)


def spc_reach(
    minutes: np.ndarray,
    threshold_min: np.ndarray | float,
    *,
    community_min: np.ndarray | None = None,
    home_visit_reach_min: float | None = None,
) -> Reach:
    """SPC reach with the home-visit rule: a community team's visit range also counts."""
    base = reach(minutes, threshold_min)
    if home_visit_reach_min is None or community_min is None:
        return base
    visited = np.asarray(community_min, float) <= home_visit_reach_min  # NaN compares False
    return Reach(base.within | visited, base.unknown & ~visited)


def classify(gp: Reach, spc: Reach) -> np.ndarray:
    """Coverage class of each origin from its GP and SPC reach (object array of names)."""
    unknown = gp.unknown | spc.unknown
    return np.select(
        [unknown, gp.within & spc.within, gp.within, spc.within],
        ["unknown", "both", "gp_only", "spc_only"],
        default="neither",
    ).astype(object)


def _column(times: Mapping[str, np.ndarray] | pd.DataFrame, name: str, n: int) -> np.ndarray:
    if name in times:
        return np.asarray(times[name], float)
    return np.full(n, np.inf)  # no such service at all: known, and never within reach


def classify_origins(
    times: Mapping[str, np.ndarray] | pd.DataFrame,
    remoteness_class: pd.Series,
    rule: CoverageRule,
) -> pd.DataFrame:
    """The coverage columns of every origin, per need group.

    Parameters
    ----------
    times
        Time columns in minutes: ``gp_travel_time_min``, ``spc_travel_time_min``,
        ``spc_non_cancer_travel_time_min`` and, for home visits,
        ``spc_community_travel_time_min`` and ``spc_community_non_cancer_travel_time_min``.
    remoteness_class
        Each origin's remoteness class (for per-class thresholds).
    rule
        Thresholds and home-visit reach.

    Returns
    -------
    pandas.DataFrame
        ``gp_threshold_min``, ``spc_threshold_min``, ``coverage_class`` (people and cancer
        need: any SPC service) and ``coverage_class_non_cancer`` (services taking non-cancer
        referrals), one row per origin (default index).
    """
    n = len(remoteness_class)
    gp_th, spc_th = rule.thresholds(remoteness_class)
    gp = reach(_column(times, GP_COLUMN, n), gp_th)
    visits = rule.home_visit_reach_min
    cancer = spc_reach(
        _column(times, SPC_COLUMN, n),
        spc_th,
        community_min=_column(times, COMMUNITY_COLUMN, n),
        home_visit_reach_min=visits,
    )
    non_cancer = spc_reach(
        _column(times, SPC_NON_CANCER_COLUMN, n),
        spc_th,
        community_min=_column(times, COMMUNITY_NON_CANCER_COLUMN, n),
        home_visit_reach_min=visits,
    )
    return pd.DataFrame(
        {
            "gp_threshold_min": gp_th,
            "spc_threshold_min": spc_th,
            CLASS_COLUMN["cancer"]: classify(gp, cancer),
            CLASS_COLUMN["non_cancer"]: classify(gp, non_cancer),
        }
    )


def gp_link_status(gp_practices: pd.DataFrame, *, isolated_gp_min: float) -> np.ndarray:
    """Each GP practice's link to specialist care.

    ``linked``: an SPC service within ``isolated_gp_min`` by road; ``isolated``: none;
    ``off_network``: the practice itself lies off the road network (left out of routing, never
    called isolated); ``unknown``: no SPC service could be placed on the network.
    """
    minutes = gp_practices["spc_travel_time_min"].to_numpy(float)
    on_network = gp_practices["reachable"].to_numpy(bool)
    return np.select(
        [~on_network, np.isnan(minutes), minutes <= isolated_gp_min],
        ["off_network", "unknown", "linked"],
        default="isolated",
    ).astype(object)


def served_by_practice(origins: pd.DataFrame, gp_ids: pd.Series) -> pd.DataFrame:
    """People and need whose nearest GP practice is each practice (0 for none).

    Returns
    -------
    pandas.DataFrame
        ``pop_served``, ``need_cancer_served``, ``need_non_cancer_served``, aligned to
        ``gp_ids``.
    """
    sums = origins.groupby("nearest_gp_id")[["pop_count", "need_cancer", "need_non_cancer"]].sum()
    sums = sums.reindex(pd.Index(gp_ids.to_numpy()), fill_value=0.0)
    return pd.DataFrame(
        {
            "pop_served": sums["pop_count"].to_numpy(float),
            "need_cancer_served": sums["need_cancer"].to_numpy(float),
            "need_non_cancer_served": sums["need_non_cancer"].to_numpy(float),
        },
        index=gp_ids.index,
    )
