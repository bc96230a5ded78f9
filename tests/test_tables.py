"""Tidy CSV tables: the columns the README lists, no spaces, every share named ``_pct`` (0-100)
or ``_share`` (0-1) and within that range."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.render.batch_pages import summary_frame

README = Path(__file__).resolve().parents[1] / "README.md"
# Words that mark a column holding a share, whatever its suffix.
SHARE_WORDS = re.compile(r"(^|_)(share|pct|percent|fraction|proportion|ratio)(_|$)")
RANGES = {"_pct": (0.0, 100.0), "_share": (0.0, 1.0)}


def readme_columns() -> dict[str, list[str]]:
    """Table name -> its columns, in order, from the README's output contract (the backticked
    names of the table's row, outside parentheses)."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("| table | columns (units) |") :]
    block = block[: block.index("\n\n")]
    tables = {}
    for line in block.splitlines()[2:]:
        name_cell, columns_cell = line.strip("|").split("|")[:2]
        name = re.search(r"`([^`]+)`", name_cell).group(1)
        outside = re.sub(r"\([^)]*\)", "", columns_cell)
        tables[name] = re.findall(r"`([^`]+)`", outside)
    return tables


def check_table(frame: pd.DataFrame, where: str) -> None:
    """No spaces in names; share columns named by their range and within it."""
    for column in frame.columns:
        assert not re.search(r"\s", column), (where, column)
        suffix = next((s for s in RANGES if column.endswith(s)), None)
        if suffix is None:
            assert not SHARE_WORDS.search(column), (where, column)
            continue
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(float)
        low, high = RANGES[suffix]
        finite = values[~np.isnan(values)]
        assert ((finite >= low - 1e-9) & (finite <= high + 1e-9)).all(), (where, column)


def check_folder(folder: Path, readme: dict[str, list[str]]) -> int:
    count = 0
    for path in sorted(folder.rglob("*.csv")):
        frame = pd.read_csv(path)
        assert list(frame.columns) == readme[path.stem], path
        check_table(frame, str(path))
        count += 1
    return count


def test_demo_tables_are_the_readme_contract(demo_outcome):
    readme = readme_columns()
    assert check_folder(demo_outcome.out_dir, readme) == 8
    # Shares written 0-100 are the same figures as the 0-1 headline shares.
    unc = pd.read_csv(demo_outcome.out_dir / "tables" / "uncertainty.csv").set_index("measure")
    totals = pd.read_csv(demo_outcome.out_dir / "tables" / "coverage_totals.csv")
    gp_only = totals[(totals["need_group"] == "cancer") & (totals["coverage_class"] == "gp_only")]
    assert unc.loc["people_gp_only_share", "estimate_share"] == pytest.approx(
        gp_only["pop_pct"].iloc[0] / 100
    )
    bands = pd.read_csv(demo_outcome.out_dir / "tables" / "travel_time_bands.csv")
    edges = pd.concat([bands["lower_min"], bands["upper_min"]]).dropna()
    assert (edges == edges.round()).all()  # whole minutes


@pytest.mark.xdist_group("scenario")
def test_scenario_and_sites_tables_are_the_readme_contract(demo_scenario, demo_sites):
    readme = readme_columns()
    # baseline/ and scenario/ are full region folders (8 tables; the scenario's also has its
    # two change tables), plus the change tables at the top.
    assert check_folder(demo_scenario.out_dir, readme) == 8 + 10 + 2
    assert check_folder(demo_sites[2], readme) == 1


def test_batch_summary_columns_are_the_readme_contract():
    frame = summary_frame(
        [
            {
                "region": "a b",
                "status": "ok",
                "seconds": 1.0,
                "need_within_spc_share": 0.5,
                "out_dir": "a_b",
                "error": "",
            }
        ]
    )
    assert list(frame.columns) == readme_columns()["batch_summary"]
    check_table(frame, "batch_summary")


def test_a_share_out_of_its_range_or_badly_named_fails():
    with pytest.raises(AssertionError):
        check_table(pd.DataFrame({"need_pct": [0.5, 101.0]}), "x")
    with pytest.raises(AssertionError):
        check_table(pd.DataFrame({"need_share": [0.5, 2.0]}), "x")
    with pytest.raises(AssertionError):
        check_table(pd.DataFrame({"share_of_unmet": [0.5]}), "x")
    with pytest.raises(AssertionError):
        check_table(pd.DataFrame({"mean_Very Remote": [0.5]}), "x")
    check_table(pd.DataFrame({"need_pct": [0.0, 100.0, np.nan], "x_share": [0.0, 1.0, 0.5]}), "x")
