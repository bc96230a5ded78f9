"""Remoteness class of every origin, from the scheme the region uses.

* ABS Remoteness Areas polygons (2016 names "Major Cities of Australia"..., 2021 names and
  RA codes), normalised to ``Major Cities``, ``Inner Regional``, ``Outer Regional``,
  ``Remote``, ``Very Remote``;
* any categorical polygon layer with an ordered class list;
* code lookups: Modified Monash Model 2019 (SA1/SA2 codes) and the ONS Rural-Urban
  Classification 2011/2021 (LSOA codes);
* where no official layer exists, a computed ARIA-style index from service centres detected in
  the population and road distances on the region's own network.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import InputError, MissingCRSError

log = logging.getLogger(__name__)

ABS_CLASSES = ("Major Cities", "Inner Regional", "Outer Regional", "Remote", "Very Remote")
MMM_CLASSES = ("MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "MM7")
MMM_NAMES = {
    "MM1": "MM1 Metropolitan",
    "MM2": "MM2 Regional centres",
    "MM3": "MM3 Large rural towns",
    "MM4": "MM4 Medium rural towns",
    "MM5": "MM5 Small rural towns",
    "MM6": "MM6 Remote communities",
    "MM7": "MM7 Very remote communities",
}
RUC2011_CLASSES = {
    "A1": "Urban major conurbation",
    "B1": "Urban minor conurbation",
    "C1": "Urban city and town",
    "C2": "Urban city and town in a sparse setting",
    "D1": "Rural town and fringe",
    "D2": "Rural town and fringe in a sparse setting",
    "E1": "Rural village and dispersed",
    "E2": "Rural village and dispersed in a sparse setting",
    "F1": "Rural hamlets and isolated dwellings",
    "F2": "Rural hamlets and isolated dwellings in a sparse setting",
}
RUC2021_CLASSES = {
    "UN1": "Urban: Nearer to a major town or city",
    "UF1": "Urban: Further from a major town or city",
    "RSN1": "Smaller rural: Nearer to a major town or city",
    "RSF1": "Smaller rural: Further from a major town or city",
    "RLN1": "Larger rural: Nearer to a major town or city",
    "RLF1": "Larger rural: Further from a major town or city",
}
# ARIA+ (ABS): five service-centre size classes and the cut-points of the Remoteness Areas.
ARIA_CENTRE_CLASSES = (250_000, 48_000, 18_000, 5_000, 1_000)
ARIA_CUTS = (0.2, 2.4, 5.92, 10.53)
NEAREST_TOLERANCE_M = 1000.0


@dataclass(frozen=True)
class RemotenessResult:
    """Remoteness of every origin.

    Attributes
    ----------
    classes
        Class name per origin (index aligned to the origins).
    scheme, version
        E.g. ``abs_ra`` / ``2016``; recorded in run.json.
    class_order
        Classes from least to most remote.
    areas
        Polygons with ``remoteness_class`` for the map, or None for lookups.
    stats
        Unmatched counts and other diagnostics.
    """

    classes: pd.Series
    scheme: str
    version: str
    class_order: tuple[str, ...]
    areas: gpd.GeoDataFrame | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def normalise_abs_class(value: Any) -> str | None:
    """ABS RA name or code (2016 or 2021 naming) → canonical class, None if not one."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0)?", text):  # RA codes 0-4 (or 10-14 with a state prefix)
        code = int(float(text)) % 10
        return ABS_CLASSES[code] if code < 5 else None
    lower = (
        re.sub(r"\s+", " ", text.lower())
        .replace(" of australia", "")
        .replace(" australia", "")
        .strip()
    )
    for name in ABS_CLASSES:
        if lower == name.lower():
            return name
    return None


def _read_polygons(path: Path, layer: str | None, crs: CRS) -> gpd.GeoDataFrame:
    if not Path(path).is_file():
        raise InputError("remoteness file not found; check remoteness.path", path=path)
    frame = gpd.read_file(path, layer=layer)
    if frame.crs is None:
        raise MissingCRSError("the remoteness layer declares no CRS", path=path)
    return frame.to_crs(crs)


