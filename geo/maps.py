"""The interactive map (Folium/Leaflet): coverage, remoteness, need, sub-areas, GPs, SPC services.

Every overlay is a toggleable entry in the layer control; every piece of text from the inputs
(names, area names, the region name) is HTML-escaped before it reaches the page. Origins are
drawn as compact GeoJSON circle markers up to :data:`MAX_VECTOR_ORIGINS`; beyond that they are
rasterised into PNG image overlays so the file size stays bounded (a region of a million places
stays well under 15 MB). Need and population density and the travel-time surface are always
small rasters.

Every page is self-contained: Leaflet, jQuery and the MarkerCluster, Fullscreen and
MeasureControl plugins are inlined from an installed package (:mod:`geo.offline_assets`), so
the map opens with no internet. With ``offline=True`` it also has no basemap tiles and makes no
network request at all.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import logging
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.transform
import shapely
from branca.element import Element
from folium.plugins import MarkerCluster

from geo.access import COVERAGE_CLASSES
from geo.errors import GeoError
from geo.offline_assets import inline_assets, trim_default_assets
from geo.outputs import write_atomic_text
from geo.results import Results

log = logging.getLogger(__name__)

COVERAGE_COLOURS = {
    "both": "#1a9850",
    "gp_only": "#fdae61",
    "spc_only": "#74add1",
    "neither": "#d73027",
}
COVERAGE_LABELS = {
    "both": "GP and SPC within thresholds",
    "gp_only": "GP only",
    "spc_only": "SPC only",
    "neither": "Neither",
}
REMOTENESS_PALETTE = ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837", "#00441b", "#002a11")
DENSITY_RAMP = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")
SPC_COLOURS = {"inpatient": "#54278f", "community": "#807dba", "hospital": "#3f007d"}
# Inline-SVG shapes per SPC service type (core Leaflet DivIcons: no icon fonts to fetch).
SPC_SHAPES = {
    "inpatient": "M11 1 L21 11 L11 21 L1 11 Z",
    "community": "M11 2 L21 20 L1 20 Z",
    "hospital": "M3 3 H19 V19 H3 Z",
}
# Travel-time surface legend: band i covers [TIME_BANDS_MIN[i], TIME_BANDS_MIN[i + 1]).
TIME_BANDS_MIN = (0, 15, 30, 45, 60, 90, 120)
TIME_COLOURS = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027", "#67001f")
CATCHMENT_COLOURS = ("#3f007d", "#6a51a3", "#9e9ac8", "#cbc9e2", "#f2f0f7")
COORD_DECIMALS = 5
SIMPLIFY_M = 50.0
MAX_VECTOR_ORIGINS = 20_000
MAX_ZOOM = 18
RASTER_MAX_PX = 900
DENSITY_MAX_PX = 220
NOTE_NO_ISOLATED = "No isolated GP practices."
NOTE_NO_HOTSPOTS = "No hotspots of uncovered need found."
NOTE_NO_SUBAREAS = "No sub-areas configured."


def _esc(value: object) -> str:
    """HTML-escape input text; also ` and $ because folium embeds popup HTML in JS templates."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def _minutes(value: object) -> str:
    try:
        minutes = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unreachable"
    return f"{minutes:.0f} min" if np.isfinite(minutes) else "unreachable"


def _num(value: object, digits: int = 0) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:,.{digits}f}" if np.isfinite(number) else "n/a"


def _to_wgs84(frame: gpd.GeoDataFrame, simplify_m: float = 0.0) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326, simplifying in the (projected) analysis CRS first."""
    if frame.crs is None:
        raise GeoError("a map layer has no CRS; the pipeline must set the analysis CRS")
    if simplify_m:
        frame = frame.copy()
        frame["geometry"] = frame.geometry.simplify(simplify_m, preserve_topology=True)
    return frame.to_crs(4326)


def _geojson(frame: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """Compact GeoJSON: coordinates rounded to ~1 m, only the listed properties."""
    geoms = shapely.set_precision(frame.geometry.to_numpy(), 10**-COORD_DECIMALS)
    records = frame[columns].to_dict("records")
    features = []
    for geom, props in zip(geoms, records, strict=True):
        if geom is None or geom.is_empty:
            continue
        props = {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in props.items()
        }
        features.append(
            {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}
        )
    return {"type": "FeatureCollection", "features": features}


def _ordered_colours(order: list[str]) -> dict[str, str]:
    last = len(REMOTENESS_PALETTE) - 1
    if len(order) <= 1:
        return {c: REMOTENESS_PALETTE[2] for c in order}
    step = last / (len(order) - 1) if len(order) <= last + 1 else 1.0
    return {c: REMOTENESS_PALETTE[min(round(i * step), last)] for i, c in enumerate(order)}


# --- Rasters ------------------------------------------------------------------------------------


def _mercator_grid(
    xy: np.ndarray, bounds: np.ndarray, max_px: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], list[list[float]]]:
    """Pixel rows/cols of Web-Mercator points on a grid over ``bounds`` (minx, miny, maxx, maxy).

    Leaflet stretches an ImageOverlay linearly in Web Mercator, so the grid is built there.
    """
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, maxy - miny, 1.0)
    cell = span / max_px
    width = max(int(np.ceil((maxx - minx) / cell)), 1)
    height = max(int(np.ceil((maxy - miny) / cell)), 1)
    cols = np.clip(((xy[:, 0] - minx) / cell).astype(int), 0, width - 1)
    rows = np.clip(((maxy - xy[:, 1]) / cell).astype(int), 0, height - 1)
    corners = gpd.GeoSeries(
        gpd.points_from_xy([minx, minx + width * cell], [maxy - height * cell, maxy]), crs=3857
    ).to_crs(4326)
    latlon = [[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]]
    return rows, cols, (height, width), latlon


def _png_data_uri(rgba: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _hex_rgba(colour: str, alpha: int = 220) -> tuple[int, int, int, int]:
    colour = colour.lstrip("#")
    return (int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16), alpha)


def _class_raster(
    xy: np.ndarray, bounds: np.ndarray, classes: np.ndarray, weight: np.ndarray, colours: list[str]
) -> tuple[str, list[list[float]]]:
    """Each pixel takes the class (index into ``colours``) of its heaviest origin."""
    rows, cols, shape, latlon = _mercator_grid(xy, bounds, RASTER_MAX_PX)
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    palette = np.array([_hex_rgba(c) for c in colours], dtype=np.uint8)
    order = np.argsort(weight, kind="stable")  # heaviest written last, so it wins
    rgba[rows[order], cols[order]] = palette[classes[order]]
    return _png_data_uri(rgba), latlon


def _density_raster(
    xy: np.ndarray, bounds: np.ndarray, values: np.ndarray
) -> tuple[str, list[list[float]], list[float]]:
    """Sum ``values`` per cell and colour by quintile of the non-empty cells."""
    rows, cols, shape, latlon = _mercator_grid(xy, bounds, DENSITY_MAX_PX)
    sums = np.zeros(shape)
    np.add.at(sums, (rows, cols), np.nan_to_num(values))
    positive = sums[sums > 0]
    breaks = (
        list(np.quantile(positive, [0.2, 0.4, 0.6, 0.8])) if positive.size else [0.0, 0.0, 0.0, 0.0]
    )
    idx = np.searchsorted(np.asarray(breaks), sums, side="right")
    palette = np.array([_hex_rgba(c, 200) for c in DENSITY_RAMP], dtype=np.uint8)
    rgba = palette[np.clip(idx, 0, len(DENSITY_RAMP) - 1)]
    rgba[sums <= 0] = 0
    return _png_data_uri(rgba), latlon, breaks


def _image_layer(group: folium.FeatureGroup, uri: str, latlon: list[list[float]]) -> None:
    folium.raster_layers.ImageOverlay(
        image=uri, bounds=latlon, opacity=0.85, pixelated=True, interactive=False
    ).add_to(group)


# --- Layers -------------------------------------------------------------------------------------


class _Layers:
    """Builds every overlay of one map, collecting legend notes as it goes."""

    def __init__(self, fmap: folium.Map, results: Results, *, offline: bool) -> None:
        self.fmap = fmap
        self.results = results
        self.offline = offline
        self.notes: list[str] = []
        self.density_breaks: dict[str, list[float]] = {}
        self.origins = _to_wgs84(results.origins)
        merc = results.origins.to_crs(3857)
        self.xy_merc = np.column_stack([merc.geometry.x.to_numpy(), merc.geometry.y.to_numpy()])
        self.bounds_merc = merc.total_bounds
        self.vector = len(self.origins) <= MAX_VECTOR_ORIGINS
        self.has_surface = False

    def _points(self, group, frame: gpd.GeoDataFrame, colour_key: str, colours, fields, aliases):
        """Circle markers coloured by ``colour_key`` with a tooltip of ``fields``."""
        folium.GeoJson(
            _geojson(frame, [colour_key, *[f for f in fields if f != colour_key]]),
            marker=folium.CircleMarker(radius=3, weight=0, fill=True, fill_opacity=0.85),
            style_function=lambda f: {
                "fillColor": colours.get(f["properties"][colour_key], "#999999")
            },
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
        ).add_to(group)

    def remoteness(self) -> None:
        results = self.results
        colours = _ordered_colours(list(results.remoteness_classes))
        group = folium.FeatureGroup(name="Remoteness", show=False)
        areas = results.remoteness_areas
        if areas is not None and len(areas):
            areas = _to_wgs84(areas, SIMPLIFY_M * 4)
            areas = areas.assign(label=areas["remoteness_class"].map(_esc))
            folium.GeoJson(
                _geojson(areas, ["remoteness_class", "label"]),
                style_function=lambda f: {
                    "fillColor": colours.get(f["properties"]["remoteness_class"], "#999999"),
                    "color": "#555555",
                    "weight": 0.5,
                    "fillOpacity": 0.45,
                },
                tooltip=folium.GeoJsonTooltip(fields=["label"], aliases=["Remoteness"]),
            ).add_to(group)
        else:
            self.notes.append("Remoteness from an area lookup: places coloured by class.")
            self._remoteness_points(group, colours)
        group.add_to(self.fmap)

    def _remoteness_points(self, group, colours: dict[str, str]) -> None:
        cls = self.origins["remoteness_class"].astype(str)
        if self.vector:
            pts = self.origins.assign(k=cls, r=cls.map(_esc))
            escaped = {_esc(k): v for k, v in colours.items()}
            self._points(group, pts.assign(k=pts["r"]), "k", escaped, ["r"], ["Remoteness"])
            return
        names = list(colours)
        idx = cls.map({c: i for i, c in enumerate(names)}).fillna(len(names)).astype(int)
        uri, latlon = _class_raster(
            self.xy_merc,
            self.bounds_merc,
            idx.to_numpy(),
            self.origins["pop_count"].to_numpy(float),
            [*colours.values(), "#999999"],
        )
        _image_layer(group, uri, latlon)

    def coverage(self) -> None:
        group = folium.FeatureGroup(name="People by coverage class", show=True)
        origins = self.origins
        if self.vector:
            pts = origins.assign(
                c=origins["coverage_class"].astype(str),
                p=origins["pop_count"].round(0).astype(int),
                g=origins["gp_travel_time_min"].map(_minutes),
                s=origins["spc_travel_time_min"].map(_minutes),
                r=origins["remoteness_class"].map(_esc),
            )
            self._points(
                group,
                pts,
                "c",
                COVERAGE_COLOURS,
                ["p", "g", "s", "r", "c"],
                ["People", "GP", "SPC", "Remoteness", "Coverage"],
            )
        else:
            idx = origins["coverage_class"].map({c: i for i, c in enumerate(COVERAGE_CLASSES)})
            uri, latlon = _class_raster(
                self.xy_merc,
                self.bounds_merc,
                idx.fillna(3).astype(int).to_numpy(),
                origins["pop_count"].to_numpy(float),
                [COVERAGE_COLOURS[c] for c in COVERAGE_CLASSES],
            )
            _image_layer(group, uri, latlon)
            self.notes.append(
                f"{len(origins):,} places: coverage drawn as an image (largest place per pixel)."
            )
        group.add_to(self.fmap)

    def density(self) -> None:
        origins = self.origins
        need = origins["need_cancer"].to_numpy(float) + origins["need_non_cancer"].to_numpy(float)
        for key, name, values in (
            ("need", "Palliative care need density (cancer + non-cancer)", need),
            ("pop", "Population density", origins["pop_count"].to_numpy(float)),
        ):
            group = folium.FeatureGroup(name=name, show=False)
            uri, latlon, breaks = _density_raster(self.xy_merc, self.bounds_merc, values)
            _image_layer(group, uri, latlon)
            self.density_breaks[key] = breaks
            group.add_to(self.fmap)

    def subareas(self) -> None:
        results = self.results
        group = folium.FeatureGroup(name="Sub-areas: need without SPC access", show=True)
        if results.subareas is None or results.subareas.empty:
            self.notes.append(NOTE_NO_SUBAREAS)
            group.add_to(self.fmap)
            return
        areas = _to_wgs84(results.subareas, SIMPLIFY_M).merge(
            _subarea_summary(results), on="area_id", how="left"
        )
        spc_min = results.thresholds_min.get("spc", float("nan"))
        areas["label"] = [
            _subarea_popup(row, spc_min)
            for row in areas.drop(columns="geometry").to_dict("records")
        ]
        areas["share"] = areas["share_no_spc"].fillna(0.0)
        folium.GeoJson(
            _geojson(areas, ["share", "label"]),
            style_function=lambda f: {
                "fillColor": _ramp(f["properties"]["share"]),
                "color": "#333333",
                "weight": 1,
                "fillOpacity": 0.35,
            },
            popup=folium.GeoJsonPopup(fields=["label"], labels=False),
        ).add_to(group)
        group.add_to(self.fmap)

    def facilities(self) -> None:
        gps = _to_wgs84(self.results.gp_practices)
        group = folium.FeatureGroup(name="GP practices", show=True)
        # Clustered at small scales; every practice shows on its own from zoom 11.
        target = MarkerCluster(disable_clustering_at_zoom=11, max_cluster_radius=40).add_to(group)
        for row in gps.to_dict("records"):
            isolated = bool(row.get("isolated", False))
            folium.CircleMarker(
                [row["geometry"].y, row["geometry"].x],
                radius=7,
                color="#b2182b" if isolated else "#222222",
                weight=3 if isolated else 1.5,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=1,
                popup=folium.Popup(_gp_popup(row, isolated), max_width=320),
                tooltip=_esc(row["name"]),
            ).add_to(target)
        group.add_to(self.fmap)
        group = folium.FeatureGroup(name="Specialist palliative care services", show=True)
        for row in _to_wgs84(self.results.specialist_services).to_dict("records"):
            folium.Marker(
                [row["geometry"].y, row["geometry"].x],
                icon=_spc_icon(str(row.get("service_type", ""))),
                popup=folium.Popup(_spc_popup(row), max_width=320),
                tooltip=_esc(row["name"]),
            ).add_to(group)
        group.add_to(self.fmap)

    def links(self) -> None:
        results = self.results
        group = folium.FeatureGroup(name="Isolated GP practices: link to nearest SPC", show=True)
        gps = results.gp_practices
        isolated = gps[
            gps.get("isolated", pd.Series(False, index=gps.index)).fillna(False).astype(bool)
        ]
        spcs = _to_wgs84(results.specialist_services).set_index("facility_id")
        drawn = 0
        for row in _to_wgs84(isolated).to_dict("records"):
            target = row.get("nearest_spc_id")
            if target is None or target not in spcs.index:
                continue
            spc = spcs.loc[target, "geometry"]
            folium.PolyLine(
                [[row["geometry"].y, row["geometry"].x], [spc.y, spc.x]],
                color="#b2182b",
                weight=2,
                dash_array="6 6",
                tooltip=f"{_esc(row['name'])}: {_minutes(row.get('spc_travel_time_min'))} to "
                f"{_esc(spcs.loc[target, 'name'])}",
            ).add_to(group)
            drawn += 1
        if not drawn:
            self.notes.append(NOTE_NO_ISOLATED)
        group.add_to(self.fmap)

    def catchments(self) -> None:
        for kind, label in (("gp", "GP"), ("spc", "SPC")):
            group = folium.FeatureGroup(name=f"{label} catchments (travel-time bands)", show=False)
            catch = _kind_bands(self.results.catchments, kind)
            if catch is None or catch.empty:
                self.notes.append(f"No {label} catchments computed in this run.")
            else:
                self._bands(group, catch, label)
            group.add_to(self.fmap)

    def _bands(self, group, catch: gpd.GeoDataFrame, label: str) -> None:
        catch = _to_wgs84(catch, SIMPLIFY_M).sort_values("threshold_min", ascending=False)
        thresholds = sorted(catch["threshold_min"].astype(float).unique())
        colours = {
            t: CATCHMENT_COLOURS[min(i, len(CATCHMENT_COLOURS) - 1)]
            for i, t in enumerate(thresholds)
        }
        catch = catch.assign(
            t=catch["threshold_min"].astype(float),
            label=[f"{label} within {t:g} min" for t in catch["threshold_min"]],
        )
        folium.GeoJson(
            _geojson(catch, ["t", "label"]),
            style_function=lambda f: {
                "color": colours.get(f["properties"]["t"], "#3f007d"),
                "fillColor": colours.get(f["properties"]["t"], "#3f007d"),
                "weight": 1,
                "fillOpacity": 0.12,
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(group)

    def travel_time(self) -> None:
        group = folium.FeatureGroup(name="Travel time to nearest SPC (minutes)", show=False)
        surface = self.results.travel_time_surface
        if surface is None:
            self.notes.append("No travel-time surface computed in this run.")
        else:
            uri, latlon = _surface_raster(surface)
            _image_layer(group, uri, latlon)
            self.has_surface = True
        group.add_to(self.fmap)

    def hotspots(self) -> None:
        group = folium.FeatureGroup(name="Hotspots of uncovered need", show=False)
        spots = self.results.hotspots
        if spots is None or spots.empty:
            self.notes.append(NOTE_NO_HOTSPOTS)
        else:
            spots = _to_wgs84(spots, SIMPLIFY_M)
            spots = spots.assign(
                label=[
                    f"Hotspot {_esc(r['hotspot_id'])}: {_num(r['pop_count'])} people, need/yr "
                    f"{_num(float(r['need_cancer']) + float(r['need_non_cancer']), 1)}"
                    for r in spots.drop(columns="geometry").to_dict("records")
                ]
            )
            folium.GeoJson(
                _geojson(spots, ["label"]),
                style_function=lambda f: {"color": "#d73027", "weight": 2, "fillOpacity": 0.2},
                tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            ).add_to(group)
        group.add_to(self.fmap)


def _kind_bands(catch: gpd.GeoDataFrame | None, kind: str) -> gpd.GeoDataFrame | None:
    """Nearest-facility bands of one service kind; dissolved from per-facility isochrones when
    that's all there is."""
    if catch is None or catch.empty:
        return None
    if "kind" in catch:
        catch = catch[catch["kind"] == kind]
    if catch.empty:
        return None
    if "facility_id" in catch and catch["facility_id"].isna().any():
        return catch[catch["facility_id"].isna()]
    dissolved = catch.dissolve(by="threshold_min").reset_index()
    return dissolved[["threshold_min", "geometry"]].assign(kind=kind, facility_id=None)


def _surface_raster(surface: dict) -> tuple[str, list[list[float]]]:
    """The travel-time raster re-gridded to Web Mercator and coloured by :data:`TIME_BANDS_MIN`."""
    array = np.asarray(surface["array"], float)
    rows, cols = np.nonzero(np.isfinite(array))
    if not rows.size:
        return _png_data_uri(np.zeros((1, 1, 4), np.uint8)), [[0.0, 0.0], [0.0, 0.0]]
    xs, ys = rasterio.transform.xy(surface["transform"], rows, cols, offset="center")
    merc = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=surface["crs"]).to_crs(3857)
    xy = np.column_stack([merc.x.to_numpy(), merc.y.to_numpy()])
    bounds = np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])
    max_px = min(RASTER_MAX_PX, max(array.shape))
    prow, pcol, shape, latlon = _mercator_grid(xy, bounds, max_px)
    band = np.searchsorted(np.asarray(TIME_BANDS_MIN[1:]), array[rows, cols], side="right")
    palette = np.array([_hex_rgba(c, 170) for c in TIME_COLOURS], dtype=np.uint8)
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    order = np.argsort(-band, kind="stable")  # the quickest band in a pixel wins
    rgba[prow[order], pcol[order]] = palette[band[order]]
    return _png_data_uri(rgba), latlon


def _subarea_summary(results: Results) -> pd.DataFrame:
    """Per sub-area: people, need and need shares by coverage class, from the table."""
    table = results.tables.get("coverage_by_subarea")
    if table is None:
        from geo.gaps import coverage_by_subarea

        table = coverage_by_subarea(results.origins, results.subareas)
    table = table[table["area_id"].isin(set(results.subareas["area_id"]))]
    wide = table.pivot_table(
        index="area_id", columns="coverage_class", values="need_total", aggfunc="sum", fill_value=0
    ).reindex(columns=list(COVERAGE_CLASSES), fill_value=0.0)
    sums = table.groupby("area_id")[["pop_count", "need_cancer", "need_non_cancer"]].sum()
    need = wide.sum(axis=1)
    out = sums.join(wide.div(need.where(need > 0), axis=0).add_prefix("share_"))
    out["share_no_spc"] = out["share_gp_only"] + out["share_neither"]
    return out.reset_index()


def _subarea_popup(row: dict, spc_min: float) -> str:
    shares = "".join(
        f"<br>{_esc(COVERAGE_LABELS[c])}: {_pct(row.get(f'share_{c}'))}" for c in COVERAGE_CLASSES
    )
    return (
        f"<b>{_esc(row['area_name'])}</b><br>People: {_num(row.get('pop_count'))}<br>"
        f"Palliative need/yr: cancer {_num(row.get('need_cancer'), 1)}, non-cancer "
        f"{_num(row.get('need_non_cancer'), 1)}<br>Need without SPC within {spc_min:g} min: "
        f"<b>{_pct(row.get('share_no_spc'))}</b><br><i>Share of need by coverage</i>{shares}"
    )


def _pct(value: object) -> str:
    try:
        share = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    return f"{share:.0%}" if np.isfinite(share) else "n/a"


def _ramp(share: float | None) -> str:
    share = 0.0 if share is None else float(share)
    return DENSITY_RAMP[min(int(share * len(DENSITY_RAMP)), len(DENSITY_RAMP) - 1)]


def _gp_popup(row: dict, isolated: bool) -> str:
    flag = " &mdash; <b>isolated from SPC</b>" if isolated else ""
    return (
        f"<b>{_esc(row['name'])}</b><br>GP practice{flag}<br>"
        f"Nearest SPC: {_minutes(row.get('spc_travel_time_min'))}<br>"
        f"People nearest: {_num(row.get('pop_served'))}<br>"
        f"Need/yr served: cancer {_num(row.get('need_cancer_served'), 1)}, non-cancer "
        f"{_num(row.get('need_non_cancer_served'), 1)}"
    )


def _spc_popup(row: dict) -> str:
    accepts = row.get("accepts_non_cancer", True)
    accepts = True if accepts is None or pd.isna(accepts) else bool(accepts)
    return (
        f"<b>{_esc(row['name'])}</b><br>Specialist palliative care: "
        f"{_esc(row.get('service_type', ''))}<br>Capacity: {_esc(row.get('capacity', ''))}<br>"
        f"Accepts non-cancer: {'yes' if accepts else 'no (cancer only)'}"
    )


def _spc_svg(service_type: str, size: int = 22) -> str:
    colour = SPC_COLOURS.get(service_type, "#54278f")
    path = SPC_SHAPES.get(service_type, SPC_SHAPES["inpatient"])
    return (
        f'<svg width="{size}" height="{size}" viewBox="0 0 22 22"><path d="{path}" '
        f'fill="{colour}" stroke="#fff" stroke-width="2"/></svg>'
    )


def _spc_icon(service_type: str) -> folium.DivIcon:
    return folium.DivIcon(
        html=_spc_svg(service_type), icon_size=(22, 22), icon_anchor=(11, 11), class_name="gm-spc"
    )


# --- Title, legend and controls -----------------------------------------------------------------


def _legend_rows(results: Results, layers: _Layers) -> str:
    def swatch(colour: str, label: str, extra: str = "") -> str:
        return (
            f'<div><span class="gm-sw" style="background:{colour};{extra}"></span>'
            f"{_esc(label)}</div>"
        )

    rows = ["<b>People by coverage</b>"]
    rows += [swatch(COVERAGE_COLOURS[c], COVERAGE_LABELS[c]) for c in COVERAGE_CLASSES]
    rows.append(swatch("#fff", "GP practice isolated from SPC", "border:2px solid #b2182b"))
    rows.append(swatch("#fff", "GP practice", "border:1px solid #222"))
    rows += [
        f"<div>{_spc_svg(t, 12)} SPC: {_esc(t)}</div>"
        for t in sorted(set(results.specialist_services.get("service_type", pd.Series(dtype=str))))
    ]
    rows.append("<b>Remoteness</b>")
    rows += [
        swatch(c, k, "border-radius:0")
        for k, c in _ordered_colours(results.remoteness_classes).items()
    ]
    for key, title in (("need", "Need per cell (per yr)"), ("pop", "People per cell")):
        breaks = layers.density_breaks.get(key)
        if breaks:
            edges = ["0", *[f"{b:.2g}" if key == "need" else _num(b) for b in breaks]]
            labels = [f"{a}–{b}" for a, b in itertools.pairwise(edges)]
            labels.append(f"> {edges[-1]}")
            rows.append(f"<b>{_esc(title)}</b>")
            rows += [
                swatch(c, lab, "border-radius:0")
                for c, lab in zip(DENSITY_RAMP, labels, strict=True)
            ]
    if layers.has_surface:
        rows.append("<b>Travel time to nearest SPC</b>")
        edges = [*TIME_BANDS_MIN[1:], None]
        rows += [
            swatch(c, f"{lo}–{hi} min" if hi is not None else f"> {lo} min", "border-radius:0")
            for c, lo, hi in zip(TIME_COLOURS, TIME_BANDS_MIN, edges, strict=True)
        ]
    rows += [f"<div class='gm-note'>{_esc(n)}</div>" for n in layers.notes]
    return "".join(rows)


def _title_and_legend(fmap: folium.Map, results: Results, layers: _Layers) -> None:
    date = results.provenance.get("osm_data_date") or "unknown"
    th = results.thresholds_min
    block = f"""
<style>
.gm-box{{position:absolute;z-index:1000;background:#fff;padding:8px 10px;border-radius:4px;
box-shadow:0 1px 4px rgba(0,0,0,.4);font:12px/1.4 sans-serif;max-width:300px}}
#gm-legend{{max-height:55vh;overflow-y:auto}}
.gm-sw{{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:50%;
vertical-align:middle}}
.gm-note{{color:#555;font-style:italic}}
.gm-spc{{background:none;border:none}}
</style>
<div class="gm-box" id="gm-title" style="top:10px;left:60px">
<b>{_esc(results.region_name)}</b><br>Palliative care access: GP within {th.get("gp", 0):g} min,
specialist palliative care within {th.get("spc", 0):g} min by road.<br>
Road data: OpenStreetMap, {_esc(date)} &copy; OpenStreetMap contributors (ODbL)</div>
<div class="gm-box" id="gm-legend" style="bottom:30px;left:10px">{_legend_rows(results, layers)}
</div>"""
    fmap.get_root().html.add_child(Element(block))


def build_map(
    results: Results, *, offline: bool = False, tiles: str | None = "OpenStreetMap"
) -> folium.Map:
    """Build the region's interactive map.

    Parameters
    ----------
    results
        A region run's results (any projected CRS; reprojected to EPSG:4326 here).
    offline
        Embed Leaflet, use no tiles and inline controls so the page needs no network.
    tiles
        Basemap tiles (ignored offline); None for none.

    Returns
    -------
    folium.Map
        Render it with :func:`render_html` (or :func:`write_map`).
    """
    if results.origins.empty:
        raise GeoError("cannot map a region with no populated places (Results.origins is empty)")
    fmap = folium.Map(tiles=None if offline else tiles, control_scale=True, prefer_canvas=True)
    fmap.options["maxZoom"] = MAX_ZOOM  # MarkerCluster needs it even with no tile layer
    trim_default_assets(fmap)
    layers = _Layers(fmap, results, offline=offline)
    minx, miny, maxx, maxy = layers.origins.total_bounds
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    for step in (
        layers.remoteness,
        layers.density,
        layers.travel_time,
        layers.subareas,
        layers.coverage,
        layers.catchments,
        layers.hotspots,
        layers.links,
        layers.facilities,
    ):
        step()
    folium.LayerControl(collapsed=False).add_to(fmap)
    _title_and_legend(fmap, results, layers)
    from folium.plugins import Fullscreen, MeasureControl

    Fullscreen(position="topleft").add_to(fmap)
    MeasureControl(position="topleft", primary_length_unit="kilometers").add_to(fmap)
    return fmap


def render_html(fmap: folium.Map) -> str:
    """The map page as self-contained HTML: every script and stylesheet is inlined."""
    return inline_assets(fmap.get_root().render())


def write_map(
    results: Results,
    path: str | Path,
    *,
    offline: bool = False,
    tiles: str | None = "OpenStreetMap",
) -> Path:
    """Build the map and write it atomically to ``path``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    page = render_html(build_map(results, offline=offline, tiles=tiles))
    write_atomic_text(path, page)
    log.info("map written to %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


__all__ = [
    "COVERAGE_COLOURS",
    "COVERAGE_LABELS",
    "MAX_VECTOR_ORIGINS",
    "build_map",
    "render_html",
    "write_map",
]
