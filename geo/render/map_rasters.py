"""Image overlays for the map: classes, densities and the travel-time surface as PNG rasters.

Leaflet stretches an ImageOverlay linearly in Web Mercator, so every raster is gridded there;
places beyond the vector limit and every density layer stay a few hundred pixels wide whatever
the region's size.
"""

from __future__ import annotations

import base64
import io
import math
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import shapely

from geo.render.palette import DENSITY_RAMP, time_colours

RASTER_MAX_PX = 900
DENSITY_MAX_PX = 220


def mercator_grid(
    xy: np.ndarray, bounds: np.ndarray, max_px: int, cell: float | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], list[list[float]]]:
    """Pixel rows/cols of Web-Mercator points on a grid over ``bounds`` (minx, miny, maxx, maxy).

    Leaflet stretches an ImageOverlay linearly in Web Mercator, so the grid is built there.
    The cell side is ``cell`` Web-Mercator metres, or the span over ``max_px``.
    """
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, maxy - miny, 1.0)
    cell = cell or span / max_px
    width = max(int(np.ceil((maxx - minx) / cell)), 1)
    height = max(int(np.ceil((maxy - miny) / cell)), 1)
    cols = np.clip(((xy[:, 0] - minx) / cell).astype(int), 0, width - 1)
    rows = np.clip(((maxy - xy[:, 1]) / cell).astype(int), 0, height - 1)
    corners = gpd.GeoSeries(
        gpd.points_from_xy([minx, minx + width * cell], [maxy - height * cell, maxy]), crs=3857
    ).to_crs(4326)
    latlon = [[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]]
    return rows, cols, (height, width), latlon


def png_data_uri(rgba: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def hex_rgba(colour: str, alpha: int = 220) -> tuple[int, int, int, int]:
    colour = colour.lstrip("#")
    return (int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16), alpha)


def class_raster(
    xy: np.ndarray, bounds: np.ndarray, classes: np.ndarray, weight: np.ndarray, colours: list[str]
) -> tuple[str, list[list[float]]]:
    """Each pixel takes the class (index into ``colours``) of its heaviest origin."""
    rows, cols, shape, latlon = mercator_grid(xy, bounds, RASTER_MAX_PX)
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    palette = np.array([hex_rgba(c) for c in colours], dtype=np.uint8)
    order = np.argsort(weight, kind="stable")  # heaviest written last, so it wins
    rgba[rows[order], cols[order]] = palette[classes[order]]
    return png_data_uri(rgba), latlon


class DensityImage(NamedTuple):
    """A density layer: the PNG, its corners, quintile breaks per km² and the cell side."""

    uri: str
    latlon: list[list[float]]
    breaks_per_km2: list[float]
    cell_m: float


def spacing_m(xy: np.ndarray) -> float:
    """The places' typical spacing: the side of the square each place would have if they
    shared their convex hull evenly (Web-Mercator metres; 0 for fewer than three places)."""
    unique = np.unique(xy, axis=0)
    if len(unique) < 3:
        return 0.0
    hull = shapely.MultiPoint(unique).convex_hull
    return float(np.sqrt(hull.area / len(unique)))


def nice_cell_m(bounds: np.ndarray, max_px: int, min_merc: float = 0.0) -> tuple[float, float]:
    """A round ground cell side (1, 2, 2.5 or 5 × 10^k m) giving at most about ``max_px``
    cells across ``bounds`` (Web Mercator) and no smaller than ``min_merc``, and that side in
    Web-Mercator metres.

    Web-Mercator metres are ground metres / cos(latitude); the centre latitude is used.
    """
    minx, miny, maxx, maxy = bounds
    lat = math.degrees(2 * math.atan(math.exp((miny + maxy) / 2 / 6378137.0)) - math.pi / 2)
    scale = max(math.cos(math.radians(lat)), 1e-6)
    ground = max(max(maxx - minx, maxy - miny, 1.0) / max_px, min_merc) * scale
    power = 10 ** math.floor(math.log10(ground))
    side = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= ground)
    return float(side), float(side / scale)


