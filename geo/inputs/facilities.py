"""GP practices and specialist palliative care (SPC) services: schema, column mapping, validation.

Facilities come from a CSV with coordinate columns (its CRS must be stated) or any vector file
GDAL reads. Whatever the input calls its columns, the output has the toolkit's schema:

``facility_id`` (str, unique), ``name`` (str), ``kind`` (``gp`` or ``spc``), ``service_type``
(``gp``, ``inpatient``, ``community`` or ``hospital``), ``capacity`` (float: GP FTE or registered
patients, beds or clinical FTE; NaN when unknown), ``accepts_non_cancer`` (bool), Point geometry
in the analysis CRS; ``capacity_units`` (str) when the config says what capacity counts, and
``location_precision``/``location_query`` when rows were placed by postcode or address
(:mod:`geo.inputs.geocode`).

A file may give a postcode (or an address) instead of coordinates: the rows kept by ``where``
are placed through a postcode directory (or, opt-in, an online geocoder). A capacity may come
from a separate table joined by id (:class:`CapacityTable`: registered patients per GP
practice, the list size), in which case the access scores count registered patients.

Row numbers in error messages are spreadsheet rows for CSV files (the header is row 1) and
feature numbers (from 1) for vector files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InputError
from geo.inputs.checks import Problems
from geo.inputs.geocode import LOCATION_COLUMNS, GeocodeReport, Geocoding, geocode_table
from geo.inputs.readers import (
    MAX_ROWS_LISTED,
    bad_rows_error,
    first_row_number,
    is_csv,
    number_hint,
    raise_all,
    read_csv_table,
    read_points,
    require_columns,
)

log = logging.getLogger(__name__)

SPC_SERVICE_TYPES = ("inpatient", "community", "hospital", "outreach")
FacilityKind = Literal["gp", "spc"]
_TRUE = {"yes", "y", "true", "t", "1", "1.0"}
_FALSE = {"no", "n", "false", "f", "0", "0.0"}


@dataclass(frozen=True)
class CapacityTable:
    """Capacity per facility from its own table, joined by the facility id.

    Attributes
    ----------
    path
        CSV with one row per facility (after ``where``).
    id_column, capacity_column
        The facility id and the capacity (e.g. ``CODE`` and ``NUMBER_OF_PATIENTS``).
    where
        Keep only rows whose column value is listed (e.g. ``{"SEX": ["ALL"]}``).
    units
        What the capacity counts (``registered patients``).
    on_missing
        A facility with no row: ``error`` (listed) or ``median`` (the median of the others,
        with a warning).
    """

    path: Path
    id_column: str
    capacity_column: str
    where: Mapping[str, Iterable[Any]] = field(default_factory=dict)
    units: str = "registered patients"
    on_missing: Literal["error", "median"] = "error"


@dataclass
class FacilityRead:
    """Facilities as read, with what placing them and sizing them did (for ``run.json``)."""

    frame: gpd.GeoDataFrame
    geocoding: GeocodeReport | None = None
    capacity: dict[str, Any] = field(default_factory=dict)


def load_facilities(path: str | Path, **options: Any) -> gpd.GeoDataFrame:
    """Read GP practices or SPC services into the toolkit's facility schema.

    Takes the keyword arguments of :func:`read_facilities` and returns its ``frame``.
    """
    return read_facilities(path, **options).frame


def read_facilities(
    path: str | Path,
    *,
    kind: FacilityKind,
    columns: Mapping[str, str | None],
    crs: CRS | str,
    input_crs: CRS | str | None = None,
    layer: str | None = None,
    where: Mapping[str, Iterable[Any]] | None = None,
    service_types: Mapping[str, str] | None = None,
    default_service_type: str | None = None,
    default_capacity: float | None = None,
    key: str | None = None,
    geocoding: Geocoding | None = None,
    capacity_table: CapacityTable | None = None,
    capacity_units: str | None = None,
) -> FacilityRead:
    """Read GP practices or SPC services into the toolkit's facility schema.

    Parameters
    ----------
    path
        CSV (with ``columns['x']``/``columns['y']``) or a vector file (GeoPackage, GeoJSON...).
    kind
        ``"gp"`` for GP practices, ``"spc"`` for specialist palliative care services.
    columns
        Input column for each attribute: ``id``, ``name`` (required), ``x``, ``y`` (CSV),
        or ``postcode``/``address`` (placed by ``geocoding``), ``capacity``,
        ``service_type``, ``accepts_non_cancer`` (optional).
    crs
        Analysis CRS of the output.
    input_crs
        CRS of the input coordinates; required for CSV, overrides nothing for vector files
        (whose own CRS is used; a vector file without one is an error unless this is given).
    layer
        Layer name for multi-layer vector files.
    where
        Keep only rows whose column value is one of the listed values (e.g. active practices).
    service_types
        Map raw values of the service-type column to ``inpatient``/``community``/``hospital``.
    default_service_type
        Service type of SPC rows when the file has no service-type column.
    default_capacity
        Capacity used where the file gives none (NaN otherwise).
    key
        The config section, named in messages (default ``gp_practices`` or
        ``specialist_services``).
    geocoding
        How rows are placed when ``columns`` maps a ``postcode`` or ``address`` (a CSV
        without coordinates); applied to the rows ``where`` keeps.
    capacity_table
        Capacity from its own table joined by id (instead of ``columns['capacity']``).
    capacity_units
        What the capacity counts (e.g. ``FTE``); the capacity table's units when given.

    Returns
    -------
    FacilityRead
        ``frame``: one row per facility in the schema described in the module docstring;
        ``geocoding``: what placing the rows did; ``capacity``: units, source and matches.

    Raises
    ------
    InputError
        Missing file or column, duplicate ids, bad coordinates, capacities or service types.
    MissingCRSError
        The coordinates' CRS is unknown.
    """
    path = Path(path)
    key = key or ("gp_practices" if kind == "gp" else "specialist_services")
    problems = Problems()
    frame, report = _read_placed(
        path, key, columns, where or {}, layer, input_crs, geocoding, problems
    )
    # spreadsheet row (or feature) numbers of the rows kept: the index survives the filter
    rows = first_row_number(path) + frame.index.to_numpy()
    ids = problems.attempt(_ids, frame, columns["id"], path, rows)
    types = problems.attempt(
        _service_types,
        frame,
        kind,
        columns,
        service_types or {},
        default_service_type,
        path,
        rows,
    )
    capacity_values = problems.attempt(
        _capacity, frame, columns.get("capacity"), default_capacity, path, rows
    )
    accepts = problems.attempt(_accepts, frame, kind, columns.get("accepts_non_cancer"), path, rows)
    capacity: dict[str, Any] = {"units": capacity_units}
    if capacity_table is not None and ids is not None:
        table = problems.attempt(capacity_from_table, pd.Series(ids), capacity_table)
        if table is not None:
            capacity_values, capacity = table
    problems.raise_any()
    out = gpd.GeoDataFrame(
        {
            "facility_id": ids,
            "name": frame[columns["name"]].fillna("").astype(str).str.strip().to_numpy(),
            "kind": kind,
            "service_type": types,
            "capacity": capacity_values,
            "accepts_non_cancer": accepts,
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    if capacity["units"]:
        out["capacity_units"] = capacity["units"]
    for col in LOCATION_COLUMNS:
        if col in frame.columns:
            out[col] = frame[col].to_numpy()
    out = out.to_crs(CRS.from_user_input(crs))
    log.info("read %d %s facilities from %s", len(out), kind, path.name)
    return FacilityRead(frame=out, geocoding=report, capacity=capacity)


def _read_placed(
    path: Path,
    key: str,
    columns: Mapping[str, str | None],
    where: Mapping[str, Iterable[Any]],
    layer: str | None,
    input_crs: CRS | str | None,
    geocoding: Geocoding | None,
    problems: Problems,
) -> tuple[gpd.GeoDataFrame, GeocodeReport | None]:
    """The rows ``where`` keeps, as points: from coordinates, or placed by postcode/address.

    Bad coordinates are kept in ``problems`` and the rows come back without geometry, so the
    other columns are still checked in the same pass.
    """
    attributes = [c for k, c in columns.items() if c and k not in {"x", "y"}]
    postcode, address = columns.get("postcode"), columns.get("address")
    report = None
    if postcode or address:
        if geocoding is None:
            raise InputError(
                f"{key}: a postcode or address column needs a geocode section (a postcode "
                "directory, or the online geocoder)",
                path=path,
            )
        if not is_csv(path):
            raise InputError(f"{key}: placing rows by postcode reads CSV files", path=path)
        table = read_csv_table(path)
        require_columns(table, attributes, path)
        table = _apply_filter(table, where, path)
        if table.empty:
            raise InputError("no facilities left after reading (and filtering) the file", path=path)
        frame, report = geocode_table(
            table, geocoding, path=path, postcode_column=postcode, address_column=address
        )
    else:
        frame = problems.attempt(
            read_points,
            path,
            key=key,
            layer=layer,
            x_column=columns.get("x"),
            y_column=columns.get("y"),
            input_crs=input_crs,
        )
        if frame is None and is_csv(path) and path.is_file():
            table = problems.attempt(read_csv_table, path, note=False)
            if table is not None:
                frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries([None] * len(table)))
        if frame is None or not problems.passes(require_columns, frame, attributes, path):
            problems.raise_any()
        frame = _apply_filter(frame, where, path)
    if frame.empty:
        raise InputError("no facilities left after reading (and filtering) the file", path=path)
    return frame, report


def capacity_from_table(ids: pd.Series, table: CapacityTable) -> tuple[np.ndarray, dict[str, Any]]:
    """Each facility's capacity from its row of ``table`` (ids compared trimmed, upper case).

    Returns
    -------
    capacity : numpy.ndarray
        Aligned to ``ids``.
    info : dict
        ``units``, ``source``, ``matched`` and the ids ``missing`` (with ``filled_with``, the
        median used for them, when ``on_missing`` is ``median``).

    Raises
    ------
    InputError
        Missing file or column, a capacity that is not a non-negative number, an id listed
        twice (filter the table with ``where``), or facilities without a row
        (``on_missing: error``).
    """
    path = Path(table.path)
    by_id = _capacity_by_id(table, path)
    capacity = ids.astype(str).str.strip().str.upper().map(by_id)
    missing = ids[capacity.isna()].astype(str).tolist()
    info: dict[str, Any] = {
        "units": table.units,
        "source": str(path),
        "column": table.capacity_column,
        "matched": int(capacity.notna().sum()),
        "missing": missing,
    }
    if missing:
        median = _missing_capacity(capacity, missing, table, path)
        capacity = capacity.fillna(median)
        info["filled_with"] = median
    return capacity.to_numpy(float), info


def _capacity_by_id(table: CapacityTable, path: Path) -> pd.Series:
    """The table's capacities indexed by id (trimmed, upper case), after ``where``.

    Raises InputError for an id listed twice or a capacity that is not a non-negative number.
    """
    frame = read_csv_table(path)
    require_columns(frame, [table.id_column, table.capacity_column, *table.where], path)
    frame = _apply_filter(frame, table.where, path)
    keys = frame[table.id_column].fillna("").astype(str).str.strip().str.upper()
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        raise bad_rows_error(
            "are ids listed more than once (keep one row per facility with 'where:', e.g. "
            "{SEX: [ALL], AGE: [ALL]})",
            dup,
            keys.to_numpy(),
            path,
            column=table.id_column,
        )
    values = pd.to_numeric(frame[table.capacity_column], errors="coerce")
    bad = (values.isna() | (values < 0) | np.isinf(values)).to_numpy(bool)
    if bad.any():
        raise bad_rows_error(
            "are not non-negative capacities",
            bad,
            frame[table.capacity_column].to_numpy(),
            path,
            column=table.capacity_column,
            hint=number_hint(frame[table.capacity_column][bad]),
        )
    return pd.Series(values.to_numpy(float), index=keys.to_numpy())


def _missing_capacity(
    capacity: pd.Series, missing: list[str], table: CapacityTable, path: Path
) -> float:
    """The median capacity given to facilities without a row, with a warning listing them.

    Raises InputError instead with ``on_missing: error`` or when no facility has a row.
    """
    listing = ", ".join(missing[:MAX_ROWS_LISTED])
    more = len(missing) - MAX_ROWS_LISTED
    listing += f" and {more} more" if more > 0 else ""
    if table.on_missing == "error" or capacity.notna().sum() == 0:
        raise InputError(
            f"{len(missing)} facilities have no row in the capacity table: {listing}; add "
            "them, or set capacity_table.on_missing: median",
            path=path,
            column=table.id_column,
        )
    median = float(capacity.median())
    log.warning(
        "%s: %d facilities have no row (%s); given the median %s %s",
        path.name,
        len(missing),
        listing,
        f"{median:g}",
        table.units,
    )
    return median


def _apply_filter(frame: gpd.GeoDataFrame, where: Mapping[str, Iterable[Any]], path: Path):
    require_columns(frame, where.keys(), path)
    keep = np.ones(len(frame), dtype=bool)
    for col, allowed in where.items():
        allowed_text = {str(v) for v in allowed}
        keep &= frame[col].astype(str).isin(allowed_text).to_numpy()
    if len(where):
        log.info(
            "kept %d of %d rows of %s matching %s", keep.sum(), len(frame), path.name, dict(where)
        )
    return frame.loc[keep]


def _ids(frame: pd.DataFrame, col: str, path: Path, rows: np.ndarray) -> np.ndarray:
    ids = frame[col].astype("string").str.strip()
    empty = (ids.isna() | (ids == "")).to_numpy(bool)
    problems = []
    if empty.any():
        problems.append(
            bad_rows_error(
                "are empty facility ids (every row needs an id)",
                empty,
                frame[col].to_numpy(),
                path,
                column=col,
                first_row=rows,
            )
        )
    dup = (ids.duplicated(keep=False).fillna(False) & ~empty).to_numpy(bool)
    if dup.any():
        problems.append(
            bad_rows_error(
                "are facility ids that are not unique (each id may appear once)",
                dup,
                ids.to_numpy(),
                path,
                column=col,
                first_row=rows,
            )
        )
    raise_all(problems)
    return ids.astype(str).to_numpy()


def _service_types(
    frame: pd.DataFrame,
    kind: FacilityKind,
    columns: Mapping[str, str | None],
    mapping: Mapping[str, str],
    default: str | None,
    path: Path,
    rows: np.ndarray,
) -> np.ndarray:
    if kind == "gp":
        return np.full(len(frame), "gp", dtype=object)
    col = columns.get("service_type")
    if not col:
        if default is None:
            raise InputError(
                "SPC services need a service type: map columns.service_type or set "
                f"default_service_type (one of {', '.join(SPC_SERVICE_TYPES)})",
                path=path,
            )
        return np.full(len(frame), default, dtype=object)
    raw = frame[col].fillna("").astype(str).str.strip()
    lookup = {k.strip().lower(): v for k, v in mapping.items()}
    lookup.update({t: t for t in SPC_SERVICE_TYPES})
    mapped = raw.str.lower().map(lookup)
    bad = mapped.isna().to_numpy()
    if bad.any():
        raise bad_rows_error(
            f"are not a service type ({', '.join(SPC_SERVICE_TYPES)}); map them with "
            "'service_types:' in the config",
            bad,
            raw.to_numpy(),
            path,
            column=col,
            first_row=rows,
        )
    return mapped.to_numpy(dtype=object)


def _capacity(
    frame: pd.DataFrame, col: str | None, default: float | None, path: Path, rows: np.ndarray
) -> np.ndarray:
    fill = np.nan if default is None else float(default)
    if not col:
        return np.full(len(frame), fill)
    raw = frame[col]
    values = pd.to_numeric(raw, errors="coerce")
    bad = ((values.isna() & raw.notna()) | (values < 0) | np.isinf(values)).to_numpy(bool)
    if bad.any():
        raise bad_rows_error(
            "are not non-negative capacities",
            bad,
            raw.to_numpy(),
            path,
            column=col,
            first_row=rows,
            hint=number_hint(raw[bad]),
        )
    return values.fillna(fill).to_numpy(float)


def _accepts(
    frame: pd.DataFrame, kind: FacilityKind, col: str | None, path: Path, rows: np.ndarray
) -> np.ndarray:
    if kind == "gp" or not col:
        return np.ones(len(frame), dtype=bool)
    raw = frame[col].astype("string").str.strip().str.lower().fillna("")
    ok = raw.isin(_TRUE | _FALSE).to_numpy(bool)
    if not ok.all():
        raise bad_rows_error(
            "are not yes/no (or true/false, 1/0)",
            ~ok,
            frame[col].to_numpy(),
            path,
            column=col,
            first_row=rows,
        )
    return raw.isin(_TRUE).to_numpy(bool)
