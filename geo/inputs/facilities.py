"""GP practices and specialist palliative care (SPC) services: schema, column mapping, validation.

Facilities come from a CSV with coordinate columns (its CRS must be stated) or any vector file
GDAL reads. Whatever the input calls its columns, the output has the toolkit's schema:

``facility_id`` (str, unique), ``name`` (str), ``kind`` (``gp`` or ``spc``), ``service_type``
(``gp``, ``inpatient``, ``community`` or ``hospital``), ``capacity`` (float: GP FTE, beds or
clinical FTE; NaN when unknown), ``accepts_non_cancer`` (bool), Point geometry in the analysis CRS.

Row numbers in error messages are spreadsheet rows for CSV files (the header is row 1) and
feature numbers (from 1) for vector files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InputError
from geo.inputs.checks import Problems
from geo.inputs.readers import (
    bad_rows_error,
    first_row_number,
    is_csv,
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


def load_facilities(
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
) -> gpd.GeoDataFrame:
    """Read GP practices or SPC services into the toolkit's facility schema.

    Parameters
    ----------
    path
        CSV (with ``columns['x']``/``columns['y']``) or a vector file (GeoPackage, GeoJSON...).
    kind
        ``"gp"`` for GP practices, ``"spc"`` for specialist palliative care services.
    columns
        Input column for each attribute: ``id``, ``name`` (required), ``x``, ``y`` (CSV),
        ``capacity``, ``service_type``, ``accepts_non_cancer`` (optional).
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

    Returns
    -------
    geopandas.GeoDataFrame
        One row per facility in the schema described in the module docstring.

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
        # the coordinates failed: still check every other column, so one pass lists it all
        table = problems.attempt(read_csv_table, path, note=False)
        if table is not None:
            frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries([None] * len(table)))
    wanted = [c for k, c in columns.items() if c and k not in {"x", "y"}]
    if frame is None or not problems.passes(require_columns, frame, wanted, path):
        problems.raise_any()
    row_offset = first_row_number(path)
    frame = _apply_filter(frame, where or {}, path)
    if frame.empty:
        raise InputError("no facilities left after reading (and filtering) the file", path=path)
    ids = problems.attempt(_ids, frame, columns["id"], path, row_offset)
    types = problems.attempt(
        _service_types,
        frame,
        kind,
        columns,
        service_types or {},
        default_service_type,
        path,
        row_offset,
    )
    capacity = problems.attempt(
        _capacity, frame, columns.get("capacity"), default_capacity, path, row_offset
    )
    accepts = problems.attempt(
        _accepts, frame, kind, columns.get("accepts_non_cancer"), path, row_offset
    )
    problems.raise_any()
    out = gpd.GeoDataFrame(
        {
            "facility_id": ids,
            "name": frame[columns["name"]].fillna("").astype(str).str.strip().to_numpy(),
            "kind": kind,
            "service_type": types,
            "capacity": capacity,
            "accepts_non_cancer": accepts,
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    out = out.to_crs(CRS.from_user_input(crs))
    log.info("read %d %s facilities from %s", len(out), kind, path.name)
    return out


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


def _ids(frame: pd.DataFrame, col: str, path: Path, offset: int) -> np.ndarray:
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
                first_row=offset,
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
                first_row=offset,
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
    offset: int,
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
            first_row=offset,
        )
    return mapped.to_numpy(dtype=object)


def _capacity(
    frame: pd.DataFrame, col: str | None, default: float | None, path: Path, offset: int
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
            first_row=offset,
        )
    return values.fillna(fill).to_numpy(float)


def _accepts(
    frame: pd.DataFrame, kind: FacilityKind, col: str | None, path: Path, offset: int
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
            first_row=offset,
        )
    return raw.isin(_TRUE).to_numpy(bool)
