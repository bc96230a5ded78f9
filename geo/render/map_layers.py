"""The map's area and place overlays: remoteness, densities, travel time, sub-areas, coverage
per need group, catchment bands and hotspots.

Each overlay is a Folium ``FeatureGroup`` registered with its legend block
(:class:`~geo.render.map_legend.LegendBlock`), so the legend shows exactly the layers that
are on. Origins are drawn as compact GeoJSON circle markers up to :data:`MAX_VECTOR_ORIGINS`;
beyond that they are rasterised into PNG image overlays (:mod:`geo.render.map_rasters`).
"""

from __future__ import annotations

import logging

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.analysis.classes import CLASS_COLUMN, COVERAGE_CLASSES, NEED_COLUMN
from geo.config import ThresholdsConfig
from geo.errors import GeoError
from geo.render.map_legend import (
    LegendBlock,
    coverage_rows,
    density_rows,
    ramp_rows,
    share_rows,
    swatch,
    time_rows,
)
from geo.render.map_rasters import class_raster, density_raster, surface_raster
from geo.render.map_style import (
    COORD_DECIMALS,
    MAX_VECTOR_ORIGINS,
    NOTE_NO_HOTSPOTS,
    NOTE_NO_SUBAREAS,
    SIMPLIFY_M,
    esc,
    minutes_text,
    num_text,
    share_colour,
    subarea_popup,
)
from geo.render.map_view import VIEW_BANDS, VIEW_COVERAGE
from geo.render.palette import (
    COVERAGE_COLOURS,
    COVERAGE_LABELS,
    FEW_PLACES,
    HOTSPOT_COLOUR,
    remoteness_colours,
    time_colours,
)
from geo.render.suppression import protected_subareas
from geo.results import Results

log = logging.getLogger(__name__)

GROUP_TEXT = {None: "all need", "cancer": "cancer need", "non_cancer": "non-cancer need"}
SHARE_COLUMN = {
    None: "gap_share",
    "cancer": "gap_share_cancer",
    "non_cancer": "gap_share_non_cancer",
}
NON_CANCER_TIME = "spc_non_cancer_travel_time_min"
RASTER_PANE = "gm-rasters"  # image overlays: below every vector layer, never clickable


