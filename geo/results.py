"""The result of one region run: the unit of exchange between analysis and outputs.

``pipeline.run()`` builds a :class:`Results`; ``maps``, ``report`` and the output writers
only read it. Column contracts are documented on each field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS


@dataclass
class Results:
    """Everything a region run produced, in the analysis CRS.

    Attributes
    ----------
    region_name
        Human-readable region name (from the config; may contain any text, escape it in HTML).
    crs
        Projected analysis CRS of every layer below.
    origins
        Points, one per populated place. Columns: ``origin_id`` (int, unique), ``pop_count``,
        ``pop_65plus`` (may be NaN), ``area_id`` (sub-area id or None), ``remoteness_class``,
        ``need_cancer``, ``need_non_cancer``, ``gp_travel_time_min``, ``spc_travel_time_min``
        (NaN where unreachable), ``coverage_class`` (``both``/``gp_only``/``spc_only``/``neither``),
        ``snap_distance_m``, ``reachable`` (bool: within the snapping limit of a road).
    gp_practices
        Points. Columns: ``facility_id``, ``name``, ``kind`` (``gp``), ``service_type`` (``gp``),
        ``capacity`` (FTE), ``accepts_non_cancer`` (True), ``spc_travel_time_min`` (to the nearest
        SPC service), ``nearest_spc_id``, ``pop_served``, ``need_cancer_served``,
        ``need_non_cancer_served``, ``isolated`` (bool).
    specialist_services
        Points. Columns: ``facility_id``, ``name``, ``kind`` (``spc``), ``service_type``
        (``inpatient``/``community``/``hospital``), ``capacity``, ``accepts_non_cancer`` (bool).
    tables
        Named output tables (``coverage_by_remoteness``, ``coverage_by_subarea``,
        ``gp_specialist_links``, ``travel_time_bands``) as DataFrames, written as CSV.
    thresholds_min
        Coverage thresholds in minutes by service kind, e.g. ``{"gp": 30, "spc": 60}``.
    remoteness_classes
        The ordered class names of the remoteness scheme (least to most remote).
    subareas
        Sub-area polygons (``area_id``, ``area_name``) or None.
    remoteness_areas
        Remoteness polygons (``remoteness_class``) or None when remoteness came from a lookup.
    catchments
        Isochrone polygons (``kind``, ``facility_id`` or None, ``threshold_min``) or None.
    hotspots
        Polygons of uncovered need (``hotspot_id``, ``pop_count``, ``need_cancer``,
        ``need_non_cancer``) or None.
    travel_time_surface
        Optional raster of travel time to the nearest SPC service: a dict with ``array``
        (float minutes, NaN unreachable), ``transform`` (affine, analysis CRS) and ``kind``.
    provenance
        The run.json content: inputs and hashes, data dates, settings, version, timings.
    """

    region_name: str
    crs: CRS
    origins: gpd.GeoDataFrame
    gp_practices: gpd.GeoDataFrame
    specialist_services: gpd.GeoDataFrame
    tables: dict[str, pd.DataFrame]
    thresholds_min: dict[str, float]
    remoteness_classes: list[str]
    subareas: gpd.GeoDataFrame | None = None
    remoteness_areas: gpd.GeoDataFrame | None = None
    catchments: gpd.GeoDataFrame | None = None
    hotspots: gpd.GeoDataFrame | None = None
    travel_time_surface: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
