"""A small, realistic :class:`~geo.results.Results` for map and report tests.

The region is a 120 km x 80 km rectangle in GDA2020 / MGA zone 55 (EPSG:7855) in eastern
Victoria: a town in the west, remoteness increasing eastwards, two sub-areas, three GP practices
and three specialist palliative care (SPC) services. Travel times are straight-line distance at a
fixed road speed (a test stand-in for the routed times the pipeline computes); coverage classes
and every table come from the real ``geo.access`` and ``geo.gaps`` functions, so the tables have
exactly the shape the pipeline writes. Facility, sub-area and region names carry hostile text
(``<script>``, quotes, ``&``, backticks, non-Latin script) to test escaping.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from shapely.geometry import LineString, Point, box

from geo.analysis import gaps
from geo.analysis.coverage import CoverageRule, classify_origins, gp_link_status
from geo.analysis.findings import compute_findings
from geo.results import Results

CRS_CODE = 7855
X0_M, Y0_M = 420_000.0, 5_800_000.0  # south-west corner (near Traralgon, Victoria)
WIDTH_M, HEIGHT_M = 120_000.0, 80_000.0
SPEED_KPH = 60.0
DETOUR_FACTOR = 1.3  # road distance / straight-line distance
REMOTENESS_CLASSES = [
    "Major Cities of Australia",
    "Inner Regional Australia",
    "Outer Regional Australia",
    "Remote Australia",
    "Very Remote Australia",
]
HOSTILE_SCRIPT = "<script>alert(1)</script>"
REGION_NAME = f'Gippsland {HOSTILE_SCRIPT} & "Friends" — ギップスランド'
GP_NAMES = [
    f"Tindarra Bush Practice {HOSTILE_SCRIPT}",
    'O\'Brien & Partners "Family" Clinic',
    "Клиника Северная 北区诊所",
]
SPC_NAMES = [
    f"Hospice {HOSTILE_SCRIPT} Inpatient Unit",
    "Sale & District Community Palliative Care",
    'Latrobe "Regional" Hospital Palliative Team',
]
SPC_TYPES = ["inpatient", "community", "hospital"]
AREA_NAMES = [f"West Shire {HOSTILE_SCRIPT}", 'East Shire — 東 & "Bush"']
THRESHOLDS_MIN = {"gp": 30.0, "spc": 60.0}
BANDS_MIN = [15, 30, 60, 120]
CANCER_RATE = 0.0025  # annual palliative need per person (cancer), flat for the test region
NON_CANCER_RATE = 0.0045


def _travel_time_min(origins: np.ndarray, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes to the nearest site and its index, straight-line x detour at SPEED_KPH."""
    dist_m = np.hypot(
        origins[:, None, 0] - sites[None, :, 0], origins[:, None, 1] - sites[None, :, 1]
    )
    nearest = dist_m.argmin(axis=1)
    minutes = dist_m[np.arange(len(origins)), nearest] * DETOUR_FACTOR / (SPEED_KPH * 1000 / 60)
    return minutes, nearest


def _remoteness_class(x_m: np.ndarray) -> np.ndarray:
    """Classes in 24 km strips west to east."""
    strip = np.clip(((x_m - X0_M) / (WIDTH_M / 5)).astype(int), 0, 4)
    return np.array(REMOTENESS_CLASSES, dtype=object)[strip]


def _facilities() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    gp_xy = np.array(
        [
            [X0_M + 10_000, Y0_M + 40_000],
            [X0_M + 45_000, Y0_M + 30_000],
            [X0_M + 105_000, Y0_M + 60_000],
        ]
    )
    spc_xy = np.array(
        [
            [X0_M + 8_000, Y0_M + 38_000],
            [X0_M + 30_000, Y0_M + 50_000],
            [X0_M + 20_000, Y0_M + 20_000],
        ]
    )
    spcs = gpd.GeoDataFrame(
        {
            "facility_id": ["spc-1", "spc-2", "spc-3"],
            "name": SPC_NAMES,
            "kind": "spc",
            "service_type": SPC_TYPES,
            "capacity": [12.0, 4.5, 2.0],
            "accepts_non_cancer": [True, True, False],
        },
        geometry=[Point(xy) for xy in spc_xy],
        crs=CRS_CODE,
    )
    gps = gpd.GeoDataFrame(
        {
            "facility_id": ["gp-1", "gp-2", "gp-3"],
            "name": GP_NAMES,
            "kind": "gp",
            "service_type": "gp",
            "capacity": [6.0, 3.2, 1.0],
            "accepts_non_cancer": True,
        },
        geometry=[Point(xy) for xy in gp_xy],
        crs=CRS_CODE,
    )
    minutes, nearest = _travel_time_min(gp_xy, spc_xy)
    gps["spc_travel_time_min"] = minutes
    gps["spc_non_cancer_travel_time_min"] = minutes
    gps["nearest_spc_id"] = spcs["facility_id"].to_numpy()[nearest]
    gps["snap_distance_m"] = 25.0
    gps["reachable"] = True
    gps["link_status"] = gp_link_status(gps, isolated_gp_min=THRESHOLDS_MIN["spc"])
    gps["isolated"] = gps["link_status"] == "isolated"
    for frame in (gps, spcs):
        frame["snap_distance_m"] = 25.0
        frame["reachable"] = True
    return gps, spcs


