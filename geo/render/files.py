"""Writing a run's files: GeoPackage layers (:mod:`geo.render.gpkg`), CSV tables, the
travel-time surface, run.json.

The files go into a staging folder that :mod:`geo.render.outdir` swaps in as a whole, so a
failed run never leaves half a folder or overwrites a good earlier result. CSV cells that a
spreadsheet would run as a formula are neutralised (prefixed with ``'``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.config.locations import sha256_file
from geo.errors import GeoError
from geo.results import Results
from geo.text import safe_cell

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


def write_region_files(
    results: Results,
    folder: Path,
    *,
    write_map: Callable[[Results, Path], Any] | None = None,
    write_report: Callable[[Results, Path], Any] | None = None,
) -> list[Path]:
    """Write a run's files into ``folder`` (see the README's output contract).

    ``folder`` is a staging folder (:mod:`geo.render.outdir`): it is swapped in as a whole.

    Parameters
    ----------
    results
        The run's results (with provenance).
    folder
        Where to write (created if missing).
    write_map, write_report
        Callables writing ``map.html`` / ``report.html`` to the given path (skipped when None).

    Returns
    -------
    list of pathlib.Path
        The files written, relative to ``folder``.
    """
    folder = Path(folder)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    missing = [name for name in TABLE_NAMES if name not in results.tables]
    if missing:
        raise GeoError(f"results lack the tables {missing}; the run did not complete")
    from geo.render.gpkg import write_layers  # pyogrio: not needed by `gapmap report`

    write_layers(results, folder / "layers.gpkg")
    for name in sorted(results.tables):
        write_csv(results.tables[name], folder / "tables" / f"{name}.csv")
    if results.travel_time_surface is not None:
        write_surface(results.travel_time_surface, folder / "travel_time_spc.tif")
    if write_map is not None:
        write_map(results, folder / "map.html")
    if write_report is not None:
        write_report(results, folder / "report.html")
    written = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    results.provenance["outputs"] = {str(p): sha256_file(folder / p) for p in written}
    (folder / "run.json").write_text(provenance_json(results.provenance), encoding="utf-8")
    written.append(Path("run.json"))
    log.info("wrote %d files", len(written))
    return written


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table as CSV: 10 significant digits, text cells safe from formula injection."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    out.to_csv(path, index=False, float_format="%.10g")
    return Path(path)


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
