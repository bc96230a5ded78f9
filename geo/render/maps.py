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

import logging
from collections.abc import Callable
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import MarkerCluster

from geo.analysis.coverage import COVERAGE_CLASSES
from geo.errors import GeoError
from geo.render.files import write_atomic_text
from geo.render.map_rasters import class_raster, density_raster, surface_raster
from geo.render.map_style import (
    COORD_DECIMALS,
    MAX_VECTOR_ORIGINS,
    MAX_ZOOM,
    NOTE_NO_HOTSPOTS,
    NOTE_NO_ISOLATED,
    NOTE_NO_SUBAREAS,
    SIMPLIFY_M,
    add_title_and_legend,
    esc,
    gp_popup,
    minutes_text,
    num_text,
    share_colour,
    spc_icon,
    spc_popup,
    subarea_popup,
)
from geo.render.offline_assets import inline_assets, trim_default_assets
from geo.render.palette import (
    CATCHMENT_COLOURS,
    COVERAGE_COLOURS,
    COVERAGE_LABELS,
    ordered_colours,
)
from geo.render.suppression import protected_subareas
from geo.results import Results

log = logging.getLogger(__name__)


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


def _image_layer(group: folium.FeatureGroup, uri: str, latlon: list[list[float]]) -> None:
    folium.raster_layers.ImageOverlay(
        image=uri, bounds=latlon, opacity=0.85, pixelated=True, interactive=False
    ).add_to(group)


# --- Layers -------------------------------------------------------------------------------------


class MapLayers:
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

    def points(self, group, frame: gpd.GeoDataFrame, colour_key: str, colours, fields, aliases):
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
        colours = ordered_colours(list(results.remoteness_classes))
        group = folium.FeatureGroup(name="Remoteness", show=False)
        areas = results.remoteness_areas
        if areas is not None and len(areas):
            areas = _to_wgs84(areas, SIMPLIFY_M * 4)
            areas = areas.assign(label=areas["remoteness_class"].map(esc))
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
            pts = self.origins.assign(k=cls, r=cls.map(esc))
            escaped = {esc(k): v for k, v in colours.items()}
            self.points(group, pts.assign(k=pts["r"]), "k", escaped, ["r"], ["Remoteness"])
            return
        names = list(colours)
        idx = cls.map({c: i for i, c in enumerate(names)}).fillna(len(names)).astype(int)
        uri, latlon = class_raster(
            self.xy_merc,
            self.bounds_merc,
            idx.to_numpy(),
            self.origins["pop_count"].to_numpy(float),
            [*colours.values(), "#999999"],
        )
        _image_layer(group, uri, latlon)

    def coverage(self, name: str = "People by coverage class", *, show: bool = True) -> None:
        group = folium.FeatureGroup(name=name, show=show)
        origins = self.origins
        if self.vector:
            pts = origins.assign(
                c=origins["coverage_class"].astype(str),
                p=origins["pop_count"].round(0).astype(int),
                g=origins["gp_travel_time_min"].map(minutes_text),
                s=origins["spc_travel_time_min"].map(minutes_text),
                r=origins["remoteness_class"].map(esc),
            )
            self.points(
                group,
                pts,
                "c",
                COVERAGE_COLOURS,
                ["p", "g", "s", "r", "c"],
                ["People", "GP", "SPC", "Remoteness", "Coverage"],
            )
        else:
            idx = origins["coverage_class"].map({c: i for i, c in enumerate(COVERAGE_CLASSES)})
            uri, latlon = class_raster(
                self.xy_merc,
                self.bounds_merc,
                idx.fillna(len(COVERAGE_CLASSES) - 1).astype(int).to_numpy(),
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
            uri, latlon, breaks = density_raster(self.xy_merc, self.bounds_merc, values)
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
        below = float(results.provenance.get("suppress_below", 5))
        areas["label"] = [
            subarea_popup(row, spc_min, below)
            for row in areas.drop(columns="geometry").to_dict("records")
        ]
        areas["share"] = areas["share_no_spc"]
        folium.GeoJson(
            _geojson(areas, ["share", "label"]),
            style_function=lambda f: {
                "fillColor": share_colour(f["properties"]["share"]),
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
            isolated = row.get("link_status") == "isolated"
            folium.CircleMarker(
                [row["geometry"].y, row["geometry"].x],
                radius=7,
                color="#b2182b" if isolated else "#222222",
                weight=3 if isolated else 1.5,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=1,
                popup=folium.Popup(gp_popup(row), max_width=320),
                tooltip=esc(row["name"]),
            ).add_to(target)
        group.add_to(self.fmap)
        group = folium.FeatureGroup(name="Specialist palliative care services", show=True)
        for row in _to_wgs84(self.results.specialist_services).to_dict("records"):
            folium.Marker(
                [row["geometry"].y, row["geometry"].x],
                icon=spc_icon(str(row.get("service_type", ""))),
                popup=folium.Popup(spc_popup(row), max_width=320),
                tooltip=esc(row["name"]),
            ).add_to(group)
        group.add_to(self.fmap)

    def links(self) -> None:
        results = self.results
        group = folium.FeatureGroup(name="Isolated GP practices: link to nearest SPC", show=True)
        gps = results.gp_practices
        isolated = gps[gps.get("link_status", pd.Series("", index=gps.index)) == "isolated"]
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
                tooltip=f"{esc(row['name'])}: {minutes_text(row.get('spc_travel_time_min'))} to "
                f"{esc(spcs.loc[target, 'name'])}",
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
            uri, latlon = surface_raster(surface)
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
                    f"Hotspot {esc(r['hotspot_id'])}: {num_text(r['pop_count'])} people; need/yr "
                    f"beyond specialist reach {num_text(r['need_beyond_spc'], 1)}"
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


def _subarea_summary(results: Results) -> pd.DataFrame:
    """Per sub-area: people, need and need shares, with small numbers withheld."""
    below = float(results.provenance.get("suppress_below", 5))
    summary = protected_subareas(results.tables, below)
    return summary[summary.index.isin(set(results.subareas["area_id"]))].reset_index()


def build_map(
    results: Results,
    *,
    offline: bool = False,
    tiles: str | None = "OpenStreetMap",
    extra_layers: Callable[[folium.Map, MapLayers], None] | None = None,
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
    extra_layers
        Adds more overlays (e.g. a scenario's before/after layers) before the layer control.

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
    layers = MapLayers(fmap, results, offline=offline)
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
    if extra_layers is not None:
        extra_layers(fmap, layers)
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_title_and_legend(
        fmap,
        results,
        density_breaks=layers.density_breaks,
        has_surface=layers.has_surface,
        notes=layers.notes,
    )
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
