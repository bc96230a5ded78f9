"""Palliative care need per origin, cancer and non-cancer.

Two routes, as the data allow:

* **from deaths** by underlying cause per area: deaths in the need groups of the chosen model
  (Etkind 2017 by default; Rosenwax 2005 minimal; a flat 75% of all deaths) are the annual need,
  shared among the area's origins by their older population (65+ when known, else everyone).
  Deaths of **all causes** per area (AIHW MORT, ONS) are split by the model's national shares
  instead: need = deaths × share of deaths in the need groups, cancer = need × cancer share
  of need (the cited rows of ``need_rates_<country>.csv``);
* **from rates**: population × death rate × share of deaths in need groups × cancer share, by
  age band, from the cited reference tables ``geo/reference/need_rates_<country>.csv``.

Every origin gets ``need_cancer`` and ``need_non_cancer`` (people per year). Area counts under
the suppression threshold are flagged for reports.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import InputError
from geo.inputs.readers import bad_rows_error, number_hint, read_csv_table, require_columns
from geo.reference import read_reference, reference_names

log = logging.getLogger(__name__)

MODELS = ("etkind", "rosenwax", "flat75")
FLAT_SHARE = 0.75
# Cancer share of all deaths for the flat75 split when an area's causes are unknown: Etkind et
# al. 2017, England and Wales 2014: need was 74.9% of deaths and cancer about 38% of need, so
# cancer ~ 0.38 x 0.749 = 0.285 of all deaths.
FLAT_CANCER_SHARE_OF_DEATHS = 0.285

# (group, first code, last code): codes compared as letter + 3 digits ("C34" -> C340,
# "G12.2" -> G122), so a 3-character range covers all its 4-character subcodes.
ETKIND_RANGES = (
    ("cancer", "C00", "C97"),
    ("renal", "I12", "I13"),  # hypertensive renal disease: renal, not heart (Etkind 2017)
    ("heart_disease", "I00", "I52"),
    ("respiratory", "J40", "J47"),
    ("respiratory", "J96", "J96"),
    ("stroke", "I60", "I69"),
    ("renal", "N17", "N18"),
    ("renal", "N28", "N28"),
    ("liver", "K70", "K77"),
    ("dementia", "F01", "F01"),
    ("dementia", "F03", "F03"),
    ("dementia", "G30", "G30"),
    ("dementia", "R54", "R54"),
    ("neurodegenerative", "G10", "G10"),
    ("neurodegenerative", "G12.2", "G12.2"),
    ("neurodegenerative", "G20", "G20"),
    ("neurodegenerative", "G23.1", "G23.1"),
    ("neurodegenerative", "G35", "G35"),
    ("neurodegenerative", "G90.3", "G90.3"),
    ("hiv", "B20", "B24"),
)
ROSENWAX_RANGES = (
    ("cancer", "C00", "D48"),
    ("heart_disease", "I50", "I50"),
    ("heart_disease", "I11.0", "I11.0"),
    ("renal", "N17", "N19"),
    ("renal", "I12", "I12"),
    ("respiratory", "J40", "J44"),
    ("dementia", "G30", "G30"),
    ("liver", "K70", "K77"),
    ("neurodegenerative", "G20", "G20"),
    ("neurodegenerative", "G12.2", "G12.2"),
    ("neurodegenerative", "G10", "G10"),
    ("hiv", "B20", "B24"),
)
GROUPS = (
    "cancer",
    "heart_disease",
    "respiratory",
    "stroke",
    "renal",
    "liver",
    "dementia",
    "neurodegenerative",
    "hiv",
)
_CODE = re.compile(r"^([A-Z])(\d{2})(?:\.?(\d))?")


@dataclass
class NeedResult:
    """Need per origin and per area.

    Attributes
    ----------
    origins
        ``need_cancer``, ``need_non_cancer`` aligned to the origins' index.
    by_area
        Per area (deaths route): ``deaths``, ``need_cancer``, ``need_non_cancer``,
        ``suppress`` (any of them below the suppression threshold).
    model
        The need model.
    stats
        Totals and reconciliation counts (for run.json).
    """

    origins: pd.DataFrame
    by_area: pd.DataFrame | None
    model: str
    stats: dict[str, Any] = field(default_factory=dict)


def _code_key(code: str) -> int | None:
    """ICD-10 code → sortable integer (letter, category, subcategory), None if not a code."""
    match = _CODE.match(code.strip().upper())
    if not match:
        return None
    letter, category, sub = match.groups()
    return (ord(letter) - 65) * 1000 + int(category) * 10 + int(sub or 0)


def _range_keys(first: str, last: str) -> tuple[int, int]:
    lo = _code_key(first)
    hi = _code_key(last)
    if "." not in last:
        hi += 9  # a 3-character end covers all its subcodes
    return lo, hi


def classify_icd10(codes: pd.Series, model: str = "etkind") -> pd.DataFrame:
    """Need group of each ICD-10 underlying cause (or group name).

    Parameters
    ----------
    codes
        ICD-10 codes (``C34``, ``C34.1``, ``C341``, ``G12.2``) or group names (``cancer``,
        ``heart_disease``, ``respiratory``, ``stroke``, ``renal``, ``liver``, ``dementia``,
        ``neurodegenerative``, ``hiv``, ``other``).
    model
        ``etkind`` (default), ``rosenwax`` or ``flat75`` (groups as Etkind; every death counts).

    Returns
    -------
    pandas.DataFrame
        ``group`` (None when not a need group), ``is_cancer``, ``indicates_need``, ``valid``
        (False for text that is neither a code nor a group name). Three-character codes of
        conditions defined at four characters (``G12`` for MND ``G12.2``) are not counted.
    """
    if model not in MODELS:
        raise InputError(f"unknown need model {model!r}; use one of {', '.join(MODELS)}")
    ranges = ROSENWAX_RANGES if model == "rosenwax" else ETKIND_RANGES
    keyed = [(g, *_range_keys(a, b)) for g, a, b in ranges]
    out = []
    for raw in codes.astype(str):
        text = raw.strip()
        name = text.lower().replace(" ", "_")
        if name in GROUPS or name == "other":
            group = name if name in GROUPS else None
            out.append((group, group == "cancer", group is not None, True))
            continue
        key = _code_key(text)
        four_char_only = key is not None and not re.match(r"^[A-Za-z]\d{2}\.?\d", text)
        group = None
        if key is not None:
            for g, lo, hi in keyed:
                span_is_subcode = (hi - lo) < 9
                if lo <= key <= hi and not (four_char_only and span_is_subcode):
                    group = g
                    break
        out.append((group, group == "cancer", group is not None, key is not None))
    frame = pd.DataFrame(
        out, columns=["group", "is_cancer", "indicates_need", "valid"], index=codes.index
    )
    return frame


def _read_deaths(deaths, area_column, cause_column, count_column) -> pd.DataFrame:
    path = None
    if not isinstance(deaths, pd.DataFrame):
        path = Path(deaths)
        deaths = read_csv_table(path)
    require_columns(deaths, [area_column, cause_column, count_column], path or "deaths")
    causes = deaths[cause_column] if cause_column else pd.Series("all causes", index=deaths.index)
    counts = pd.to_numeric(deaths[count_column], errors="coerce")
    bad = (counts.isna() | (counts < 0) | np.isinf(counts)).to_numpy(bool)
    if bad.any():
        raise bad_rows_error(
            "are not non-negative death counts",
            bad,
            deaths[count_column].to_numpy(),
            path or "deaths",
            column=count_column,
            hint=number_hint(deaths[count_column][bad]),
        )
    return pd.DataFrame(
        {
            "area_id": deaths[area_column].astype(str).to_numpy(),
            "cause": causes.astype(str).to_numpy(),
            "deaths": counts.to_numpy(float),
        }
    ), path


def need_from_deaths(
    origins: gpd.GeoDataFrame,
    deaths: str | Path | pd.DataFrame,
    *,
    area_column: str = "area_id",
    cause_column: str | None = "cause",
    count_column: str = "deaths",
    model: str = "etkind",
    origin_area_column: str = "area_id",
    weight_column: str | None = None,
    suppress_below: float = 5,
    country: str | None = None,
    years: float = 1.0,
    age_band: str = "all",
) -> NeedResult:
    """Need from deaths per area (by underlying cause, or all causes), shared among the area's
    origins.

    Parameters
    ----------
    origins
        Origins with ``pop_count`` (and ``pop_65plus``) and the area id column.
    deaths
        CSV path or table: one row per area and cause.
    area_column, cause_column, count_column
        Columns of the deaths table; ``cause_column`` None when the deaths are of all causes
        (split by the national shares of ``model`` for ``country``).
    model
        ``etkind``, ``rosenwax`` or ``flat75``.
    origin_area_column
        Column of ``origins`` holding the area id.
    weight_column
        Column that shares an area's need among its origins; default ``pop_65plus`` when
        present and positive in the area, else ``pop_count``.
    suppress_below
        Counts below this are flagged for suppression.
    country
        ``au`` or ``england``: whose national shares split deaths of all causes.
    years
        Years the counts cover (need is per year: counts are divided by it).
    age_band
        Ages the all-cause counts cover (``all``, ``under_65``, ``65_plus``): which row of the
        national shares applies.

    Returns
    -------
    NeedResult
    """
    if years <= 0:
        raise InputError(f"need.deaths.years must be positive (got {years:g})")
    table, path = _read_deaths(deaths, area_column, cause_column, count_column)
    table["deaths"] = table["deaths"] / years
    if cause_column is None:
        return _need_from_all_causes(
            origins,
            table,
            path,
            model=model,
            country=country,
            age_band=age_band,
            origin_area_column=origin_area_column,
            weight_column=weight_column,
            suppress_below=suppress_below,
        )
    groups = classify_icd10(table["cause"], "etkind" if model == "flat75" else model)
    invalid = table.loc[~groups["valid"], "cause"].unique()
    if len(invalid):
        log.warning(
            "%d causes are neither ICD-10 codes nor group names and count as other causes: %s",
            len(invalid),
            ", ".join(map(str, invalid[:5])),
        )
    table = table.assign(
        is_cancer=groups["is_cancer"].to_numpy(),
        need=groups["indicates_need"].to_numpy(),
        known=groups["valid"].to_numpy(),
    )
    by_area = _area_need(table, model)
    by_area["suppress"] = (
        by_area[["deaths", "need_cancer", "need_non_cancer"]].lt(suppress_below).any(axis=1)
    )
    need, stats = _share_to_origins(origins, by_area, origin_area_column, weight_column)
    stats.update(
        {
            "model": model,
            "source": str(path) if path else "table",
            "deaths_total": float(table["deaths"].sum()),
            "areas_suppressed": int(by_area["suppress"].sum()),
            "invalid_causes": [str(c) for c in invalid[:20]],
        }
    )
    return NeedResult(origins=need, by_area=by_area, model=model, stats=stats)


def _need_from_all_causes(
    origins,
    table,
    path,
    *,
    model,
    country,
    age_band,
    origin_area_column,
    weight_column,
    suppress_below,
) -> NeedResult:
    """Deaths of all causes split by the model's national shares (need and cancer share)."""
    if country is None:
        raise InputError(
            "deaths of all causes are split by national shares: set need.country (au or "
            "england) or region.country",
            path=path,
        )
    rates = load_rates(country, model)
    if age_band not in rates.index:
        raise InputError(f"no national shares for age band {age_band!r}", path=path)
    row = rates.loc[age_band]
    deaths = table.groupby("area_id")["deaths"].sum()
    need_total = deaths * float(row["need_share"])
    need_cancer = need_total * float(row["cancer_share_of_need"])
    by_area = pd.DataFrame(
        {"deaths": deaths, "need_cancer": need_cancer, "need_non_cancer": need_total - need_cancer}
    )
    by_area["suppress"] = by_area.lt(suppress_below).any(axis=1)
    need, stats = _share_to_origins(origins, by_area, origin_area_column, weight_column)
    stats.update(
        {
            "model": model,
            "source": str(path) if path else "table",
            "causes": "deaths of all causes, split by national shares",
            "national_shares": {
                "table": f"geo/reference/need_rates_{country}.csv",
                "age_band": age_band,
                "need_share": float(row["need_share"]),
                "cancer_share_of_need": float(row["cancer_share_of_need"]),
            },
            "deaths_total": float(table["deaths"].sum()),
            "areas_suppressed": int(by_area["suppress"].sum()),
        }
    )
    log.info(
        "need from deaths of all causes: %.1f%% indicate need, %.1f%% of it cancer (%s, %s)",
        100 * row["need_share"],
        100 * row["cancer_share_of_need"],
        country,
        model,
    )
    return NeedResult(origins=need, by_area=by_area, model=model, stats=stats)


