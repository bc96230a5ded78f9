"""The scenario map: the scenario's map plus before/after and change layers.

Adds to :func:`geo.maps.build_map` of the scenario run: the baseline's people by coverage class
(hidden at first), places gaining and losing specialist coverage, places with ``virtual``
(telehealth) coverage, and the facilities the scenario added, moved or removed.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np

from geo.analysis.scenario import covered
from geo.config import ScenarioConfig
from geo.render.map_layers import geojson, image_layer
from geo.render.map_legend import swatch
from geo.render.map_rasters import class_raster
from geo.render.map_style import MAX_VECTOR_ORIGINS, esc
from geo.render.maps import MapLayers, build_map, render_html
from geo.render.outdir import write_atomic_text
from geo.render.palette import CHANGE_COLOURS, FACILITY_CHANGE_COLOURS, FEW_PLACES
from geo.results import Results


def _changed_points(
    layers: MapLayers, mask: np.ndarray, name: str, colour: str, note: str, *, what: str
) -> None:
    """Places whose coverage changed, as rings around their coverage dots (above them, and
    wider than them: a ring the size of the dot it marks would be hidden by it)."""
    group, block = layers.group(
        name, show=True, title=name, rows=[swatch(colour, what, "ring")], front=True
    )
    origins = layers.origins[mask]
    ring_px = 9 if len(layers.origins) < FEW_PLACES else 6  # dots: 6 px, or 3 px when many
    if origins.empty:
        block.notes.append(note)
    elif len(origins) <= MAX_VECTOR_ORIGINS:
        pts = origins.assign(p=origins["pop_count"].round(0).astype(int))
        folium.GeoJson(
            geojson(pts, ["p"]),
            marker=folium.CircleMarker(radius=ring_px, weight=2, fill=False, color=colour),
            style_function=lambda f: {"color": colour, "weight": 2, "fill": False},
            tooltip=folium.GeoJsonTooltip(fields=["p"], aliases=["People"]),
        ).add_to(group)
    else:
        uri, latlon = class_raster(
            layers.xy_merc[mask],
            layers.bounds_merc,
            np.zeros(int(mask.sum()), int),
            origins["pop_count"].to_numpy(float),
            [colour],
        )
        image_layer(group, uri, latlon, opacity=0.9)
    group.add_to(layers.fmap)


def _facility_changes(layers: MapLayers, baseline: Results, scenario: Results) -> None:
    name = "Scenario: services added, moved or removed"
    legend = [swatch(c, f"{k} facility", "ring") for k, c in FACILITY_CHANGE_COLOURS.items()]
    group, block = layers.group(
        name, show=True, title="Facilities the scenario changes", rows=legend, front=True
    )
    before = baseline.specialist_services.set_index("facility_id")
    after = scenario.specialist_services.set_index("facility_id")
    gp_before = set(baseline.gp_practices["facility_id"])
    gp_after = set(scenario.gp_practices["facility_id"])
    rows = []
    for fid in after.index:
        if fid not in before.index:
            rows.append((after.loc[fid], "added"))
        elif not after.loc[fid, "geometry"].equals(before.loc[fid, "geometry"]):
            rows.append((after.loc[fid], "moved"))
    rows += [(before.loc[f], "removed") for f in before.index if f not in after.index]
    gps_b = baseline.gp_practices.set_index("facility_id")
    gps_a = scenario.gp_practices.set_index("facility_id")
    rows += [(gps_a.loc[f], "added") for f in gp_after - gp_before]
    rows += [(gps_b.loc[f], "removed") for f in gp_before - gp_after]
    if not rows:
        block.notes.append("The scenario adds, moves or removes no facility.")
    frame = (
        gpd.GeoDataFrame(
            [{"name": r["name"], "change": c, "geometry": r.geometry} for r, c in rows],
            geometry="geometry",
            crs=scenario.crs,
        ).to_crs(4326)
        if rows
        else None
    )
    for row in [] if frame is None else frame.to_dict("records"):
        folium.CircleMarker(
            [row["geometry"].y, row["geometry"].x],
            radius=13,
            color=FACILITY_CHANGE_COLOURS[row["change"]],
            weight=4,
            fill=False,
            tooltip=f"{esc(row['change'])}: {esc(row['name'])}",
        ).add_to(group)
    group.add_to(layers.fmap)


def build_scenario_map(
    baseline: Results, scenario: Results, config: ScenarioConfig, *, offline: bool = False
) -> folium.Map:
    """The scenario's map with before/after layers and the changes highlighted."""
    before = covered(baseline.origins, "spc")
    after = covered(scenario.origins, "spc")
    virtual = covered(scenario.origins, "virtual")

    def extra(fmap: folium.Map, layers: MapLayers) -> None:
        MapLayers(
            fmap,
            baseline,
            offline=offline,
            blocks=layers.blocks,
            notes=layers.notes,
            front=layers.front,
        ).coverage("Before the scenario: people by coverage class", show=False)
        _changed_points(
            layers,
            after & ~before,
            "Gained specialist coverage",
            CHANGE_COLOURS["gained"],
            "No place gains specialist coverage.",
            what="Place newly within reach of an SPC service",
        )
        _changed_points(
            layers,
            before & ~after,
            "Lost specialist coverage",
            CHANGE_COLOURS["lost"],
            "No place loses specialist coverage.",
            what="Place no longer within reach of an SPC service",
        )
        _changed_points(
            layers,
            virtual,
            "Virtual (telehealth) coverage",
            CHANGE_COLOURS["virtual"],
            "No telehealth (virtual) coverage in this scenario.",
            what="GP linked to an SPC team by telehealth, no SPC by road",
        )
        _facility_changes(layers, baseline, scenario)
        layers.notes.append(f"Scenario: {config.name}")

    return build_map(scenario, offline=offline, extra_layers=extra)


def write_scenario_map(
    baseline: Results, scenario: Results, config: ScenarioConfig, path, *, offline: bool = False
):
    """Build and write the scenario map atomically."""
    page = render_html(build_scenario_map(baseline, scenario, config, offline=offline))
    write_atomic_text(path, page)
    return path


__all__ = ["build_scenario_map", "write_scenario_map"]
