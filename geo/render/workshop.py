"""The workshop page: one self-contained HTML file that recomputes coverage as a room decides.

The page embeds the precomputed tables of :mod:`geo.analysis.workshop` and computes, in plain
JavaScript (``templates/workshop.js.j2``, inlined as is), what the Python reference
(:mod:`geo.analysis.workshop_model`) computes: coverage classes, virtual coverage and the
scenario change tables. Leaflet is inlined from the installed ``folium-offline`` package
(:mod:`geo.render.offline_assets`) and there is no basemap, so the page makes no network
request at all: it opens from disk or a USB stick.

Encoding: small things (names, ids, settings, classes) are one JSON object in a
``<script type="application/json">`` element (escaped for HTML by Jinja's ``tojson``); the
arrays are one binary blob, zlib-deflated and base64-encoded, inflated in the page with the
browser's ``DecompressionStream``. Per facility, times are stored densely (a code for every
origin, delta-coded) when it reaches more than an eighth of the origins, else sparsely (origin
rows, delta-coded, and codes). People are float32 when that is exact, need is float64, so the
page's sums equal NumPy's (the page sums in NumPy's pairwise order).
"""

from __future__ import annotations

import base64
import logging
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pandas as pd
from markupsafe import Markup

from geo import __version__
from geo.analysis.classes import COVERAGE_CLASSES
from geo.analysis.workshop import WorkshopData
from geo.render.offline_assets import inline_assets
from geo.render.outdir import write_atomic_text
from geo.render.pages import template_env
from geo.render.palette import COVERAGE_COLOURS, COVERAGE_LABELS, FEW_PLACES, SPC_COLOURS

log = logging.getLogger(__name__)

DENSE_SHARE = 0.125
_TYPES = {
    np.dtype(np.uint8): "u8",
    np.dtype(np.uint16): "u16",
    np.dtype(np.uint32): "u32",
    np.dtype(np.int32): "i32",
    np.dtype(np.float32): "f32",
    np.dtype(np.float64): "f64",
}


class _Blob:
    """Arrays laid end to end (8-byte aligned), each named by offset, length and type."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, array: np.ndarray) -> dict[str, Any]:
        array = np.ascontiguousarray(array)
        pad = (-self.size) % 8
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        ref = {"o": self.size, "n": int(array.size), "t": _TYPES[array.dtype]}
        data = array.tobytes()
        self.parts.append(data)
        self.size += len(data)
        return ref

    def deflated(self) -> bytes:
        return zlib.compress(b"".join(self.parts), 6)


def _delta(values: np.ndarray) -> np.ndarray:
    """Differences of consecutive values, wrapping in the values' unsigned type (the page
    undoes it with a running sum in the same type)."""
    out = values.copy()
    out[1:] = values[1:] - values[:-1]
    return out


def _exact_f32(values: np.ndarray) -> np.ndarray:
    as32 = values.astype(np.float32)
    return as32 if np.array_equal(as32.astype(np.float64), values) else values


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leaflet's Web Mercator world coordinates scaled to 0-1 (x east, y south)."""
    lat = np.clip(lat, -85.0511287798, 85.0511287798)
    u = lon / 360.0 + 0.5
    v = 0.5 - np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) / (2 * np.pi)
    return u, v


def _unsigned(values: np.ndarray, dtype) -> np.ndarray:
    return np.asarray(values).astype(dtype)


# What the candidate list says when it is empty: the grid is empty exactly when no need lies
# beyond specialist reach (it places sites by that need).
NO_CANDIDATES = {
    "": "No candidate sites.",
    "grid": "No candidate sites: the grid places them where need lies beyond specialist "
    "reach, and none does here.",
}


def encode(data: WorkshopData) -> tuple[dict[str, Any], bytes]:
    """The page's JSON metadata and its deflated binary arrays."""
    blob = _Blob()
    bbox, arrays = _origin_arrays(blob, data)  # origin arrays first: the blob's layout
    facility_arrays = _facility_arrays(blob, data)
    meta = {
        "region": data.region_name,
        "crs": data.crs,
        "perMin": data.per_min,
        "fewPlaces": FEW_PLACES,
        "beyond": data.beyond,
        "unknown": data.unknown,
        "codeType": _TYPES[data.code_dtype],
        "gpSlider": list(data.gp_slider),
        "spcSlider": list(data.spc_slider),
        "thresholds": data.thresholds,
        "homeReach": data.home_reach_code,
        "withinMin": data.within_min,
        "noCandidates": NO_CANDIDATES.get(data.candidate_kind, NO_CANDIDATES[""]),
        "withinCode": data.within_code,
        "daysPerMonth": data.days_per_month,
        "classes": data.classes,
        "reportClasses": data.report_classes,
        "n": len(data.origins),
        "bbox": bbox,
        "arrays": arrays,
        "facilityArrays": facility_arrays,
        "facilities": _facility_records(data),
        "practices": _practice_records(data),
        "boundary": data.boundary_lonlat,
        "coverageClasses": list(COVERAGE_CLASSES),
        "coverageColours": COVERAGE_COLOURS,
        "coverageLabels": COVERAGE_LABELS,
        "spcColours": SPC_COLOURS,
    }
    return meta, blob.deflated()


