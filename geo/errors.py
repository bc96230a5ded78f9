"""Project error hierarchy.

Every error the toolkit raises on purpose derives from :class:`GeoError`, and the
subclasses also derive from the matching builtin so callers can catch either.
Messages name the file, row and column at fault and say what would fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class GeoError(Exception):
    """Root of every error raised deliberately by the toolkit."""


class InputError(GeoError, ValueError):
    """Bad input data or configuration: the user can fix it (CLI exit status 2).

    Parameters
    ----------
    message
        What is wrong and how to fix it.
    path
        The file at fault, if any.
    row
        The 1-based data row (or feature number) at fault, if any.
    column
        The column, band or key at fault, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.row = row
        self.column = column
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ConfigError(InputError):
    """A region, scenario or batch config is invalid."""


class MissingCRSError(InputError):
    """A spatial input declares no coordinate reference system."""


class NetworkError(GeoError, RuntimeError):
    """The road network cannot answer the question asked (e.g. no drivable roads)."""


class OnlineServiceError(GeoError, RuntimeError):
    """An online service the user asked for (road download, geocoder) did not answer."""


class InputErrors(InputError):  # noqa: N818 (a collection of InputError)
    """Several input problems found at once (``gapmap validate`` reports them all).

    Parameters
    ----------
    problems
        The individual problems, each an :class:`InputError`.
    """

    def __init__(self, problems: Sequence[InputError]) -> None:
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) found:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
