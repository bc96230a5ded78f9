"""Small-number suppression that cannot be undone from anything else the report publishes.

Statistical agencies suppress cells below a threshold (often 5) *and* enough complementary
cells that the hidden values cannot be worked back from row or column totals or percentages
(ONS and AIHW disclosure-control guidance). Suppressing one cell while publishing its row total
and the other cells suppresses nothing.

The report publishes three coverage tables that share totals: the region's totals (need group ×
coverage class), coverage by remoteness class and coverage by sub-area. They are protected
together, as one system of *linked cells*: every table cell, every sub-area's and remoteness
class's total (the map's popups show sub-area totals) and every class total is a cell, and
each total equals the sum of its parts. For each count (people; need) separately:

1. **Primary**: every cell — totals included — above 0 and below the threshold is hidden.
2. **Complementary**: a sum relation holding exactly one hidden cell gets a second one (its
   smallest visible positive part, or the total when no part is left), until none holds one.
3. **Audit**: a hidden cell is disclosed exactly when the published cells determine it, that is
   when its unit vector lies in the row space of the relations restricted to hidden cells (a
   hidden cell is positive, so the true values lie inside the non-negative orthant and the
   bounds add nothing). A disclosed cell gets another complementary cell; repeat.

Zeros are published as zeros (a structural fact, not a disclosure of a small count), and the
report shows counts without percentages (a percentage and its count give back the total).
The tests attack the published figures independently, by linear programming.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.analysis.classes import COUNT_COLUMNS, COVERAGE_CLASSES

log = logging.getLogger(__name__)

# Values this close to zero are zeros (floating-point dust from sums), never small counts.
ZERO = 1e-9


@dataclass
class LinkedCells:
    """Published figures linked by sums: ``values[total] == sum(values[parts])``.

    Attributes
    ----------
    values
        Every cell's value.
    keys
        A name for each cell (margins are shared between tables through their key).
    relations
        ``(total, parts)`` pairs of cell positions.
    """

    values: list[float] = field(default_factory=list)
    keys: list[Hashable] = field(default_factory=list)
    relations: list[tuple[int, list[int]]] = field(default_factory=list)
    _index: dict[Hashable, int] = field(default_factory=dict)

    def cell(self, key: Hashable, value: float) -> int:
        """The position of the cell ``key`` (added with ``value`` the first time)."""
        if key not in self._index:
            self._index[key] = len(self.values)
            self.values.append(float(value))
            self.keys.append(key)
        return self._index[key]

    def position(self, key: Hashable) -> int | None:
        """The position of ``key``, or None."""
        return self._index.get(key)

    def relate(self, total: int, parts: Sequence[int]) -> None:
        """Record that cell ``total`` is the sum of ``parts``."""
        if parts:
            self.relations.append((total, list(parts)))


def _matrix(cells: LinkedCells, hidden: np.ndarray) -> np.ndarray:
    """The relations restricted to hidden cells (each row: +1 total, -1 parts)."""
    idx = np.flatnonzero(hidden)
    column = np.full(len(hidden), -1)
    column[idx] = np.arange(idx.size)
    rows = []
    for total, parts in cells.relations:
        row = np.zeros(idx.size)
        if hidden[total]:
            row[column[total]] += 1.0
        for p in parts:
            if hidden[p]:
                row[column[p]] -= 1.0
        if row.any():
            rows.append(row)
    return np.array(rows) if rows else np.zeros((0, idx.size))


def determined(cells: LinkedCells, hidden: np.ndarray) -> np.ndarray:
    """Positions of hidden cells whose values the visible cells determine."""
    idx = np.flatnonzero(hidden)
    if idx.size == 0:
        return idx
    matrix = _matrix(cells, hidden)
    if matrix.shape[0] == 0:
        return idx[:0]
    basis = _null_space(matrix)
    if basis.size == 0:
        return idx
    return idx[np.abs(basis).max(axis=1) <= 1e-9]


def _null_space(matrix: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the null space (columns), as ``scipy.linalg.null_space``: NumPy's
    SVD with SciPy's default tolerance, so the report need not import SciPy's linalg."""
    _, singular, vh = np.linalg.svd(matrix, full_matrices=True)
    tolerance = max(matrix.shape) * np.finfo(float).eps * (singular.max() if singular.size else 0)
    rank = int((singular > tolerance).sum())
    return vh[rank:].T


