"""Need from the data people have: deaths of all causes, and national rates adjusted by SMRs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from geo.errors import InputError
from geo.inputs.need import load_rates, need_from_deaths, need_from_rates
from geo.inputs.need_smr import (
    IMPLIED_SMR_TOLERANCE,
    adjust_by_smr,
    cancer_share_of_deaths,
    read_smrs,
    smr_factors,
)
from tests.conftest import DEMO_DIR, REPO_ROOT


def _origins(areas, pops):
    return gpd.GeoDataFrame(
        {"pop_count": pops, "area_id": areas},
        geometry=[Point(i, 0) for i in range(len(areas))],
        crs="EPSG:7855",
    )


def test_all_cause_deaths_split_by_national_shares(tmp_path):
    deaths = tmp_path / "mort.csv"
    pd.DataFrame({"sa2": ["A", "B"], "deaths_2015_19": [500, 50]}).to_csv(deaths, index=False)
    origins = _origins(["A", "A", "B"], [300.0, 100.0, 200.0])
    result = need_from_deaths(
        origins,
        deaths,
        area_column="sa2",
        cause_column=None,
        count_column="deaths_2015_19",
        country="au",
        years=5,
    )
    row = load_rates("au", "etkind").loc["all"]  # need share 0.70, cancer 0.38 of need (cited)
    need_a = 100 * row["need_share"]  # 500 deaths over 5 years
    assert result.by_area.loc["A", "need_cancer"] == pytest.approx(need_a * 0.38)
    assert result.origins["need_cancer"].tolist() == pytest.approx(
        [need_a * 0.38 * 0.75, need_a * 0.38 * 0.25, 10 * 0.70 * 0.38]
    )
    total = result.origins.sum().sum()
    assert total == pytest.approx(110 * 0.70)
    assert result.stats["national_shares"]["table"] == "geo/reference/need_rates_au.csv"
    older = need_from_deaths(
        origins, deaths, area_column="sa2", cause_column=None, count_column="deaths_2015_19",
        country="england", years=5, age_band="65_plus",
    )  # fmt: skip
    assert older.stats["national_shares"]["need_share"] == 0.78
    with pytest.raises(InputError, match=r"set need\.country"):
        need_from_deaths(
            origins, deaths, area_column="sa2", cause_column=None, count_column="deaths_2015_19"
        )


def test_demo_deaths_read_without_causes_match_the_national_split():
    origins = _origins(["SA2-001"], [1000.0])
    table = pd.read_csv(DEMO_DIR / "deaths.csv")
    deaths = table[table["area_id"] == "SA2-001"]["deaths"].sum()
    result = need_from_deaths(origins, table, cause_column=None, country="au")
    assert result.origins.sum().sum() == pytest.approx(0.70 * deaths)
    by_cause = need_from_deaths(origins, table)  # the same deaths, with their causes
    assert by_cause.origins.sum().sum() < deaths  # only the need groups count


def test_non_cancer_smr_follows_from_all_cause_and_cancer():
    smrs = pd.DataFrame(
        {"smr_all": [100.0, 120.0, 80.0, 60.0], "smr_cancer": [100.0, 100.0, 140.0, 400.0]},
        index=["flat", "heart", "cancer", "odd"],
    )
    share = 0.285
    factors = smr_factors(smrs, cancer_share=share, reference=100)
    assert factors.loc["flat"].tolist()[2:] == pytest.approx([1.0, 1.0])
    assert factors.loc["heart", "non_cancer"] == pytest.approx((1.2 - share) / (1 - share))
    # The identity holds: all = s x cancer + (1 - s) x non-cancer.
    for area in ("heart", "cancer"):
        f = factors.loc[area]
        assert share * f["cancer"] + (1 - share) * f["non_cancer"] == pytest.approx(
            f["smr_all"] / 100
        )
    assert factors.loc["odd", "non_cancer"] == 0.0  # would be negative: clipped
    assert cancer_share_of_deaths("england") == pytest.approx(0.749 * 0.38)


def test_smr_adjustment_moves_need_towards_the_smrs(tmp_path):
    path = tmp_path / "smr.csv"
    pd.DataFrame(
        {"Code": ["hi", "lo", "blank"], "all": [130, 80, ""], "cancer": [110, 90, ""]}
    ).to_csv(path, index=False)
    smrs = read_smrs(path, area_column="Code", all_cause_column="all", cancer_column="cancer")
    origins = _origins(["hi", "lo", "blank", "none"], [1000.0] * 4)
    base = need_from_rates(origins, country="england")
    adjusted = adjust_by_smr(origins, base, smrs, country="england", source=str(path))
    ratio = adjusted.origins / base.origins
    assert ratio.loc[0, "need_cancer"] == pytest.approx(1.10)
    assert ratio.loc[1, "need_cancer"] == pytest.approx(0.90)
    assert ratio.loc[0, "need_non_cancer"] > 1.3 and ratio.loc[1, "need_non_cancer"] < 0.8
    assert ratio.loc[2].tolist() == [1.0, 1.0] and ratio.loc[3].tolist() == [1.0, 1.0]
    stats = adjusted.stats["smr"]
    assert stats["areas_without_smr"] == ["blank", "none"]
    assert sorted(a["area_id"] for a in stats["by_area"]) == ["blank", "hi", "lo"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"Code": ["a", "b"], "all": ["n/a", "-3"], "cancer": [1, 2]}).to_csv(
        bad, index=False
    )
    with pytest.raises(InputError, match=r"2 value\(s\) are not SMRs"):
        read_smrs(bad, area_column="Code", all_cause_column="all", cancer_column="cancer")


@pytest.mark.realdata
def test_iow_smr_adjusted_need_follows_the_smrs_and_keeps_the_total(
    iow_dir, geo_data_root_env, tmp_path
):
    """Need per area moves in the direction of its SMRs; the island's total stays within the
    documented tolerance: its implied SMRs within IMPLIED_SMR_TOLERANCE points of the
    island's published SMRs, so the total within a few percent of the national-rate total."""
    from geo.config import load_config
    from geo.inputs.region import load_inputs

    config = load_config(REPO_ROOT / "scripts" / "regions" / "isle_of_wight_epraccur.yml")
    inputs = load_inputs(config, cache_dir=tmp_path)
    origins, stats = inputs.origins, inputs.need.stats["smr"]
    base = need_from_rates(origins, country="england").origins
    factors = pd.DataFrame(stats["by_area"]).set_index("area_id")
    assert len(factors) == 18 and stats["areas_without_smr"] == []
    per_area = pd.DataFrame(
        {
            "cancer": origins.groupby("area_id")["need_cancer"].sum()
            / base.groupby(origins["area_id"])["need_cancer"].sum(),
            "non_cancer": origins.groupby("area_id")["need_non_cancer"].sum()
            / base.groupby(origins["area_id"])["need_non_cancer"].sum(),
        }
    )
    smr = factors.loc[per_area.index]
    assert (np.sign(per_area["cancer"] - 1) == np.sign(smr["smr_cancer"] - 100)).all()
    non_cancer_smr = 100 * smr["factor_non_cancer"]
    assert (np.sign(per_area["non_cancer"] - 1) == np.sign(non_cancer_smr - 100)).all()
    assert per_area["cancer"].to_numpy() == pytest.approx(smr["smr_cancer"] / 100)
    published = pd.read_csv(iow_dir / "eolc" / "localhealth_ltla_smr_2015-19_all_england_LAs.csv")
    island = published[published.iloc[:, 0] == "E06000046"].iloc[0]
    assert stats["implied_smr_cancer"] == pytest.approx(
        island["Deaths from all cancer, all ages"], abs=IMPLIED_SMR_TOLERANCE
    )
    assert stats["implied_smr_all"] == pytest.approx(
        island["Deaths from all causes, all ages"], abs=IMPLIED_SMR_TOLERANCE
    )
    assert stats["ratio_total"] == pytest.approx(1.0, abs=0.05)
    total = origins["need_cancer"].sum() + origins["need_non_cancer"].sum()
    assert total == pytest.approx(stats["ratio_total"] * base.to_numpy().sum())


def test_worked_config_all_cause_deaths(tmp_path):
    from geo.config import load_config
    from geo.inputs.region import load_inputs

    config = load_config(REPO_ROOT / "scripts" / "regions" / "demo_all_cause_deaths.yml")
    assert config.need.deaths.cause_column is None
    inputs = load_inputs(config, cache_dir=tmp_path)
    deaths = pd.read_csv(DEMO_DIR / "deaths.csv")["deaths"].sum()
    need = inputs.origins[["need_cancer", "need_non_cancer"]].sum()
    assert need.sum() == pytest.approx(0.70 * deaths)  # AU need share (need_rates_au.csv)
    assert need["need_cancer"] == pytest.approx(0.38 * need.sum())
    assert inputs.need.stats["causes"] == "deaths of all causes, split by national shares"
