"""Reading input files: one CSV reader, one vector reader, one CRS rule, one column check.

The CRS rule, for every spatial input: a file that declares a CRS is read in it; a file that
declares none (a CSV always, a GeoJSON or shapefile sometimes) takes the ``crs:`` given for it in
the config; with neither, the run stops with an error naming the file and how to fix it. Nothing
is ever assumed to be longitude/latitude.

Errors about rows name spreadsheet rows for CSV files (the header is row 1, so the first data
row is row 2) and feature numbers (from 1) for vector files; when several rows are bad, the first
:data:`MAX_ROWS_LISTED` are listed with a count of the rest.
"""

from __future__ import annotations

import csv
import difflib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import InputError, MissingCRSError

log = logging.getLogger(__name__)

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
MAX_ROWS_LISTED = 20


def is_csv(path: str | Path) -> bool:
    """Whether ``path`` is read as a delimited text table (by its suffix)."""
    return Path(path).suffix.lower() in CSV_SUFFIXES


def first_row_number(path: str | Path) -> int:
    """The number a user sees for the first data row: 2 in a CSV (after the header), else 1."""
    return 2 if is_csv(path) else 1


def parse_crs(value: Any, *, path: str | Path | None = None, key: str = "crs") -> CRS:
    """A CRS from user input (``EPSG:27700``, WKT, a PROJ string), or an error naming the key."""
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        raise InputError(
            f"{key}: {value!r} is not a coordinate reference system ({exc}); give an EPSG code "
            "such as EPSG:4326 (longitude/latitude) or EPSG:27700",
            path=path,
        ) from None


def require_columns(frame: pd.DataFrame, wanted: Iterable[str | None], path: str | Path) -> None:
    """Raise one :class:`InputError` per missing column, each with the nearest match."""
    available = [str(c) for c in frame.columns if c != "geometry"]
    problems = []
    for col in wanted:
        if col and col not in frame.columns:
            near = difflib.get_close_matches(col, available, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"columns are: {', '.join(available)}"
            problems.append(InputError(f"column not found; {hint}", path=path, column=col))
    raise_all(problems)


def raise_all(problems: Sequence[InputError]) -> None:
    """Raise nothing, the one problem, or all of them together."""
    from geo.errors import InputErrors

    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputErrors(problems)


def bad_rows_error(
    message: str,
    bad: np.ndarray,
    values: Sequence[Any] | np.ndarray,
    path: str | Path,
    *,
    column: str | None = None,
    first_row: int | np.ndarray = 2,
    hint: str = "",
) -> InputError:
    """One error listing every bad row (the first :data:`MAX_ROWS_LISTED`, then a count),
    then ``hint`` (how to fix them), if any.

    Parameters
    ----------
    message
        What is wrong with each listed value, e.g. ``"is not a number"``.
    bad
        Boolean mask over the rows.
    values
        The raw values (shown beside their row number).
    first_row
        The row number of position 0 (see :func:`first_row_number`), or each position's row
        number (rows left after a filter keep their numbers in the file).
    """
    positions = np.flatnonzero(np.asarray(bad, bool))
    numbers = positions + first_row if np.isscalar(first_row) else np.asarray(first_row)[positions]
    shown = [
        f"row {n} ({values[p]!r})"
        for n, p in zip(numbers[:MAX_ROWS_LISTED], positions[:MAX_ROWS_LISTED], strict=True)
    ]
    more = len(positions) - len(shown)
    listing = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    row = int(numbers[0]) if len(positions) == 1 else None
    return InputError(
        f"{len(positions)} value(s) {message}: {listing}{hint}", path=path, row=row, column=column
    )


_COMMA_NUMBER = re.compile(r"^\s*[-+]?[\d.,' ]*\d,\d[\d.,' ]*$")


def number_hint(values: Iterable[Any]) -> str:
    """How to fix numbers written with a decimal comma or thousands separators (as a
    spreadsheet set to another locale saves them), when any of ``values`` looks like one."""
    if any(isinstance(v, str) and _COMMA_NUMBER.match(v) for v in values):
        return (
            ". Write numbers with a decimal point and no thousands separators (148.43, "
            "12345): a comma is read neither as a decimal point nor as a separator"
        )
    return ""


DELIMITERS = ",;\t|"


def sniff_text(path: Path, *, sample_bytes: int = 1 << 16) -> tuple[str, str]:
    """The encoding and delimiter of a delimited text file, detected from its first bytes.

    UTF-8 (with or without a byte-order mark) is tried first; anything else is detected with
    charset-normalizer (Latin-1, Windows-1252 and the like, as spreadsheets export them). The
    delimiter is the one of ``,`` ``;`` tab ``|`` that splits the header and first rows into
    the same number of fields.
    """
    raw = path.read_bytes()[:sample_bytes]
    try:
        text = raw.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        from charset_normalizer import from_bytes

        best = from_bytes(path.read_bytes()).best()
        if best is None:
            raise InputError(
                f"not readable text (no encoding fits; first bad byte at {exc.start}); save it "
                "as UTF-8 CSV",
                path=path,
            ) from None
        encoding = best.encoding
        text = raw.decode(encoding, errors="replace")
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    return encoding, delimiter


def read_csv_table(
    path: str | Path, *, dtype: Any = str, nrows: int | None = None, note: bool = True
) -> pd.DataFrame:
    """Read a delimited text table with every cell as text, whatever its encoding and delimiter.

    A file that is not UTF-8 or not comma-separated is read anyway, with a warning naming
    what was found (see :func:`sniff_text`) unless ``note`` is False. ``nrows=0`` reads the
    header only.

    Raises
    ------
    InputError
        The file is missing, empty or not readable as a table (the message says what was
        found and how to fix it).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found; check the path in the config", path=path)
    encoding, delimiter = sniff_text(path)
    if note and (encoding != "utf-8-sig" or delimiter != ","):
        shown = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[delimiter]
        log.warning(
            "%s: read as %s text separated by %s (not UTF-8 CSV); save it as UTF-8 CSV to "
            "silence this",
            path.name,
            encoding,
            shown,
        )
    try:
        return pd.read_csv(
            path,
            dtype=dtype,
            keep_default_na=False,
            na_values=[""],
            encoding=encoding,
            sep=delimiter,
            nrows=nrows,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read as a table ({exc}); found {encoding} text separated by "
            f"{delimiter!r}: save it as UTF-8 CSV with a header row",
            path=path,
        ) from None


def numeric_column(
    frame: pd.DataFrame, column: str, path: str | Path, *, what: str = "number"
) -> np.ndarray:
    """A column as finite floats, or one error listing every row that is not a number."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise bad_rows_error(
            f"in column '{column}' are not a {what}",
            bad,
            raw.to_numpy(),
            path,
            column=column,
            first_row=first_row_number(path),
            hint=number_hint(raw[bad]),
        )
    return values


