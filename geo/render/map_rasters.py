"""Image overlays for the map: classes, densities and the travel-time surface as PNG rasters.

Leaflet stretches an ImageOverlay linearly in Web Mercator, so every raster is gridded there;
places beyond the vector limit and every density layer stay a few hundred pixels wide whatever
the region's size.
"""

from __future__ import annotations

import base64
import io

import geopandas as gpd
import numpy as np
import rasterio.transform
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject

from geo.render.palette import DENSITY_RAMP, TIME_BANDS_MIN, TIME_COLOURS

RASTER_MAX_PX = 900
DENSITY_MAX_PX = 220


def mercator_grid(
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


def density_raster(
    xy: np.ndarray, bounds: np.ndarray, values: np.ndarray
) -> tuple[str, list[list[float]], list[float]]:
    """Sum ``values`` per cell and colour by quintile of the non-empty cells."""
    rows, cols, shape, latlon = mercator_grid(xy, bounds, DENSITY_MAX_PX)
    sums = np.zeros(shape)
    np.add.at(sums, (rows, cols), np.nan_to_num(values))
    positive = sums[sums > 0]
    breaks = (
        list(np.quantile(positive, [0.2, 0.4, 0.6, 0.8])) if positive.size else [0.0, 0.0, 0.0, 0.0]
    )
    idx = np.searchsorted(np.asarray(breaks), sums, side="right")
    palette = np.array([hex_rgba(c, 200) for c in DENSITY_RAMP], dtype=np.uint8)
    rgba = palette[np.clip(idx, 0, len(DENSITY_RAMP) - 1)]
    rgba[sums <= 0] = 0
    return png_data_uri(rgba), latlon, breaks


def surface_raster(surface: dict) -> tuple[str, list[list[float]]]:
    """The travel-time raster warped to Web Mercator and coloured by :data:`TIME_BANDS_MIN`.

    GDAL warps the grid (no per-cell reprojection in Python); when the image is smaller than the
    grid, each pixel takes the quickest time it covers (``min`` resampling).
    """
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
    band = np.searchsorted(np.asarray(TIME_BANDS_MIN[1:]), warped, side="right")
    palette = np.array([hex_rgba(c, 170) for c in TIME_COLOURS], dtype=np.uint8)
    rgba = palette[np.clip(band, 0, len(TIME_COLOURS) - 1)]
    rgba[~np.isfinite(warped)] = 0
    west, south, east, north = rasterio.transform.array_bounds(dst_h, dst_w, dst_transform)
    corners = gpd.GeoSeries(gpd.points_from_xy([west, east], [south, north]), crs=3857).to_crs(4326)
    latlon = [[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]]
    return png_data_uri(rgba), latlon