def classify_by_polygons(
    origins: gpd.GeoDataFrame,
    path: str | Path,
    *,
    class_column: str,
    scheme: str = "abs_ra",
    layer: str | None = None,
    order: list[str] | None = None,
    crs: CRS | str | None = None,
) -> RemotenessResult:
    """Class of the polygon holding each origin.

    Parameters
    ----------
    origins
        Points in ``crs``.
    path, layer
        The polygon layer.
    class_column
        Column with the class (ABS RA name or code, or a categorical value).
    scheme
        ``abs_ra``, ``abs_ra_2016``, ``abs_ra_2021`` or ``categorical``.
    order
        Class order, least to most remote (required for ``categorical``).
    crs
        Analysis CRS (default: the origins' CRS).

    Returns
    -------
    RemotenessResult
    """
    path = Path(path)
    crs = CRS.from_user_input(crs or origins.crs)
    frame = _read_polygons(path, layer, crs)
    if class_column not in frame.columns:
        raise InputError(
            f"column not found (columns present: {', '.join(frame.columns)})",
            path=path,
            column=class_column,
        )
    if scheme.startswith("abs_ra"):
        names = frame[class_column].map(normalise_abs_class)
        bad = names.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{frame[class_column].iloc[i]!r} is not an ABS Remoteness Area "
                f"(expected one of {', '.join(ABS_CLASSES)})",
                path=path,
                row=i + 1,
                column=class_column,
            )
        class_order = ABS_CLASSES
        version = scheme.split("_")[-1] if scheme != "abs_ra" else "unspecified"
    else:
        if not order:
            raise InputError(
                "a categorical remoteness layer needs remoteness.order (classes "
                "from least to most remote)",
                path=path,
            )
        names = frame[class_column].astype(str)
        unknown = sorted(set(names) - set(order))
        if unknown:
            raise InputError(
                f"classes {unknown} are not in remoteness.order", path=path, column=class_column
            )
        class_order, version = tuple(order), "user"
    areas = gpd.GeoDataFrame(
        {"remoteness_class": names.to_numpy()}, geometry=frame.geometry.to_numpy(), crs=crs
    )
    classes, stats = _points_in_polygons(origins, areas, path)
    present = [c for c in class_order if (areas["remoteness_class"] == c).any()]
    log.info("remoteness (%s): %s", scheme, ", ".join(present))
    dissolved = areas.dissolve("remoteness_class", as_index=False)
    return RemotenessResult(
        classes=classes,
        scheme=scheme,
        version=version,
        class_order=tuple(class_order),
        areas=dissolved,
        stats=stats,
    )


