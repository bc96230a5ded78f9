"""Placing rows that give a postcode (or an address) instead of coordinates.

Service lists as planners hold them rarely carry coordinates: England's GP and hospice lists
(NHS ODS ``epraccur``) give a postcode, Australian lists an address or a suburb. This module
places such rows, offline by default:

* **by postcode lookup**: each postcode is looked up in a postcode directory (ONS Postcode
  Directory, OS Code-Point Open, or any CSV of postcodes and coordinates). Postcodes are
  normalised before matching (upper case, no spaces: ``po30 1nr`` = ``PO301NR`` =
  ``PO30 1NR``). A matched row stands at the postcode's point: for British postcode units
  the unit's centroid (about 15 addresses), recorded per row as its *precision*.
* **online, only when asked**: rows still unplaced that carry an address go to a
  Nominatim-compatible geocoder when the config sets ``geocode.online: true`` *and* the
  command runs with ``--online``. Answers are cached in a JSON file (reused offline, so a
  second run needs no network), requests are spaced (one per second by default, the
  Nominatim usage policy) and identified by a User-Agent.

Rows that cannot be placed are listed (the first 20 and a count, with their spreadsheet rows)
and either stop the run (``on_unmatched: error``, the default) or are dropped with a warning
(``drop``). Every placed row gets ``location_precision`` and ``location_query`` (the postcode
or address used).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geo.config.sources import NOMINATIM_URL
from geo.errors import InputError, OnlineServiceError
from geo.inputs.readers import MAX_ROWS_LISTED, bad_rows_error, parse_crs, require_columns

log = logging.getLogger(__name__)

# OS Code-Point Open CSVs ship without a header row; these are its documented column names
# (Code-Point Open user guide, Doc/Code-Point_Open_Column_Headers.csv).
CODEPOINT_COLUMNS = (
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
)
# format -> (postcode column, x column, y column, CRS)
DIRECTORY_FORMATS = {
    "codepoint": ("Postcode", "Eastings", "Northings", "EPSG:27700"),
    "onspd": ("pcds", "oseast1m", "osnrth1m", "EPSG:27700"),
}
LOCATION_COLUMNS = ("location_precision", "location_query")
CHUNK_ROWS = 500_000
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$")


@dataclass(frozen=True)
class PostcodeDirectory:
    """A postcode directory file (or folder of CSV files) and its columns.

    Attributes
    ----------
    path
        CSV file, or a folder whose ``*.csv`` files are read in name order.
    postcode_column, x_column, y_column
        Columns of the postcode and its coordinates.
    crs
        CRS of the coordinates.
    precision
        What a matched point stands for (e.g. ``postcode unit centroid``).
    headerless_columns
        Column names to use for files without a header row (Code-Point Open).
    """

    path: Path
    postcode_column: str
    x_column: str
    y_column: str
    crs: str
    precision: str = "postcode unit centroid"
    headerless_columns: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        path: str | Path,
        *,
        format: Literal["csv", "codepoint", "onspd"] = "csv",
        postcode: str | None = None,
        x: str | None = None,
        y: str | None = None,
        crs: str | None = None,
        precision: str = "postcode unit centroid",
    ) -> PostcodeDirectory:
        """A directory from config values; ``format`` fills in columns and CRS not given."""
        pc, xc, yc, default_crs = DIRECTORY_FORMATS.get(format, (None, None, None, None))
        postcode, x, y, crs = postcode or pc, x or xc, y or yc, crs or default_crs
        if not (postcode and x and y and crs):
            raise InputError(
                "a postcode directory needs postcode, x, y and crs (or format: codepoint|onspd)",
                path=path,
            )
        return cls(
            path=Path(path),
            postcode_column=postcode,
            x_column=x,
            y_column=y,
            crs=crs,
            precision=precision,
            headerless_columns=CODEPOINT_COLUMNS if format == "codepoint" else None,
        )


@dataclass(frozen=True)
class OnlineGeocoder:
    """A Nominatim-compatible search API, used only when ``allowed`` (the ``--online`` flag).

    Attributes
    ----------
    cache_path
        JSON file of earlier answers (read always, written after lookups).
    allowed
        Whether this run may make requests (the command's ``--online``).
    url, user_agent, email, country_codes
        The search endpoint and what is sent with each request.
    min_interval_s
        Seconds between two requests (Nominatim's policy: at least 1).
    timeout_s
        Seconds to wait for one answer.
    """

    cache_path: Path
    allowed: bool = False
    url: str = NOMINATIM_URL
    user_agent: str = "gapmap palliative-care access planning (offline-first; cached lookups)"
    email: str | None = None
    country_codes: tuple[str, ...] = ()
    min_interval_s: float = 1.0
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Geocoding:
    """How rows without coordinates are placed (see the module docstring)."""

    postcodes: PostcodeDirectory | None = None
    online: OnlineGeocoder | None = None
    on_unmatched: Literal["error", "drop"] = "error"


@dataclass
class GeocodeReport:
    """What geocoding one file did (for logs and ``run.json``)."""

    source: str
    rows: int
    placed_by_postcode: int = 0
    placed_online: int = 0
    unmatched: int = 0
    unmatched_rows: list[str] = field(default_factory=list)
    on_unmatched: str = "error"
    directory: str | None = None
    precision: str | None = None
    online_requests: int = 0
    online_cache_hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping."""
        return asdict(self)


def normalise_postcodes(values: Iterable[Any]) -> pd.Series:
    """Postcodes as match keys: upper case without any whitespace (missing → ``""``)."""
    series = pd.Series(values, dtype="string") if not isinstance(values, pd.Series) else values
    text = series.astype("string").str.upper().str.replace(r"\s+", "", regex=True)
    return text.fillna("").astype(str)


def format_postcode(key: str) -> str:
    """A normalised British postcode with its space back (``PO301NR`` → ``PO30 1NR``)."""
    return f"{key[:-3]} {key[-3:]}" if _UK_POSTCODE.match(key) else key


# -- postcode directories -----------------------------------------------------------------------
def lookup_postcodes(keys: Iterable[str], directory: PostcodeDirectory) -> pd.DataFrame:
    """Coordinates of the wanted postcodes, read from the directory in chunks.

    Parameters
    ----------
    keys
        Normalised postcodes (:func:`normalise_postcodes`).
    directory
        The postcode directory.

    Returns
    -------
    pandas.DataFrame
        Indexed by normalised postcode (only those found), ``x`` and ``y`` in the directory's
        CRS; NaN where the directory lists a postcode without usable coordinates (blank,
        ``0, 0`` as in Code-Point Open's quality 90, or out of range as ONSPD's 99.999999).
    """
    wanted = {k for k in keys if k}
    files = sorted(directory.path.glob("*.csv")) if directory.path.is_dir() else [directory.path]
    if not files:
        raise InputError("the postcode directory folder holds no .csv files", path=directory.path)
    parts = [part for f in files if len(part := _scan(f, wanted, directory))]
    found = pd.concat(parts) if parts else pd.DataFrame(columns=["key", "x", "y"])
    found = found.drop_duplicates("key", keep="first").set_index("key")
    x = pd.to_numeric(found["x"], errors="coerce")
    y = pd.to_numeric(found["y"], errors="coerce")
    usable = np.isfinite(x) & np.isfinite(y) & ~((x == 0) & (y == 0))
    if parse_crs(directory.crs, path=directory.path, key="geocode.postcodes.crs").is_geographic:
        usable &= (x.abs() <= 180) & (y.abs() <= 90)
    if (~usable).any():
        log.info(
            "%s: %d postcodes are listed without usable coordinates",
            directory.path.name,
            int((~usable).sum()),
        )
    return pd.DataFrame({"x": x.where(usable), "y": y.where(usable)}, index=found.index)


def _scan(path: Path, wanted: set[str], directory: PostcodeDirectory) -> pd.DataFrame:
    """The rows of one directory file whose postcode is wanted."""
    if not path.is_file():
        raise InputError("postcode directory not found; check geocode.postcodes.path", path=path)
    columns = [directory.postcode_column, directory.x_column, directory.y_column]
    options: dict[str, Any] = {}
    header = _header(path)
    headerless = directory.headerless_columns
    if directory.postcode_column not in header and headerless and len(header) == len(headerless):
        options = {"header": None, "names": list(headerless)}
        header = list(headerless)
    require_columns(pd.DataFrame(columns=header), columns, path)
    parts = []
    try:
        reader = pd.read_csv(
            path,
            usecols=columns,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            chunksize=CHUNK_ROWS,
            **options,
        )
        for chunk in reader:
            keys = normalise_postcodes(chunk[directory.postcode_column])
            keep = keys.isin(wanted).to_numpy()
            if keep.any():
                parts.append(
                    pd.DataFrame(
                        {
                            "key": keys.to_numpy()[keep],
                            "x": chunk[directory.x_column].to_numpy()[keep],
                            "y": chunk[directory.y_column].to_numpy()[keep],
                        }
                    )
                )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the postcode directory as CSV ({exc})", path=path) from None
    return pd.concat(parts) if parts else pd.DataFrame(columns=["key", "x", "y"])


def _header(path: Path) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the postcode directory as CSV ({exc})", path=path) from None


# -- online geocoder ----------------------------------------------------------------------------
def geocode_online(
    queries: Sequence[str], geocoder: OnlineGeocoder
) -> tuple[dict[str, dict[str, Any] | None], dict[str, int]]:
    """Answers for addresses: cached ones offline, the rest from the geocoder if allowed.

    Parameters
    ----------
    queries
        Address texts.
    geocoder
        The service, its cache and whether requests are allowed.

    Returns
    -------
    answers : dict
        Query → ``{"lon", "lat", "kind", "display_name"}``, or None when the geocoder found
        nothing.
    stats : dict
        ``requests`` made and ``cache_hits``.

    Raises
    ------
    InputError
        Some queries are not cached and requests are not allowed (run with ``--online``).
    OnlineServiceError
        The geocoder did not answer (answers received so far are cached).
    """
    unique = list(dict.fromkeys(q for q in queries if q))
    cache = _read_cache(geocoder.cache_path)
    keys = {q: _cache_key(geocoder, q) for q in unique}
    misses = [q for q in unique if keys[q] not in cache]
    if misses and not geocoder.allowed:
        shown = ", ".join(repr(q) for q in misses[:5])
        raise InputError(
            f"{len(misses)} address(es) are not in the geocoder cache and online geocoding is "
            f"off (it runs only with geocode.online: true and --online): {shown}"
            + (" ..." if len(misses) > 5 else ""),
            path=geocoder.cache_path,
        )
    last = -np.inf
    try:
        for query in misses:
            wait = geocoder.min_interval_s - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            cache[keys[query]] = _request(geocoder, query)
    finally:
        if misses:
            _write_cache(geocoder.cache_path, cache)
    log.info("geocoded %d addresses online (%d from the cache)", len(misses), len(unique))
    answers = {q: cache[keys[q]] for q in unique}
    return answers, {"requests": len(misses), "cache_hits": len(unique) - len(misses)}


def _cache_key(geocoder: OnlineGeocoder, query: str) -> str:
    countries = ",".join(sorted(c.lower() for c in geocoder.country_codes))
    return f"{geocoder.url}|{countries}|{' '.join(query.split())}"


def _request(geocoder: OnlineGeocoder, query: str) -> dict[str, Any] | None:
    params = {"q": query, "format": "jsonv2", "limit": "1"}
    if geocoder.country_codes:
        params["countrycodes"] = ",".join(geocoder.country_codes)
    if geocoder.email:
        params["email"] = geocoder.email
    request = urllib.request.Request(
        f"{geocoder.url}?{urllib.parse.urlencode(params)}",
        headers={"User-Agent": geocoder.user_agent, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=geocoder.timeout_s) as response:
            body = json.load(response)
        hit = body[0] if body else None
        if hit is None:
            return None
        return {
            "lon": float(hit["lon"]),
            "lat": float(hit["lat"]),
            "kind": str(hit.get("addresstype") or hit.get("type") or "place"),
            "display_name": str(hit.get("display_name", "")),
        }
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        # URLError and timeouts are OSErrors; bad JSON a ValueError; odd answers the rest.
        raise OnlineServiceError(
            f"the geocoder at {geocoder.url} gave no usable answer for {query!r} ({exc})"
        ) from None


def _read_cache(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the geocoder cache is not JSON ({exc}); delete it", path=path) from None
    return dict(data.get("answers", {}))


def _write_cache(path: Path, cache: dict[str, Any]) -> None:
    """Write the cache atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": 1, "answers": cache}, indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


# -- placing a table ----------------------------------------------------------------------------
def geocode_table(
    frame: pd.DataFrame,
    geocoding: Geocoding,
    *,
    path: str | Path,
    postcode_column: str | None = None,
    address_column: str | None = None,
    first_row: int = 2,
) -> tuple[gpd.GeoDataFrame, GeocodeReport]:
    """Place every row of a table by its postcode, then (opt-in) by its address online.

    Parameters
    ----------
    frame
        The rows to place (already filtered); its index holds the rows' positions in the
        file, so messages name the file's own rows.
    geocoding
        The postcode directory, the online geocoder and what to do with unplaced rows.
    path
        The file the rows come from (named in messages).
    postcode_column, address_column
        Columns holding each row's postcode and address.
    first_row
        Row number of the file's first data row (2 in a CSV).

    Returns
    -------
    points : geopandas.GeoDataFrame
        The placed rows (unplaced ones dropped when ``on_unmatched`` is ``drop``), with
        ``location_precision`` and ``location_query``, in the directory's CRS (EPSG:4326
        without a directory).
    report : GeocodeReport

    Raises
    ------
    InputError
        Unplaced rows with ``on_unmatched: error`` (every one counted, the first 20 listed).
    """
    path = Path(path)
    require_columns(frame, [postcode_column, address_column], path)
    n = len(frame)
    crs = CRS.from_user_input(geocoding.postcodes.crs if geocoding.postcodes else "EPSG:4326")
    xy = np.full((n, 2), np.nan)
    precision = np.full(n, None, dtype=object)
    query = np.full(n, None, dtype=object)
    report = GeocodeReport(source=str(path), rows=n, on_unmatched=geocoding.on_unmatched)
    keys = None
    if postcode_column and geocoding.postcodes is not None:
        directory = geocoding.postcodes
        keys = normalise_postcodes(frame[postcode_column]).to_numpy()
        found = lookup_postcodes(keys, directory).reindex(keys)
        xy[:] = found[["x", "y"]].to_numpy(float)
        hit = np.isfinite(xy).all(axis=1)
        precision[hit] = directory.precision
        query[hit] = [format_postcode(k) for k in keys[hit]]
        report.placed_by_postcode = int(hit.sum())
        report.directory, report.precision = str(directory.path), directory.precision
    placed = np.isfinite(xy).all(axis=1)
    if address_column and geocoding.online is not None and not placed.all():
        addresses = frame[address_column].fillna("").astype(str).str.strip().to_numpy()
        todo = ~placed & (addresses != "")
        answers, stats = geocode_online(list(addresses[todo]), geocoding.online)
        to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        for i in np.flatnonzero(todo):
            answer = answers.get(addresses[i])
            if answer is not None:
                xy[i] = to_crs.transform(answer["lon"], answer["lat"])
                precision[i] = f"online geocoder: {answer['kind']}"
                query[i] = addresses[i]
        report.placed_online = int((np.isfinite(xy).all(axis=1) & ~placed).sum())
        report.online_requests, report.online_cache_hits = stats["requests"], stats["cache_hits"]
    placed = np.isfinite(xy).all(axis=1)
    if not placed.all():
        _unplaced(frame, ~placed, path, postcode_column, address_column, first_row, report)
    out = gpd.GeoDataFrame(
        frame.iloc[np.flatnonzero(placed)].copy(),
        geometry=gpd.points_from_xy(xy[placed, 0], xy[placed, 1]),
        crs=crs,
    )
    out["location_precision"] = precision[placed]
    out["location_query"] = query[placed]
    log.info(
        "%s: placed %d of %d rows by postcode, %d online",
        path.name,
        report.placed_by_postcode,
        n,
        report.placed_online,
    )
    return out, report


def _unplaced(
    frame: pd.DataFrame,
    bad: np.ndarray,
    path: Path,
    postcode_column: str | None,
    address_column: str | None,
    first_row: int,
    report: GeocodeReport,
) -> None:
    """List the unplaced rows; raise (``on_unmatched: error``) or warn and record them."""
    column = postcode_column or address_column
    values = frame[column].fillna("").astype(str).to_numpy()
    rows = _file_positions(frame)
    full = np.zeros(int(rows.max()) + 1, bool)
    full[rows[bad]] = True
    shown = np.full(len(full), "", dtype=object)
    shown[rows] = values
    what = (
        "are postcodes not found in the postcode directory (or found without coordinates)"
        if postcode_column
        else "are addresses the geocoder did not find"
    )
    error = bad_rows_error(what, full, shown, path, column=column, first_row=first_row)
    report.unmatched = int(bad.sum())
    report.unmatched_rows = [
        f"row {r + first_row} ({shown[r]!r})" for r in np.sort(rows[bad])[:MAX_ROWS_LISTED]
    ]
    if report.on_unmatched == "error":
        raise InputError(
            f"{error.message}; correct them, use a fuller postcode directory, or set "
            "geocode.on_unmatched: drop to leave these rows out",
            path=path,
            row=error.row,
            column=column,
        )
    log.warning("%s: %s; these rows are left out (on_unmatched: drop)", path.name, error.message)


def _file_positions(frame: pd.DataFrame) -> np.ndarray:
    """Each row's position in its file: the index when it is one (a filtered CSV read)."""
    index = frame.index
    if pd.api.types.is_integer_dtype(index) and index.is_unique and (index >= 0).all():
        return index.to_numpy(np.int64)
    return np.arange(len(frame), dtype=np.int64)
