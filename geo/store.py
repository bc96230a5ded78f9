"""A run's :class:`~geo.results.Results`, kept beside its outputs for later commands to reuse.

``gapmap run`` writes the results it drew its files from into ``.gapmap-results/`` inside the
output folder: every layer as GeoParquet, every table as Parquet, the travel-time surface as a
NumPy array and the rest (findings, thresholds, provenance) as JSON. ``gapmap report`` and
``gapmap report --by subarea`` read them back instead of running the analysis again, but only
when the stored key (a hash of gapmap's version and every input file's bytes, including the
config) equals the key of the config they were given: change any input and they re-run.

The run also stores the content of its report pages (:mod:`geo.render.pages`): the region's
report and, when the region has sub-areas, every workshop pack's, under the same key. With
them, ``gapmap report`` (and ``--by subarea``) only lays pages out, and never loads the
scientific stack: this module imports pandas, GeoPandas and pyproj only to read or write the
results themselves.

The folder is a cache, not an output contract: delete it freely.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo import __version__

if TYPE_CHECKING:
    import pandas as pd

    from geo.results import Results

log = logging.getLogger(__name__)

STORE_DIR = ".gapmap-results"
STORE_FORMAT = 2
PAGES_FILE = "pages.json"
_LAYERS = (
    "origins",
    "gp_practices",
    "specialist_services",
    "subareas",
    "remoteness_areas",
    "catchments",
    "hotspots",
)


def save_results(results: Results, folder: Path, *, key: str) -> list[Path]:
    """Write ``results`` into ``folder/.gapmap-results`` under ``key``.

    Parameters
    ----------
    results
        A run's results (with findings and provenance).
    folder
        The output folder being written (a staging folder).
    key
        What the results were computed from (see the module docstring).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import numpy as np

    store = Path(folder) / STORE_DIR
    (store / "tables").mkdir(parents=True, exist_ok=True)
    written = []
    layers = []
    text_columns: dict[str, list[str]] = {}
    for name in _LAYERS:
        frame = getattr(results, name)
        if frame is not None:
            written.append(_write_frame(frame, store / f"{name}.parquet"))
            layers.append(name)
            text_columns[name] = _object_columns(frame)
    for name, table in results.tables.items():
        written.append(_write_frame(table, store / "tables" / f"{name}.parquet"))
        text_columns[f"tables/{name}"] = _object_columns(table)
    surface = results.travel_time_surface
    if surface is not None:
        np.save(store / "surface.npy", np.asarray(surface["array"]))
        written.append(store / "surface.npy")
    meta = {
        "format": STORE_FORMAT,
        "version": __version__,
        "key": key,
        "region_name": results.region_name,
        "crs": results.crs.to_wkt(),
        "thresholds_min": results.thresholds_min,
        "remoteness_classes": list(results.remoteness_classes),
        "layers": layers,
        "tables": sorted(results.tables),
        "object_columns": text_columns,
        "surface": None if surface is None else _surface_meta(surface),
        "findings": None if results.findings is None else dataclasses.asdict(results.findings),
        "provenance": results.provenance,
    }
    meta_path = store / "results.json"
    meta_path.write_text(json.dumps(meta, default=_json), encoding="utf-8")
    return [*written, meta_path]


