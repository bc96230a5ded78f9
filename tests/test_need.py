"""Palliative need: ICD-10 grouping (Etkind 2017, Rosenwax 2005), deaths and rates routes."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from geo.errors import InputError
from geo.inputs.need import classify_icd10, load_rates, need_from_deaths, need_from_rates
from geo.reference import read_reference
from tests.conftest import DEMO_DIR


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("C34", "cancer"),
        ("C34.1", "cancer"),
        ("c341", "cancer"),
        ("C97", "cancer"),
        ("D48", None),
        ("I50", "heart_disease"),
        ("I50.0", "heart_disease"),
        ("I12", "renal"),
        ("I13.1", "renal"),
        ("I52", "heart_disease"),
        ("I53", None),
        ("I63", "stroke"),
        ("J44", "respiratory"),
        ("J96.0", "respiratory"),
        ("J18", None),
        ("N18", "renal"),
        ("N19", None),
        ("K70", "liver"),
        ("K74.6", "liver"),
        ("F03", "dementia"),
        ("G30", "dementia"),
        ("R54", "dementia"),
        ("G12.2", "neurodegenerative"),
        ("G122", "neurodegenerative"),
        ("G12.0", None),
        ("G12", None),
        ("G23.1", "neurodegenerative"),
        ("G23.0", None),
        ("G20", "neurodegenerative"),
        ("B22", "hiv"),
        ("B25", None),
        ("V89", None),
        ("heart_disease", "heart_disease"),
        ("Cancer", "cancer"),
        ("other", None),
    ],
)
def test_etkind_groups(code, group):
    result = classify_icd10(pd.Series([code]), "etkind").iloc[0]
    assert result["group"] == group
    assert result["indicates_need"] == (group is not None)
    assert result["is_cancer"] == (group == "cancer")


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("D48", "cancer"),
        ("I50", "heart_disease"),
        ("I25", None),
        ("J45", None),
        ("N19", "renal"),
        ("F03", None),
        ("G30", "dementia"),
        ("I63", None),
    ],
)
def test_rosenwax_minimal_groups(code, group):
    assert classify_icd10(pd.Series([code]), "rosenwax").iloc[0]["group"] == group


def test_junk_causes_are_flagged_not_counted():
    out = classify_icd10(pd.Series(["not a code", "C50"]))
    assert out["valid"].tolist() == [False, True]
    assert out["indicates_need"].tolist() == [False, True]


def _origins():
    return gpd.GeoDataFrame(
        {
            "pop_count": [100.0, 300.0, 50.0],
            "pop_65plus": [10.0, 30.0, 0.0],
            "area_id": ["A", "A", "B"],
        },
        geometry=gpd.points_from_xy([0, 1, 2], [0, 0, 0]),
        crs="EPSG:7855",
    )


def test_need_from_deaths_hand_worked():
    deaths = pd.DataFrame(
        {
            "area": ["A", "A", "A", "B", "B"],
            "cause": ["C34", "I50", "V89", "F03", "C18"],
            "n": [4.0, 6.0, 10.0, 2.0, 1.0],
        }
    )
    result = need_from_deaths(
        _origins(), deaths, area_column="area", cause_column="cause", count_column="n"
    )
    # Area A: cancer 4, non-cancer 6, shared 1:3 by people 65+; B: no one 65+ -> by people.
    assert result.origins["need_cancer"].tolist() == pytest.approx([1.0, 3.0, 1.0])
    assert result.origins["need_non_cancer"].tolist() == pytest.approx([1.5, 4.5, 2.0])
    assert result.by_area.loc["A", "deaths"] == 20
    assert result.by_area["suppress"].tolist() == [True, True]  # 4 cancer deaths in A < 5
    flat = need_from_deaths(
        _origins(),
        deaths,
        area_column="area",
        cause_column="cause",
        count_column="n",
        model="flat75",
    )
    assert flat.by_area.loc["A", "need_cancer"] + flat.by_area.loc[
        "A", "need_non_cancer"
    ] == pytest.approx(15.0)
    assert flat.by_area.loc["A", "need_cancer"] == pytest.approx(15.0 * 4 / 20)


def test_deaths_errors_name_row_and_column(tmp_path):
    path = tmp_path / "deaths.csv"
    pd.DataFrame({"area_id": ["A", "B"], "cause": ["C34", "I50"], "deaths": [3, -1]}).to_csv(
        path, index=False
    )
    with pytest.raises(InputError) as err:
        need_from_deaths(_origins(), path)
    assert err.value.row == 3 and err.value.column == "deaths"
    with pytest.raises(InputError, match="column not found"):
        need_from_deaths(_origins(), path, cause_column="icd10")


def test_demo_deaths_give_about_three_quarters_need():
    deaths = pd.read_csv(DEMO_DIR / "deaths.csv")
    origins = gpd.GeoDataFrame(
        {"pop_count": [1.0] * 12, "area_id": sorted(deaths["area_id"].unique())},
        geometry=gpd.points_from_xy(range(12), [0] * 12),
        crs="EPSG:7855",
    )
    result = need_from_deaths(origins, DEMO_DIR / "deaths.csv")
    need = result.origins.sum().sum()
    assert 0.65 < need / deaths["deaths"].sum() < 0.85  # Etkind: 74.9% in England and Wales
    assert result.by_area["suppress"].any()


def test_need_from_rates_uses_age_bands_when_present():
    origins = _origins()
    rates = load_rates("england", "etkind")
    result = need_from_rates(origins, country="england")
    young, old = rates.loc["under_65"], rates.loc["65_plus"]
    expected_first = (
        90 * young["death_rate_per_1000"] * young["need_share"]
        + 10 * old["death_rate_per_1000"] * old["need_share"]
    ) / 1000
    assert result.origins.iloc[0].sum() == pytest.approx(expected_first)
    crude = need_from_rates(origins.drop(columns="pop_65plus"), country="au")
    assert "crude" in crude.stats["method"]
    with pytest.raises(InputError, match="country"):
        need_from_rates(origins, country="mars")


def test_rate_tables_cite_every_row():
    for country in ("au", "england"):
        table = read_reference(f"need_rates_{country}")
        assert table["source"].str.len().min() > 40
        assert set(table["model"]) == {"etkind", "rosenwax", "flat75"}
        assert table["need_share"].between(0, 1).all()


def test_flat75_without_causes_uses_the_cited_cancer_share():
    from geo.inputs.need import FLAT_CANCER_SHARE_OF_DEATHS

    deaths = pd.DataFrame({"area": ["A", "B"], "cause": ["all causes", "C34"], "n": [40.0, 8.0]})
    result = need_from_deaths(
        _origins(),
        deaths,
        area_column="area",
        cause_column="cause",
        count_column="n",
        model="flat75",
    )
    a = result.by_area.loc["A"]
    assert a["need_cancer"] == pytest.approx(30.0 * FLAT_CANCER_SHARE_OF_DEATHS)
    assert a["need_cancer"] + a["need_non_cancer"] == pytest.approx(30.0)
    assert result.by_area.loc["B", "need_cancer"] == pytest.approx(6.0)  # all known: cancer


def test_need_is_conserved_and_unmatched_areas_reported():
    origins = _origins().assign(area_id=[7, 7, 9])  # integer ids match text ids in the table
    deaths = pd.DataFrame(
        {"area_id": ["7", "7", "9", "99"], "cause": ["C18", "J44", "G30", "C34"]}
    ).assign(deaths=[12.0, 8.0, 5.0, 3.0])
    result = need_from_deaths(origins, deaths, cause_column="cause", count_column="deaths")
    matched = result.by_area.loc[["7", "9"], ["need_cancer", "need_non_cancer"]].sum()
    assert result.origins.sum().tolist() == pytest.approx(matched.tolist(), rel=1e-12)
    assert result.origins.sum().tolist() == pytest.approx([12.0, 13.0])
    assert result.stats["areas_without_origins"] == ["99"]
    assert result.by_area.loc["7", "suppress"] == False  # noqa: E712 (numpy bool)
    assert result.by_area.loc["99", "suppress"] == True  # noqa: E712


def test_rosenwax_counts_fewer_deaths_than_etkind():
    deaths = pd.DataFrame(
        {"area": ["A"] * 5, "cause": ["C34", "I25", "I50", "J45", "D32"], "n": [10.0] * 5}
    )
    kwargs = {"area_column": "area", "cause_column": "cause", "count_column": "n"}
    etkind = need_from_deaths(_origins(), deaths, **kwargs).by_area.loc["A"]
    rosenwax = need_from_deaths(_origins(), deaths, model="rosenwax", **kwargs).by_area.loc["A"]
    # Etkind: C34 cancer; I25, I50 heart; J45 respiratory; D32 (benign) not a need group.
    assert (etkind["need_cancer"], etkind["need_non_cancer"]) == (10.0, 30.0)
    # Rosenwax: neoplasms C00-D48 (so D32 counts), heart failure I50 only, COPD J40-J44 only.
    assert (rosenwax["need_cancer"], rosenwax["need_non_cancer"]) == (20.0, 10.0)


def test_rates_refuse_more_older_people_than_people():
    origins = _origins().assign(pop_65plus=[10.0, 500.0, 0.0])
    with pytest.raises(InputError, match="65"):
        need_from_rates(origins, country="au")