def density_raster(
    xy: np.ndarray, bounds: np.ndarray, values: np.ndarray, *, centroids: bool = False
) -> DensityImage:
    """Sum ``values`` per cell of a round ground size, divide by the cell area (km²) and colour
    by quintile of the non-empty cells.

    With ``centroids`` (people counted at area centroids, e.g. one point per LSOA) cells are
    never smaller than the places' typical spacing (:func:`spacing_m`), which would otherwise
    pile a whole area's population into one small cell and read as a city-centre density.
    """
    least = spacing_m(xy) if centroids else 0.0
    cell_m, cell_merc = nice_cell_m(bounds, DENSITY_MAX_PX, least)
    rows, cols, shape, latlon = mercator_grid(xy, bounds, DENSITY_MAX_PX, cell_merc)
    sums = np.zeros(shape)
    np.add.at(sums, (rows, cols), np.nan_to_num(values))
    density = sums / (cell_m / 1000.0) ** 2
    positive = density[density > 0]
    breaks = (
        list(np.quantile(positive, [0.2, 0.4, 0.6, 0.8])) if positive.size else [0.0, 0.0, 0.0, 0.0]
    )
    idx = np.searchsorted(np.asarray(breaks), density, side="right")
    palette = np.array([hex_rgba(c, 200) for c in DENSITY_RAMP], dtype=np.uint8)
    rgba = palette[np.clip(idx, 0, len(DENSITY_RAMP) - 1)]
    rgba[density <= 0] = 0
    return DensityImage(png_data_uri(rgba), latlon, [float(b) for b in breaks], cell_m)


def band_index(minutes: np.ndarray, edges_min: list[float]) -> np.ndarray:
    """Each time's band: 0 up to and including the first edge, ..., ``len(edges_min)`` beyond
    the last (``inf`` included), the rule of the report's ``travel_time_bands`` table."""
    return np.searchsorted(np.asarray(edges_min, float), minutes, side="left")


def surface_raster(
    surface: dict, edges_min: list[float], within: gpd.GeoSeries | None = None
) -> tuple[str, list[list[float]]]:
    """The travel-time raster warped to Web Mercator and coloured by band.

    ``edges_min`` are the run's upper band edges (``thresholds.bands_min``, as the report's
    tables): a band includes its upper edge, and times beyond the last edge form the last band.

    GDAL warps the grid (no per-cell reprojection in Python); when the image is smaller than the
    grid, each pixel takes the quickest time it covers (``min`` resampling). With ``within``
    (the region's area polygons), pixels outside every polygon (e.g. the sea around an island
    within the off-road reach of its roads) are left transparent.
    """
    import rasterio.transform  # GDAL's warper: loaded for maps only, not by `gapmap report`
    from affine import Affine
    from rasterio.features import geometry_mask
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    array = np.asarray(surface["array"], np.float32)
    if not np.isfinite(array).any():
        return png_data_uri(np.zeros((1, 1, 4), np.uint8)), [[0.0, 0.0], [0.0, 0.0]]
    height, width = array.shape
    left, bottom, right, top = rasterio.transform.array_bounds(height, width, surface["transform"])
    dst_transform, dst_w, dst_h = calculate_default_transform(
        surface["crs"], "EPSG:3857", width, height, left, bottom, right, top
    )
    scale = max(dst_w, dst_h) / min(RASTER_MAX_PX, max(array.shape))
    if scale > 1:
        dst_w, dst_h = max(int(dst_w / scale), 1), max(int(dst_h / scale), 1)
        dst_transform = dst_transform @ Affine.scale(scale)
    warped = np.full((dst_h, dst_w), np.nan, np.float32)
    reproject(
        array,
        warped,
        src_transform=surface["transform"],
        src_crs=surface["crs"],
        dst_transform=dst_transform,
        dst_crs="EPSG:3857",
        src_nodata=np.nan,
        dst_nodata=np.nan,
        resampling=Resampling.min if scale > 1 else Resampling.nearest,
    )
    band = band_index(warped, edges_min)
    colours = time_colours(len(edges_min) + 1)
    palette = np.array([hex_rgba(c, 170) for c in colours], dtype=np.uint8)
    rgba = palette[np.clip(band, 0, len(colours) - 1)]
    rgba[~np.isfinite(warped)] = 0
    if within is not None and len(within):
        shapes = [g for g in within.to_crs(3857) if g is not None and not g.is_empty]
        outside = geometry_mask(shapes, (dst_h, dst_w), dst_transform, all_touched=True)
        rgba[outside] = 0
    west, south, east, north = rasterio.transform.array_bounds(dst_h, dst_w, dst_transform)
    corners = gpd.GeoSeries(gpd.points_from_xy([west, east], [south, north]), crs=3857).to_crs(4326)
    latlon = [[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]]
    return png_data_uri(rgba), latlon
