"""The report's tables, for reading: labels not codes, whole people, cross-tabs of the tidy
tables, long tables folded to their top rows with the full CSV linked.

Every table starts from the protected tables (small-number suppression, see
:mod:`geo.render.suppression`), so a hidden cell stays hidden whatever the layout; the CSV
files hold the complete tidy tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.analysis.classes import COVERAGE_CLASSES
from geo.render.suppression import protected_bands, protected_coverage
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
KIND_LABELS = {"gp": "GP", "spc": "SPC"}


@dataclass
class ReportTable:
    """A table as the report shows it: the first rows, the rest folded, and its CSV.

    Cells are text (numbers already formatted); ``numeric`` marks right-aligned columns.
    """

    columns: list[str]
    numeric: list[bool]
    head: list[list[str]]
    rest: list[list[str]]
    csv: str | None

    @property
    def rows(self) -> int:
        """How many rows the table has in all."""
        return len(self.head) + len(self.rest)


_NUMBER_TEXT = re.compile(r"<?-?[0-9.]+%?|not reachable|")


def _is_numeric(column: pd.Series) -> bool:
    """Numbers, or numbers formatted as text (``1,234.5``, ``<5``, ``not reachable``)."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    # Report tables are short: plain Python beats pandas' string methods here.
    return all(_NUMBER_TEXT.fullmatch(str(v).replace(",", "").strip()) for v in column.tolist())