def read_points_csv(
    path: str | Path, *, x_column: str | None, y_column: str | None, input_crs: Any, key: str
) -> gpd.GeoDataFrame:
    """A CSV of points: coordinate columns in the CRS the config states for it.

    Parameters
    ----------
    key
        The config section (e.g. ``gp_practices``), named in messages.
    """
    path = Path(path)
    if not x_column or not y_column:
        raise InputError(f"a CSV needs coordinate columns: set {key} x and y columns", path=path)
    if input_crs is None:
        raise MissingCRSError(
            f"a CSV carries no CRS; set {key}.crs (e.g. EPSG:4326 for longitude/latitude)",
            path=path,
        )
    crs = parse_crs(input_crs, path=path, key=f"{key}.crs")
    frame = read_csv_table(path)
    require_columns(frame, [x_column, y_column], path)
    problems = []
    xy = {}
    for col in (x_column, y_column):
        try:
            xy[col] = numeric_column(frame, col, path)
        except InputError as exc:
            problems.append(exc)
    raise_all(problems)
    if crs.is_geographic:
        _check_lonlat(xy[x_column], xy[y_column], path, x_column, y_column)
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(xy[x_column], xy[y_column]), crs=crs)


def _check_lonlat(lon: np.ndarray, lat: np.ndarray, path: Path, x_col: str, y_col: str) -> None:
    problems = []
    for values, col, limit in ((lon, x_col, 180.0), (lat, y_col, 90.0)):
        bad = np.abs(values) > limit
        if bad.any():
            problems.append(
                bad_rows_error(
                    f"are outside ±{limit:g}° (are x/y swapped, or is the CRS not "
                    "longitude/latitude?)",
                    bad,
                    values,
                    path,
                    column=col,
                )
            )
    raise_all(problems)


