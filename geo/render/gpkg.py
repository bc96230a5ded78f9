"""The run's ``layers.gpkg``: every layer of the output contract, typed, with QGIS styles.

Each layer has one geometry type and typed columns whatever the data (:data:`LAYERS`): a layer
with no rows (no hotspots, no sub-areas, remoteness from a lookup) is still written, with its
geometry type and column types, so a QGIS project or script built on one run opens every run.
Area layers are MultiPolygon (a hotspot or catchment can have several parts). Thresholds are
whole minutes (integer columns). The default style of every layer, generated from the shared
palette (:mod:`geo.render.qgis_styles`), goes into the ``layer_styles`` table QGIS reads when a
layer is added.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from geo.analysis.gaps import need_beyond_spc, need_in_classes
from geo.errors import GeoError
from geo.render.qgis_styles import layer_styles
from geo.results import Results

log = logging.getLogger(__name__)

GEOMETRY_COLUMN = "geom"
STYLE_TABLE = "layer_styles"
GPKG_VERSION = "1.2"

_FACILITY = {
    "facility_id": "str",
    "name": "str",
    "kind": "str",
    "service_type": "str",
    "capacity": "float64",
    "accepts_non_cancer": "bool",
    "snap_distance_m": "float64",
    "reachable": "bool",
    "unreachable_reason": "str",
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of ``layers.gpkg``: its geometry type and its declared columns.

    Attributes
    ----------
    geometry_type
        ``Point`` or ``MultiPolygon``.
    columns
        Column -> type (``str``, ``float64``, ``int32``, ``int64`` or ``bool``). Columns a run
        adds beyond these (e.g. ``spc_<type>_travel_time_min``) keep their own types.
    """

    geometry_type: str
    columns: dict[str, str]


LAYERS: dict[str, LayerSpec] = {
    "origins": LayerSpec(
        "Point",
        {
            "origin_id": "int64",
            "pop_count": "float64",
            "pop_65plus": "float64",
            "area_id": "str",
            "remoteness_class": "str",
            "need_cancer": "float64",
            "need_non_cancer": "float64",
            "gp_travel_time_min": "float64",
            "spc_travel_time_min": "float64",
            "spc_non_cancer_travel_time_min": "float64",
            "nearest_gp_id": "str",
            "nearest_spc_id": "str",
            "snap_distance_m": "float64",
            "reachable": "bool",
            "unreachable_reason": "str",
            "gp_threshold_min": "int32",
            "spc_threshold_min": "int32",
            "coverage_class": "str",
            "coverage_class_non_cancer": "str",
            "gp_fte_within_threshold": "float64",
            "access_gp_e2sfca": "float64",
            "access_spc_e2sfca": "float64",
        },
    ),
    "gp_practices": LayerSpec(
        "Point",
        {
            **_FACILITY,
            "spc_travel_time_min": "float64",
            "spc_non_cancer_travel_time_min": "float64",
            "nearest_spc_id": "str",
            "pop_served": "float64",
            "need_cancer_served": "float64",
            "need_non_cancer_served": "float64",
            "link_status": "str",
            "isolated": "bool",
        },
    ),
    "specialist_services": LayerSpec("Point", dict(_FACILITY)),
    "catchments": LayerSpec(
        "MultiPolygon",
        {"kind": "str", "facility_id": "str", "threshold_min": "int32", "area_km2": "float64"},
    ),
    "subareas": LayerSpec(
        "MultiPolygon",
        {
            "area_id": "str",
            "area_name": "str",
            "pop_count": "float64",
            "need_cancer": "float64",
            "need_non_cancer": "float64",
            "need_beyond_spc": "float64",
            "need_beyond_spc_pct": "float64",
            "need_unknown_spc": "float64",
            "need_unknown_spc_pct": "float64",
        },
    ),
    "remoteness_areas": LayerSpec("MultiPolygon", {"remoteness_class": "str"}),
    "hotspots": LayerSpec(
        "MultiPolygon",
        {
            "hotspot_id": "int32",
            "pop_count": "float64",
            "need_cancer_beyond_spc": "float64",
            "need_non_cancer_beyond_spc": "float64",
            "need_beyond_spc": "float64",
            "origins": "int32",
        },
    ),
}

_NULLABLE = {"int32": "Int32", "int64": "Int64", "bool": "boolean", "float64": "float64"}


def write_layers(results: Results, path: Path) -> None:
    """Write every layer of :data:`LAYERS` (empty ones too) and their QGIS styles.

    Parameters
    ----------
    results
        The run's results.
    path
        The GeoPackage to write (a file in a staging folder).

    Raises
    ------
    GeoError
        When a column declared integer holds fractions (e.g. a threshold of 22.5 minutes).
    """
    frames = layer_frames(results)
    for i, (name, frame) in enumerate(frames.items()):
        spec = LAYERS[name]
        frame.to_file(
            path,
            layer=name,
            driver="GPKG",
            engine="pyogrio",
            geometry_type=spec.geometry_type,
            promote_to_multi=spec.geometry_type.startswith("Multi"),
            layer_options={"GEOMETRY_NAME": GEOMETRY_COLUMN},
            # GeoPackage 1.2: read without warnings by the GDAL of older QGIS releases.
            **({} if i else {"dataset_options": {"VERSION": GPKG_VERSION}}),
        )
    types = {name: spec.geometry_type for name, spec in LAYERS.items()}
    write_style_table(path, layer_styles(results, frames, types))
    log.info("wrote %d layers with QGIS styles to %s", len(frames), path.name)


