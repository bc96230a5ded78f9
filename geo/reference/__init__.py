"""The cited reference tables (package data): speed profiles, ``maxspeed`` codes, need rates.

Each CSV's sources are in this folder's ``README.md``. They ship inside the package, so an
installed gapmap (editable or not) finds them with :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from geo.errors import InputError


def reference_names() -> list[str]:
    """Names of the tables shipped (file names without ``.csv``)."""
    folder = resources.files(__name__)
    return sorted(p.name.removesuffix(".csv") for p in folder.iterdir() if p.name.endswith(".csv"))


def read_reference(name: str) -> pd.DataFrame:
    """Read the reference table ``<name>.csv``.

    Raises
    ------
    InputError
        No table of that name ships with gapmap (the message lists those that do).
    """
    resource = resources.files(__name__) / f"{name}.csv"
    if not resource.is_file():
        raise InputError(f"no reference table {name!r}; available: {', '.join(reference_names())}")
    with resource.open("rb") as handle:
        return pd.read_csv(handle)
