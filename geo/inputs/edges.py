"""Edge effects: where the road extract or the facility list stops short of the region's reach.

A service can matter to a region when it lies within ``longest threshold × the network's fastest
straight-line speed`` of the region: no trip of that time can cover more ground (the same bound
that makes partitioned searches exact). Times near the edge are too long when the extract does
not reach that far, or when services within that reach lie outside the extract (left out of
routing): people there may have a nearer service than the run can see.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.routing.network import RoadNetwork, Snaps

log = logging.getLogger(__name__)


def road_extent(network: RoadNetwork) -> shapely.Geometry:
    """The convex hull of the network's road nodes: the area the extract maps."""
    nodes = network.snappable_nodes
    return shapely.convex_hull(
        shapely.multipoints(np.column_stack([network.node_x[nodes], network.node_y[nodes]]))
    )


def edge_effects(
    network: RoadNetwork,
    region: shapely.Geometry,
    facilities: dict[str, gpd.GeoDataFrame],
    snaps: Snaps,
    *,
    reach_min: float,
) -> dict[str, Any]:
    """What lies at or beyond the edge of the road extract, for run.json, the report and logs.

    Parameters
    ----------
    network
        The road network.
    region
        The region (boundary polygon, or the hull of the origins) in the network CRS.
    facilities
        ``{"gp": ..., "spc": ...}`` as read (aligned with ``snaps.gp`` and ``snaps.spc``).
    snaps
        The run's snapping.
    reach_min
        The longest time any table reads.

    Returns
    -------
    dict
        ``reach_m`` (how far a service can matter), ``extract_margin_m`` (how far the extract
        reaches beyond the region at its nearest edge), ``extract_short`` (bool),
        ``left_out_within_reach`` (facilities off the network that could matter: id, name,
        kind, distance to the region), ``left_out_beyond_reach`` (count of off-network
        facilities too far to matter; a national list's others).
    """
    reach_m = reach_min * network.max_straight_line_speed_m_per_min
    extent = road_extent(network)
    margin = float(region.distance(extent.boundary)) if extent.contains(region) else 0.0
    within, beyond = [], 0
    for kind, snap in (("gp", snaps.gp), ("spc", snaps.spc)):
        frame = facilities[kind]
        off = ~snap.reachable
        if not off.any():
            continue
        distance = shapely.distance(region, frame.geometry.to_numpy()[off])
        near = distance <= reach_m
        beyond += int((~near).sum())
        for row, d in zip(frame[off][near].to_dict("records"), distance[near], strict=True):
            within.append(
                {
                    "facility_id": row["facility_id"],
                    "name": row["name"],
                    "kind": kind,
                    "distance_to_region_m": float(d),
                }
            )
    info = {
        "reach_min": reach_min,
        "reach_m": reach_m,
        "extract_margin_m": margin,
        "extract_short": margin < reach_m,
        "left_out_within_reach": within,
        "left_out_beyond_reach": beyond,
    }
    if within:
        names = ", ".join(str(f["name"]) for f in within[:10])
        log.warning(
            "%d service(s) within %.0f km of the region lie outside the road extract, so times "
            "near its edge may be too long: %s. Extend the road extract to include them.",
            len(within),
            reach_m / 1000,
            names,
        )
    if beyond:
        log.info("%d facilities off the network are too far from the region to matter", beyond)
    return info