def folded(frame: pd.DataFrame, csv: str | None, *, top: int = TOP_ROWS) -> ReportTable:
    """The first ``top`` rows shown, the others in a fold."""
    blank = frame.isna().to_numpy()
    cells = [
        ["" if gone else str(value) for value, gone in zip(row, blanks, strict=True)]
        for row, blanks in zip(frame.to_numpy(object).tolist(), blank.tolist(), strict=True)
    ]
    return ReportTable(
        columns=[str(c) for c in frame.columns],
        numeric=[_is_numeric(frame[c]) for c in frame.columns],
        head=cells[:top],
        rest=cells[top:],
        csv=csv,
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


def _whole(text: str) -> str:
    """A protected count as whole people (``<5`` unchanged)."""
    return text if text.startswith("<") else f"{float(text.replace(',', '')):,.0f}"


NEED_LABELS = {group: f"{label} need / yr" for group, label in GROUP_LABELS.items()}


def coverage_crosstab(shown: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A protected tidy coverage table as rows by coverage class: for each ``keys`` value, the
    people (classed by access to any specialist service) and then the cancer and non-cancer
    need a year (each classed by the services that would accept it)."""
    counts = ["People", *NEED_LABELS.values()]
    rows: dict[tuple, dict[str, str]] = {}  # (*keys, counts) -> class -> text; first wins
    columns = [*keys, "need_group", "coverage_class", "pop_count", "need"]
    for *key, group, cls, pop, need in shown[columns].itertuples(index=False, name=None):
        if group == "cancer":  # people, once: the same people in either need group
            rows.setdefault((*key, "People"), {}).setdefault(cls, _whole(str(pop)))
        if group in NEED_LABELS:
            rows.setdefault((*key, NEED_LABELS[group]), {}).setdefault(cls, str(need))
    first_seen = {k: i for i, k in enumerate(dict.fromkeys(shown[keys[0]]))}
    order = sorted(rows, key=lambda row: (first_seen[row[0]], counts.index(row[-1])))
    return pd.DataFrame(
        [[*row, *(rows[row].get(c, "0") for c in COVERAGE_CLASSES)] for row in order],
        columns=[*keys, "Counts", *(CLASS_LABELS[c] for c in COVERAGE_CLASSES)],
    )


def remoteness_table(results: Results, shown: dict[str, pd.DataFrame]) -> ReportTable:
    """Need a year by remoteness class, need group and coverage class."""
    order = {c: i for i, c in enumerate(results.remoteness_classes)}
    rows = shown["coverage_by_remoteness"]
    people = results.tables["coverage_by_remoteness"].groupby("remoteness_class")["pop_count"]
    present = {c for c, n in people.sum().items() if n > 0}
    rows = rows[rows["remoteness_class"].isin(present)]
    rows = rows.assign(_rank=rows["remoteness_class"].map(order)).sort_values(
        "_rank", kind="stable"
    )
    table = coverage_crosstab(rows.drop(columns="_rank"), ["remoteness_class"])
    table = table.rename(columns={"remoteness_class": "Remoteness"})
    return folded(table, "tables/coverage_by_remoteness.csv", top=len(table))


def subarea_table(shown: dict[str, pd.DataFrame]) -> ReportTable:
    """Sub-areas with the most need beyond specialist reach first."""
    table = coverage_crosstab(shown["coverage_by_subarea"], ["area_name"])
    is_need = table["Counts"] != "People"
    beyond = table[CLASS_LABELS["gp_only"]].map(_number) + table[CLASS_LABELS["neither"]].map(
        _number
    )
    per_area = beyond.where(is_need, 0.0).groupby(table["area_name"]).transform("sum")
    table = (
        table.assign(_beyond=per_area)
        .sort_values(["_beyond", "area_name"], ascending=[False, True], kind="stable")
        .drop(columns="_beyond")
        .rename(columns={"area_name": "Sub-area"})
    )
    return folded(table, "tables/coverage_by_subarea.csv", top=3 * TOP_ROWS)


def bands_table(results: Results, below: float) -> ReportTable:
    """People and need by travel-time band, GP and SPC (protected)."""
    shown = protected_bands(results.tables, below)
    table = pd.DataFrame(
        {
            "Service": shown["service_kind"].map(KIND_LABELS),
            "Minutes": shown["band"],
            "People": shown["pop_count"].map(people),
            "Cancer need / yr": shown["need_cancer"],
            "Non-cancer need / yr": shown["need_non_cancer"],
        }
    )
    return folded(table, "tables/travel_time_bands.csv", top=len(table))


def links_table(results: Results) -> ReportTable:
    """GP practices, isolated ones and the farthest from specialist care first."""
    links = results.tables["gp_specialist_links"]
    rank = links["link_status"].map({"isolated": 0, "off_network": 1, "unknown": 2}).fillna(3)
    order = links.assign(_rank=rank, _t=-links["spc_travel_time_min"].fillna(np.inf))
    order = order.sort_values(["_rank", "_t", "name"], kind="stable")
    table = pd.DataFrame(
        {
            "GP practice": order["name"],
            "Link": order["link_status"].map(LINK_LABELS),
            "Nearest SPC service": order["nearest_spc_name"].fillna(""),
            "Minutes to SPC": order["spc_travel_time_min"].map(minutes),
            "People served": order["pop_served"].map(people),
            "Cancer need / yr": order["need_cancer_served"].map(need),
            "Non-cancer need / yr": order["need_non_cancer_served"].map(need),
        }
    )
    return folded(table, "tables/gp_specialist_links.csv", top=TOP_ROWS + 2)


def uncertainty_table(results: Results) -> ReportTable | None:
    """Each headline share (%) with its 90% interval."""
    table = results.tables.get("uncertainty")
    if table is None or table.empty:
        return None
    shares = ["estimate_share", "p05_share", "p50_share", "p95_share"]
    shown = pd.DataFrame({"Measure": table["measure"].str.replace("_", " ")})
    labels = ("Estimate %", "5th pct %", "Median %", "95th pct %")
    for col, label in zip(shares, labels, strict=True):
        shown[label] = (100 * table[col].astype(float)).map(lambda v: f"{v:.1f}")
    return folded(shown, "tables/uncertainty.csv", top=len(shown))


def equity_table(results: Results) -> ReportTable | None:
    """Need-weighted access by remoteness class, with the inequality indices."""
    table = results.tables.get("access_equity")
    if table is None or table.empty:
        return None
    shown = table.rename(columns=lambda c: c.replace("_", " ").capitalize())
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