def _partner(cells: LinkedCells, values: np.ndarray, hidden: np.ndarray, members: list[int]):
    """The smallest visible positive cell among ``members`` (None if there is none)."""
    free = [m for m in members if not hidden[m] and values[m] > 0]
    return min(free, key=lambda m: values[m]) if free else None


def _complete(cells: LinkedCells, values: np.ndarray, hidden: np.ndarray) -> bool:
    """Give every relation with exactly one hidden cell a second one; True if any changed."""
    changed = False
    for total, parts in cells.relations:
        members = [total, *parts]
        if sum(hidden[m] for m in members) == 1:
            pick = _partner(cells, values, hidden, members)
            if pick is not None:
                hidden[pick] = True
                changed = True
    return changed


def _linked_partners(
    cells: LinkedCells,
    values: np.ndarray,
    hidden: np.ndarray,
    exposed: set[int],
    *,
    every: bool,
    steps: int = 6,
) -> set[int]:
    """Visible positive cells in the relations linked to the exposed cells through hidden
    cells (chains of relations), nearest links first: the smallest of them, or with ``every``
    the smallest of each such relation. Empty if there is none."""
    frontier = set(exposed)
    for _ in range(steps):
        relations = [
            [total, *parts]
            for total, parts in cells.relations
            if total in frontier or frontier.intersection(parts)
        ]
        if every:
            picks = {_partner(cells, values, hidden, members) for members in relations} - {None}
        else:
            members = list(dict.fromkeys(m for r in relations for m in r))  # in table order
            pick = _partner(cells, values, hidden, members)
            picks = set() if pick is None else {pick}
        if picks:
            return picks
        grown = frontier | {m for r in relations for m in r if hidden[m]}
        if grown == frontier:
            return set()
        frontier = grown
    return set()


# Complementary cells are added one per round (the fewest hidden) for this many rounds, then
# one per exposed relation per round, so a national table converges in minutes, not hours.
ONE_AT_A_TIME_ROUNDS = 20


def suppression_mask(cells: LinkedCells, *, below: float, max_rounds: int = 200) -> np.ndarray:
    """Which cells to hide: primary, then complementary until the audit passes."""
    values = np.asarray(cells.values, float)
    values = np.where(np.abs(values) < ZERO, 0.0, values)
    hidden = (values > 0) & (values < below)
    for round_number in range(max_rounds):
        while _complete(cells, values, hidden):
            pass
        exposed = set(determined(cells, hidden).tolist())
        if not exposed:
            return hidden
        # The fewest extra cells (one per round) at first; then, for a table of thousands of
        # sub-areas, one more in every exposed relation (or, where every peer is hidden or
        # zero, in every relation linked to it through hidden cells) per round.
        every = round_number >= ONE_AT_A_TIME_ROUNDS
        picks = _linked_partners(cells, values, hidden, exposed, every=every)
        if not picks:
            break
        hidden[list(picks)] = True
    log.warning("suppression did not converge; hiding every non-zero cell")
    return values > 0


TOTAL_KEYS = ("need_group", "coverage_class")


