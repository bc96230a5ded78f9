"""Generate the embedded demo region deterministically: ``python -m geo.demo --out data/demo``.

The demo is synthetic but written in the formats planners hold (OSM XML, CSV, GeoTIFF,
GeoPackage, GeoJSON), so ``gapmap demo`` exercises the same loaders as real data. The geography
is laid out in :mod:`geo.demo.geography`; this module derives the layers from it: population
(a gridded census-style raster with a 65+ band), remoteness (five ABS-style classes), sub-areas,
deaths by underlying cause per sub-area, GP practices and specialist palliative care services.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.features import shapes
from rasterio.transform import from_origin
from scipy.spatial import cKDTree
from shapely.geometry import box, shape

from geo.demo.geography import (
    ANALYSIS_EPSG,
    MGA_ORIGIN_M,
    REGION_KM,
    SETTLEMENTS,
    RoadBuilder,
    build_roads,
    osm_xml,
    place,
    to_lonlat,
)

log = logging.getLogger(__name__)

DEFAULT_SEED = 20261125
CELL_DEG = 0.01
AGE_65_SHARE = {
    "city": 0.17,
    "town": 0.22,
    "village": 0.26,
    "farm": 0.27,
    "homestead": 0.21,
    "community": 0.09,
}
SPREAD_KM = {"city": 2.6, "town": 0.7, "village": 0.35, "community": 0.3}
RA_NAMES = (
    "Major Cities of Australia",
    "Inner Regional Australia",
    "Outer Regional Australia",
    "Remote Australia",
    "Very Remote Australia",
)
FILES = (
    "roads.osm",
    "gp_practices.csv",
    "spc_services.csv",
    "population.tif",
    "remoteness.gpkg",
    "subareas.gpkg",
    "deaths.csv",
    "region.geojson",
)


def generate_demo(out_dir: str | Path, *, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write every demo file into ``out_dir`` (same seed → same content).

    Files are generated in a temporary folder and moved in only when all succeeded.

    Parameters
    ----------
    out_dir
        Target folder (created if missing; existing demo files are replaced).
    seed
        Seed of the random generator.

    Returns
    -------
    dict
        File name → path written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    roads, homesteads = build_roads(rng)
    region_km = box(0, 0, *REGION_KM)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".demo-") as tmp:
        tmp_dir = Path(tmp)
        (tmp_dir / "roads.osm").write_text(osm_xml(roads), encoding="utf-8")
        _write_region(tmp_dir / "region.geojson", region_km)
        grid = population_grid(roads, homesteads, region_km, rng)
        _write_population(tmp_dir / "population.tif", grid)
        _write_vector(tmp_dir / "remoteness.gpkg", "remoteness", remoteness_polygons(region_km))
        subareas = subarea_polygons(region_km)
        _write_vector(tmp_dir / "subareas.gpkg", "subareas", subareas)
        _write_csv(tmp_dir / "deaths.csv", deaths_by_cause(grid, subareas, rng))
        _write_csv(tmp_dir / "gp_practices.csv", gp_practices(rng))
        _write_csv(tmp_dir / "spc_services.csv", spc_services())
        written = {}
        for name in FILES:
            target = out_dir / name
            shutil.move(str(tmp_dir / name), target)
            written[name] = target
    log.info("demo region written to %s", out_dir)
    return written


# -- projections -----------------------------------------------------------------------------
def _km_to_lonlat_geom(geom):
    return shapely.transform(geom, lambda c: np.column_stack(to_lonlat(c[:, 0], c[:, 1])))


def _km_to_mga_geom(geom):
    return shapely.affinity.affine_transform(geom, [1000, 0, 0, 1000, *MGA_ORIGIN_M])


def _densified_lonlat(geom, step_km: float = 2.0):
    return _km_to_lonlat_geom(shapely.segmentize(geom, step_km))


# -- population --------------------------------------------------------------------------------
def _grid_frame(region_km) -> tuple[np.ndarray, np.ndarray, rasterio.Affine, np.ndarray]:
    """Raster cell centres (lon/lat and local km), transform and inside-region mask."""
    outline = _densified_lonlat(region_km)
    minx, miny, maxx, maxy = outline.bounds
    west = np.floor(minx / CELL_DEG) * CELL_DEG
    north = np.ceil(maxy / CELL_DEG) * CELL_DEG
    width = int(np.ceil((maxx - west) / CELL_DEG))
    height = int(np.ceil((north - miny) / CELL_DEG))
    transform = from_origin(round(west, 6), round(north, 6), CELL_DEG, CELL_DEG)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    lon = transform.c + (cols + 0.5) * CELL_DEG
    lat = transform.f - (rows + 0.5) * CELL_DEG
    inside = shapely.contains_xy(outline, lon, lat)
    from pyproj import Transformer

    to_mga = Transformer.from_crs(4326, ANALYSIS_EPSG, always_xy=True)
    mx, my = to_mga.transform(lon, lat)
    km = np.stack([(mx - MGA_ORIGIN_M[0]) / 1000, (my - MGA_ORIGIN_M[1]) / 1000])
    return km, transform, inside, np.stack([lon, lat])


def population_grid(
    roads: RoadBuilder,
    homesteads: Sequence[tuple[float, float]],
    region_km,
    rng: np.random.Generator,
) -> dict:
    """Usual residents and residents 65+ per 0.01° cell, with the cells' local-km centres."""
    km, transform, inside, _ = _grid_frame(region_km)
    total = np.zeros(inside.shape)
    older = np.zeros(inside.shape)
    cx, cy = km[0], km[1]
    for s in SETTLEMENTS:
        sigma = max(SPREAD_KM[s.kind], 0.45)
        weight = np.exp(-((cx - s.x_km) ** 2 + (cy - s.y_km) ** 2) / (2 * sigma**2)) * inside
        weight[weight < 1e-4 * weight.max()] = 0.0
        people = s.pop * weight / weight.sum()
        total += people
        older += people * AGE_65_SHARE[s.kind]
    farms = _farm_population(roads, cx, cy, inside, rng)
    total += farms
    older += farms * AGE_65_SHARE["farm"]
    for hx, hy in homesteads:
        d = np.hypot(cx - hx, cy - hy)
        r, c = np.unravel_index(np.argmin(np.where(inside, d, np.inf)), d.shape)
        people = float(rng.integers(3, 13))
        total[r, c] += people
        older[r, c] += people * AGE_65_SHARE["homestead"]
    total = np.round(total, 2)
    older = np.minimum(np.round(older, 2), total)
    return {"total": total, "older": older, "inside": inside, "transform": transform, "km": km}