def read_vector(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: CRS | str | None = None,
    input_crs: Any = None,
    key: str = "crs",
) -> gpd.GeoDataFrame:
    """Read a vector layer under the one CRS rule, reprojected to ``crs`` when given.

    Parameters
    ----------
    layer
        Layer of a multi-layer file (GeoPackage).
    crs
        Target CRS (the analysis CRS); None keeps the file's.
    input_crs
        The config's ``crs:`` for this file, used only when the file declares none.
    key
        Config key of ``input_crs``, named in the message when both are missing.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found; check the path in the config", path=path)
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise InputError(f"cannot read as a vector file ({exc})", path=path) from None
    if frame.crs is None:
        if input_crs is None:
            raise MissingCRSError(
                f"the layer declares no CRS; add one (QGIS, or ogr2ogr -a_srs) or set {key} "
                "for it in the config",
                path=path,
            )
        frame = frame.set_crs(parse_crs(input_crs, path=path, key=key))
    frame = repair_geometries(frame, path)
    return frame if crs is None else frame.to_crs(crs)


def repair_geometries(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Invalid polygons (self-intersecting rings...) repaired with ``make_valid``, with a
    warning naming the features; a feature that cannot be repaired is an error."""
    geoms = frame.geometry
    present = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    invalid = present & ~geoms.is_valid.to_numpy()
    if not invalid.any():
        return frame
    features = np.flatnonzero(invalid) + 1
    repaired = shapely.make_valid(geoms.to_numpy()[invalid])
    broken = shapely.is_empty(repaired) | ~shapely.is_valid(repaired)
    if broken.any():
        bad = np.zeros(len(frame), bool)
        bad[np.flatnonzero(invalid)[broken]] = True
        raise bad_rows_error(
            "are invalid geometries that cannot be repaired; fix them (QGIS: Fix Geometries)",
            bad,
            np.arange(1, len(frame) + 1),
            path,
            first_row=1,
        )
    shown = ", ".join(str(f) for f in features[:MAX_ROWS_LISTED])
    log.warning(
        "%s: %d invalid geometries repaired with make_valid (features %s%s)",
        path.name,
        int(invalid.sum()),
        shown,
        " ..." if len(features) > MAX_ROWS_LISTED else "",
    )
    out = frame.copy()
    values = out.geometry.to_numpy().copy()
    values[invalid] = repaired
    return out.set_geometry(gpd.GeoSeries(values, index=out.index, crs=out.crs))


def warn_overlaps(
    frame: gpd.GeoDataFrame, path: Path, *, id_column: str, tolerance_km2: float = 0.01
) -> list[dict]:
    """Warn about polygons that overlap (beyond ``tolerance_km2``): a place in both gets the
    first one's value. Returns the overlapping pairs (ids and overlap area)."""
    polys = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) < 2:
        return []
    left, right = polys.sindex.query(polys.geometry, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if not len(left):
        return []
    geoms = polys.geometry.to_numpy()
    area = shapely.area(shapely.intersection(geoms[left], geoms[right])) / 1e6
    over = area > tolerance_km2
    ids = polys[id_column].astype(str).to_numpy()
    found = [
        {"a": ids[i], "b": ids[j], "overlap_km2": float(a)}
        for i, j, a in zip(left[over], right[over], area[over], strict=True)
    ]
    if found:
        shown = "; ".join(f"{f['a']} and {f['b']} ({f['overlap_km2']:.2f} km²)" for f in found[:10])
        log.warning(
            "%s: %d pairs of polygons overlap, so places in the overlap take the first's value: %s",
            path.name,
            len(found),
            shown,
        )
    return found


def read_points(
    path: str | Path,
    *,
    key: str,
    layer: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    input_crs: Any = None,
) -> gpd.GeoDataFrame:
    """Points from a CSV (coordinate columns) or a vector file (in its own CRS).

    Features without geometry are errors (each listed); polygons become a point inside them.
    """
    if is_csv(path):
        return read_points_csv(
            path, x_column=x_column, y_column=y_column, input_crs=input_crs, key=key
        )
    frame = read_vector(path, layer=layer, input_crs=input_crs, key=f"{key}.crs")
    empty = (frame.geometry.isna() | frame.geometry.is_empty).to_numpy()
    if empty.any():
        raise bad_rows_error(
            "have no geometry", empty, np.arange(1, len(frame) + 1), path, first_row=1
        )
    if not (frame.geom_type == "Point").all():
        frame = frame.set_geometry(frame.geometry.representative_point())
    return frame
