"""Plain-language helpers for what gapmap writes: counted nouns and short name lists.

Pure Python (imported by the command line before anything heavy, and by the report's text).
"""

from __future__ import annotations

from collections.abc import Sequence


def count(n: int, one: str, many: str) -> str:
    """``1 service takes`` / ``2 services take``: the number (``1,234``) and its noun (and
    verb)."""
    return f"{n:,} {one if n == 1 else many}"


def joined(names: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def listing(names: Sequence[object], limit: int = 5) -> str:
    """The first ``limit`` names, then how many more: ``A, B, C, D, E and 2 more``."""
    shown = ", ".join(str(name) for name in names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def data_date(stamp: str | None) -> str:
    """The day of a data timestamp (``2015-01-01T21:22:01Z`` -> ``2015-01-01``), as written
    when it is no ISO timestamp, ``unknown`` when there is none."""
    if not stamp:
        return "unknown"
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return stamp


# Cells a spreadsheet would run as a formula: neutralised in every CSV gapmap writes.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text cell prefixed with ``'`` when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
