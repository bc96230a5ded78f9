"""The interactive map (Folium/Leaflet): coverage, remoteness, sub-areas, GPs and SPC services.

Every overlay is a toggleable entry in the layer control; every piece of text from the inputs
(names, area names, the region name) is HTML-escaped before it reaches the page. With
``offline=True`` the page embeds Leaflet itself (from the ``django-js-lib-leaflet`` wheel, a
plain repackaging of Leaflet 1.9) and uses no tile layer, so it opens with no network at all.
"""

from __future__ import annotations

import html
import logging
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element

from geo.access import COVERAGE_CLASSES
from geo.errors import GeoError
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
REMOTENESS_PALETTE = (
    "#f7fcf5",
    "#c7e9c0",
    "#74c476",
    "#31a354",
    "#006d2c",
    "#00441b",
    "#002a11",
    "#001a0a",
    "#cccccc",
)
SPC_COLOURS = {"inpatient": "#54278f", "community": "#807dba", "hospital": "#3f007d"}
COORD_DECIMALS = 5
SIMPLIFY_M = 50.0


def _esc(value: object) -> str:
    """HTML-escape input text; also ` and $ because folium embeds popup HTML in JS templates."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def _minutes(value: float) -> str:
    return "unreachable" if value is None or not np.isfinite(value) else f"{value:.0f} min"


def _to_wgs84(frame: gpd.GeoDataFrame, simplify_m: float = 0.0) -> gpd.GeoDataFrame:
    if simplify_m:
        frame = frame.copy()
        frame["geometry"] = frame.geometry.simplify(simplify_m, preserve_topology=True)
    return frame.to_crs(4326)


def _geojson(frame: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """Compact GeoJSON (rounded coordinates, only the listed properties)."""
    import shapely

    geoms = shapely.set_precision(frame.geometry.to_numpy(), 10**-COORD_DECIMALS)
    features = []
    for geom, (_, row) in zip(geoms, frame[columns].iterrows(), strict=True):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(geom),
                "properties": {c: row[c] for c in columns},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def build_map(
    results: Results, *, offline: bool = False, tiles: str | None = "OpenStreetMap"
) -> folium.Map:
    """Build the region's interactive map.

    Parameters
    ----------
    results
        A region run's results.
    offline
        Embed Leaflet and use no tiles so the page needs no network.
    tiles
        Basemap tiles (ignored offline); None for none.

    Returns
    -------
    folium.Map
    """
    origins = _to_wgs84(results.origins)
    bounds = origins.total_bounds
    fmap = folium.Map(
        tiles=None if offline else tiles, control_scale=True, prefer_canvas=True, zoom_control=True
    )
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    notes: list[str] = []
    _remoteness_layer(fmap, results, notes)
    _subarea_layer(fmap, results, notes)
    _coverage_layer(fmap, origins, results)
    _links_layer(fmap, results, notes)
    _catchment_layer(fmap, results, notes)
    _hotspot_layer(fmap, results, notes)
    _facility_layers(fmap, results)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _title_and_legend(fmap, results, notes)
    if not offline:
        from folium.plugins import Fullscreen, MeasureControl

        Fullscreen().add_to(fmap)
        MeasureControl(primary_length_unit="kilometers").add_to(fmap)
    return fmap


def _remoteness_layer(fmap, results: Results, notes: list[str]) -> None:
    order = list(results.remoteness_classes)
    colours = {
        c: REMOTENESS_PALETTE[min(i, len(REMOTENESS_PALETTE) - 1)] for i, c in enumerate(order)
    }
    group = folium.FeatureGroup(name="Remoteness", show=False)
    if results.remoteness_areas is not None and len(results.remoteness_areas):
        areas = _to_wgs84(results.remoteness_areas, SIMPLIFY_M * 4)
        areas = areas.assign(label=areas["remoteness_class"].map(_esc))
        folium.GeoJson(
            _geojson(areas, ["remoteness_class", "label"]),
            style_function=lambda f: {
                "fillColor": colours.get(f["properties"]["remoteness_class"], "#999"),
                "color": "#555",
                "weight": 0.5,
                "fillOpacity": 0.45,
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], aliases=["Remoteness"]),
        ).add_to(group)
    else:
        notes.append("Remoteness comes from an area lookup (no polygons): see origin popups.")
    group.add_to(fmap)


def _subarea_layer(fmap, results: Results, notes: list[str]) -> None:
    group = folium.FeatureGroup(name="Sub-areas: need without SPC access", show=True)
    if results.subareas is None or results.subareas.empty:
        notes.append("No sub-areas configured.")
        group.add_to(fmap)
        return
    origins = results.origins
    need = origins["need_cancer"] + origins["need_non_cancer"]
    no_spc = origins["coverage_class"].isin(["gp_only", "neither"])
    by_area = (
        pd.DataFrame(
            {
                "area_id": origins["area_id"],
                "need": need,
                "need_no_spc": need.where(no_spc, 0.0),
                "pop": origins["pop_count"],
            }
        )
        .groupby("area_id")
        .sum()
    )
    areas = (
        _to_wgs84(results.subareas, SIMPLIFY_M)
        .merge(by_area, left_on="area_id", right_index=True, how="left")
        .fillna({"need": 0.0, "need_no_spc": 0.0, "pop": 0.0})
    )
    areas["share"] = np.where(areas["need"] > 0, areas["need_no_spc"] / areas["need"], 0.0)
    areas["label"] = [
        f"<b>{_esc(n)}</b><br>People: {p:,.0f}<br>Palliative need/yr: {nd:.1f}<br>"
        f"Need without SPC within {results.thresholds_min['spc']:.0f} min: {s:.0%}"
        for n, p, nd, s in zip(
            areas["area_name"], areas["pop"], areas["need"], areas["share"], strict=True
        )
    ]
    folium.GeoJson(
        _geojson(areas, ["share", "label"]),
        style_function=lambda f: {
            "fillColor": _ramp(f["properties"]["share"]),
            "color": "#333",
            "weight": 1,
            "fillOpacity": 0.35,
        },
        popup=folium.GeoJsonPopup(fields=["label"], labels=False),
    ).add_to(group)
    group.add_to(fmap)


def _ramp(share: float) -> str:
    stops = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")
    return stops[min(int(share * len(stops)), len(stops) - 1)]


def _coverage_layer(fmap, origins: gpd.GeoDataFrame, results: Results) -> None:
    group = folium.FeatureGroup(name="People by coverage class", show=True)
    pts = origins.assign(
        c=origins["coverage_class"].astype(str),
        p=origins["pop_count"].round(0).astype(int),
        g=origins["gp_travel_time_min"].round(0),
        s=origins["spc_travel_time_min"].round(0),
        r=origins["remoteness_class"].map(_esc),
    )
    pts["g"] = pts["g"].where(pts["g"].notna(), None)
    pts["s"] = pts["s"].where(pts["s"].notna(), None)
    data = _geojson(pts, ["c", "p", "g", "s", "r"])
    folium.GeoJson(
        data,
        marker=folium.CircleMarker(radius=3, weight=0, fill=True, fill_opacity=0.8),
        style_function=lambda f: {"fillColor": COVERAGE_COLOURS.get(f["properties"]["c"], "#999")},
        tooltip=folium.GeoJsonTooltip(
            fields=["p", "g", "s", "r", "c"],
            aliases=["People", "GP (min)", "SPC (min)", "Remoteness", "Coverage"],
        ),
    ).add_to(group)
    group.add_to(fmap)


def _facility_layers(fmap, results: Results) -> None:
    gps = _to_wgs84(results.gp_practices)
    group = folium.FeatureGroup(name="GP practices", show=True)
    for _, row in gps.iterrows():
        isolated = bool(row.get("isolated", False))
        popup = (
            f"<b>{_esc(row['name'])}</b><br>GP practice"
            f"{' &mdash; <b>isolated from SPC</b>' if isolated else ''}<br>"
            f"Nearest SPC: {_minutes(row.get('spc_travel_time_min'))}<br>"
            f"People nearest: {row.get('pop_served', 0):,.0f}<br>"
            f"Need/yr: cancer {row.get('need_cancer_served', 0):.1f}, non-cancer "
            f"{row.get('need_non_cancer_served', 0):.1f}"
        )
        folium.CircleMarker(
            [row.geometry.y, row.geometry.x],
            radius=7,
            color="#b2182b" if isolated else "#222",
            weight=3 if isolated else 1.5,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1,
            popup=folium.Popup(popup, max_width=320),
            tooltip=_esc(row["name"]),
        ).add_to(group)
    group.add_to(fmap)
    spcs = _to_wgs84(results.specialist_services)
    group = folium.FeatureGroup(name="Specialist palliative care services", show=True)
    for _, row in spcs.iterrows():
        popup = (
            f"<b>{_esc(row['name'])}</b><br>SPC: {_esc(row['service_type'])}<br>"
            f"Capacity: {_esc(row.get('capacity', ''))}<br>Accepts non-cancer: "
            f"{'yes' if bool(row.get('accepts_non_cancer', True)) else 'no (cancer only)'}"
        )
        folium.Marker(
            [row.geometry.y, row.geometry.x],
            icon=_diamond(row["service_type"]),
            popup=folium.Popup(popup, max_width=320),
            tooltip=_esc(row["name"]),
        ).add_to(group)
    group.add_to(fmap)


def _diamond(service_type: str) -> folium.DivIcon:
    """An inline-SVG diamond (core Leaflet DivIcon: no icon fonts or plugins to fetch)."""
    colour = SPC_COLOURS.get(service_type, "#54278f")
    svg = (
        f'<svg width="22" height="22" viewBox="0 0 22 22"><path d="M11 1 L21 11 L11 21 L1 11 Z"'
        f' fill="{colour}" stroke="#fff" stroke-width="2"/></svg>'
    )
    return folium.DivIcon(html=svg, icon_size=(22, 22), icon_anchor=(11, 11), class_name="gm-spc")


def _links_layer(fmap, results: Results, notes: list[str]) -> None:
    group = folium.FeatureGroup(name="Isolated GP practices: link to nearest SPC", show=True)
    gps = results.gp_practices
    isolated = gps[gps.get("isolated", pd.Series(False, index=gps.index)).astype(bool)]
    spcs = results.specialist_services.set_index("facility_id")
    drawn = 0
    for _, row in _to_wgs84(isolated).iterrows():
        target = row.get("nearest_spc_id")
        if target is None or target not in spcs.index:
            continue
        spc = gpd.GeoSeries([spcs.loc[target, "geometry"]], crs=results.crs).to_crs(4326)[0]
        folium.PolyLine(
            [[row.geometry.y, row.geometry.x], [spc.y, spc.x]],
            color="#b2182b",
            weight=2,
            dash_array="6 6",
            tooltip=f"{_esc(row['name'])}: {_minutes(row['spc_travel_time_min'])} to SPC",
        ).add_to(group)
        drawn += 1
    if not drawn:
        notes.append("No isolated GP practices.")
    group.add_to(fmap)


def _catchment_layer(fmap, results: Results, notes: list[str]) -> None:
    group = folium.FeatureGroup(name="SPC catchments (travel-time bands)", show=False)
    catch = results.catchments
    if catch is not None and "facility_id" in catch:
        # Per-facility isochrones stay in layers.gpkg; the map shows nearest-SPC bands.
        catch = catch[catch["facility_id"].isna() & (catch["kind"] == "spc")]
    if catch is None or catch.empty:
        notes.append("No catchments computed in this run.")
    else:
        catch = _to_wgs84(catch, SIMPLIFY_M).sort_values("threshold_min", ascending=False)
        catch = catch.assign(
            label=[
                f"{_esc(k)} within {t:g} min"
                for k, t in zip(catch["kind"], catch["threshold_min"], strict=True)
            ]
        )
        folium.GeoJson(
            _geojson(catch, ["threshold_min", "label"]),
            style_function=lambda f: {"color": "#3f007d", "weight": 1, "fillOpacity": 0.08},
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(group)
    group.add_to(fmap)


def _hotspot_layer(fmap, results: Results, notes: list[str]) -> None:
    group = folium.FeatureGroup(name="Hotspots of uncovered need", show=False)
    spots = results.hotspots
    if spots is None or spots.empty:
        notes.append("No hotspots of uncovered need found.")
    else:
        spots = _to_wgs84(spots).assign(
            label=lambda f: [
                f"Hotspot {_esc(h)}: {p:,.0f} people, need/yr {c + n:.1f}"
                for h, p, c, n in zip(
                    f["hotspot_id"],
                    f["pop_count"],
                    f["need_cancer"],
                    f["need_non_cancer"],
                    strict=True,
                )
            ]
        )
        folium.GeoJson(
            _geojson(spots, ["label"]),
            style_function=lambda f: {"color": "#d73027", "weight": 2, "fillOpacity": 0.2},
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(group)
    group.add_to(fmap)


def _title_and_legend(fmap, results: Results, notes: list[str]) -> None:
    date = results.provenance.get("osm_data_date") or "unknown"
    th = results.thresholds_min
    rows = "".join(
        f'<div><span style="background:{COVERAGE_COLOURS[c]}" class="gm-sw"></span>'
        f"{_esc(COVERAGE_LABELS[c])}</div>"
        for c in COVERAGE_CLASSES
    )
    extra = "".join(f"<div class='gm-note'>{_esc(n)}</div>" for n in notes)
    block = f"""