def _origins(n_origins: int, rng: np.random.Generator, gps, spcs) -> gpd.GeoDataFrame:
    # Two thirds clustered near the western town, the rest scattered eastwards.
    n_town = (2 * n_origins) // 3
    town = rng.normal([X0_M + 12_000, Y0_M + 38_000], 6_000, size=(n_town, 2))
    rural = rng.uniform([X0_M, Y0_M], [X0_M + WIDTH_M, Y0_M + HEIGHT_M], (n_origins - n_town, 2))
    xy = np.clip(
        np.vstack([town, rural]), [X0_M + 1, Y0_M + 1], [X0_M + WIDTH_M - 1, Y0_M + HEIGHT_M - 1]
    )
    pop = np.where(
        np.arange(n_origins) < n_town,
        rng.integers(50, 2_000, n_origins),
        rng.integers(1, 120, n_origins),
    ).astype(float)
    gp_min, gp_idx = _travel_time_min(xy, np.array([(p.x, p.y) for p in gps.geometry]))
    spc_xy = np.array([(p.x, p.y) for p in spcs.geometry])
    spc_min, _ = _travel_time_min(xy, spc_xy)
    spc_nc_min, _ = _travel_time_min(xy, spc_xy[spcs["accepts_non_cancer"].to_numpy(bool)])
    snap_m = rng.exponential(300.0, n_origins)
    snap_m[-2:] = 6_000.0  # two places far from any road: unreachable
    reachable = snap_m <= 5_000.0
    gp_min[~reachable] = np.nan
    spc_min[~reachable] = np.nan
    spc_nc_min[~reachable] = np.nan
    origins = gpd.GeoDataFrame(
        {
            "origin_id": np.arange(1, n_origins + 1),
            "pop_count": pop,
            "pop_65plus": np.round(pop * rng.uniform(0.12, 0.3, n_origins)),
            "area_id": np.where(xy[:, 0] < X0_M + 50_000, "A1", "A2").astype(object),
            "remoteness_class": _remoteness_class(xy[:, 0]),
            "need_cancer": pop * CANCER_RATE,
            "need_non_cancer": pop * NON_CANCER_RATE,
            "gp_travel_time_min": gp_min,
            "spc_travel_time_min": spc_min,
            "spc_non_cancer_travel_time_min": spc_nc_min,
            "snap_distance_m": snap_m,
            "reachable": reachable,
            "nearest_gp": gp_idx,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS_CODE,
    )
    origins.loc[origins.index[n_town], "area_id"] = None  # one place outside every sub-area
    rule = CoverageRule(gp_min=THRESHOLDS_MIN["gp"], spc_min=THRESHOLDS_MIN["spc"])
    classes = classify_origins(origins, origins["remoteness_class"], rule)
    for col in classes.columns:
        origins[col] = classes[col].to_numpy()
    return origins


def _serve(gps: gpd.GeoDataFrame, origins: gpd.GeoDataFrame) -> None:
    """People and need served by each GP practice (origins assigned to their nearest GP)."""
    served = origins.groupby("nearest_gp")[["pop_count", "need_cancer", "need_non_cancer"]].sum()
    served = served.reindex(range(len(gps)), fill_value=0.0)
    gps["pop_served"] = served["pop_count"].to_numpy()
    origins["nearest_gp_id"] = gps["facility_id"].to_numpy()[origins["nearest_gp"].to_numpy()]
    gps["need_cancer_served"] = served["need_cancer"].to_numpy()
    gps["need_non_cancer_served"] = served["need_non_cancer"].to_numpy()


def _areas() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    split = X0_M + 50_000
    subareas = gpd.GeoDataFrame(
        {"area_id": ["A1", "A2"], "area_name": AREA_NAMES},
        geometry=[
            box(X0_M, Y0_M, split, Y0_M + HEIGHT_M),
            box(split, Y0_M, X0_M + WIDTH_M, Y0_M + HEIGHT_M),
        ],
        crs=CRS_CODE,
    )
    step = WIDTH_M / 5
    remoteness = gpd.GeoDataFrame(
        {"remoteness_class": REMOTENESS_CLASSES},
        geometry=[
            box(X0_M + i * step, Y0_M, X0_M + (i + 1) * step, Y0_M + HEIGHT_M) for i in range(5)
        ],
        crs=CRS_CODE,
    )
    return subareas, remoteness


def _catchments(spcs: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Nearest-SPC bands (facility_id None) approximated as discs of the reachable distance."""
    rows = []
    for minutes in (30.0, 60.0):
        radius_m = minutes * SPEED_KPH * 1000 / 60 / DETOUR_FACTOR
        disc = spcs.geometry.buffer(radius_m).union_all()
        rows.append(
            {"kind": "spc", "facility_id": None, "threshold_min": minutes, "geometry": disc}
        )
    return gpd.GeoDataFrame(rows, crs=CRS_CODE)


def _tables(origins, gps, spcs, subareas, suppress_below: float) -> dict[str, pd.DataFrame]:
    return {
        "coverage_totals": gaps.coverage_totals(origins),
        "coverage_by_remoteness": gaps.coverage_by_remoteness(
            origins, class_order=REMOTENESS_CLASSES
        ),
        "coverage_by_subarea": gaps.coverage_by_subarea(
            origins, subareas, suppress_below=suppress_below
        ),
        "gp_specialist_links": gaps.gp_specialist_links(gps, spcs),
        "travel_time_bands": gaps.travel_time_bands(
            origins,
            service_columns={"gp": "gp_travel_time_min", "spc": "spc_travel_time_min"},
            bands_min=BANDS_MIN,
        ),
        "spc_bands_by_remoteness": gaps.travel_time_bands_by_remoteness(
            origins,
            column="spc_travel_time_min",
            bands_min=BANDS_MIN,
            class_order=REMOTENESS_CLASSES,
        ),
    }


def _provenance(suppress_below: float) -> dict:
    return {
        "version": "0.0.test",
        "osm_data_date": "2024-09-01",
        "suppress_below": suppress_below,
        "thresholds": {
            "gp_min": THRESHOLDS_MIN["gp"],
            "spc_min": THRESHOLDS_MIN["spc"],
            "bands_min": BANDS_MIN,
        },
        "speed_settings": {
            "speed_profile": f"test-straight-line {HOSTILE_SCRIPT}",
            "unsealed_factor": 0.7,
            "max_snap_distance_m": 5000.0,
        },
        "need": {
            "model": "rates",
            "source": "synthetic <b>rates</b> & test",
            "stats": {"method": "flat per-capita rates"},
        },
        "remoteness": {"scheme": "ABS RA 2021", "version": "2021"},
        "inputs": {
            "population": {"path": "data/pop & <x>.tif", "sha256": "ab" * 32},
            "roads": {"path": "data/roads.osm.pbf", "sha256": "cd" * 32},
        },
        "timings_s": {"population": 0.52, "network": 3.1, "travel": 1.25},
    }


def make_results(
    n_origins: int = 60,
    seed: int = 0,
    *,
    with_hotspots: bool = True,
    with_catchments: bool = True,
    with_remoteness_areas: bool = True,
    suppress_below: float = 5.0,
) -> Results:
    """Build a small, internally consistent :class:`Results` for tests.

    Parameters
    ----------
    n_origins
        Number of populated places (at least 10).
    seed
        Random seed for positions and counts.
    with_hotspots, with_catchments, with_remoteness_areas
        Include those optional layers (False: the field is None).
    suppress_below
        Small-count threshold written to provenance and used for ``coverage_by_subarea``.

    Returns
    -------
    geo.results.Results
    """
    if n_origins < 10:
        raise ValueError("make_results needs at least 10 origins")
    rng = np.random.default_rng(seed)
    gps, spcs = _facilities()
    origins = _origins(n_origins, rng, gps, spcs)
    _serve(gps, origins)
    origins = origins.drop(columns="nearest_gp")
    subareas, remoteness = _areas()
    hotspots = None
    if with_hotspots:
        hotspots = gaps.hotspots(origins, eps_m=15_000.0, min_need=0.05)
    thresholds = {
        "gp_min": THRESHOLDS_MIN["gp"],
        "spc_min": THRESHOLDS_MIN["spc"],
        "isolated_gp_min": THRESHOLDS_MIN["spc"],
        "by_remoteness": {},
    }
    findings = compute_findings(
        origins,
        gp_practices=gps,
        specialist_services=spcs,
        class_order=REMOTENESS_CLASSES,
        thresholds=thresholds,
    )
    return Results(
        region_name=REGION_NAME,
        crs=CRS.from_epsg(CRS_CODE),
        origins=origins,
        gp_practices=gps,
        specialist_services=spcs,
        tables=_tables(origins, gps, spcs, subareas, suppress_below),
        thresholds_min=dict(THRESHOLDS_MIN),
        remoteness_classes=list(REMOTENESS_CLASSES),
        subareas=subareas,
        remoteness_areas=remoteness if with_remoteness_areas else None,
        catchments=_catchments(spcs) if with_catchments else None,
        hotspots=hotspots,
        findings=findings,
        provenance=_provenance(suppress_below),
    )


def link_line(results: Results, facility_id: str) -> LineString:
    """The straight GP -> nearest SPC segment for a practice (analysis CRS), for tests."""
    gp = results.gp_practices.set_index("facility_id").loc[facility_id]
    spc = results.specialist_services.set_index("facility_id").loc[gp["nearest_spc_id"]]
    return LineString([gp.geometry, spc.geometry])
