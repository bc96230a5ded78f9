"""Writing a run's output folder atomically: GeoPackage layers, CSV tables, run.json.

Everything is written into a temporary sibling folder first and renamed into place at the end,
so a failed run never leaves half a folder or overwrites a good earlier result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import GeoError
from geo.results import Results

log = logging.getLogger(__name__)

TABLE_NAMES = (
    "coverage_totals",
    "coverage_by_remoteness",
    "coverage_by_subarea",
    "gp_specialist_links",
    "travel_time_bands",
    "spc_bands_by_remoteness",
    "access_equity",
)


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``final`` only if the block succeeds.

    Parameters
    ----------
    final
        The output folder to create or replace.

    Yields
    ------
    pathlib.Path
        An empty temporary folder next to ``final`` (same file system, so the rename is atomic).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; outputs are meant to be shared
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    try:
        tmp.rename(final)
    except BaseException:
        if old is not None:
            old.rename(final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_atomic_text(path: Path, text: str) -> Path:
    """Write a text file via a temporary file and :func:`os.replace`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sha256_file(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (for run.json provenance and caches)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def write_outputs(
    results: Results,
    out_dir: Path,
    *,
    write_map: Callable[[Results, Path], Any] | None = None,
    write_report: Callable[[Results, Path], Any] | None = None,
) -> list[Path]:
    """Write the whole output folder of a run (see the README's output contract).

    Parameters
    ----------
    results
        The run's results.
    out_dir
        Final folder; replaced atomically when everything has been written.
    write_map, write_report
        Callables writing ``map.html`` / ``report.html`` to the given path (skipped when None).

    Returns
    -------
    list of pathlib.Path
        The files written, under their final location.
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        (tmp / "tables").mkdir()
        write_layers(results, tmp / "layers.gpkg")
        missing = [name for name in TABLE_NAMES if name not in results.tables]
        if missing:
            raise GeoError(f"results lack the tables {missing}; the run did not complete")
        for name in sorted(results.tables):
            results.tables[name].to_csv(
                tmp / "tables" / f"{name}.csv", index=False, float_format="%.10g"
            )
        if results.travel_time_surface is not None:
            write_surface(results.travel_time_surface, tmp / "travel_time_spc.tif")
        if write_map is not None:
            write_map(results, tmp / "map.html")
        if write_report is not None:
            write_report(results, tmp / "report.html")
        (tmp / "run.json").write_text(provenance_json(results.provenance), encoding="utf-8")
        written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
    log.info("wrote %d files to %s", len(written), out_dir)
    return [out_dir / p for p in written]


def write_surface(surface: dict[str, Any], path: Path) -> None:
    """Write a travel-time surface as a single-band float32 GeoTIFF (minutes, NaN nodata)."""
    import rasterio

    array = np.asarray(surface["array"], np.float32)
    profile = {
        "driver": "GTiff",
        "height": array.shape[0],
        "width": array.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": surface["crs"],
        "transform": surface["transform"],
        "nodata": np.nan,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        dst.set_band_description(1, f"travel_time_min to nearest {surface.get('kind', '')}")
        dst.update_tags(units="minutes")


def write_layers(results: Results, path: Path) -> None:
    """Write every non-empty layer of the results to one GeoPackage."""
    layers: dict[str, gpd.GeoDataFrame | None] = {
        "origins": results.origins,
        "gp_practices": results.gp_practices,
        "specialist_services": results.specialist_services,
        "catchments": results.catchments,
        "subareas": results.subareas,
        "remoteness_areas": results.remoteness_areas,
        "hotspots": results.hotspots,
    }
    for name, layer in layers.items():
        if layer is None:
            continue
        frame = _gpkg_safe(layer)
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def _gpkg_safe(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Make column types GeoPackage can store (object columns of mixed types become text)."""
    out = frame.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: None if v is None or v is pd.NA else str(v))
    return out


def provenance_json(provenance: dict[str, Any]) -> str:
    """Strict JSON text of a provenance mapping (NaN and infinities become null)."""
    return json.dumps(_finite(provenance), indent=2, default=_json, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json(value: Any) -> Any:
    """JSON encoder fallback for numpy scalars, paths and other simple objects."""
    if isinstance(value, np.generic):
        return _finite(value.item())
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return str(value)