def coverage_cells(
    tables: dict[str, pd.DataFrame], value: str, *, row_keys: dict[str, list[str]]
) -> tuple[LinkedCells, dict[str, np.ndarray]]:
    """The linked cells of tidy coverage tables for one count (``pop_count`` or ``need``).

    Parameters
    ----------
    tables
        ``coverage_totals`` and any tidy coverage tables (by remoteness, by sub-area).
    value
        The count column.
    row_keys
        Table name -> its grouping columns (e.g. ``["area_id"]``); each table's row blocks
        (grouping × need group) have a total cell, shared between tables by key.

    Returns
    -------
    tuple
        The cells, and each table's cell position per row.
    """
    cells = LinkedCells()
    people = value == "pop_count"  # the same people whatever the need group
    totals = tables["coverage_totals"]
    rows = list(zip(totals["need_group"].tolist(), totals["coverage_class"].tolist(), strict=True))
    class_cells = {}
    group_sums: dict[str, float] = {}  # need groups in first-seen order, as pandas' unique()
    for (group, cls), v in zip(rows, totals[value].tolist(), strict=True):
        class_cells[(group, cls)] = cells.cell(("class", group, cls), v)
        if v == v:  # NaN adds nothing, as in a pandas sum
            group_sums[group] = group_sums.get(group, 0.0) + float(v)
        group_sums.setdefault(group, 0.0)
    positions: dict[str, np.ndarray] = {
        "coverage_totals": np.array([class_cells[row] for row in rows], dtype=np.int64)
    }
    for group, total in group_sums.items():
        grand = cells.cell(("total", None if people else group), total)
        cells.relate(grand, [class_cells[row] for row in rows if row[0] == group])
    for name, keys in row_keys.items():
        positions[name] = _add_table(cells, tables[name], value, keys, class_cells, people)
    return cells, positions


def column_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """The rows of ``columns`` as tuples of Python values: the protected tables are short,
    and plain Python over them beats pandas' per-call overhead (and ``itertuples``)."""
    return list(zip(*(frame[c].tolist() for c in columns), strict=True))


def hidden_cells(shown: pd.DataFrame, column: str) -> np.ndarray:
    """Which cells of a protected text column are hidden (shown as ``<below``)."""
    return np.array([str(text).startswith("<") for text in shown[column].tolist()], dtype=bool)


def _add_table(cells, table, value, keys, class_cells, people) -> np.ndarray:
    # Plain Python over the rows: report tables are short, and pandas' per-call overhead
    # would dominate (blocks and classes keep their first-seen order, as in a groupby).
    records = column_rows(table, [*keys, *TOTAL_KEYS, value])
    pos: list[int] = []
    block_cells: dict[tuple, list[int]] = {}
    block_sums: dict[tuple, float] = {}
    class_members: dict[tuple, list[int]] = {}
    for *key, group, cls, v in records:
        position = cells.cell(("cell", tuple(keys), *key, group, cls), v)
        pos.append(position)
        block = (*key, group)
        block_cells.setdefault(block, []).append(position)
        block_sums[block] = block_sums.get(block, 0.0) + float(v)
        class_members.setdefault((group, cls), []).append(position)
    blocks: dict[object, set[int]] = {}
    for (*key, group), members in block_cells.items():
        total_key = ("block", tuple(keys), *key, None if people else group)
        total = cells.cell(total_key, block_sums[(*key, group)])
        cells.relate(total, members)
        blocks.setdefault(None if people else group, set()).add(total)
    # The blocks partition the area too: their totals add up to the grand total.
    for group, totals in blocks.items():
        grand = cells.position(("total", group))
        if grand is not None:
            cells.relate(grand, sorted(totals))
    for (group, cls), members in class_members.items():
        cells.relate(class_cells[(group, cls)], members)
    return np.array(pos, dtype=np.int64)