def _points_in_polygons(origins, areas, path) -> tuple[pd.Series, dict]:
    joined = gpd.sjoin(origins[["geometry"]], areas, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    classes = joined["remoteness_class"].reindex(origins.index)
    missing = classes.isna()
    stats = {"origins_nearest_polygon": 0}
    if missing.any():
        near = gpd.sjoin_nearest(
            origins.loc[missing, ["geometry"]], areas, how="left", max_distance=NEAREST_TOLERANCE_M
        )
        near = near[~near.index.duplicated(keep="first")]
        classes.loc[missing] = near["remoteness_class"].reindex(classes.index[missing])
        stats["origins_nearest_polygon"] = int(near["remoteness_class"].notna().sum())
        still = classes.isna()
        if still.any():
            pop = float(origins.loc[still, "pop_count"].sum())
            where = origins.loc[still].geometry.iloc[0]
            raise InputError(
                f"{int(still.sum())} origins ({pop:.0f} people) lie outside every remoteness "
                f"polygon (e.g. at x={where.x:.0f}, y={where.y:.0f} in the analysis CRS); does "
                "the layer cover the whole region?",
                path=path,
            )
    return classes.astype(str), stats


def classify_by_lookup(
    origins: gpd.GeoDataFrame,
    *,
    area_codes: pd.Series,
    path: str | Path,
    code_column: str,
    class_column: str,
    scheme: str = "ruc2011",
    aggregate_code_length: int | None = None,
) -> RemotenessResult:
    """Class of each origin's area through a code lookup table (CSV).

    Parameters
    ----------
    origins
        The origins (only their index is used).
    area_codes
        Area code per origin (e.g. LSOA or SA2 code), aligned to ``origins``.
    path
        Lookup CSV.
    code_column, class_column
        Columns of the lookup: area code and class (code such as ``D1`` / ``MM5`` / ``5`` or
        the full class name).
    scheme
        ``ruc2011``, ``ruc2021`` or ``mmm2019``.
    aggregate_code_length
        Lift a finer lookup to the origins' areas by the first characters of its codes and
        the modal class (e.g. 9 for MMM by 11-digit SA1 code to 9-digit SA2 codes).

    Returns
    -------
    RemotenessResult
        Unmatched codes are counted in ``stats`` and warned about; they get class ``Unknown``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("lookup file not found; check remoteness.path", path=path)
    table = pd.read_csv(path, dtype=str)
    for col in (code_column, class_column):
        if col not in table.columns:
            raise InputError(
                f"column not found (columns present: {', '.join(table.columns)})",
                path=path,
                column=col,
            )
    names, order = _lookup_names(table[class_column], scheme, path, class_column)
    codes = table[code_column].str.strip()
    if aggregate_code_length:
        lookup = _modal_class(codes.str[:aggregate_code_length], names, order)
    else:
        lookup = pd.Series(names.to_numpy(), index=codes)
        lookup = lookup[~lookup.index.duplicated(keep="first")]
    classes = area_codes.astype(str).str.strip().map(lookup)
    unmatched = classes.isna()
    stats = {
        "origins_unmatched": int(unmatched.sum()),
        "codes_unmatched": sorted(area_codes[unmatched].astype(str).unique().tolist())[:50],
    }
    if unmatched.all():
        raise InputError(
            f"no area code matched the lookup's '{code_column}' (e.g. "
            f"{area_codes.iloc[0]!r}); are the codes of the same edition?",
            path=path,
            column=code_column,
        )
    if unmatched.any():
        log.warning(
            "%d origins have area codes missing from the lookup (class Unknown): %s",
            int(unmatched.sum()),
            ", ".join(stats["codes_unmatched"][:5]),
        )
        order = (*order, "Unknown")
    version = {"ruc2011": "2011", "ruc2021": "2021", "mmm2019": "2019"}[scheme]
    return RemotenessResult(
        classes=classes.fillna("Unknown").set_axis(origins.index),
        scheme=scheme,
        version=version,
        class_order=order,
        areas=None,
        stats=stats,
    )


def _modal_class(codes: pd.Series, names: pd.Series, order: tuple[str, ...]) -> pd.Series:
    """The most common class among the small areas of each larger area (ties: more remote).

    Used to lift a finer lookup to the origins' areas, e.g. MMM 2019 by SA1 to SA2 (the SA1
    code starts with its SA2 code); without SA1 populations each SA1 counts once.
    """
    rank = {name: i for i, name in enumerate(order)}
    frame = pd.DataFrame({"code": codes.to_numpy(), "name": names.to_numpy()})
    counts = frame.groupby(["code", "name"]).size().rename("n").reset_index()
    counts["rank"] = counts["name"].map(rank)
    counts = counts.sort_values(["code", "n", "rank"], ascending=[True, False, False])
    best = counts.drop_duplicates("code")
    return pd.Series(best["name"].to_numpy(), index=best["code"].to_numpy())


def _lookup_names(values: pd.Series, scheme: str, path: Path, column: str):
    values = values.astype(str).str.strip()
    if scheme == "mmm2019":
        codes = values.str.upper().str.replace(r"^(MM)?\s*", "MM", regex=True)
        mapping = MMM_NAMES
    else:
        mapping = RUC2011_CLASSES if scheme == "ruc2011" else RUC2021_CLASSES
        codes = values.str.upper()
        by_name = {v.lower(): k for k, v in mapping.items()}
        codes = codes.where(codes.isin(mapping), values.str.lower().map(by_name))
    names = codes.map(mapping)
    if names.isna().any():
        i = int(np.flatnonzero(names.isna().to_numpy())[0])
        raise InputError(
            f"{values.iloc[i]!r} is not a {scheme} class (expected one of {', '.join(mapping)})",
            path=path,
            row=i + 2,
            column=column,
        )
    return names, tuple(mapping.values())


def computed_aria(
    origins: gpd.GeoDataFrame,
    network,
    *,
    centre_eps_m: float = 1500.0,
    min_centre_pop: float = 1000.0,
    national_means_m: dict[int, float] | None = None,
) -> RemotenessResult:
    """An ARIA+-style remoteness index computed on the region's own network.

    Service centres are detected by clustering populated origins (DBSCAN, ``centre_eps_m``)
    and summing their people; centres are put in the five ARIA+ size classes; the road
    distance from every origin to the nearest centre of each class is divided by that class's
    mean distance (``national_means_m``, else the region's own population-weighted mean, a
    documented approximation), capped at 3 and summed (0–15); the ABS cut-points give the
    class.

    Returns
    -------
    RemotenessResult
        Scheme ``aria_computed``; the index per origin is in ``stats["index"]`` summary.
    """
    from sklearn.cluster import DBSCAN

    from geo.travel import nearest_facility

    xy = np.column_stack([origins.geometry.x, origins.geometry.y])
    pop = origins["pop_count"].to_numpy(float)
    dense = pop >= np.quantile(pop, 0.5) if len(pop) > 10 else pop > 0
    labels = np.full(len(pop), -1)
    labels[dense] = DBSCAN(eps=centre_eps_m, min_samples=1).fit(xy[dense]).labels_
    centres = (
        pd.DataFrame({"label": labels, "pop": pop, "x": xy[:, 0] * pop, "y": xy[:, 1] * pop})[
            labels >= 0
        ]
        .groupby("label")
        .sum()
    )
    centres = centres[centres["pop"] >= min_centre_pop]
    centres["x"] /= centres["pop"]
    centres["y"] /= centres["pop"]
    snap_o = network.snap(xy[:, 0], xy[:, 1], max_snap_distance_m=1e9)
    snap_c = network.snap(centres["x"].to_numpy(), centres["y"].to_numpy(), max_snap_distance_m=1e9)
    index = np.zeros(len(pop))
    size_class = np.searchsorted(
        -np.asarray(ARIA_CENTRE_CLASSES), -centres["pop"].to_numpy(), side="right"
    )
    means = {}
    missing_classes: list[int] = []
    for k in range(len(ARIA_CENTRE_CLASSES)):
        # A centre of a larger class also serves the smaller classes (as in ARIA+).
        members = np.flatnonzero(size_class <= k)
        if members.size == 0:
            # No centre of this size in the region: its distance is unknown but beyond the
            # region, so the ratio takes its cap (the most remote reading).
            index += 3.0
            missing_classes.append(ARIA_CENTRE_CLASSES[k])
            continue
        res = nearest_facility(
            network,
            snap_c.node[members],
            weight="length",
            facility_offset_s=snap_c.snap_distance_m[members],
        )
        dist = res.time_s[snap_o.node] + snap_o.snap_distance_m
        dist = np.where(np.isfinite(dist), dist, np.nanmax(dist[np.isfinite(dist)]) * 2)
        mean = (national_means_m or {}).get(k) or float(np.average(dist, weights=pop))
        means[k] = mean
        index += np.minimum(3.0, dist / max(mean, 1.0))
    codes = np.searchsorted(np.asarray(ARIA_CUTS), index, side="left")
    classes = pd.Series(np.asarray(ABS_CLASSES)[codes], index=origins.index)
    centre_pops = sorted(centres["pop"].round().tolist(), reverse=True)[:20]
    stats = {
        "centres": len(centres),
        "centre_pops": centre_pops,
        "mean_distance_m": means,
        "index_min": float(index.min()),
        "index_max": float(index.max()),
        "means_source": "national" if national_means_m else "regional (approximation)",
        "centre_classes_absent_min_pop": missing_classes,
    }
    log.info(
        "computed ARIA-style remoteness: %d centres; index %.2f–%.2f",
        len(centres),
        index.min(),
        index.max(),
    )
    return RemotenessResult(
        classes=classes,
        scheme="aria_computed",
        version="gapmap",
        class_order=ABS_CLASSES,
        areas=None,
        stats=stats,
    )
