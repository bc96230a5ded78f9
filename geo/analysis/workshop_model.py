"""The workshop page's computation, in Python: a choice's coverage from the precomputed tables.

The page (``geo/render/templates/workshop.js.j2``) computes exactly this in JavaScript; this
module is its reference, used by the tests (against ``gapmap scenario``) and by the builder's
self-check (the default choice must reproduce the baseline run's classes). A
:class:`WorkshopChoice` is what a room can change: services switched off, candidate clinics
switched on, practices given a telehealth link, and the GP and SPC threshold sliders.

:func:`choice_scenario` writes a choice as a scenario file (the page's ``scenarioYaml()``):

* services switched off → ``remove_facilities``;
* a GP-practice candidate → ``outreach_clinics: {site, service: <visiting service>,
  days_per_month}``, or, when its visiting service is switched off, the same clinic as
  ``add_facilities`` (kind ``spc``, type ``outreach``, at the practice's coordinates in the
  analysis CRS, sharing the visitor's acceptance of non-cancer referrals);
* a grid or file candidate → that ``add_facilities`` entry;
* telehealth links → ``telehealth: {practices, within_min}``;
* the sliders → ``thresholds`` (the region's, with ``gp_min`` and ``spc_min`` replaced; per
  remoteness class thresholds stay fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.analysis.classes import CLASS_COLUMN
from geo.analysis.scenario import VIRTUAL_COLUMN, scenario_changes
from geo.analysis.workshop import WorkshopData
from geo.errors import InputError


@dataclass(frozen=True)
class WorkshopChoice:
    """One state of the workshop page (ids as the page shows them).

    Attributes
    ----------
    services_off
        Existing specialist services switched off.
    candidates_on
        Candidate sites switched on (``site_id``).
    telehealth
        GP practices given a telehealth link.
    gp_min, spc_min
        The sliders (None: the region's thresholds).
    """

    services_off: frozenset[str] = frozenset()
    candidates_on: frozenset[str] = frozenset()
    telehealth: frozenset[str] = frozenset()
    gp_min: float | None = None
    spc_min: float | None = None


def enabled_facilities(data: WorkshopData, choice: WorkshopChoice) -> np.ndarray:
    """Which facilities (services, then candidates) are on in ``choice``."""
    fac = data.facilities
    ids = fac["facility_id"].to_numpy()
    service = (fac["role"] == "service").to_numpy()
    on = np.where(service, ~np.isin(ids, list(choice.services_off)), False)
    return on | (~service & np.isin(ids, list(choice.candidates_on)))


def check_choice(data: WorkshopData, choice: WorkshopChoice) -> None:
    """Raise :class:`~geo.errors.InputError` for a choice the page refuses (and why)."""
    fac = data.facilities
    services = set(fac.loc[fac["role"] == "service", "facility_id"])
    candidates = set(fac.loc[fac["role"] == "candidate", "facility_id"])
    unknown = (choice.services_off - services) | (choice.candidates_on - candidates)
    unknown |= choice.telehealth - set(data.practices["facility_id"])
    if unknown:
        raise InputError(f"unknown ids in the workshop choice: {sorted(unknown)}")
    on = enabled_facilities(data, choice)
    if not on.any():
        raise InputError("at least one specialist service or clinic must stay on")
    if not (on & fac["accepts_non_cancer"].to_numpy(bool)).any():
        raise InputError("at least one service taking non-cancer referrals must stay on")


def facility_minima(data: WorkshopData, on: np.ndarray) -> dict[str, np.ndarray]:
    """Smallest code per origin over the enabled facilities: ``all``, ``non_cancer``
    (accepting non-cancer referrals), ``community`` and ``community_non_cancer``."""
    fac = data.facilities
    nc = fac["accepts_non_cancer"].to_numpy(bool)
    comm = fac["community"].to_numpy(bool)
    n = len(data.origins)
    out = {
        k: np.full(n, data.beyond, np.int64)
        for k in ("all", "non_cancer", "community", "community_non_cancer")
    }
    for f in np.flatnonzero(on):
        rows, codes = data.facility_origins[f]
        wanted = ["all"] + (["non_cancer"] if nc[f] else [])
        if comm[f]:
            wanted += ["community"] + (["community_non_cancer"] if nc[f] else [])
        for key in wanted:
            np.minimum.at(out[key], rows, codes)
    return out


def _classes(gp_within, gp_unknown, spc_within, spc_unknown) -> np.ndarray:
    unknown = gp_unknown | spc_unknown
    return np.select(
        [unknown, gp_within & spc_within, gp_within, spc_within],
        ["unknown", "both", "gp_only", "spc_only"],
        default="neither",
    ).astype(object)


def classify_choice(
    data: WorkshopData, on: np.ndarray, gp_min: float, spc_min: float
) -> dict[str, np.ndarray]:
    """Coverage class per need group (``cancer``, ``non_cancer``) of every origin."""
    origins, fac = data.origins, data.facilities
    groups = pd.DataFrame(data.classes)
    cls = origins["cls"].to_numpy()
    gp_th = np.where(
        groups["gp_code"].to_numpy()[cls] >= 0,
        groups["gp_code"].to_numpy()[cls],
        data.code_of(gp_min),
    )
    spc_th = np.where(
        groups["spc_code"].to_numpy()[cls] >= 0,
        groups["spc_code"].to_numpy()[cls],
        data.code_of(spc_min),
    )
    gp_code = origins["gp_code"].to_numpy()
    gp_unknown = gp_code == data.unknown
    gp_within = ~gp_unknown & (gp_code <= gp_th)
    minima = facility_minima(data, on)
    on_net = fac["on_network"].to_numpy(bool)
    nc = fac["accepts_non_cancer"].to_numpy(bool)
    reach = data.home_reach_code
    out = {}
    for group, eligible, community in (
        ("cancer", on, "community"),
        ("non_cancer", on & nc, "community_non_cancer"),
    ):
        unknown_all = bool(eligible.any() and not (eligible & on_net).any())
        visited = np.zeros(len(origins), bool) if reach is None else minima[community] <= reach
        key = "all" if group == "cancer" else "non_cancer"
        within = ((minima[key] <= spc_th) & (not unknown_all)) | visited
        unknown = np.full(len(origins), unknown_all) & ~visited
        out[group] = _classes(gp_within, gp_unknown, within, unknown)
    return out


def linked_practices(data: WorkshopData, on: np.ndarray, choice: WorkshopChoice) -> dict:
    """Per need group, whether each GP practice has a telehealth link that counts."""
    chosen = data.practices["facility_id"].isin(choice.telehealth).to_numpy()
    nc = data.facilities["accepts_non_cancer"].to_numpy(bool)
    codes = data.practice_codes
    out = {}
    for group, eligible in (("cancer", on), ("non_cancer", on & nc)):
        best = codes[:, eligible].min(axis=1) if eligible.any() else np.full(len(codes), 0)
        out[group] = chosen & eligible.any() & (best <= data.within_code)
    return out


def evaluate(data: WorkshopData, choice: WorkshopChoice) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The baseline's and the choice's origins (coverage classes, virtual coverage), as
    :func:`~geo.analysis.scenario.scenario_changes` reads them."""
    check_choice(data, choice)
    gp_min = data.gp_slider[2] if choice.gp_min is None else choice.gp_min
    spc_min = data.spc_slider[2] if choice.spc_min is None else choice.spc_min
    base_cols = ["origin_id", "remoteness_class", "pop_count", "need_cancer", "need_non_cancer"]
    services = (data.facilities["role"] == "service").to_numpy()
    frames = []
    for on in (services, enabled_facilities(data, choice)):
        classes = classify_choice(data, on, gp_min, spc_min)
        frame = data.origins[base_cols].copy()
        for group, values in classes.items():
            frame[CLASS_COLUMN[group]] = values
        frames.append(frame)
    baseline, scenario = frames
    linked = linked_practices(data, enabled_facilities(data, choice), choice)
    nearest = data.origins["nearest_gp"].to_numpy()
    for group, flags in linked.items():
        has = nearest >= 0
        link = np.zeros(len(nearest), bool)
        link[has] = flags[nearest[has]]
        scenario[VIRTUAL_COLUMN[group]] = (scenario[CLASS_COLUMN[group]] == "gp_only") & link
    return baseline, scenario


def choice_changes(data: WorkshopData, choice: WorkshopChoice) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The choice's change tables, as ``gapmap scenario`` writes them (by remoteness; totals)."""
    baseline, scenario = evaluate(data, choice)
    return scenario_changes(baseline, scenario, data.remoteness_classes)


def thresholds_of(data: WorkshopData, choice: WorkshopChoice) -> dict:
    """The region's thresholds with the sliders' GP and SPC minutes."""
    out = dict(data.thresholds)
    if choice.gp_min is not None:
        out["gp_min"] = float(choice.gp_min)
    if choice.spc_min is not None:
        out["spc_min"] = float(choice.spc_min)
    return out


def choice_scenario(
    data: WorkshopData, choice: WorkshopChoice, *, name: str = "Workshop choice"
) -> dict:
    """The scenario file of a choice (a mapping; see the module docstring)."""
    check_choice(data, choice)
    fac = data.facilities
    scenario: dict = {
        "name": name,
        "description": f"Chosen on the gapmap workshop page for {data.region_name}.",
    }
    services = fac[fac["role"] == "service"]
    off = [f for f in services["facility_id"] if f in choice.services_off]
    if off:
        scenario["remove_facilities"] = off
    clinics, added = [], []
    for row in fac[fac["role"] == "candidate"].to_dict("records"):
        if row["facility_id"] not in choice.candidates_on:
            continue
        if row["site_kind"] == "gp_practices" and row["visitor_id"] not in choice.services_off:
            clinics.append(
                {
                    "site": row["facility_id"],
                    "service": row["visitor_id"],
                    "days_per_month": data.days_per_month,
                }
            )
            continue
        added.append(
            {
                "facility_id": row["export_id"],
                "kind": "spc",
                "name": f"{row['visitor_name']} outreach clinic at {row['name']}",
                "service_type": "outreach",
                "x": float(row["x"]),
                "y": float(row["y"]),
                "crs": data.crs,
                # None (unknown, as in a config) when the visiting service's is unknown
                "capacity": float(row["capacity"]) if pd.notna(row["capacity"]) else None,
                "accepts_non_cancer": bool(row["accepts_non_cancer"]),
            }
        )
    if clinics:
        scenario["outreach_clinics"] = clinics
    if added:
        scenario["add_facilities"] = added
    if choice.telehealth:
        ids = [p for p in data.practices["facility_id"] if p in choice.telehealth]
        everyone = len(ids) == len(data.practices)
        scenario["telehealth"] = {
            "practices": "all" if everyone else ids,
            "within_min": data.within_min,
        }
    thresholds = thresholds_of(data, choice)
    scenario["thresholds"] = {k: v for k, v in thresholds.items() if v is not None}
    return scenario


__all__ = [
    "WorkshopChoice",
    "check_choice",
    "choice_changes",
    "choice_scenario",
    "classify_choice",
    "enabled_facilities",
    "evaluate",
    "facility_minima",
    "linked_practices",
    "thresholds_of",
]
