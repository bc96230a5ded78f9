"""Pre-flight checks of a region config's inputs: every problem at once, nothing written.

``gapmap validate`` and the start of ``gapmap run`` use :func:`check_inputs`. It reads only file
headers (CSV header rows, vector layer schemas, raster metadata), so it is fast even on national
inputs: missing files, unreadable files, missing columns or bands and missing CRSs are reported
together, each naming the file and column.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyogrio
import rasterio
from rasterio.errors import RasterioIOError

from geo.config import FacilitiesConfig, GeocodeConfig, RegionConfig
from geo.errors import InputError, MissingCRSError
from geo.inputs.geocode import DIRECTORY_FORMATS, PostcodeDirectory
from geo.inputs.readers import parse_crs, read_csv_table

_CSV = {".csv", ".txt", ".tsv"}
_OSM = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.xml")


def check_inputs(config: RegionConfig) -> list[InputError]:
    """Check every input file named by ``config``.

    Parameters
    ----------
    config
        A validated region config.

    Returns
    -------
    list of InputError
        One entry per problem found (empty when all inputs look usable).
    """
    problems: list[InputError] = []
    problems += _check_roads(config)
    for cfg in (config.gp_practices, config.specialist_services):
        problems += _check_facilities(cfg)
    problems += _check_population(config)
    if config.region.boundary is not None:
        problems += _check_vector(config.region.boundary, None, [])
    rem = config.remoteness
    if rem is not None and rem.path is not None:
        if rem.code_column is not None:
            problems += _check_table(rem.path, [rem.code_column, rem.class_column])
        else:
            problems += _check_vector(rem.path, rem.layer, [rem.class_column])
    if config.subareas is not None:
        sub = config.subareas
        problems += _check_vector(sub.path, sub.layer, [sub.id_column, sub.name_column])
    if config.need.deaths is not None:
        d = config.need.deaths
        found = _check_table(d.path, [d.area_column, d.cause_column, d.count_column])
        hint = "; for deaths of all causes set need.deaths.cause_column: null"
        problems += [
            _with_hint(p, hint) if d.cause_column and p.column == d.cause_column else p
            for p in found
        ]
    if config.need.smr is not None:
        smr = config.need.smr
        problems += _check_table(
            smr.path, [smr.area_column, smr.all_cause_column, smr.cancer_column]
        )
    return problems


def _check_roads(config: RegionConfig) -> list[InputError]:
    path = config.roads.path
    if path is None:
        return []
    if not path.is_file():
        return [InputError("road network file not found; check roads.path", path=path)]
    if not str(path).lower().endswith(_OSM):
        return [
            InputError(
                "roads.path must be an OpenStreetMap file (.osm.pbf, .osm or .osm.bz2)", path=path
            )
        ]
    if path.stat().st_size == 0:
        return [InputError("road network file is empty", path=path)]
    return []


def _check_facilities(cfg: FacilitiesConfig) -> list[InputError]:
    columns = [c for c in cfg.columns.model_dump().values() if c] + list(cfg.where)
    problems = _check_geocode(cfg.geocode)
    if cfg.capacity_table is not None:
        table = cfg.capacity_table
        problems += _check_table(table.path, [table.id_column, table.capacity_column, *table.where])
    if cfg.path.suffix.lower() in _CSV:
        problems += _check_table(cfg.path, columns)
        if cfg.crs is None and cfg.geocode is None:
            problems.append(
                MissingCRSError(
                    "a CSV carries no CRS; set 'crs:' for it (e.g. EPSG:4326)", path=cfg.path
                )
            )
        return problems
    if cfg.geocode is not None:
        problems.append(InputError("placing rows by postcode reads CSV files", path=cfg.path))
    geo_columns = [c for k, c in cfg.columns.model_dump().items() if c and k not in {"x", "y"}]
    return problems + _check_vector(
        cfg.path, cfg.layer, geo_columns + list(cfg.where), crs_given=cfg.crs is not None
    )


def _check_geocode(cfg: GeocodeConfig | None) -> list[InputError]:
    """The postcode directory: present, readable, with its columns (headers only)."""
    if cfg is None or cfg.postcodes is None:
        return []
    pc = cfg.postcodes
    try:
        directory = PostcodeDirectory.of(
            pc.path, format=pc.format, postcode=pc.postcode, x=pc.x, y=pc.y, crs=pc.crs
        )
        parse_crs(directory.crs, path=pc.path, key="geocode.postcodes.crs")
    except InputError as exc:
        return [exc]
    files = sorted(pc.path.glob("*.csv")) if pc.path.is_dir() else [pc.path]
    if not files:
        return [InputError("the postcode directory folder holds no .csv files", path=pc.path)]
    wanted = [directory.postcode_column, directory.x_column, directory.y_column]
    if not files[0].is_file():
        return [InputError("postcode directory not found; check the path", path=files[0])]
    try:
        header = list(pd.read_csv(files[0], nrows=0, encoding="utf-8-sig").columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return [InputError(f"cannot read as CSV ({exc})", path=files[0])]
    headerless = directory.headerless_columns
    if wanted[0] not in header and headerless and len(header) == len(headerless):
        return []  # a raw Code-Point Open file: no header row, documented columns
    hint = f" (format: {pc.format})" if pc.format in DIRECTORY_FORMATS else ""
    return [_with_hint(p, hint) for p in _missing(files[0], header, wanted)]


def _with_hint(problem: InputError, hint: str) -> InputError:
    return InputError(
        problem.message + hint, path=problem.path, row=problem.row, column=problem.column
    )


def _check_population(config: RegionConfig) -> list[InputError]:
    cfg = config.population
    if cfg.kind == "raster":
        bands = [cfg.count, *cfg.age_bands.values()]
        problems = _check_raster(cfg.path, [b for b in bands if isinstance(b, int)])
    else:
        columns = [str(cfg.count), *map(str, cfg.age_bands.values()), cfg.id_column, cfg.x, cfg.y]
        columns.insert(-2, cfg.postcode)
        if cfg.path.suffix.lower() in _CSV:
            problems = _check_table(cfg.path, columns) + _check_geocode(cfg.geocode)
            if cfg.crs is None and cfg.postcode is None:
                problems.append(
                    MissingCRSError(
                        "a CSV carries no CRS; set population.crs (e.g. EPSG:4326)", path=cfg.path
                    )
                )
        else:
            problems = _check_vector(
                cfg.path, cfg.layer, columns[:-2], crs_given=cfg.crs is not None
            )
    if cfg.density_raster is not None:
        problems += _check_raster(cfg.density_raster, [1])
    return problems


def _missing(path: Path, available: Iterable[str], wanted: Iterable[str | None]) -> list:
    available = [str(a) for a in available]
    problems = []
    for col in wanted:
        if col and col not in available:
            near = difflib.get_close_matches(col, available, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"columns are: {', '.join(available)}"
            problems.append(InputError(f"column not found; {hint}", path=path, column=col))
    return problems


def _check_table(path: Path, columns: Iterable[str | None]) -> list[InputError]:
    if not path.is_file():
        return [InputError("file not found; check the path in the config", path=path)]
    try:
        header = read_csv_table(path, nrows=0, note=False).columns
    except InputError as exc:
        return [exc]
    return _missing(path, header, columns)


def _check_vector(
    path: Path, layer: str | None, columns: Iterable[str | None], *, crs_given: bool = False
) -> list[InputError]:
    if not path.is_file():
        return [InputError("file not found; check the path in the config", path=path)]
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        return [InputError(f"cannot read as a vector file ({exc})", path=path)]
    problems = _missing(path, info["fields"], columns)
    if info.get("crs") is None and not crs_given:
        problems.append(
            MissingCRSError(
                "the layer declares no CRS; add one (e.g. with QGIS or ogr2ogr -a_srs)", path=path
            )
        )
    return problems


def _check_raster(path: Path, bands: Iterable[int]) -> list[InputError]:
    if not path.is_file():
        return [InputError("file not found; check the path in the config", path=path)]
    try:
        with rasterio.open(path) as src:
            count, crs = src.count, src.crs
    except RasterioIOError as exc:
        return [InputError(f"cannot read as a raster ({exc})", path=path)]
    problems: list[InputError] = [
        InputError(
            f"band {band} does not exist (the raster has {count} band(s))",
            path=path,
            column=f"band {band}",
        )
        for band in bands
        if not 1 <= band <= count
    ]
    if crs is None:
        problems.append(
            MissingCRSError("the raster declares no CRS; add one (gdal_edit.py -a_srs)", path=path)
        )
    return problems
