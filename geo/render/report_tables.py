"""The report's tables, for reading: labels not codes, whole people, cross-tabs of the tidy
tables, long tables folded to their top rows with the full CSV linked.

Every table starts from the protected tables (small-number suppression, see
:mod:`geo.render.suppression`), so a hidden cell stays hidden whatever the layout; the CSV
files hold the complete tidy tables.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from geo.analysis.classes import COVERAGE_CLASSES
from geo.render.pages import ReportTable
from geo.render.suppression import column_rows, protected_bands, protected_coverage
from geo.results import Results

TOP_ROWS = 8
CLASS_LABELS = {
    "both": "GP and SPC",
    "gp_only": "GP only",
    "spc_only": "SPC only",
    "neither": "Neither",
    "unknown": "Unknown",
}
GROUP_LABELS = {"cancer": "Cancer", "non_cancer": "Non-cancer"}
LINK_LABELS = {
    "linked": "Linked",
    "isolated": "Isolated from SPC",
    "off_network": "Left out (no road near)",
    "unknown": "Unknown",
}
KIND_LABELS = {"gp": "GP", "spc": "SPC", "spc_non_cancer": "SPC (non-cancer referrals)"}


def service_label(kind: str) -> str:
    """A travel-time band's service kind for reading, e.g. ``spc_community`` as "SPC
    (community)"."""
    if kind in KIND_LABELS:
        return KIND_LABELS[kind]
    if str(kind).startswith("spc_"):
        return f"SPC ({kind[4:].replace('_', ' ')})"
    return str(kind)


_NUMBER_TEXT = re.compile(r"<?-?[0-9.]+%?|not reachable|")


def _is_numeric(column: pd.Series) -> bool:
    """Numbers, or numbers formatted as text (``1,234.5``, ``<5``, ``not reachable``)."""
    return pd.api.types.is_numeric_dtype(column) or _numeric_text(column.tolist())


def _numeric_text(values: list) -> bool:
    # Report tables are short: plain Python beats pandas' string methods here.
    return all(_NUMBER_TEXT.fullmatch(str(v).replace(",", "").strip()) for v in values)


def _missing(value: object) -> bool:
    return value is None or value != value  # value != value: NaN


def _text(value: object) -> str:
    """A cell's text: blank for a missing value."""
    return "" if _missing(value) else str(value)


def _name_order(name: object) -> tuple[bool, str]:
    """A sort key for names: alphabetical, missing names last (as pandas sorts)."""
    return (_missing(name), _text(name))


def text_table(
    columns: list[str],
    rows: list[list],
    csv: str | None,
    *,
    top: int = TOP_ROWS,
    numeric: list[bool] | None = None,
) -> ReportTable:
    """A report table from rows of cells (blank where missing), the first ``top`` shown;
    ``numeric`` columns (default: those whose every cell reads as a number) align right."""
    if numeric is None:
        by_column = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
        numeric = [_numeric_text(list(values)) for values in by_column]
    cells = [[_text(value) for value in row] for row in rows]
    return ReportTable(
        columns=list(columns), numeric=numeric, head=cells[:top], rest=cells[top:], csv=csv
    )


def folded(frame: pd.DataFrame, csv: str | None, *, top: int = TOP_ROWS) -> ReportTable:
    """The first ``top`` rows of a frame shown, the others in a fold."""
    return text_table(
        [str(c) for c in frame.columns],
        frame.to_numpy(object).tolist(),
        csv,
        top=top,
        numeric=[_is_numeric(frame[c]) for c in frame.columns],
    )


def people(value: object) -> str:
    """Whole people (text cells such as ``<5`` unchanged)."""
    return value if isinstance(value, str) else f"{float(value):,.0f}"


def need(value: object) -> str:
    """Need a year with one decimal (text cells unchanged)."""
    return value if isinstance(value, str) else f"{float(value):,.1f}"


def minutes(value: object) -> str:
    """Whole minutes, or "not reachable"."""
    number = float(value)
    return f"{number:,.0f}" if np.isfinite(number) else "not reachable"


def _number(text: object) -> float:
    """A protected cell as a number (hidden ``<5`` cells and blanks as 0, for sorting)."""
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return 0.0


NEED_LABELS = {group: f"{label} need / yr" for group, label in GROUP_LABELS.items()}