def _area_need(table: pd.DataFrame, model: str) -> pd.DataFrame:
    grouped = table.groupby("area_id")
    deaths = grouped["deaths"].sum()
    if model == "flat75":
        # Cancer share observed among deaths of known cause; the national share where an
        # area's deaths carry no usable cause (e.g. a single "all causes" row).
        def total(rows: pd.DataFrame) -> pd.Series:
            return rows.groupby("area_id")["deaths"].sum().reindex(deaths.index, fill_value=0.0)

        known = total(table[table["known"]])
        cancer_share = (total(table[table["is_cancer"]]) / known.replace(0, np.nan)).fillna(
            FLAT_CANCER_SHARE_OF_DEATHS
        )
        need_total = FLAT_SHARE * deaths
        need_cancer = need_total * cancer_share
    else:
        in_need = table[table["need"]]
        need_total = (
            in_need.groupby("area_id")["deaths"].sum().reindex(deaths.index, fill_value=0.0)
        )
        need_cancer = (
            in_need[in_need["is_cancer"]]
            .groupby("area_id")["deaths"]
            .sum()
            .reindex(deaths.index, fill_value=0.0)
        )
    return pd.DataFrame(
        {"deaths": deaths, "need_cancer": need_cancer, "need_non_cancer": need_total - need_cancer}
    )


