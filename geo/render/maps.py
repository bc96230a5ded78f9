"""The interactive map (Folium/Leaflet): coverage per need group, remoteness, need, sub-areas,
travel time, GPs and specialist palliative care services.

Every overlay is a toggleable entry in the layer control with its own legend block, shown only
while the layer is on (:mod:`geo.render.map_legend`); the layers are built in
:mod:`geo.render.map_layers` and :mod:`geo.render.map_facilities`. What is on when the map
opens, and the headline above the legend, follow one rule (:mod:`geo.render.map_view`):
travel-time bands when nearly everyone is covered, people by coverage class otherwise. Every
piece of text from the inputs is HTML-escaped before it reaches the page.

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
import numpy as np
from folium.plugins import Fullscreen, MeasureControl

from geo.errors import GeoError
from geo.render.branca_render import render_page
from geo.render.map_facilities import add_facilities, add_links
from geo.render.map_layers import RASTER_PANE, MapLayers, to_wgs84
from geo.render.map_legend import add_panel
from geo.render.map_style import MAX_VECTOR_ORIGINS, MAX_ZOOM
from geo.render.map_view import default_view, title_html
from geo.render.offline_assets import inline_assets, trim_default_assets
from geo.render.outdir import write_atomic_text
from geo.render.palette import COVERAGE_COLOURS, COVERAGE_LABELS
from geo.results import Results

log = logging.getLogger(__name__)


def data_bounds(results: Results) -> list[list[float]]:
    """The data's extent ``[[south, west], [north, east]]`` in degrees: every populated place,
    facility and sub-area."""
    frames = [results.origins, results.gp_practices, results.specialist_services, results.subareas]
    boxes = np.array(
        [to_wgs84(f).total_bounds for f in frames if f is not None and len(f)], dtype=float
    )
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    minx, miny = boxes[:, 0].min(), boxes[:, 1].min()
    maxx, maxy = boxes[:, 2].max(), boxes[:, 3].max()
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


def has_bands(results: Results) -> bool:
    """Whether the run has travel-time bands to specialist care to show (a surface or SPC
    catchment bands)."""
    catch = results.catchments
    spc_bands = catch is not None and not catch.empty and "spc" in set(catch.get("kind", []))
    return results.travel_time_surface is not None or spc_bands


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
    fmap = folium.Map(
        tiles=None if offline else tiles,
        control_scale=False,  # added bottom right by the panel script, clear of the legend
        zoom_control="bottomright",
        prefer_canvas=True,
        font_size="0.75rem",  # Leaflet's own 12 px (folium's default is 1rem)
    )
    fmap.options["maxZoom"] = MAX_ZOOM  # MarkerCluster needs it even with no tile layer
    fmap.options["zoomSnap"] = 0.25  # fit the data closely beside the side panel
    trim_default_assets(fmap)
    folium.map.CustomPane(RASTER_PANE, z_index=350, pointer_events=False).add_to(fmap)
    view = default_view(results.findings, has_bands=has_bands(results))
    layers = MapLayers(fmap, results, offline=offline, view=view)
    bounds = data_bounds(results)
    fmap.fit_bounds(bounds)
    for step in (
        layers.remoteness,
        layers.density,
        layers.travel_time,
        layers.subareas,
        layers.coverage,
        lambda: layers.coverage("Non-cancer need by coverage class", group="non_cancer"),
        layers.catchments,
        layers.hotspots,
        lambda: add_links(layers),
        lambda: add_facilities(layers),
    ):
        step()
    if extra_layers is not None:
        extra_layers(fmap, layers)
    folium.LayerControl(collapsed=False).add_to(fmap)
    Fullscreen(position="bottomright").add_to(fmap)
    MeasureControl(position="bottomright", primary_length_unit="kilometers").add_to(fmap)
    add_panel(
        fmap,
        title_html=title_html(results, view),
        blocks=layers.blocks,
        notes=layers.notes,
        bounds=bounds,
        front=layers.front + layers.top,
    )
    return fmap


def render_html(fmap: folium.Map) -> str:
    """The map page as self-contained HTML: every script and stylesheet is inlined."""
    return inline_assets(render_page(fmap.get_root()))


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
    "MapLayers",
    "build_map",
    "data_bounds",
    "has_bands",
    "render_html",
    "write_map",
]
