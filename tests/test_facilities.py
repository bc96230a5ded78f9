"""Facility loading: column mapping, CRS, validation errors naming file, row and column."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from geo.errors import InputError, MissingCRSError
from geo.inputs.facilities import load_facilities

SPC_COLUMNS = {
    "id": "sid",
    "name": "label",
    "x": "lon",
    "y": "lat",
    "capacity": "beds",
    "service_type": "kind",
    "accepts_non_cancer": "non_cancer",
}
CSV = (
    "sid,label,lon,lat,beds,kind,non_cancer\n"
    "S1,Hospice <b>&</b> Co,147.1,-32.1,12,Hospice,yes\n"
    "S2,Community team,147.2,-32.2,3.5,community,No\n"
    "S3,Hospital SPC,147.3,-32.3,,hospital,TRUE\n"
)


def _csv(tmp_path, text=CSV, name="spc.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(path, **kw):
    args = {
        "kind": "spc",
        "columns": SPC_COLUMNS,
        "crs": "EPSG:7855",
        "input_crs": "EPSG:4326",
        "service_types": {"hospice": "inpatient"},
    }
    args.update(kw)
    return load_facilities(path, **args)


def test_csv_is_mapped_to_the_schema(tmp_path):
    out = _load(_csv(tmp_path))
    assert list(out["facility_id"]) == ["S1", "S2", "S3"]
    assert list(out["service_type"]) == ["inpatient", "community", "hospital"]
    assert list(out["accepts_non_cancer"]) == [True, False, True]
    np.testing.assert_allclose(out["capacity"].to_numpy()[:2], [12.0, 3.5])
    assert np.isnan(out["capacity"].iloc[2])
    assert out.crs.to_epsg() == 7855
    # MGA zone 55 eastings for 147°E are around 500 km.
    assert 400_000 < out.geometry.x.iloc[0] < 600_000
    assert out["name"].iloc[0] == "Hospice <b>&</b> Co"


def test_default_capacity_fills_missing_values(tmp_path):
    out = _load(_csv(tmp_path), default_capacity=1.0)
    assert out["capacity"].iloc[2] == 1.0


def test_missing_column_suggests_nearest(tmp_path):
    with pytest.raises(InputError) as info:
        _load(_csv(tmp_path), columns={**SPC_COLUMNS, "capacity": "bed"})
    assert info.value.column == "bed" and "did you mean 'beds'" in str(info.value)
    assert "spc.csv" in str(info.value)


def test_csv_without_crs_is_refused(tmp_path):
    with pytest.raises(MissingCRSError, match="crs"):
        _load(_csv(tmp_path), input_crs=None)


@pytest.mark.parametrize(
    ("old", "new", "row", "column", "message"),
    [
        ("S2,Community team,147.2", "S1,Community team,147.2", None, "sid", "not unique"),
        ("147.2,-32.2", "east,-32.2", 3, "lon", "not a number"),
        ("147.2,-32.2", "-32.2,147.2", 3, "lat", "swapped"),
        (",3.5,community", ",-1,community", 3, "beds", "non-negative"),
        ("community,No", "visiting,No", 3, "kind", "service type"),
        ("community,No", "community,maybe", 3, "non_cancer", "yes/no"),
    ],
)
def test_bad_rows_are_named(tmp_path, old, new, row, column, message):
    with pytest.raises(InputError) as info:
        _load(_csv(tmp_path, CSV.replace(old, new)))
    assert info.value.row == row
    assert info.value.column == column
    assert message in str(info.value)


HINT = "Write numbers with a decimal point and no thousands separators"


def test_decimal_commas_and_thousands_separators_are_refused_with_the_fix(tmp_path):
    """A spreadsheet saved in a European locale (semicolons, decimal commas), and a list
    size with a thousands separator: refused, with the row, the value and how to write it."""
    european = CSV.replace(",", ";").replace("147.2;-32.2", "147,2;-32,2")
    with pytest.raises(InputError) as info:
        _load(_csv(tmp_path, european))
    text = str(info.value)
    assert "column 'lon'" in text and "row 3 ('147,2')" in text and HINT in text
    thousands = CSV.replace(",12,Hospice", ',"1,200",Hospice')
    with pytest.raises(InputError) as info:
        _load(_csv(tmp_path, thousands))
    assert info.value.column == "beds" and info.value.row == 2 and HINT in str(info.value)
    with pytest.raises(InputError) as info:  # a word is not a number written the other way
        _load(_csv(tmp_path, CSV.replace("147.2,-32.2", "east,-32.2")))
    assert HINT not in str(info.value)


def test_where_filter_and_empty_result(tmp_path):
    text = "id,name,lon,lat,status\nA,One,147,-32,A\nB,Two,147.1,-32,C\n"
    cols = {"id": "id", "name": "name", "x": "lon", "y": "lat"}
    path = _csv(tmp_path, text, "gp.csv")
    out = load_facilities(
        path,
        kind="gp",
        columns=cols,
        crs="EPSG:7855",
        input_crs="EPSG:4326",
        where={"status": ["A"]},
    )
    assert list(out["facility_id"]) == ["A"]
    assert out["service_type"].iloc[0] == "gp" and bool(out["accepts_non_cancer"].iloc[0])
    with pytest.raises(InputError, match="no facilities left"):
        load_facilities(
            path,
            kind="gp",
            columns=cols,
            crs="EPSG:7855",
            input_crs="EPSG:4326",
            where={"status": ["X"]},
        )


def test_vector_file_uses_its_own_crs_and_refuses_none(tmp_path):
    frame = gpd.GeoDataFrame(
        {"sid": ["P1"], "label": ["Polygon hospice"], "kind": ["inpatient"]},
        geometry=[Point(147.0, -32.0).buffer(0.001)],
        crs="EPSG:4326",
    )
    path = tmp_path / "spc.gpkg"
    frame.to_file(path, driver="GPKG")
    cols = {"id": "sid", "name": "label", "service_type": "kind"}
    out = load_facilities(path, kind="spc", columns=cols, crs="EPSG:7855")
    assert out.geom_type.iloc[0] == "Point" and out.crs.to_epsg() == 7855
    shp = tmp_path / "nocrs.shp"
    frame.to_file(shp)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(MissingCRSError, match="declares no CRS"):
        load_facilities(shp, kind="spc", columns=cols, crs="EPSG:7855")
    out = load_facilities(shp, kind="spc", columns=cols, crs="EPSG:7855", input_crs="EPSG:4326")
    assert out.crs.to_epsg() == 7855


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        _load(tmp_path / "absent.csv")


def test_capacity_from_a_list_size_table_joined_by_id(tmp_path, caplog):
    import logging

    from geo.inputs.facilities import CapacityTable, read_facilities

    sizes = _csv(
        tmp_path,
        "CODE,SEX,AGE,NUMBER_OF_PATIENTS\n"
        "s1,ALL,ALL,8000\ns1,MALE,ALL,3900\nS2 ,ALL,ALL,6000\nS9,ALL,ALL,100\n",
        name="sizes.csv",
    )
    table = CapacityTable(sizes, "CODE", "NUMBER_OF_PATIENTS", where={"SEX": ["ALL"]})
    columns = {k: v for k, v in SPC_COLUMNS.items() if k != "capacity"}
    with pytest.raises(InputError, match=r"1 facilities have no row.*S3.*on_missing: median"):
        _load(_csv(tmp_path), columns=columns, capacity_table=table)
    median = CapacityTable(**{**table.__dict__, "on_missing": "median"})
    with caplog.at_level(logging.WARNING, logger="geo"):
        read = read_facilities(
            _csv(tmp_path),
            kind="spc",
            columns=columns,
            crs="EPSG:7855",
            input_crs="EPSG:4326",
            service_types={"hospice": "inpatient"},
            capacity_table=median,
        )
    assert read.frame["capacity"].tolist() == [8000.0, 6000.0, 7000.0]  # ids trimmed, any case
    assert (read.frame["capacity_units"] == "registered patients").all()
    assert read.capacity["missing"] == ["S3"] and read.capacity["filled_with"] == 7000.0
    assert "given the median 7000 registered patients" in caplog.text
    unfiltered = CapacityTable(sizes, "CODE", "NUMBER_OF_PATIENTS")
    with pytest.raises(InputError, match="listed more than once"):
        _load(_csv(tmp_path), columns=columns, capacity_table=unfiltered)