def _share_to_origins(origins, by_area, area_column, weight_column):
    if area_column not in origins.columns:
        raise InputError(
            f"origins carry no '{area_column}': configure subareas so deaths "
            "can be matched to places"
        )
    areas = origins[area_column]
    areas = areas.where(areas.isna(), areas.astype(str)).astype(object)  # ids compare as text
    weight = _weights(origins, areas, weight_column)
    area_weight = weight.groupby(areas).transform("sum")
    share = (weight / area_weight.replace(0, np.nan)).fillna(0.0)
    per = by_area.reindex(areas.to_numpy())
    need = pd.DataFrame(
        {
            "need_cancer": np.nan_to_num(per["need_cancer"].to_numpy() * share.to_numpy()),
            "need_non_cancer": np.nan_to_num(per["need_non_cancer"].to_numpy() * share.to_numpy()),
        },
        index=origins.index,
    )
    present = set(areas.dropna().astype(str))
    no_origins = sorted(set(by_area.index) - present)
    no_deaths = sorted(present - set(by_area.index))
    if no_origins:
        log.warning(
            "%d areas in the deaths table hold no origins (their need is left out): %s",
            len(no_origins),
            ", ".join(no_origins[:5]),
        )
    if no_deaths:
        log.warning(
            "%d sub-areas have no rows in the deaths table (need 0 there): %s",
            len(no_deaths),
            ", ".join(no_deaths[:5]),
        )
    stats = {
        "areas_without_origins": no_origins,
        "areas_without_deaths": no_deaths,
        "need_cancer": float(need["need_cancer"].sum()),
        "need_non_cancer": float(need["need_non_cancer"].sum()),
    }
    return need, stats