def layer_frames(results: Results) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the GeoPackage, typed as :data:`LAYERS` declares (empty when absent)."""
    sources = {
        "origins": results.origins,
        "gp_practices": results.gp_practices,
        "specialist_services": results.specialist_services,
        "catchments": results.catchments,
        "subareas": subarea_layer(results),
        "remoteness_areas": results.remoteness_areas,
        "hotspots": results.hotspots,
    }
    return {
        name: conform(frame, LAYERS[name], crs=results.crs, layer=name)
        for name, frame in sources.items()
    }


def subarea_layer(results: Results) -> gpd.GeoDataFrame | None:
    """Sub-areas with their people, need, and need beyond specialist reach (not suppressed:
    like the CSV tables, the GeoPackage is an analyst output).

    ``need_beyond_spc`` counts each need group's need whose class for that group is
    ``gp_only`` or ``neither``, ``need_unknown_spc`` the need whose class is ``unknown``
    (beside the share beyond, so a sub-area whose access is unknown does not read as
    covered); ``_pct`` is each one's share of the area's need (0-100, NaN where the area has
    no need).
    """
    areas = results.subareas
    if areas is None:
        return None
    origins = results.origins
    values = pd.DataFrame(
        {
            "pop_count": origins["pop_count"].to_numpy(float),
            "need_cancer": origins["need_cancer"].to_numpy(float),
            "need_non_cancer": origins["need_non_cancer"].to_numpy(float),
            "need_beyond_spc": need_beyond_spc(origins),
            "need_unknown_spc": need_in_classes(origins, ("unknown",)),
        }
    )
    sums = values.groupby(origins["area_id"].to_numpy()).sum()
    frame = areas[["area_id", "area_name", areas.geometry.name]].merge(
        sums, left_on="area_id", right_index=True, how="left"
    )
    frame[list(values.columns)] = frame[list(values.columns)].fillna(0.0)
    need = frame["need_cancer"] + frame["need_non_cancer"]
    with np.errstate(invalid="ignore", divide="ignore"):
        for what in ("beyond", "unknown"):
            share = frame[f"need_{what}_spc"] / need.where(need > 0)
            frame[f"need_{what}_spc_pct"] = 100.0 * share
    return frame[[*LAYERS["subareas"].columns, areas.geometry.name]]  # the declared order


def conform(
    frame: gpd.GeoDataFrame | None, spec: LayerSpec, *, crs: CRS | str, layer: str
) -> gpd.GeoDataFrame:
    """``frame`` with every declared column of its declared type (declared columns it lacks
    are added, empty); an empty layer with every declared column when ``frame`` is None or
    empty. Other text columns are written as text."""
    if frame is None or frame.empty:
        data = {c: pd.Series(dtype=_NULLABLE.get(t, object)) for c, t in spec.columns.items()}
        return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    out = frame.copy()
    for col, kind in spec.columns.items():
        if col in out.columns:
            out[col] = _typed(out[col], kind, layer=layer)
        else:
            out[col] = pd.Series(None, index=out.index, dtype=_NULLABLE.get(kind, object))
    for col in out.columns.difference([*spec.columns, out.geometry.name]):
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = _typed(out[col], "str", layer=layer)
    return out


def _typed(values: pd.Series, kind: str, *, layer: str) -> pd.Series:
    missing = values.isna().to_numpy()
    if kind == "str":
        text = [None if m else str(v) for v, m in zip(values, missing, strict=True)]
        return pd.Series(text, index=values.index, dtype=object)
    if kind == "bool":
        return values.astype("boolean")
    numbers = pd.to_numeric(values).astype(float)
    if kind == "float64":
        return numbers
    known = numbers.dropna()
    bad = known[~np.isfinite(known) | (known != np.round(known))]
    if len(bad):
        raise GeoError(
            f"layer {layer!r} column {values.name!r} must hold whole numbers, got "
            f"{bad.head(3).tolist()}"
        )
    return numbers.round().astype(_NULLABLE[kind])


def write_style_table(path: Path, styles: dict[str, str]) -> None:
    """Write the ``layer_styles`` table as QGIS itself does: one default QML style per layer.

    The columns are those QGIS creates (``id`` is the key); QGIS matches a style to a layer by
    ``f_table_name`` and ``f_geometry_column`` with an empty ``f_table_schema``.
    """
    now = pd.Timestamp(datetime.now(timezone.utc))
    rows = [
        {
            "f_table_catalog": "",
            "f_table_schema": "",
            "f_table_name": name,
            "f_geometry_column": GEOMETRY_COLUMN,
            "styleName": name,
            "styleQML": qml,
            "styleSLD": "",
            "useAsDefault": True,
            "description": f"gapmap default style of {name}",
            "owner": "",
            "ui": "",
            "update_time": now,
        }
        for name, qml in styles.items()
    ]
    table = pd.DataFrame(rows)
    table["useAsDefault"] = table["useAsDefault"].astype(bool)
    pyogrio.write_dataframe(table, path, layer=STYLE_TABLE, layer_options={"FID": "id"})