def stored_key(folder: Path) -> str | None:
    """The key of the results stored in ``folder`` (None when there are none)."""
    try:
        meta = json.loads((Path(folder) / STORE_DIR / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("format") != STORE_FORMAT or meta.get("version") != __version__:
        return None
    return meta.get("key")


def load_results(folder: Path, *, key: str, skip: Collection[str] = ()) -> Results | None:
    """The results stored in ``folder`` when their key is ``key``, else None (with the reason
    logged): missing, written by another gapmap version, computed from other inputs, or
    unreadable.

    ``skip`` names parts a caller does not need, left None and not read: layers such as
    ``catchments``, or ``travel_time_surface`` (a report draws neither).
    """
    store = Path(folder) / STORE_DIR
    found = stored_key(folder)
    if found != key:
        why = "none stored" if found is None else "the inputs changed since"
        log.info("not reusing the results in %s (%s)", folder, why)
        return None
    try:
        return _read(store, skip=frozenset(skip))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable stored results in %s (%s)", store, exc)
        return None


def save_pages(folder: Path, pages: dict[str, Any], *, key: str) -> Path:
    """Write the content of a run's report pages into ``folder/.gapmap-results`` under ``key``.

    ``pages`` holds plain JSON data: ``report`` (the region's page content) and ``packs``
    (one mapping per workshop pack, or None when the region has no sub-areas).
    """
    store = Path(folder) / STORE_DIR
    store.mkdir(parents=True, exist_ok=True)
    path = store / PAGES_FILE
    document = {"format": STORE_FORMAT, "version": __version__, "key": key, **pages}
    path.write_text(json.dumps(document, default=_json, allow_nan=False), encoding="utf-8")
    return path


def load_pages(folder: Path, *, key: str) -> dict[str, Any] | None:
    """The page content stored in ``folder`` when its key is ``key``, else None."""
    try:
        text = (Path(folder) / STORE_DIR / PAGES_FILE).read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, ValueError):
        return None
    current = document.get("format") == STORE_FORMAT and document.get("version") == __version__
    if not current or document.get("key") != key:
        log.info("not reusing the report pages stored in %s (the inputs changed since)", folder)
        return None
    return document


def _read(store: Path, *, skip: frozenset[str] = frozenset()) -> Results:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from pyproj import CRS

    from geo.results import Findings, Results

    meta = json.loads((store / "results.json").read_text(encoding="utf-8"))
    objects = meta["object_columns"]
    layers = {
        name: _as_objects(gpd.read_parquet(store / f"{name}.parquet"), objects[name])
        for name in meta["layers"]
        if name not in skip
    }
    tables = {
        name: _as_objects(
            pd.read_parquet(store / "tables" / f"{name}.parquet"), objects[f"tables/{name}"]
        )
        for name in meta["tables"]
    }
    surface = None
    if meta["surface"] is not None and "travel_time_surface" not in skip:
        surface = {**meta["surface"], "array": np.load(store / "surface.npy")}
        surface["crs"] = CRS.from_wkt(surface["crs"])
        from affine import Affine

        surface["transform"] = Affine(*surface["transform"])
    findings = None if meta["findings"] is None else Findings(**meta["findings"])
    return Results(
        region_name=meta["region_name"],
        crs=CRS.from_wkt(meta["crs"]),
        origins=layers["origins"],
        gp_practices=layers["gp_practices"],
        specialist_services=layers["specialist_services"],
        tables=tables,
        thresholds_min=meta["thresholds_min"],
        remoteness_classes=meta["remoteness_classes"],
        subareas=layers.get("subareas"),
        remoteness_areas=layers.get("remoteness_areas"),
        catchments=layers.get("catchments"),
        hotspots=layers.get("hotspots"),
        travel_time_surface=surface,
        findings=findings,
        provenance=meta["provenance"],
    )


def _write_frame(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=True)  # GeoParquet (with its CRS) for a GeoDataFrame
    return path


def _object_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if frame[c].dtype == object]


def _as_objects(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Give text columns back the object dtype they had (Parquet reads them as strings)."""
    for col in columns:
        if frame[col].dtype != object:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _surface_meta(surface: dict[str, Any]) -> dict[str, Any]:
    from pyproj import CRS

    meta = {k: v for k, v in surface.items() if k != "array"}
    meta["crs"] = CRS.from_user_input(meta["crs"]).to_wkt()
    meta["transform"] = list(meta["transform"])[:6]
    return meta


def _json(value: Any) -> Any:
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        return value.tolist()
    return str(value)