def _weights(origins, areas, weight_column) -> pd.Series:
    pop = origins["pop_count"].astype(float)
    if weight_column is not None:
        return origins[weight_column].astype(float).fillna(0.0)
    if "pop_65plus" not in origins.columns:
        return pop
    older = origins["pop_65plus"].astype(float).fillna(0.0)
    has_older = older.groupby(areas).transform("sum") > 0
    return older.where(has_older, pop)


def load_rates(country: str, model: str) -> pd.DataFrame:
    """The cited national rate table for a country and model (index ``age_band``)."""
    name = f"need_rates_{country}"
    if name not in reference_names():
        raise InputError(f"no national need rates for country {country!r} (available: au, england)")
    table = read_reference(name)
    table = table[table["model"] == model]
    if table.empty:
        raise InputError(f"no rows for need model {model!r}", path=f"{name}.csv", column="model")
    return table.set_index("age_band")


def need_from_rates(
    origins: gpd.GeoDataFrame,
    *,
    country: str,
    model: str = "etkind",
    older_column: str = "pop_65plus",
) -> NeedResult:
    """Need from national age-specific rates applied to each origin's population.

    Parameters
    ----------
    origins
        Origins with ``pop_count`` and, when available, ``pop_65plus``.
    country
        ``au`` or ``england``.
    model
        ``etkind``, ``rosenwax`` or ``flat75``.
    older_column
        Column of people aged 65+ (crude all-age rates are used when it is absent).

    Returns
    -------
    NeedResult
    """
    rates = load_rates(country, model)
    pop = origins["pop_count"].to_numpy(float)

    def need(band: str, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = rates.loc[band]
        total = people * r["death_rate_per_1000"] / 1000 * r["need_share"]
        return total * r["cancer_share_of_need"], total * (1 - r["cancer_share_of_need"])

    if older_column in origins.columns and origins[older_column].notna().all():
        older = origins[older_column].to_numpy(float)
        over = older > pop * (1 + 1e-9)
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise InputError(
                f"origin {origins.index[i]!r} has more people aged 65+ ({older[i]:g}) than "
                f"people ({pop[i]:g}); check the age columns of the population",
                column=older_column,
            )
        older = np.minimum(older, pop)
        c1, n1 = need("under_65", pop - older)
        c2, n2 = need("65_plus", older)
        cancer, non_cancer, method = c1 + c2, n1 + n2, "age-specific (under 65, 65+)"
    else:
        cancer, non_cancer = need("all", pop)
        method = "crude all-age rates (no age bands in the population)"
        log.info("need from %s rates: %s", country, method)
    frame = pd.DataFrame(
        {"need_cancer": cancer, "need_non_cancer": non_cancer}, index=origins.index
    )
    stats = {
        "model": model,
        "source": f"geo/reference/need_rates_{country}.csv",
        "method": method,
        "need_cancer": float(cancer.sum()),
        "need_non_cancer": float(non_cancer.sum()),
    }
    return NeedResult(origins=frame, by_area=None, model=model, stats=stats)