<style>
.gm-box{{position:absolute;z-index:1000;background:#fff;padding:8px 10px;border-radius:4px;
box-shadow:0 1px 4px rgba(0,0,0,.4);font:12px/1.4 sans-serif;max-width:300px}}
.gm-sw{{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:50%}}
.gm-note{{color:#555;font-style:italic}}
</style>
<div class="gm-box" id="gm-title" style="top:10px;left:60px">
<b>{_esc(results.region_name)}</b><br>Palliative care access: GP within {th["gp"]:g} min,
specialist palliative care within {th["spc"]:g} min by road.<br>
Road data: OpenStreetMap, {_esc(date)} &copy; OpenStreetMap contributors (ODbL)</div>
<div class="gm-box" id="gm-legend" style="bottom:30px;left:10px">
<b>People by coverage</b>{rows}
<div><span class="gm-sw" style="background:#fff;border:2px solid #b2182b"></span>
GP practice isolated from SPC</div>
<div><span class="gm-sw" style="background:#54278f;border-radius:0"></span>SPC service</div>
{extra}</div>"""
    fmap.get_root().html.add_child(Element(block))


_JQUERY_SHIM = """window.$ = window.$ || function (markup) {
  const t = document.createElement("template"); t.innerHTML = String(markup).trim();
  return [t.content.firstChild];
};"""


def _offline_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS from the installed ``django-js-lib-leaflet`` wheel."""
    try:
        base = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
        return (base / "leaflet.js").read_text("utf-8"), (base / "leaflet.css").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise GeoError(
            "offline maps need the 'django-js-lib-leaflet' package (pip install "
            "gapmap installs it); reinstall the package"
        ) from exc


def render_html(fmap: folium.Map, *, offline: bool) -> str:
    """The map page; offline, every CDN reference is replaced by inline Leaflet."""
    if offline:
        fmap.default_js = []
        fmap.default_css = []
        js, css = _offline_assets()
        root = fmap.get_root()
        root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
        root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js", index=0)
        # folium builds popup content with jQuery's $(html)[0]; this is the whole of it.
        root.header.add_child(Element(f"<script>{_JQUERY_SHIM}</script>"), name="jq_shim")
    page = fmap.get_root().render()
    if offline and ("https://" in page or "http://" in page):
        page = _strip_remote_references(page)
    return page


def _strip_remote_references(page: str) -> str:
    """Drop any remaining remote <script>/<link> tags (attribution links stay as text)."""
    import re

    page = re.sub(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>', "", page)
    page = re.sub(r'<link[^>]+href="https?://[^"]*"[^>]*/?>', "", page)
    return page


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
    page = render_html(build_map(results, offline=offline, tiles=tiles), offline=offline)
    write_atomic_text(path, page)
    log.info("map written to %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


__all__ = ["build_map", "render_html", "write_map"]
