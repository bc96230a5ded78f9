"""The map's facility overlays: GP practices, specialist palliative care (SPC) services and the
link lines from isolated practices to their nearest SPC service.

SPC services take one shape per type; a service that takes cancer referrals only is drawn
hollow. Facilities at the same site (within :data:`SAME_SITE_M`, e.g. an outreach clinic or a
new community base at a GP practice) never hide each other: each one's popup also shows the
others at that site, and the SPC icons are set off diagonally from the point so every marker
stays visible and clickable.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import MarkerCluster
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.render.map_layers import MapLayers, to_wgs84
from geo.render.map_legend import gp_rows, spc_rows, swatch
from geo.render.map_style import (
    NOTE_NO_ISOLATED,
    accepts_non_cancer,
    esc,
    gp_popup,
    minutes_text,
    spc_icon,
    spc_popup,
)
from geo.render.palette import ISOLATED_COLOUR

SAME_SITE_M = 150.0
CLUSTER_ABOVE = 200  # GP practices are clustered only in regions with more than this many
ICON_STEP_PX = 14


def same_site(gps: gpd.GeoDataFrame, spcs: gpd.GeoDataFrame) -> list[list[tuple[str, int]]]:
    """Groups of facilities within :data:`SAME_SITE_M` of each other (analysis CRS, metres):
    lists of ``("gp" | "spc", row position)``, GP practices first; singletons left out."""
    keys = [("gp", i) for i in range(len(gps))] + [("spc", i) for i in range(len(spcs))]
    if len(keys) < 2:
        return []
    xy = np.column_stack(
        [
            np.concatenate([gps.geometry.x.to_numpy(), spcs.geometry.x.to_numpy()]),
            np.concatenate([gps.geometry.y.to_numpy(), spcs.geometry.y.to_numpy()]),
        ]
    )
    pairs = cKDTree(xy).query_pairs(SAME_SITE_M, output_type="ndarray")
    if not len(pairs):
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (len(keys),) * 2)
    _, label = connected_components(graph, directed=False)
    members = pd.Series(range(len(keys))).groupby(label).agg(list)
    return [[keys[i] for i in group] for group in members if len(group) > 1]


class FacilityPopups:
    """Each facility's popup HTML, with the others at its site appended."""

    def __init__(self, gps: list[dict], spcs: list[dict], groups) -> None:
        own = {("gp", i): gp_popup(r) for i, r in enumerate(gps)}
        own |= {("spc", i): spc_popup(r) for i, r in enumerate(spcs)}
        self.html = dict(own)
        self.offset: dict[tuple[str, int], int] = {}
        for members in groups:
            for key in members:
                others = "".join(f"<hr>{own[k]}" for k in members if k != key)
                self.html[key] = f"{own[key]}<hr><i>Also at this site:</i>{others}"
            has_gp = any(kind == "gp" for kind, _ in members)
            spc_members = [k for k in members if k[0] == "spc"]
            for j, key in enumerate(spc_members):
                self.offset[key] = j + int(has_gp)


def add_facilities(layers: MapLayers) -> None:
    """GP practices (clustered) and SPC services, each an overlay with its legend block."""
    results = layers.results
    gps_frame, spcs_frame = results.gp_practices, results.specialist_services
    gps = to_wgs84(gps_frame).to_dict("records")
    spcs = to_wgs84(spcs_frame).to_dict("records")
    popups = FacilityPopups(gps, spcs, same_site(gps_frame, spcs_frame))
    group, _ = layers.group(
        "GP practices", show=True, title="GP practices", rows=gp_rows(), front="top"
    )
    target = group
    if len(gps) > CLUSTER_ABOVE:
        # Clustered at small scales; every practice shows on its own from zoom 11.
        target = MarkerCluster(disable_clustering_at_zoom=11, max_cluster_radius=40)
        target.add_to(group)
    for i, row in enumerate(gps):
        isolated = row.get("link_status") == "isolated"
        folium.CircleMarker(
            [row["geometry"].y, row["geometry"].x],
            radius=7,
            color=ISOLATED_COLOUR if isolated else "#222222",
            weight=3 if isolated else 1.5,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1,
            popup=folium.Popup(popups.html[("gp", i)], max_width=320),
            tooltip=esc(row["name"]),
        ).add_to(target)
    group.add_to(layers.fmap)
    types = sorted({str(r.get("service_type", "")) for r in spcs})
    cancer_only = [not accepts_non_cancer(r) for r in spcs]
    hollow = [str(r.get("service_type", "")) for r in spcs if not accepts_non_cancer(r)]
    group, block = layers.group(
        "Specialist palliative care services",
        show=True,
        title="Specialist palliative care (SPC) services",
        rows=spc_rows(types, hollow),
    )
    if popups.offset:
        block.notes.append("Services at the same site as another facility are set off a little.")
    for i, row in enumerate(spcs):
        shift = popups.offset.get(("spc", i), 0) * ICON_STEP_PX
        folium.Marker(
            [row["geometry"].y, row["geometry"].x],
            icon=spc_icon(
                str(row.get("service_type", "")),
                cancer_only=cancer_only[i],
                anchor=(11 - shift, 11 + shift),
            ),
            popup=folium.Popup(popups.html[("spc", i)], max_width=320),
            tooltip=esc(row["name"]),
            z_index_offset=1000,  # above GP clusters (also markers)
        ).add_to(group)
    group.add_to(layers.fmap)


def add_links(layers: MapLayers) -> None:
    """Dashed lines from each isolated GP practice to its nearest SPC service."""
    results = layers.results
    group, block = layers.group(
        "Isolated GP practices: link to nearest SPC",
        show=True,
        title="Isolated GP practices",
        rows=[swatch(ISOLATED_COLOUR, "Road time to the nearest SPC service", "line")],
        front=True,
    )
    gps = results.gp_practices
    isolated = gps[gps.get("link_status", pd.Series("", index=gps.index)) == "isolated"]
    spcs = to_wgs84(results.specialist_services).set_index("facility_id")
    drawn = 0
    for row in to_wgs84(isolated).to_dict("records"):
        target = row.get("nearest_spc_id")
        if target is None or target not in spcs.index:
            continue
        spc = spcs.loc[target, "geometry"]
        folium.PolyLine(
            [[row["geometry"].y, row["geometry"].x], [spc.y, spc.x]],
            color=ISOLATED_COLOUR,
            weight=2,
            dash_array="6 6",
            tooltip=f"{esc(row['name'])}: {minutes_text(row.get('spc_travel_time_min'))} to "
            f"{esc(spcs.loc[target, 'name'])}",
        ).add_to(group)
        drawn += 1
    if not drawn:
        block.notes.append(NOTE_NO_ISOLATED)
    group.add_to(layers.fmap)


__all__ = ["SAME_SITE_M", "add_facilities", "add_links", "same_site"]