def people_by_class(classes: list, people: list) -> dict:
    """People summed by class (NaN counts as none, as in a pandas sum)."""
    total: dict = {}
    for cls, n in zip(classes, people, strict=True):
        if not _missing(n):
            total[cls] = total.get(cls, 0.0) + n
    return total


def coverage_crosstab(records: list[tuple]) -> list[list[str]]:
    """Protected tidy coverage rows ``(key, need_group, coverage_class, people, need)`` as rows
    by coverage class: for each key, the people (classed by access to any specialist service)
    and then the cancer and non-cancer need a year (each classed by the services that would
    accept it), keys in first-seen order."""
    counts = ["People", *NEED_LABELS.values()]
    rows: dict[tuple, dict[str, str]] = {}  # (key, counts) -> class -> text; first wins
    for key, group, cls, pop, need in records:
        if group == "cancer":  # people, once: the same people in either need group
            rows.setdefault((key, "People"), {}).setdefault(cls, pop)
        if group in NEED_LABELS:
            rows.setdefault((key, NEED_LABELS[group]), {}).setdefault(cls, str(need))
    first_seen = {k: i for i, k in enumerate(dict.fromkeys(r[0] for r in records))}
    order = sorted(rows, key=lambda row: (first_seen[row[0]], counts.index(row[-1])))
    return [[*row, *(rows[row].get(c, "0") for c in COVERAGE_CLASSES)] for row in order]


CROSSTAB_COLUMNS = ["Counts", *(CLASS_LABELS[c] for c in COVERAGE_CLASSES)]


def _coverage_records(shown: pd.DataFrame, key: str) -> list[tuple]:
    return column_rows(shown, [key, "need_group", "coverage_class", "pop_count", "need"])


def remoteness_table(results: Results, shown: dict[str, pd.DataFrame]) -> ReportTable:
    """Need a year by remoteness class, need group and coverage class."""
    raw = results.tables["coverage_by_remoteness"]
    people = people_by_class(raw["remoteness_class"].tolist(), raw["pop_count"].tolist())
    rank = {c: i for i, c in enumerate(results.remoteness_classes)}
    records = [
        r
        for r in _coverage_records(shown["coverage_by_remoteness"], "remoteness_class")
        if people.get(r[0], 0) > 0
    ]
    records.sort(key=lambda r: rank.get(r[0], len(rank)))  # stable; unranked classes last
    rows = coverage_crosstab(records)
    return text_table(
        ["Remoteness", *CROSSTAB_COLUMNS], rows, "tables/coverage_by_remoteness.csv", top=len(rows)
    )


def subarea_table(shown: dict[str, pd.DataFrame]) -> ReportTable:
    """Sub-areas with the most need beyond specialist reach first."""
    rows = coverage_crosstab(_coverage_records(shown["coverage_by_subarea"], "area_name"))
    gap = [CROSSTAB_COLUMNS.index(CLASS_LABELS[c]) + 1 for c in ("gp_only", "neither")]
    beyond: dict = {}
    for row in rows:
        need_beyond = 0.0 if row[1] == "People" else sum(_number(row[i]) for i in gap)
        beyond[row[0]] = beyond.get(row[0], 0.0) + need_beyond
    rows.sort(key=lambda row: (-beyond[row[0]], _name_order(row[0])))
    return text_table(
        ["Sub-area", *CROSSTAB_COLUMNS], rows, "tables/coverage_by_subarea.csv", top=3 * TOP_ROWS
    )


def bands_table(results: Results, below: float) -> ReportTable:
    """People and need by travel-time band, GP and SPC (protected)."""
    shown = protected_bands(results.tables, below)
    columns = ["service_kind", "band", "pop_count", "need_cancer", "need_non_cancer"]
    rows = [[service_label(kind), *rest] for kind, *rest in column_rows(shown, columns)]
    names = ["Service", "Minutes", "People", "Cancer need / yr", "Non-cancer need / yr"]
    return text_table(names, rows, "tables/travel_time_bands.csv", top=len(rows))


LINK_RANK = {"isolated": 0, "off_network": 1, "unknown": 2}


