"""The result objects passed between layers: :class:`Results` of a run, and its :class:`Findings`.

The analysis stage (:func:`geo.analysis.region.analyse`) builds a :class:`Results`; the render
layer (maps, report, packs, files) only reads it. Column contracts are documented on each
field. :class:`Findings` holds every headline figure of a run, computed once from the coverage
columns of the origins (:func:`geo.analysis.findings.compute_findings`): every figure and
sentence the CLI, report, packs and batch summary print is read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS


@dataclass
class Findings:
    """Every headline figure of a run (or of one sub-area), computed once.

    Attributes
    ----------
    scope
        ``region`` or ``subarea``.
    thresholds
        ``gp_min``, ``spc_min``, ``isolated_gp_min`` (defaults) and ``by_remoteness``.
    pop_count, need_cancer, need_non_cancer
        Totals over every origin (need in people a year).
    origins, origins_off_network, pop_off_network
        Number of origins, of origins off the road network, and their people.
    coverage
        Need group (``cancer``, ``non_cancer``) -> coverage class -> ``{"pop_count", "need"}``:
        the people and the need of that group whose class for that group is that class.
    by_remoteness
        Remoteness class (present, least remote first) -> ``pop_count``, ``need_cancer``,
        ``need_non_cancer``, ``need_beyond_spc``, ``need_unknown_spc``.
    remote_classes
        The remote classes present in the area (see :func:`geo.analysis.findings.remote_classes`).
    gp_links
        One entry per GP practice: ``facility_id``, ``name``, ``link_status``,
        ``spc_travel_time_min``, ``pop_served``.
    unknown_kinds
        Time column -> why it is unknown for everyone (e.g. every SPC service off the network).
    excluded_facilities
        Facilities left out of routing that could matter to the area (off the road network
        but within reach of it): ``facility_id``, ``name``, ``kind``, ``snap_distance_m``,
        ``reason``.
    long_snaps
        Facilities attached to the network from farther than the warning distance:
        ``facility_id``, ``name``, ``kind``, ``snap_distance_m``.
    edge
        Edge effects of the road extract (see :func:`geo.inputs.edges.edge_effects`).
    spc_bands
        Need by road time to the nearest specialist service that would accept it (cancer need
        by any service, non-cancer need by services taking non-cancer referrals), one entry
        per band of ``thresholds["bands_min"]`` from the quickest: ``band``, ``upper_min``
        (None for the open band) and ``need``. Need whose time is unknown is in no band.
    """

    scope: str
    thresholds: dict[str, Any]
    pop_count: float
    need_cancer: float
    need_non_cancer: float
    origins: int
    origins_off_network: int
    pop_off_network: float
    coverage: dict[str, dict[str, dict[str, float]]]
    by_remoteness: dict[str, dict[str, float]]
    remote_classes: list[str]
    gp_links: list[dict[str, Any]]
    unknown_kinds: dict[str, str] = field(default_factory=dict)
    excluded_facilities: list[dict[str, Any]] = field(default_factory=list)
    long_snaps: list[dict[str, Any]] = field(default_factory=list)
    edge: dict[str, Any] = field(default_factory=dict)
    spc_bands: list[dict[str, Any]] = field(default_factory=list)

    @property
    def need_total(self) -> float:
        """Cancer plus non-cancer need."""
        return self.need_cancer + self.need_non_cancer

    def need_in(self, classes: tuple[str, ...], group: str | None = None) -> float:
        """Need (of one group, or both) whose class for its group is in ``classes``."""
        groups = [group] if group else list(self.coverage)
        return float(sum(self.coverage[g][c]["need"] for g in groups for c in classes))

    def people_in(self, classes: tuple[str, ...], group: str = "cancer") -> float:
        """People whose class for ``group`` (default: any SPC service) is in ``classes``."""
        return float(sum(self.coverage[group][c]["pop_count"] for c in classes))

    @property
    def known_need(self) -> float:
        """Need whose coverage class is known: with none, nothing can be claimed about reach."""
        return float(
            sum(v["need"] for g in self.coverage.values() for c, v in g.items() if c != "unknown")
        )

    @property
    def known_people(self) -> float:
        """People whose class (with any SPC service) is known."""
        cancer = self.coverage["cancer"]
        return float(sum(v["pop_count"] for c, v in cancer.items() if c != "unknown"))

    def share(self, part: float, whole: float) -> float:
        """``part / whole``, NaN when ``whole`` is 0."""
        return part / whole if whole > 0 else float("nan")

    @property
    def spc_unknown(self) -> bool:
        """Whether access to specialist care could not be computed for anyone."""
        return "spc_travel_time_min" in self.unknown_kinds

    def headline_shares(self) -> dict[str, float]:
        """The shares a planner quotes (0-1), as the uncertainty intervals report them.

        Need within SPC reach counts each group's need by its own class; people shares use
        the class with any SPC service.
        """
        within, beyond = ("both", "spc_only"), ("gp_only", "neither")
        people = self.pop_count
        if self.spc_unknown:  # nothing about specialist reach can be said: unknown, not 0
            shares = dict.fromkeys(_SPC_SHARES, float("nan"))
            shares["need_unknown_spc_share"] = 1.0 if self.need_total > 0 else float("nan")
            return shares
        return {
            "need_within_spc_share": self.share(self.need_in(within), self.need_total),
            "cancer_need_within_spc_share": self.share(
                self.need_in(within, "cancer"), self.need_cancer
            ),
            "non_cancer_need_within_spc_share": self.share(
                self.need_in(within, "non_cancer"), self.need_non_cancer
            ),
            "need_beyond_spc_share": self.share(self.need_in(beyond), self.need_total),
            "need_unknown_spc_share": self.share(self.need_in(("unknown",)), self.need_total),
            "people_both_share": self.share(self.people_in(("both",)), people),
            "people_gp_only_share": self.share(self.people_in(("gp_only",)), people),
            "people_neither_share": self.share(self.people_in(("neither",)), people),
        }


_SPC_SHARES = (
    "need_within_spc_share",
    "cancer_need_within_spc_share",
    "non_cancer_need_within_spc_share",
    "need_beyond_spc_share",
    "need_unknown_spc_share",
    "people_both_share",
    "people_gp_only_share",
    "people_neither_share",
)


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
        (NaN unknown, ``inf`` none within reach), ``gp_threshold_min``, ``spc_threshold_min``,
        ``coverage_class`` and ``coverage_class_non_cancer``
        (``both``/``gp_only``/``spc_only``/``neither``/``unknown``, see
        :mod:`geo.analysis.coverage`), ``snap_distance_m``, ``reachable`` (bool: within the
        snapping limit of a road).
    gp_practices
        Points. Columns: ``facility_id``, ``name``, ``kind`` (``gp``), ``service_type`` (``gp``),
        ``capacity`` (FTE), ``accepts_non_cancer`` (True), ``spc_travel_time_min`` (to the nearest
        SPC service), ``nearest_spc_id``, ``pop_served``, ``need_cancer_served``,
        ``need_non_cancer_served``, ``link_status`` (``linked``/``isolated``/``off_network``/
        ``unknown``), ``isolated`` (bool), ``snap_distance_m``, ``reachable``.
    specialist_services
        Points. Columns: ``facility_id``, ``name``, ``kind`` (``spc``), ``service_type``
        (``inpatient``/``community``/``hospital``), ``capacity``, ``accepts_non_cancer`` (bool).
    tables
        Named output tables (``coverage_by_remoteness``, ``coverage_by_subarea``,
        ``coverage_totals``, ``gp_specialist_links``, ``travel_time_bands``, ...) as
        DataFrames, written as CSV.
    thresholds_min
        Coverage thresholds in minutes by service kind, e.g. ``{"gp": 30, "spc": 60}``.
    remoteness_classes
        The ordered class names of the remoteness scheme (least to most remote).
    subareas
        Sub-area polygons (``area_id``, ``area_name``) or None.
    remoteness_areas
        Remoteness polygons (``remoteness_class``) cut to the region, or None when remoteness
        came from a lookup or was computed.
    catchments
        Isochrone polygons (``kind``, ``facility_id`` or None, ``threshold_min`` in whole
        minutes, ``area_km2``) or None.
    hotspots
        Polygons of need beyond specialist reach (``hotspot_id``, ``pop_count``,
        ``need_cancer_beyond_spc``, ``need_non_cancer_beyond_spc``, ``need_beyond_spc``,
        ``origins``), empty when there is none.
    travel_time_surface
        Optional raster of travel time to the nearest SPC service: a dict with ``array``
        (float minutes, NaN unreachable), ``transform`` (affine, analysis CRS) and ``kind``.
    findings
        Every headline figure, computed once from ``origins`` (None only before analysis).
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
    findings: Findings | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
