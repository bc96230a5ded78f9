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

import difflib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InputError, MissingCRSError

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
    frame, row_offset = _read_table(path, layer=layer, columns=columns, input_crs=input_crs)
    frame = _apply_filter(frame, where or {}, path)
    if frame.empty:
        raise InputError("no facilities left after reading (and filtering) the file", path=path)
    out = gpd.GeoDataFrame(
        {
            "facility_id": _ids(frame, columns["id"], path, row_offset),
            "name": frame[columns["name"]].fillna("").astype(str).str.strip().to_numpy(),
            "kind": kind,
        },
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    out["service_type"] = _service_types(
        frame, kind, columns, service_types or {}, default_service_type, path, row_offset
    )
    out["capacity"] = _capacity(frame, columns.get("capacity"), default_capacity, path, row_offset)
    out["accepts_non_cancer"] = _accepts(
        frame, kind, columns.get("accepts_non_cancer"), path, row_offset
    )
    out = out.to_crs(CRS.from_user_input(crs))
    log.info("read %d %s facilities from %s", len(out), kind, path.name)
    return out


def _read_table(
    path: Path, *, layer: str | None, columns: Mapping[str, str | None], input_crs: Any
) -> tuple[gpd.GeoDataFrame, int]:
    """Read the file as a GeoDataFrame with point geometry; returns it and the row offset."""
    if not path.is_file():
        raise InputError("file not found; check the path in the config", path=path)
    if path.suffix.lower() in {".csv", ".txt", ".tsv"}:
        return _read_csv_points(path, columns, input_crs), 2
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise InputError(f"cannot read as a vector file ({exc})", path=path) from None
    require_columns(frame, [c for k, c in columns.items() if c and k not in {"x", "y"}], path)
    if frame.crs is None:
        if input_crs is None:
            raise MissingCRSError(
                "the file declares no CRS; set 'crs:' for it in the config", path=path
            )
        frame = frame.set_crs(input_crs)
    bad = frame.geometry.isna() | frame.geometry.is_empty
    if bad.any():
        raise InputError("feature has no geometry", path=path, row=int(np.flatnonzero(bad)[0]) + 1)
    if not (frame.geom_type == "Point").all():
        frame = frame.set_geometry(frame.geometry.representative_point())
    return frame, 1


def _read_csv_points(path: Path, columns: Mapping[str, str | None], input_crs: Any):
    x_col, y_col = columns.get("x"), columns.get("y")
    if not x_col or not y_col:
        raise InputError("a CSV needs coordinate columns: set columns.x and columns.y", path=path)
    if input_crs is None:
        raise MissingCRSError(
            "a CSV carries no CRS; set 'crs:' (e.g. EPSG:4326 for longitude/latitude)", path=path
        )
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read as CSV ({exc})", path=path) from None
    require_columns(frame, [c for c in columns.values() if c], path)
    xy = {}
    for col in (x_col, y_col):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"coordinate {frame[col].iloc[row]!r} is not a number",
                path=path,
                row=row + 2,
                column=col,
            )
        xy[col] = values.to_numpy(float)
    crs = CRS.from_user_input(input_crs)
    if crs.is_geographic:
        _check_lonlat(xy[x_col], xy[y_col], path, x_col, y_col)
    geometry = gpd.points_from_xy(xy[x_col], xy[y_col])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _check_lonlat(lon: np.ndarray, lat: np.ndarray, path: Path, x_col: str, y_col: str) -> None:
    for values, col, limit in ((lon, x_col, 180.0), (lat, y_col, 90.0)):
        bad = np.abs(values) > limit
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{values[row]} is outside ±{limit:g}°: are x/y swapped, or is the CRS not "
                "longitude/latitude?",
                path=path,
                row=row + 2,
                column=col,
            )


def require_columns(frame: pd.DataFrame, wanted: Iterable[str], path: Path) -> None:
    """Raise an :class:`InputError` naming the first missing column and the nearest match."""
    available = [str(c) for c in frame.columns if c != "geometry"]
    for col in wanted:
        if col not in frame.columns:
            near = difflib.get_close_matches(col, available, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"columns are: {', '.join(available)}"
            raise InputError(f"column not found; {hint}", path=path, column=col)


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
    rows = np.arange(len(frame)) + offset
    if ids.isna().any() or (ids == "").any():
        bad = int(np.flatnonzero(ids.isna() | (ids == ""))[0])
        raise InputError(
            "facility id is empty; every row needs an id", path=path, row=int(rows[bad]), column=col
        )
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup].iloc[0]
        where = ", ".join(str(r) for r in rows[(ids == first).to_numpy()])
        raise InputError(
            f"facility id {first!r} is not unique (rows {where}); ids must be unique",
            path=path,
            column=col,
        )
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
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"service type {raw.iloc[row]!r} is not one of {', '.join(SPC_SERVICE_TYPES)}; "
            "map it with 'service_types:' in the config",
            path=path,
            row=row + offset,
            column=col,
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
    bad = (values.isna() & raw.notna()) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"capacity {raw.iloc[row]!r} is not a non-negative number",
            path=path,
            row=row + offset,
            column=col,
        )
    return values.fillna(fill).to_numpy(float)


def _accepts(
    frame: pd.DataFrame, kind: FacilityKind, col: str | None, path: Path, offset: int
) -> np.ndarray:
    if kind == "gp" or not col:
        return np.ones(len(frame), dtype=bool)
    raw = frame[col].astype("string").str.strip().str.lower().fillna("")
    ok = raw.isin(_TRUE | _FALSE)
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        raise InputError(
            f"{frame[col].iloc[row]!r} is not yes/no (or true/false, 1/0)",
            path=path,
            row=row + offset,
            column=col,
        )
    return raw.isin(_TRUE).to_numpy(bool)