def _positions(origins: pd.DataFrame) -> tuple[list[float], np.ndarray, np.ndarray]:
    """The origins' Mercator bounding box and their positions in it quantised to uint16."""
    u, v = _mercator(origins["lon"].to_numpy(float), origins["lat"].to_numpy(float))
    if len(origins):
        bbox = [float(u.min()), float(v.min()), float(u.max()), float(v.max())]
    else:
        bbox = [0, 0, 1, 1]
    span_u = max(bbox[2] - bbox[0], 1e-12)
    span_v = max(bbox[3] - bbox[1], 1e-12)
    qu = np.round((u - bbox[0]) / span_u * 65535).astype(np.uint16)
    qv = np.round((v - bbox[1]) / span_v * 65535).astype(np.uint16)
    return bbox, qu, qv


def _origin_arrays(blob: _Blob, data: WorkshopData) -> tuple[list[float], dict[str, Any]]:
    """Add the per-origin arrays and practice codes to ``blob``; their bbox and references."""
    origins = data.origins
    code_t = data.code_dtype
    bbox, qu, qv = _positions(origins)
    n_cls = len(data.classes)
    arrays = {
        "pop": blob.add(_exact_f32(origins["pop_count"].to_numpy(float))),
        "needCancer": blob.add(origins["need_cancer"].to_numpy(float)),
        "needNonCancer": blob.add(origins["need_non_cancer"].to_numpy(float)),
        "gpCode": blob.add(_unsigned(origins["gp_code"], code_t)),
        "nearestGp": blob.add(origins["nearest_gp"].to_numpy().astype(np.int32)),
        "cls": blob.add(_unsigned(origins["cls"], np.uint8 if n_cls < 256 else np.uint16)),
        "u": blob.add(_delta(qu)),
        "v": blob.add(_delta(qv)),
        "practiceCodes": blob.add(_unsigned(data.practice_codes, code_t)),
    }
    return bbox, arrays


def _facility_arrays(blob: _Blob, data: WorkshopData) -> list[dict[str, Any]]:
    """Add each facility's times to ``blob``: dense when it reaches many origins, else sparse."""
    n = len(data.origins)
    code_t = data.code_dtype
    facility_arrays = []
    for rows, codes in data.facility_origins:
        if len(rows) > DENSE_SHARE * n:
            dense = np.full(n, data.beyond, code_t)
            dense[rows] = codes
            facility_arrays.append({"dense": blob.add(_delta(dense))})
        else:
            facility_arrays.append(
                {
                    "idx": blob.add(_delta(rows.astype(np.uint32))),
                    "codes": blob.add(codes.astype(code_t)),
                }
            )
    return facility_arrays


def _facility_records(data: WorkshopData) -> list[dict[str, Any]]:
    """Services and candidates as the page's JSON records (candidates with export fields)."""
    facilities = []
    for row in data.facilities.to_dict("records"):
        item = {
            "id": row["facility_id"],
            "name": row["name"],
            "role": row["role"],
            "type": row["service_type"],
            "nc": bool(row["accepts_non_cancer"]),
            "community": bool(row["community"]),
            "onNetwork": bool(row["on_network"]),
            "lat": _coord(row["lat"]),
            "lon": _coord(row["lon"]),
        }
        if row["role"] == "candidate":
            item.update(
                {
                    "siteKind": row["site_kind"],
                    "visitorId": row["visitor_id"],
                    "visitorName": row["visitor_name"],
                    "x": float(row["x"]),
                    "y": float(row["y"]),
                    "capacity": _finite(row["capacity"]),  # null: the visitor's is unknown
                    "exportId": row["export_id"],
                }
            )
        facilities.append(item)
    return facilities


def _practice_records(data: WorkshopData) -> list[dict[str, Any]]:
    """GP practices as the page's JSON records."""
    return [
        {
            "id": r["facility_id"],
            "name": r["name"],
            "lat": _coord(r["lat"]),
            "lon": _coord(r["lon"]),
            "onNetwork": bool(r["on_network"]),
        }
        for r in data.practices.to_dict("records")
    ]


def _coord(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def _finite(value: float) -> float | None:
    """The value, or None (JSON null) when it is NaN or infinite: JSON has no NaN, and one
    ``NaN`` token would stop the page from reading its data at all."""
    return float(value) if np.isfinite(value) else None


def _leaflet_urls() -> tuple[str, str]:
    js = dict(folium.Map.default_js)["leaflet"]
    css = dict(folium.Map.default_css)["leaflet_css"]
    return js, css


def build_workshop_page(data: WorkshopData, *, generated: datetime | None = None) -> str:
    """The workshop page's HTML: self-contained (no external URL), every input text escaped."""
    env = template_env()
    script, _, _ = env.loader.get_source(env, "workshop.js.j2")  # plain JavaScript, as is
    if "</script" in script.lower():
        raise ValueError("workshop.js.j2 must not contain a closing script tag")
    meta, blob = encode(data)
    meta["generated"] = (generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    meta["version"] = __version__
    leaflet_js, leaflet_css = _leaflet_urls()
    page = env.get_template("workshop.html.j2").render(
        region=data.region_name,
        meta=meta,
        data_b64=base64.b64encode(blob).decode("ascii"),
        script=Markup(script),
        leaflet_js=leaflet_js,
        leaflet_css=leaflet_css,
        version=__version__,
    )
    return inline_assets(page)


def write_workshop_page(data: WorkshopData, path: Path) -> Path:
    """Build the workshop page and write it atomically."""
    page = build_workshop_page(data)
    write_atomic_text(Path(path), page)
    log.info("workshop page written to %s (%.1f MB)", path, len(page.encode()) / 1e6)
    return Path(path)


__all__ = ["build_workshop_page", "encode", "write_workshop_page"]