def _farm_population(roads: RoadBuilder, cx, cy, inside, rng: np.random.Generator) -> np.ndarray:
    """Scattered farm households in cells near roads east of the outback (none in towns)."""
    xy = np.asarray(roads.xy)
    near_road, _ = cKDTree(xy).query(np.column_stack([cx.ravel(), cy.ravel()]))
    near_road = near_road.reshape(cx.shape)
    town_dist = np.min([np.hypot(cx - s.x_km, cy - s.y_km) for s in SETTLEMENTS], axis=0)
    eligible = inside & (near_road < 4.0) & (cx > 60) & (town_dist > 3.0)
    occupied = rng.random(cx.shape) < 0.45
    people = rng.gamma(2.0, 2.2, cx.shape)
    return np.where(eligible & occupied, people, 0.0)


# -- remoteness and sub-areas ------------------------------------------------------------------
def remoteness_class_km(x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
    """ABS-style remoteness code 0–4 from straight-line distance to the city and towns.

    A stand-in for ARIA+ (road distance to service centres by size): the city core is Major
    Cities, a commuting belt and the large towns are Inner Regional, and remoteness grows
    westward with distance from any town.
    """

    def dist(name: str) -> np.ndarray:
        s = place(name)
        return np.hypot(x_km - s.x_km, y_km - s.y_km)

    d_city = dist("Marrang")
    d_large = np.minimum(dist("Bellbrook"), dist("Coolabah Springs"))
    d_town = np.min([dist(s.name) for s in SETTLEMENTS if s.kind == "town"], axis=0)
    code = np.full(np.shape(x_km), 4, np.int64)
    code[(x_km >= 40) | (dist("Tindarra") <= 45)] = 3
    code[(d_city <= 120) | (d_town <= 30)] = 2
    code[(d_city <= 45) | (d_large <= 12)] = 1
    code[d_city <= 7] = 0
    return code


def remoteness_polygons(region_km) -> gpd.GeoDataFrame:
    """Five remoteness classes as polygons tiling the region (EPSG:4326)."""
    step = 1.0
    w, h = int(REGION_KM[0] / step), int(REGION_KM[1] / step)
    xs = (np.arange(w) + 0.5) * step
    ys = REGION_KM[1] - (np.arange(h) + 0.5) * step
    gx, gy = np.meshgrid(xs, ys)
    codes = remoteness_class_km(gx, gy).astype(np.int32)
    transform = from_origin(0.0, REGION_KM[1], step, step)
    parts: dict[int, list] = {}
    for geom, value in shapes(codes, transform=transform):
        parts.setdefault(int(value), []).append(shape(geom))
    rows = []
    for code in sorted(parts):
        poly = shapely.union_all(parts[code]).intersection(region_km)
        rows.append(
            {"ra_code": code, "ra_name": RA_NAMES[code], "geometry": _densified_lonlat(poly, 5.0)}
        )
    return gpd.GeoDataFrame(rows, crs=4326)


SUBAREA_SEEDS = (
    ("SA2-001", "Marrang Central", 214, 80),
    ("SA2-002", "Marrang East", 226, 76),
    ("SA2-003", "Bellbrook", 165, 110),
    ("SA2-004", "Coolabah Springs", 172, 40),
    ("SA2-005", "Warrigal", 120, 75),
    ("SA2-006", "Yarrabin", 236, 126),
    ("SA2-007", "Tindarra", 80, 98),
    ("SA2-008", "Kooringal", 70, 28),
    ("SA2-009", "Ngurrara (ngurra) — 北区", 20, 60),
    ("SA2-010", "Lignum Plains", 35, 128),
    ("SA2-011", "Mallee Creek", 132, 132),
    ("SA2-012", "Saltbush & Gidgee", 150, 15),
)


def subarea_polygons(region_km) -> gpd.GeoDataFrame:
    """Sub-areas tiling the region: Voronoi cells around named seeds (EPSG:4326)."""
    seeds = shapely.MultiPoint([(x, y) for *_, x, y in SUBAREA_SEEDS])
    cells = shapely.voronoi_polygons(seeds, extend_to=region_km.buffer(50))
    rows = []
    for area_id, name, x, y in SUBAREA_SEEDS:
        cell = next(c for c in cells.geoms if c.contains(shapely.Point(x, y)))
        rows.append(
            {
                "area_id": area_id,
                "area_name": name,
                "geometry": _densified_lonlat(cell.intersection(region_km), 5.0),
            }
        )
    return gpd.GeoDataFrame(rows, crs=4326)


# -- deaths ------------------------------------------------------------------------------------
# Share of deaths by underlying cause (ICD-10), shaped on Australian cause-of-death patterns:
# about 30% cancer and about three quarters in the Etkind 2017 need groups (REFERENCE.md).
CAUSE_SHARES = {
    "C34": 0.070,
    "C18": 0.040,
    "C50": 0.025,
    "C61": 0.030,
    "C25": 0.030,
    "C80": 0.025,
    "C71": 0.010,
    "C92": 0.015,
    "C43": 0.015,
    "C16": 0.010,
    "C22": 0.015,
    "C64": 0.010,
    "I25": 0.100,
    "I50": 0.025,
    "I21": 0.030,
    "I48": 0.010,
    "I63": 0.040,
    "I64": 0.020,
    "F03": 0.050,
    "G30": 0.040,
    "R54": 0.005,
    "J44": 0.050,
    "J45": 0.003,
    "J96": 0.010,
    "N18": 0.015,
    "I12": 0.005,
    "K70": 0.008,
    "K74": 0.007,
    "G20": 0.012,
    "G12.2": 0.005,
    "G35": 0.002,
    "B20": 0.001,
    "E11": 0.030,
    "J18": 0.030,
    "A41": 0.020,
    "V89": 0.015,
    "X59": 0.010,
    "W19": 0.025,
    "X70": 0.020,
    "I71": 0.010,
    "E86": 0.004,
    "K92": 0.009,
    "R99": 0.024,
    "N39": 0.011,
    "J69": 0.015,
    "D64": 0.020,
    "I26": 0.010,
    "K56": 0.010,
    "G40": 0.010,
    "E87": 0.010,
    "X42": 0.010,
    "I35": 0.010,
    "C20": 0.010,
    "C56": 0.010,
}
RATE_UNDER_65 = 0.0022  # deaths per person-year (ABS Deaths Australia: ~2 per 1,000 under 65)
RATE_65_PLUS = 0.037  # deaths per person-year aged 65+ (ABS Deaths Australia, broad band)


def deaths_by_cause(
    grid: dict, subareas: gpd.GeoDataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Annual average deaths 2019–2023 by cause per sub-area, from its population and ages."""
    km = grid["km"]
    lon, lat = to_lonlat(km[0].ravel(), km[1].ravel())
    cells = gpd.GeoDataFrame(
        {"total": grid["total"].ravel(), "older": grid["older"].ravel()},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    cells = cells[cells["total"] > 0]
    joined = gpd.sjoin(cells, subareas[["area_id", "geometry"]], predicate="within")
    pops = joined.groupby("area_id")[["total", "older"]].sum()
    shares = np.array(list(CAUSE_SHARES.values()))
    shares = shares / shares.sum()
    rows = []
    for area_id in subareas["area_id"]:
        total, older = pops.loc[area_id] if area_id in pops.index else (0.0, 0.0)
        expected_per_year = (total - older) * RATE_UNDER_65 + older * RATE_65_PLUS
        counts_5y = rng.poisson(5 * expected_per_year * shares)
        for cause, count in zip(CAUSE_SHARES, counts_5y, strict=True):
            if count > 0:
                rows.append(
                    {
                        "area_id": area_id,
                        "cause": cause,
                        "deaths": f"{count / 5:.1f}",
                        "period": "2019-2023",
                    }
                )
    return pd.DataFrame(rows)


# -- facilities --------------------------------------------------------------------------------
GP_PRACTICES = (
    # id, name, settlement, dx km, dy km, fte, type
    ("GP001", "Marrang Family Practice", "Marrang", 0.3, 0.5, 6.5, "general_practice"),
    ("GP002", "O'Brien & Partners Medical Centre", "Marrang", -1.2, 0.8, 8.0, "general_practice"),
    ("GP003", "Riverside Medical Clinic", "Marrang", 1.6, -1.9, 4.2, "general_practice"),
    ("GP004", "Marrang North Doctors", "Marrang", -0.4, 3.1, 3.0, "general_practice"),
    ("GP005", "Eastgate Health", "Marrang", 2.9, 0.4, 5.1, "general_practice"),
    ("GP006", "Aboriginal Medical Service Marrang", "Marrang", -2.5, -1.0, 3.4, "general_practice"),
    ("GP007", "Bellbrook Medical Centre", "Bellbrook", 0.2, 0.1, 3.6, "general_practice"),
    ("GP008", "Bellbrook Street Surgery", "Bellbrook", -0.5, 0.4, 1.8, "general_practice"),
    ("GP009", "Coolabah Springs Clinic", "Coolabah Springs", 0.1, -0.3, 2.9, "general_practice"),
    ("GP010", "Coolabah Family Doctors", "Coolabah Springs", -0.6, 0.5, 1.4, "general_practice"),
    ("GP011", "Warrigal Medical Practice", "Warrigal", 0.2, 0.2, 1.6, "general_practice"),
    ("GP012", "Yarrabin Health Centre", "Yarrabin", -0.1, 0.3, 1.2, "general_practice"),
    ("GP013", "Tindarra Bush Practice", "Tindarra", 0.3, -0.2, 1.0, "general_practice"),
    ("GP014", "Wirra Medical Rooms", "Wirra", 0.1, 0.1, 0.6, "general_practice"),
    ("GP015", "Mallee Creek Clinic", "Mallee Creek", 0.1, -0.1, 0.4, "general_practice"),
    ("GP016", "Ngurrara Remote Community Clinic", "Ngurrara", 0.1, 0.2, 0.4, "remote_clinic"),
)
SPC_SERVICES = (
    # id, name, type, settlement, dx, dy, capacity, accepts non-cancer
    ("SPC01", "Marrang Palliative Care Unit", "inpatient", "Marrang", 0.9, 0.9, 12, "yes"),
    (
        "SPC02",
        "Marrang Base Hospital Palliative Care Consultancy",
        "hospital",
        "Marrang",
        1.0,
        0.9,
        2.0,
        "yes",
    ),
    (
        "SPC03",
        "Marrang Community Palliative Care Team",
        "community",
        "Marrang",
        -0.6,
        0.2,
        4.5,
        "yes",
    ),
    (
        "SPC04",
        "Bellbrook Community Palliative Care",
        "community",
        "Bellbrook",
        0.4,
        -0.2,
        1.2,
        "yes",
    ),
    (
        "SPC05",
        "Coolabah Cancer Centre Supportive Care",
        "community",
        "Coolabah Springs",
        0.3,
        0.3,
        1.0,
        "no",
    ),
)


def _facility_lonlat(settlement: str, dx: float, dy: float) -> tuple[str, str]:
    s = place(settlement)
    lon, lat = to_lonlat(np.array([s.x_km + dx]), np.array([s.y_km + dy]))
    return f"{lon[0]:.6f}", f"{lat[0]:.6f}"


def gp_practices(rng: np.random.Generator) -> pd.DataFrame:
    """GP practices with FTE (fictional street addresses)."""
    streets = ("Main Street", "Church Street", "Bridge Road", "Railway Parade", "Hospital Road")
    rows = []
    for pid, name, town, dx, dy, fte, kind in GP_PRACTICES:
        lon, lat = _facility_lonlat(town, dx, dy)
        number = int(rng.integers(1, 200))
        rows.append(
            {
                "practice_id": pid,
                "name": name,
                "address": f"{number} {streets[number % len(streets)]}, {town} NSW",
                "longitude": lon,
                "latitude": lat,
                "fte": f"{fte:.1f}",
                "practice_type": kind,
            }
        )
    return pd.DataFrame(rows)


def spc_services() -> pd.DataFrame:
    """Specialist palliative care services (one accepts cancer referrals only)."""
    rows = []
    for sid, name, kind, town, dx, dy, capacity, non_cancer in SPC_SERVICES:
        lon, lat = _facility_lonlat(town, dx, dy)
        rows.append(
            {
                "service_id": sid,
                "name": name,
                "service_type": kind,
                "longitude": lon,
                "latitude": lat,
                "capacity": f"{capacity:g}",
                "accepts_non_cancer": non_cancer,
            }
        )
    return pd.DataFrame(rows)


# -- writers -----------------------------------------------------------------------------------
def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _write_vector(path: Path, layer: str, frame: gpd.GeoDataFrame) -> None:
    frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


def _write_region(path: Path, region_km) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["Demo region (synthetic)"]}, geometry=[_densified_lonlat(region_km)], crs=4326
    )
    frame.to_file(
        path,
        driver="GeoJSON",
        engine="pyogrio",
        layer_options={"COORDINATE_PRECISION": 7, "WRITE_NAME": "NO"},
    )


def _write_population(path: Path, grid: dict) -> None:
    inside = grid["inside"]
    bands = [np.where(inside, grid["total"], -9999.0), np.where(inside, grid["older"], -9999.0)]
    profile = {
        "driver": "GTiff",
        "height": inside.shape[0],
        "width": inside.shape[1],
        "count": 2,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": grid["transform"],
        "nodata": -9999.0,
        "compress": "lzw",
        "tiled": False,
    }
    with rasterio.open(path, "w", **profile) as dst:
        for i, band in enumerate(bands, start=1):
            dst.write(band.astype(np.float32), i)
        dst.set_band_description(1, "pop_total")
        dst.set_band_description(2, "pop_65plus")
        dst.update_tags(
            TIFFTAG_DATETIME="2026:01:01 00:00:00", source="gapmap synthetic demo (geo/demo.py)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate the demo files."""
    parser = argparse.ArgumentParser(prog="python -m geo.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, path in generate_demo(args.out, seed=args.seed).items():
        logging.getLogger("geo.demo").info("%-18s %8.1f kB", name, path.stat().st_size / 1e3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