def to_wgs84(frame: gpd.GeoDataFrame, simplify_m: float = 0.0) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326, simplifying in the (projected) analysis CRS first."""
    if frame.crs is None:
        raise GeoError("a map layer has no CRS; the pipeline must set the analysis CRS")
    if simplify_m:
        frame = frame.copy()
        frame["geometry"] = frame.geometry.simplify(simplify_m, preserve_topology=True)
    return frame.to_crs(4326)


def snapped(geoms: np.ndarray, grid: float) -> np.ndarray:
    """Geometries on a grid of ``grid`` degrees, kept valid (GEOS's precision reduction).

    An invalid polygon (a self-touching ring of a huge outline, reprojected) makes GEOS raise
    a topology error: such polygons are repaired first (``make_valid``), and if GEOS still
    cannot snap them their coordinates are rounded one by one (a map draws them the same).
    """
    try:
        return shapely.set_precision(geoms, grid)
    except shapely.errors.GEOSException:
        broken = ~(shapely.is_valid(geoms) | shapely.is_missing(geoms))
        log.info("repairing %d invalid outlines before drawing them", int(broken.sum()))
        repaired = geoms.copy()
        repaired[broken] = shapely.make_valid(geoms[broken])
        try:
            return shapely.set_precision(repaired, grid)
        except shapely.errors.GEOSException:
            return shapely.set_precision(repaired, grid, mode="pointwise")


def geojson(frame: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """Compact GeoJSON: coordinates rounded to ~1 m, only the listed properties (non-finite
    numbers as null), empty geometries left out."""
    geoms = snapped(frame.geometry.to_numpy(), 10**-COORD_DECIMALS)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = geoms[keep]
    values = [_json_values(frame[c].to_numpy()[keep]) for c in columns]
    records = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
    if not columns:
        records = [{} for _ in range(len(geoms))]
    if len(geoms) and (shapely.get_type_id(geoms) == 0).all():  # points: one array pass
        shapes = [
            {"type": "Point", "coordinates": xy} for xy in shapely.get_coordinates(geoms).tolist()
        ]
    else:
        shapes = [shapely.geometry.mapping(g) for g in geoms]
    features = [
        {"type": "Feature", "geometry": shape, "properties": props}
        for shape, props in zip(shapes, records, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _json_values(values: np.ndarray) -> list:
    """Python values of a column for JSON, with NaN and infinities as None."""
    out = values.tolist()
    if values.dtype.kind == "f":
        for i in np.flatnonzero(~np.isfinite(values)):
            out[i] = None
    elif values.dtype.kind == "O":
        out = [None if isinstance(v, float) and not np.isfinite(v) else v for v in out]
    return out


def image_layer(
    group: folium.FeatureGroup, uri: str, latlon: list[list[float]], opacity: float = 0.85
) -> None:
    """A PNG overlay (pixelated, not clickable) on ``group``, in the raster pane below every
    vector layer (a raster turned on later never covers places or facilities)."""
    folium.raster_layers.ImageOverlay(
        image=uri,
        bounds=latlon,
        opacity=opacity,
        pixelated=True,
        interactive=False,
        pane=RASTER_PANE,
    ).add_to(group)


def time_band_edges(results: Results) -> list[float]:
    """The run's travel-time band edges (``thresholds.bands_min``): the edges of the report's
    ``travel_time_bands`` table, so map and report band alike."""
    sources = [
        results.findings.thresholds if results.findings is not None else {},
        results.provenance.get("thresholds") or {},
    ]
    for source in sources:
        if source.get("bands_min"):
            return [float(e) for e in source["bands_min"]]
    table = results.tables.get("travel_time_bands")
    if table is not None and "upper_min" in table:
        edges = sorted(set(table["upper_min"].dropna().astype(float)))
        if edges:
            return edges
    return [float(e) for e in ThresholdsConfig().bands_min]


def cell_text(cell_m: float) -> str:
    """``250 m`` or ``2.5 km``."""
    return f"{cell_m / 1000:g} km" if cell_m >= 1000 else f"{cell_m:g} m"


class MapLayers:
    """Builds the overlays of one map, collecting a legend block per overlay as it goes.

    Parameters
    ----------
    fmap
        The map the overlays are added to.
    results
        The run drawn.
    offline
        Whether the page must make no request (kept for layers that would fetch anything).
    view
        :data:`~geo.render.map_view.VIEW_COVERAGE` or ``VIEW_BANDS``: which layers are on.
    blocks, notes, front
        Share the legend (and drawing order) of another ``MapLayers`` on the same map (e.g. a
        scenario's baseline layer).

    Attributes
    ----------
    front
        JavaScript names of the overlays kept above area layers, bottom first: places and
        lines are brought to the front whenever an overlay is turned on (vectors share one
        canvas, drawn in the order they were added).
    top
        Overlays raised after :attr:`front` (GP practices), so that rings drawn around a
        practice (a scenario's changes) never take its clicks.
    """

    def __init__(
        self,
        fmap: folium.Map,
        results: Results,
        *,
        offline: bool,
        view: str = VIEW_COVERAGE,
        blocks: list[LegendBlock] | None = None,
        notes: list[str] | None = None,
        front: list[str] | None = None,
    ) -> None:
        self.fmap = fmap
        self.results = results
        self.offline = offline
        self.view = view
        self.blocks: list[LegendBlock] = [] if blocks is None else blocks
        self.notes: list[str] = [] if notes is None else notes
        self.front: list[str] = [] if front is None else front
        self.top: list[str] = []
        self.origins = to_wgs84(results.origins)
        merc = results.origins.to_crs(3857)
        self.xy_merc = np.column_stack([merc.geometry.x.to_numpy(), merc.geometry.y.to_numpy()])
        self.bounds_merc = merc.total_bounds
        self.vector = len(self.origins) <= MAX_VECTOR_ORIGINS
        self.edges_min = time_band_edges(results)

    def group(
        self,
        name: str,
        *,
        show: bool,
        title: str,
        rows: list[str] | None = None,
        front: bool | str = False,
    ) -> tuple[folium.FeatureGroup, LegendBlock]:
        """A new overlay and its legend block (add the group to the map when it is built);
        ``front`` keeps it above area layers, ``"top"`` above those too (see :attr:`front`
        and :attr:`top`)."""
        group = folium.FeatureGroup(name=name, show=show)
        block = LegendBlock(group.get_name(), name, title, list(rows or []))
        self.blocks.append(block)
        if front == "top":
            self.top.append(group.get_name())
        elif front:
            self.front.append(group.get_name())
        return group, block

    def points(self, group, frame: gpd.GeoDataFrame, colour_key: str, colours, fields, aliases):
        """Circle markers coloured by ``colour_key`` with a tooltip of ``fields``; few places
        (area centroids) are drawn larger, with a thin outline so pale colours show."""
        few = len(self.origins) < FEW_PLACES
        folium.GeoJson(
            geojson(frame, [colour_key, *[f for f in fields if f != colour_key]]),
            marker=folium.CircleMarker(
                radius=6 if few else 3,
                weight=0.8 if few else 0,
                color="#333333",
                fill=True,
                fill_opacity=0.9,
            ),
            style_function=lambda f: {
                "fillColor": colours.get(f["properties"][colour_key], "#999999")
            },
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
        ).add_to(group)

    def class_image(self, group, classes: pd.Series, colours: dict[str, str]) -> None:
        """Places as an image: each pixel takes the class colour of its most populous place
        (classes not in ``colours`` are grey)."""
        names = list(colours)
        idx = classes.map({c: i for i, c in enumerate(names)}).fillna(len(names)).astype(int)
        uri, latlon = class_raster(
            self.xy_merc,
            self.bounds_merc,
            idx.to_numpy(),
            self.origins["pop_count"].to_numpy(float),
            [*colours.values(), "#999999"],
        )
        image_layer(group, uri, latlon)

    # --- Areas ----------------------------------------------------------------------------------

    def remoteness(self) -> None:
        results = self.results
        areas = results.remoteness_areas
        present = set(self.origins["remoteness_class"].dropna().astype(str))
        if areas is not None and len(areas):
            present |= set(areas["remoteness_class"].dropna().astype(str))
        colours = remoteness_colours(list(results.remoteness_classes), present)
        rows = [swatch(c, k, "square") for k, c in colours.items()]
        group, block = self.group("Remoteness", show=False, title="Remoteness", rows=rows)
        if areas is not None and len(areas):
            areas = to_wgs84(areas, SIMPLIFY_M * 4)
            areas = areas.assign(label=areas["remoteness_class"].map(esc))
            folium.GeoJson(
                geojson(areas, ["remoteness_class", "label"]),
                style_function=lambda f: {
                    "fillColor": colours.get(f["properties"]["remoteness_class"], "#999999"),
                    "color": "#555555",
                    "weight": 0.5,
                    "fillOpacity": 0.55,
                },
                tooltip=folium.GeoJsonTooltip(fields=["label"], aliases=["Remoteness"]),
            ).add_to(group)
        else:
            block.notes.append("Remoteness from an area lookup: places coloured by class.")
            cls = self.origins["remoteness_class"].astype(str)
            if self.vector:
                escaped = {esc(k): v for k, v in colours.items()}
                pts = self.origins.assign(r=cls.map(esc))
                self.points(group, pts, "r", escaped, ["r"], ["Remoteness"])
            else:
                self.class_image(group, cls, colours)
        group.add_to(self.fmap)

    def density(self) -> None:
        origins = self.origins
        need = origins["need_cancer"].to_numpy(float) + origins["need_non_cancer"].to_numpy(float)
        for name, unit, values in (
            (
                "Palliative care need density (cancer + non-cancer)",
                "Need per km² (people a year)",
                need,
            ),
            ("Population density", "People per km²", origins["pop_count"].to_numpy(float)),
        ):
            image = density_raster(
                self.xy_merc,
                self.bounds_merc,
                values,
                centroids=self.results.provenance.get("population_source") == "points",
            )
            group, block = self.group(
                name, show=False, title=unit, rows=density_rows(image.breaks_per_km2)
            )
            block.notes.append(
                f"Summed in {cell_text(image.cell_m)} × {cell_text(image.cell_m)} cells, "
                "classes are fifths of the populated cells."
            )
            image_layer(group, image.uri, image.latlon)
            group.add_to(self.fmap)

    def travel_time(self) -> None:
        group, block = self.group(
            "Travel time to nearest SPC (minutes)",
            show=self.view == VIEW_BANDS and self.results.travel_time_surface is not None,
            title="Road time to the nearest SPC service",
            rows=time_rows(self.edges_min),
        )
        surface = self.results.travel_time_surface
        if surface is None:
            block.notes.append("No travel-time surface computed in this run.")
        else:
            uri, latlon = surface_raster(surface, self.edges_min, self._region_areas())
            image_layer(group, uri, latlon)
            block.notes.append("Bands as in the report; no colour: beyond the road network.")
        group.add_to(self.fmap)

    def _region_areas(self) -> gpd.GeoSeries | None:
        """The region's area polygons (remoteness areas and sub-areas), or None."""
        frames = [
            f.geometry.to_crs(self.results.crs)
            for f in (self.results.remoteness_areas, self.results.subareas)
            if f is not None and len(f)
        ]
        return pd.concat(frames, ignore_index=True) if frames else None

    def subareas(self) -> None:
        """One choropleth per need group: the share of need without an eligible SPC service."""
        results = self.results
        spc_min = results.thresholds_min.get("spc", float("nan"))
        areas = None
        if results.subareas is not None and not results.subareas.empty:
            areas = to_wgs84(results.subareas, SIMPLIFY_M).merge(
                _subarea_summary(results), on="area_id", how="left"
            )
            below = float(results.provenance.get("suppress_below", 5))
            areas["label"] = [
                subarea_popup(row, spc_min, below)
                for row in areas.drop(columns="geometry").to_dict("records")
            ]
        for group_key in (None, "cancer", "non_cancer"):
            self._subarea_layer(areas, group_key, spc_min)

    def _subarea_layer(self, areas, group_key: str | None, spc_min: float) -> None:
        what = GROUP_TEXT[group_key]
        name = (
            "Sub-areas: need without SPC access"
            if group_key is None
            else f"Sub-areas: {what} without SPC access"
        )
        title = f"Share of {what} without an SPC service that would take it ({spc_min:g} min)"
        group, block = self.group(name, show=False, title=title, rows=share_rows())
        if areas is None:
            block.notes.append(NOTE_NO_SUBAREAS)
            group.add_to(self.fmap)
            return
        shown = areas.assign(share=areas[SHARE_COLUMN[group_key]])
        folium.GeoJson(
            geojson(shown, ["share", "label"]),
            style_function=_share_style,
            popup=folium.GeoJsonPopup(fields=["label"], labels=False),
        ).add_to(group)
        group.add_to(self.fmap)

    # --- Places ---------------------------------------------------------------------------------

    def coverage(
        self, name: str = "People by coverage class", *, show: bool | None = None, group="cancer"
    ) -> None:
        """Places by coverage class of one need group: ``cancer`` (whose class, with any SPC
        service, is also the people's) or ``non_cancer`` (services taking non-cancer
        referrals)."""
        if show is None:
            show = self.view == VIEW_COVERAGE and group == "cancer"
        non_cancer = group == "non_cancer"
        title = (
            "Non-cancer need by coverage (SPC services taking non-cancer referrals)"
            if non_cancer
            else "People (and cancer need) by coverage (any SPC service)"
        )
        layer, block = self.group(
            name, show=show, title=title, rows=coverage_rows(non_cancer), front=True
        )
        origins = self.origins
        classes = origins[CLASS_COLUMN[group]].astype(str)
        if self.vector:
            self._coverage_points(layer, classes, group)
        else:
            colours = {c: COVERAGE_COLOURS[c] for c in COVERAGE_CLASSES}
            self.class_image(layer, classes, colours)
            block.notes.append(
                f"{len(origins):,} places: coverage drawn as an image (largest place per pixel)."
            )
        layer.add_to(self.fmap)

    def _coverage_points(self, layer, classes: pd.Series, group: str) -> None:
        origins = self.origins
        spc_column = NON_CANCER_TIME if group == "non_cancer" else "spc_travel_time_min"
        spc_times = origins.get(spc_column, origins["spc_travel_time_min"])
        pts = origins.assign(
            c=classes,
            cl=classes.map(COVERAGE_LABELS).fillna(classes),
            p=origins["pop_count"].round(0).astype(int),
            n=origins[NEED_COLUMN[group]].map(lambda v: num_text(v, 2)),
            g=origins["gp_travel_time_min"].map(minutes_text),
            s=spc_times.map(minutes_text),
            r=origins["remoteness_class"].map(esc),
        )
        need = "Non-cancer need/yr" if group == "non_cancer" else "Cancer need/yr"
        spc = "SPC (non-cancer)" if group == "non_cancer" else "SPC"
        self.points(
            layer,
            pts,
            "c",
            COVERAGE_COLOURS,
            ["p", "n", "g", "s", "r", "cl"],
            ["People", need, "GP", spc, "Remoteness", "Coverage"],
        )

    def catchments(self) -> None:
        surface = self.results.travel_time_surface is not None
        for kind, label in (("gp", "GP"), ("spc", "SPC")):
            catch = _kind_bands(self.results.catchments, kind)
            has = catch is not None and not catch.empty
            show = self.view == VIEW_BANDS and kind == "spc" and not surface and has
            group, block = self.group(
                f"{label} catchments (travel-time bands)",
                show=show,
                title=f"Within reach of the nearest {label} (road time)",
            )
            if not has:
                block.notes.append(f"No {label} catchments computed in this run.")
            else:
                self._bands(group, block, catch, label)
            group.add_to(self.fmap)

    def _bands(self, group, block: LegendBlock, catch: gpd.GeoDataFrame, label: str) -> None:
        catch = to_wgs84(catch, SIMPLIFY_M).sort_values("threshold_min", ascending=False)
        thresholds = sorted(catch["threshold_min"].astype(float).unique())
        palette = time_colours(len(self.edges_min) + 1)
        colours = {
            t: palette[int(np.searchsorted(self.edges_min, t, side="left"))] for t in thresholds
        }
        block.rows += ramp_rows(list(colours.values()), [f"within {t:g} min" for t in thresholds])
        catch = catch.assign(
            t=catch["threshold_min"].astype(float),
            label=[f"{label} within {t:g} min" for t in catch["threshold_min"]],
        )
        folium.GeoJson(
            geojson(catch, ["t", "label"]),
            style_function=lambda f: {
                "color": colours.get(f["properties"]["t"], "#003e4c"),
                "fillColor": colours.get(f["properties"]["t"], "#003e4c"),
                "weight": 1.5,
                "fillOpacity": 0.25,
            },
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        ).add_to(group)

    def hotspots(self) -> None:
        group, block = self.group(
            "Hotspots of uncovered need",
            show=False,
            title="Hotspots",
            rows=[swatch(HOTSPOT_COLOUR, "Cluster of need beyond specialist reach", "outline")],
        )
        spots = self.results.hotspots
        if spots is None or spots.empty:
            block.notes.append(NOTE_NO_HOTSPOTS)
        else:
            spots = to_wgs84(spots, SIMPLIFY_M)
            spots = spots.assign(
                label=[
                    f"Hotspot {esc(r['hotspot_id'])}: {num_text(r['pop_count'])} people; need/yr "
                    f"beyond specialist reach {num_text(r['need_beyond_spc'], 1)}"
                    for r in spots.drop(columns="geometry").to_dict("records")
                ]
            )
            folium.GeoJson(
                geojson(spots, ["label"]),
                style_function=lambda f: {
                    "color": HOTSPOT_COLOUR,
                    "weight": 2.5,
                    "fill": False,
                    "dashArray": "5 4",
                },
                tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            ).add_to(group)
        group.add_to(self.fmap)


def _share_style(feature: dict) -> dict:
    fill = share_colour(feature["properties"]["share"])
    if fill is None:  # withheld (small numbers) or no need: dashed outline, no fill
        return {"color": "#555555", "weight": 1.5, "dashArray": "4 4", "fillOpacity": 0}
    return {"fillColor": fill, "color": "#333333", "weight": 1, "fillOpacity": 0.6}


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


__all__ = ["MapLayers", "geojson", "image_layer", "time_band_edges", "to_wgs84"]