def suppress_coverage_tables(
    tables: dict[str, pd.DataFrame],
    *,
    row_keys: dict[str, list[str]],
    below: float,
    digits: int = 1,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """The coverage tables as text, with small and complementary cells shown as ``<below``.

    Parameters
    ----------
    tables
        ``coverage_totals`` and the tables named in ``row_keys``.
    row_keys
        Table name -> grouping columns (e.g. ``{"coverage_by_subarea": ["area_id"]}``).
    below
        The threshold (cells above 0 and below it are hidden; 0 hides nothing).
    digits
        Decimals of the visible values (people are always whole).

    Returns
    -------
    tuple
        Each table as text (``pop_count`` and ``need`` columns) with a ``suppressed`` flag,
        and per count the hidden block totals (key -> True), e.g. sub-area totals for maps.
    """
    texts: dict[str, dict[str, list[str]]] = {name: {} for name in tables}
    suppressed = {name: np.zeros(len(frame), bool) for name, frame in tables.items()}
    hidden_totals: dict[str, dict] = {}
    for value in ("pop_count", "need"):
        cells, positions = coverage_cells(tables, value, row_keys=row_keys)
        hidden = (
            suppression_mask(cells, below=below) if below > 0 else np.zeros(len(cells.values), bool)
        )
        for name, pos in positions.items():
            mask = hidden[pos]
            texts[name][value] = _as_text(value, tables[name][value].tolist(), mask, below, digits)
            suppressed[name] |= mask
        hidden_totals[value] = {
            key: bool(hidden[i])
            for i, key in enumerate(cells.keys)
            if isinstance(key, tuple) and key[0] in ("block", "total")
        }
    shown = {
        name: frame.reset_index(drop=True).assign(**texts[name], suppressed=suppressed[name])
        for name, frame in tables.items()
    }
    return shown, hidden_totals


def suppress_partition(
    frame: pd.DataFrame,
    *,
    group_column: str,
    value_columns: Sequence[str],
    below: float,
    digits: int = 1,
) -> pd.DataFrame:
    """A table whose rows in each ``group_column`` block partition a published total (e.g. the
    travel-time bands of one service), as text with small and complementary cells hidden."""
    groups = frame[group_column].tolist()
    members: dict[object, list[int]] = {}  # each block's rows, in first-seen order
    for i, block in enumerate(groups):
        members.setdefault(block, []).append(i)
    texts: dict[str, list[str]] = {}
    suppressed = np.zeros(len(frame), bool)
    for col in value_columns:
        values = frame[col].tolist()
        cells = LinkedCells()
        pos = [cells.cell(("cell", i), v) for i, v in enumerate(values)]
        for block, rows in members.items():
            total = cells.cell(("total", block), sum(float(values[i]) for i in rows))
            cells.relate(total, [pos[i] for i in rows])
        hidden = (
            suppression_mask(cells, below=below)[pos] if below > 0 else np.zeros(len(frame), bool)
        )
        texts[col] = _as_text(col, values, hidden, below, digits)
        suppressed |= hidden
    return frame.reset_index(drop=True).assign(**texts, suppressed=suppressed)


def _as_text(column: str, values: list, hidden: np.ndarray, below: float, digits: int) -> list[str]:
    """Values as published text: ``<below`` where hidden, people whole (rounded once, from
    the value), other counts with ``digits`` decimals."""
    digits = 0 if column == "pop_count" else digits
    return [
        f"<{below:g}" if h else f"{float(v):,.{digits}f}"
        for v, h in zip(values, hidden.tolist(), strict=True)
    ]


REPORT_ROW_KEYS = {
    "coverage_by_remoteness": ["remoteness_class"],
    "coverage_by_subarea": ["area_id"],
}


_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3 or bool(
    getattr(pd.options.mode, "copy_on_write", False)
)


def _copied(value):
    """A copy of a protection result that its caller may change without changing the cache:
    containers copied, frames copied shallowly (under pandas' copy-on-write, the default from
    pandas 3, a change to a shallow copy never reaches the original)."""
    if isinstance(value, pd.DataFrame):
        return value.copy(deep=not _COPY_ON_WRITE)
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_copied(item) for item in value)
    return copy.deepcopy(value)


def _once_per_tables(function: Callable) -> Callable:
    """Compute ``function(tables, below)`` once per set of table objects and threshold.

    The map, the report's tables and its charts all show the same protected figures; the
    protection (an iterative linear-algebra audit) is computed for the first of them and
    copies of it are handed to the rest (:func:`_copied`). Keyed by the identity of the table
    frames, which the cache holds so that an identity is never reused while its entry lives.
    """
    cache: dict[tuple, tuple] = {}

    @functools.wraps(function)
    def wrapper(tables: dict[str, pd.DataFrame], below: float):
        key = (tuple((name, id(frame)) for name, frame in tables.items()), float(below))
        if key not in cache:
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[key] = (tuple(tables.values()), function(tables, below))
        return _copied(cache[key][1])

    return wrapper


@_once_per_tables
def protected_coverage(
    tables: dict[str, pd.DataFrame], below: float
) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """The report's three coverage tables (totals, by remoteness, by sub-area) protected
    together (see :func:`suppress_coverage_tables`)."""
    names = ("coverage_totals", *REPORT_ROW_KEYS)
    return suppress_coverage_tables(
        {name: tables[name] for name in names}, row_keys=REPORT_ROW_KEYS, below=below
    )


