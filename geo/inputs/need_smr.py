"""National need rates adjusted by local standardised mortality ratios (SMRs).

National rates say how many people of a given age need palliative care where mortality is
national; an area's SMR (observed deaths over the deaths expected at national age-specific
rates, × 100) says how much more or less its people die, age for age. Public small-area SMRs
exist where death counts by cause do not (PHE Local Health: all causes and all cancers by MSOA,
England = 100). The adjustment per origin, by its sub-area's SMRs:

* cancer need × ``SMR_cancer / 100``;
* non-cancer need × ``SMR_non_cancer / 100``, where the non-cancer SMR follows from the
  all-cause and cancer SMRs and the national cancer share of deaths ``s``:
  ``SMR_all = s × SMR_cancer + (1 − s) × SMR_non_cancer``.

``s`` is the national share of deaths from cancer in the need model's cited table (Etkind et
al. 2017, England and Wales 2014: need 74.9% of deaths, cancer 38% of need, so s = 0.285 for
England). Origins whose sub-area has no SMR keep the national rate (listed in ``run.json``).

Because SMRs are relative to the nation (the nation's SMR is 100 by construction), the
adjustment moves need between areas and changes a region's total by the region's own overall
SMR: the adjusted total over the unadjusted one is the need-weighted mean of the areas' factors
(reported as ``implied_smr_cancer``, ``implied_smr_non_cancer`` and ``implied_smr_all``), which
should sit within :data:`IMPLIED_SMR_TOLERANCE` points of the region's published SMR (people are
weighted by population here, by expected deaths in the published SMR). SMRs are
age-standardised: they correct the level of mortality, not the age structure, so give the
population by age (``pop_65plus``) when you can.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import InputError
from geo.inputs.need import NeedResult, load_rates
from geo.inputs.readers import bad_rows_error, number_hint, read_csv_table, require_columns

log = logging.getLogger(__name__)

# Documented tolerance (SMR points) between a region's implied SMRs and its published ones:
# the Isle of Wight's 18 MSOAs give cancer 96.1 vs 95.4 and all causes 98.5 vs 96.9 published
# for the local authority (PHE Local Health 2015-19), tested in tests/test_need_smr.py.
IMPLIED_SMR_TOLERANCE = 3.0


def cancer_share_of_deaths(country: str) -> float:
    """National share of deaths from cancer: need share × cancer share of need (Etkind rows)."""
    row = load_rates(country, "etkind").loc["all"]
    return float(row["need_share"] * row["cancer_share_of_need"])


def read_smrs(
    path: str | Path,
    *,
    area_column: str,
    all_cause_column: str,
    cancer_column: str,
) -> pd.DataFrame:
    """SMRs per area: ``smr_all`` and ``smr_cancer`` indexed by area id (text).

    Empty cells (suppressed small areas) become NaN; text that is not a number, negative
    values and an area listed twice are errors listing every bad row.
    """
    path = Path(path)
    table = read_csv_table(path)
    require_columns(table, [area_column, all_cause_column, cancer_column], path)
    ids = table[area_column].fillna("").astype(str).str.strip()
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise bad_rows_error(
            "are areas listed more than once", dup, ids.to_numpy(), path, column=area_column
        )
    out = {}
    for name, col in (("smr_all", all_cause_column), ("smr_cancer", cancer_column)):
        raw = table[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = ((values.isna() & raw.notna()) | (values < 0) | np.isinf(values)).to_numpy(bool)
        if bad.any():
            raise bad_rows_error(
                "are not SMRs (non-negative numbers; leave unknown ones empty)",
                bad,
                raw.to_numpy(),
                path,
                column=col,
                hint=number_hint(raw[bad]),
            )
        out[name] = values.to_numpy(float)
    return pd.DataFrame(out, index=pd.Index(ids.to_numpy(), name="area_id"))


def adjust_by_smr(
    origins: gpd.GeoDataFrame,
    need: NeedResult,
    smrs: pd.DataFrame,
    *,
    country: str,
    reference: float = 100.0,
    origin_area_column: str = "area_id",
    source: str = "table",
) -> NeedResult:
    """National-rate need per origin adjusted by its sub-area's cancer and non-cancer SMRs.

    Parameters
    ----------
    origins
        Origins with the sub-area id column.
    need
        Need from national rates (:func:`geo.inputs.need.need_from_rates`), aligned to
        ``origins``.
    smrs
        :func:`read_smrs`: ``smr_all`` and ``smr_cancer`` by area id.
    country
        ``au`` or ``england``: whose national cancer share of deaths derives the non-cancer SMR.
    reference
        The national SMR (100).
    origin_area_column
        Column of ``origins`` holding the sub-area id.
    source
        Where the SMRs come from (for ``run.json``).

    Returns
    -------
    NeedResult
        Adjusted need; ``stats['smr']`` holds the factors per area, totals before and after,
        and the implied regional SMRs.
    """
    if origin_area_column not in origins.columns or origins[origin_area_column].isna().all():
        raise InputError(
            "need.smr gives SMRs per sub-area, but the origins carry no sub-area: configure "
            "subareas (whose ids are the SMR table's area codes)",
            path=source,
        )
    share = cancer_share_of_deaths(country)
    factors = smr_factors(smrs, cancer_share=share, reference=reference)
    areas = origins[origin_area_column].astype(object)
    areas = areas.where(areas.isna(), areas.astype(str))
    per = factors.reindex(areas.to_numpy())
    known = per["cancer"].notna().to_numpy() & per["non_cancer"].notna().to_numpy()
    before = need.origins
    cancer = before["need_cancer"].to_numpy(float) * np.where(known, per["cancer"], 1.0)
    non_cancer = before["need_non_cancer"].to_numpy(float) * np.where(known, per["non_cancer"], 1.0)
    frame = pd.DataFrame(
        {"need_cancer": cancer, "need_non_cancer": non_cancer}, index=origins.index
    )
    present = sorted(set(areas.dropna()))
    missing = sorted(set(areas[~known].dropna()))
    if missing:
        log.warning(
            "%d sub-areas have no SMR (national rates kept there): %s",
            len(missing),
            ", ".join(missing[:5]),
        )
    stats = dict(need.stats)
    stats["smr"] = _smr_stats(before, frame, factors, present, missing, share, reference, source)
    stats.update(
        need_cancer=float(frame["need_cancer"].sum()),
        need_non_cancer=float(frame["need_non_cancer"].sum()),
    )
    log.info(
        "need adjusted by SMRs: cancer x%.3f, non-cancer x%.3f over the region",
        stats["smr"]["ratio_cancer"],
        stats["smr"]["ratio_non_cancer"],
    )
    return NeedResult(origins=frame, by_area=need.by_area, model=need.model, stats=stats)


def smr_factors(smrs: pd.DataFrame, *, cancer_share: float, reference: float) -> pd.DataFrame:
    """Multipliers per area: ``cancer`` = SMR_cancer / ref, ``non_cancer`` from the identity
    SMR_all = s × SMR_cancer + (1 − s) × SMR_non_cancer (clipped at 0, with a warning)."""
    cancer = smrs["smr_cancer"] / reference
    non_cancer = (smrs["smr_all"] / reference - cancer_share * cancer) / (1.0 - cancer_share)
    negative = non_cancer < 0
    if negative.any():
        log.warning(
            "%d areas have a cancer SMR so far above their all-cause SMR that the non-cancer "
            "SMR would be negative; set to 0: %s",
            int(negative.sum()),
            ", ".join(map(str, non_cancer.index[negative][:5])),
        )
    return pd.DataFrame(
        {
            "smr_all": smrs["smr_all"],
            "smr_cancer": smrs["smr_cancer"],
            "cancer": cancer,
            "non_cancer": non_cancer.clip(lower=0.0),
        }
    )


def _smr_stats(
    before: pd.DataFrame,
    after: pd.DataFrame,
    factors: pd.DataFrame,
    present: list[str],
    missing: list[str],
    share: float,
    reference: float,
    source: str,
) -> dict[str, Any]:
    totals = {
        "need_cancer_national_rates": float(before["need_cancer"].sum()),
        "need_non_cancer_national_rates": float(before["need_non_cancer"].sum()),
        "need_cancer": float(after["need_cancer"].sum()),
        "need_non_cancer": float(after["need_non_cancer"].sum()),
    }

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    ratio_cancer = ratio(totals["need_cancer"], totals["need_cancer_national_rates"])
    ratio_non_cancer = ratio(totals["need_non_cancer"], totals["need_non_cancer_national_rates"])
    used = factors.loc[factors.index.intersection(present)]
    return {
        "source": source,
        "reference": reference,
        "cancer_share_of_deaths": share,
        "areas_with_smr": len(present) - len(missing),
        "areas_without_smr": missing,
        **totals,
        "ratio_cancer": ratio_cancer,
        "ratio_non_cancer": ratio_non_cancer,
        "ratio_total": ratio(
            totals["need_cancer"] + totals["need_non_cancer"],
            totals["need_cancer_national_rates"] + totals["need_non_cancer_national_rates"],
        ),
        "implied_smr_cancer": reference * ratio_cancer,
        "implied_smr_non_cancer": reference * ratio_non_cancer,
        "implied_smr_all": reference * (share * ratio_cancer + (1 - share) * ratio_non_cancer),
        "by_area": [
            {
                "area_id": str(area),
                "smr_all": row.smr_all,
                "smr_cancer": row.smr_cancer,
                "factor_cancer": row.cancer,
                "factor_non_cancer": row.non_cancer,
            }
            for area, row in used.iterrows()
        ],
    }