def _link_order(status: object, spc_min: float, name: object) -> tuple:
    """Isolated practices first, then the farthest from specialist care (unreachable first)."""
    farthest = -spc_min if spc_min == spc_min else -np.inf
    return (LINK_RANK.get(status, 3), farthest, *_name_order(name))


def links_table(results: Results) -> ReportTable:
    """GP practices, isolated ones and the farthest from specialist care first."""
    links = results.tables["gp_specialist_links"]
    columns = [
        "name",
        "link_status",
        "nearest_spc_name",
        "spc_travel_time_min",
        "pop_served",
        "need_cancer_served",
        "need_non_cancer_served",
    ]
    records = column_rows(links, columns)
    records.sort(key=lambda r: _link_order(r[1], float(r[3]), r[0]))
    rows = [
        [name, LINK_LABELS.get(status), spc, minutes(t), people(pop), need(c), need(nc)]
        for name, status, spc, t, pop, c, nc in records
    ]
    names = ["GP practice", "Link", "Nearest SPC service", "Minutes to SPC", "People served"]
    names += ["Cancer need / yr", "Non-cancer need / yr"]
    return text_table(names, rows, "tables/gp_specialist_links.csv", top=TOP_ROWS + 2)


SHARE_LABELS = {
    "need_within_spc_share": "Need within reach of an SPC service that would accept it",
    "cancer_need_within_spc_share": "Cancer need within SPC reach",
    "non_cancer_need_within_spc_share": "Non-cancer need within reach of a service taking it",
    "need_beyond_spc_share": "Need beyond SPC reach",
    "need_unknown_spc_share": "Need whose SPC access is unknown",
    "people_both_share": "People with a GP and an SPC service in reach",
    "people_gp_only_share": "People with a GP only in reach (the integration gap)",
    "people_neither_share": "People with neither in reach",
}
ACCESS_LABELS = {
    "access_gp_e2sfca": "GP access (E2SFCA)",
    "access_spc_e2sfca": "SPC access (E2SFCA)",
    "gp_fte_within_threshold": "GP capacity within the GP threshold",
}
EQUITY_COLUMNS = {
    "measure": "Measure",
    "remoteness_class": "Remoteness class",
    "mean_need_weighted": "Need-weighted mean",
    "need": "Need a year",
    "gini": "Gini",
    "concentration_index_by_remoteness": "Concentration index (by remoteness)",
}


def _label(code: object, labels: dict[str, str]) -> str:
    """A code's label, else the code in words."""
    return labels.get(str(code), str(code).replace("_", " "))


def uncertainty_table(results: Results) -> ReportTable | None:
    """Each headline share (%) with its 90% interval."""
    table = results.tables.get("uncertainty")
    if table is None or table.empty:
        return None
    shares = ["estimate_share", "p05_share", "p50_share", "p95_share"]
    shown = pd.DataFrame({"Measure": [_label(m, SHARE_LABELS) for m in table["measure"]]})
    labels = ("Estimate %", "5th pct %", "Median %", "95th pct %")
    for col, label in zip(shares, labels, strict=True):
        shown[label] = (100 * table[col].astype(float)).map(lambda v: f"{v:.1f}")
    return folded(shown, "tables/uncertainty.csv", top=len(shown))


def equity_table(results: Results) -> ReportTable | None:
    """Need-weighted access by remoteness class, with the inequality indices."""
    table = results.tables.get("access_equity")
    if table is None or table.empty:
        return None
    shown = table.assign(measure=[_label(m, ACCESS_LABELS) for m in table["measure"]])
    shown = shown.rename(columns=lambda c: EQUITY_COLUMNS.get(c, c.replace("_", " ")))
    shown = shown.map(lambda v: f"{v:,.3f}" if isinstance(v, float) else v)
    return folded(shown, "tables/access_equity.csv", top=TOP_ROWS + 2)


def report_tables(results: Results, below: float) -> dict[str, ReportTable]:
    """Every table of the report, by template key."""
    shown, _ = protected_coverage(results.tables, below)
    tables = {
        "remoteness": remoteness_table(results, shown),
        "subareas": subarea_table(shown),
        "bands": bands_table(results, below),
        "links": links_table(results),
    }
    for key, build in (("uncertainty", uncertainty_table), ("equity", equity_table)):
        table = build(results)
        if table is not None:
            tables[key] = table
    return tables