@_once_per_tables
def protected_bands(tables: dict[str, pd.DataFrame], below: float) -> pd.DataFrame:
    """The travel-time bands of each service kind protected (see :func:`suppress_partition`),
    shared by the report's chart and table of them."""
    return suppress_partition(
        tables["travel_time_bands"],
        group_column="service_kind",
        value_columns=list(COUNT_COLUMNS),
        below=below,
    )


GAP_CLASSES = ("gp_only", "neither")


GAP_SHARES = {
    "gap_share": ("cancer", "non_cancer"),
    "gap_share_cancer": ("cancer",),
    "gap_share_non_cancer": ("non_cancer",),
}


@_once_per_tables
def protected_subareas(tables: dict[str, pd.DataFrame], below: float) -> pd.DataFrame:
    """Per sub-area, what a map or chart may show: people and need totals (NaN where hidden)
    and the shares of need by coverage class (NaN where any of the area's need cells is hidden,
    since a share and the total would give it back).

    The gap shares (need with no eligible SPC service in reach, ``gp_only`` or ``neither``: for
    all need and per group) are given only when they follow from published figures alone:
    every gap cell summed is published (not hidden) and so is each group total divided by. They
    then disclose nothing the tables do not, however many other cells of the area are hidden.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id`` (in table order): ``pop_count``, ``need_cancer``,
        ``need_non_cancer``, ``withheld`` (bool), ``share_<class>``, ``gap_share``,
        ``gap_share_cancer``, ``gap_share_non_cancer`` and ``share_no_spc``.
    """
    shown, hidden_totals = protected_coverage(tables, below)  # the same frames: memoised
    table = tables["coverage_by_subarea"]  # rows in the order of `shown`
    codes, areas = pd.factorize(table["area_id"], sort=False)
    group = table["need_group"].to_numpy(object)
    cls = table["coverage_class"].to_numpy(object)
    need = table["need"].to_numpy(float)
    hidden = hidden_cells(shown["coverage_by_subarea"], "need")
    area_ids = areas.tolist()

    def per_area(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(codes[rows], values[rows], minlength=len(areas)).astype(float)

    def unless_hidden(values: np.ndarray, count: str, need_group: str | None) -> np.ndarray:
        key = ("area_id",)
        gone = [bool(hidden_totals[count].get(("block", key, a, need_group))) for a in area_ids]
        return np.where(gone, np.nan, values)

    need_by_group = {g: per_area(group == g, need) for g in ("cancer", "non_cancer")}
    total = need_by_group["cancer"] + need_by_group["non_cancer"]
    withheld = per_area(np.ones(len(table), bool), hidden.astype(float)) > 0
    people = per_area(group == "cancer", table["pop_count"].to_numpy(float))
    columns = {"pop_count": unless_hidden(people, "pop_count", None)}
    for g, values in need_by_group.items():
        columns[f"need_{g}"] = unless_hidden(values, "need", g)
    columns["withheld"] = withheld
    with np.errstate(invalid="ignore", divide="ignore"):
        for c in COVERAGE_CLASSES:
            share = per_area(cls == c, need) / np.where(total > 0, total, np.nan)
            columns[f"share_{c}"] = np.where(withheld, np.nan, share)
        gap = np.isin(cls, GAP_CLASSES)
        for name, groups in GAP_SHARES.items():
            rows = gap & np.isin(group, groups)
            cells_hidden = per_area(rows, hidden.astype(float)) > 0
            group_total = sum(need_by_group[g] for g in groups)
            totals_shown = np.logical_and.reduce([~np.isnan(columns[f"need_{g}"]) for g in groups])
            known = ~cells_hidden & totals_shown & (group_total > 0)
            columns[name] = np.where(known, per_area(rows, need) / group_total, np.nan)
    columns["share_no_spc"] = columns["share_gp_only"] + columns["share_neither"]
    return pd.DataFrame(columns, index=pd.Index(areas, name="area_id"))
