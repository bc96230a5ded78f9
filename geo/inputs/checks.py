"""Checks that span inputs, and the collector that lets one pass report every problem at once.

``gapmap validate`` and ``gapmap run`` both run the whole inputs stage
(:func:`geo.inputs.region.load_inputs`) through a :class:`Problems` collector: each section that
can be read is read, every problem is kept, and the run stops with all of them (exit status 2)
before any analysis. So the two commands cannot disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np

from geo.errors import InputError, InputErrors

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fewer people than this share on the road network means the extract (or a CRS) is wrong.
MIN_SHARE_ON_NETWORK = 0.01
MIN_NETWORK_NODES = 10


class Problems:
    """Collects every :class:`InputError` of an inputs pass."""

    def __init__(self) -> None:
        self.items: list[InputError] = []

    def attempt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)``, or None with its input problems kept."""
        try:
            return fn(*args, **kwargs)
        except InputErrors as exc:
            self.items.extend(exc.problems)
        except InputError as exc:
            self.items.append(exc)
        return None

    def passes(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Whether the check ``fn(*args, **kwargs)`` raised no input problem (kept if it did)."""
        count = len(self.items)
        self.attempt(fn, *args, **kwargs)
        return len(self.items) == count

    def raise_any(self) -> None:
        """Raise the one problem, or all of them together (nothing when there is none)."""
        unique = list({str(p): p for p in self.items}.values())
        if len(unique) == 1:
            raise unique[0]
        if unique:
            raise InputErrors(unique)


def check_on_network(origins: gpd.GeoDataFrame, snaps: Any, config: Any) -> None:
    """Refuse a run where almost nobody lives near a mapped road (a wrong extract or CRS)."""
    people = origins["pop_count"].to_numpy(float)
    on = snaps.origins.reachable
    share = people[on].sum() / people.sum() if people.sum() > 0 else 0.0
    if share < MIN_SHARE_ON_NETWORK:
        raise InputError(
            f"only {100 * share:.2g}% of the people live within "
            f"{config.roads.max_snap_distance_m:g} m of a mapped road: is this the road extract "
            "of this region, and are the population's coordinates and CRS right?",
            path=config.roads.path,
        )


def check_network_size(n_nodes: int, path: Any) -> None:
    """Refuse a road network too small to route a region (e.g. one stray way)."""
    if n_nodes < MIN_NETWORK_NODES:
        raise InputError(
            f"the road network has only {n_nodes} connected road nodes: the extract holds "
            "(almost) no drivable roads; is this the right file?",
            path=path,
        )


def check_class_keys(config: Any, remoteness: Any) -> None:
    """Every ``thresholds.by_remoteness`` key must be a class of the remoteness scheme."""
    known = list(remoteness.class_order)
    unknown = [k for k in config.thresholds.by_remoteness if k not in known]
    if unknown:
        raise InputError(
            f"thresholds.by_remoteness names {', '.join(map(repr, unknown))}, which the "
            f"remoteness scheme '{remoteness.scheme}' does not have; its classes are: "
            f"{', '.join(known)}",
            path=config.source_path,
        )


def check_density(origins: gpd.GeoDataFrame, population: Any) -> None:
    """Refuse implausible head counts (see :data:`geo.inputs.population.MAX_PEOPLE_PER_KM2`)."""
    from geo.inputs.population_raster import MAX_PEOPLE_PER_PLACE

    counts = origins["pop_count"].to_numpy(float)
    bad = ~np.isfinite(counts) | (counts > MAX_PEOPLE_PER_PLACE)
    if bad.any():
        worst = float(np.nanmax(np.where(np.isfinite(counts), counts, np.inf)))
        raise InputError(
            f"{int(bad.sum())} populated place(s) hold an implausible head count (up to "
            f"{worst:.3g}); check the count column or band and its nodata value",
            path=population.path,
        )
