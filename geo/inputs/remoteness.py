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

from geo.clusters import radius_clusters
from geo.errors import InputError
from geo.inputs.readers import read_csv_table, read_vector, require_columns, warn_overlaps

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
# ONS 2021 RUC: settlement class (urban, larger rural, smaller rural) by relative access to a
# major town or city (over 75,000 people); listed in ONS's order, urban to smallest rural.
RUC2021_CLASSES = {
    "UN1": "Urban: Nearer to a major town or city",
    "UF1": "Urban: Further from a major town or city",
    "RLN1": "Larger rural: Nearer to a major town or city",
    "RLF1": "Larger rural: Further from a major town or city",
    "RSN1": "Smaller rural: Nearer to a major town or city",
    "RSF1": "Smaller rural: Further from a major town or city",
}
# Other spellings of the RUC 2011 names (output-area names, "Rural: Village" style, the
# short LSOA names some extracts use), matched after normalising case and punctuation.
RUC2011_ALIASES = {
    "urban major conurbation": "A1",
    "urban minor conurbation": "B1",
    "urban city and town": "C1",
    "urban city and town in a sparse setting": "C2",
    "rural town and fringe": "D1",
    "rural town and fringe in a sparse setting": "D2",
    "rural village": "E1",
    "rural village in a sparse setting": "E2",
    "rural village and dispersed": "E1",
    "rural village and dispersed in a sparse setting": "E2",
    "rural hamlets and isolated dwellings": "F1",
    "rural hamlets and isolated dwellings in a sparse setting": "F2",
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
    return read_vector(path, layer=layer, crs=crs, key="remoteness")


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
    stats["overlaps"] = warn_overlaps(dissolved, path, id_column="remoteness_class")
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
    weight_column: str | None = None,
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
    weight_column
        Column of the lookup weighting that majority (e.g. SA1 population); without it each
        small area counts once.

    Returns
    -------
    RemotenessResult
        Unmatched codes are counted in ``stats`` and warned about; they get class ``Unknown``.
    """
    path = Path(path)
    if len(area_codes) != len(origins):
        raise InputError(
            f"{len(area_codes)} area codes for {len(origins)} origins: give one code per origin"
        )
    table = read_csv_table(path)
    require_columns(table, [code_column, class_column], path)
    names, order = _lookup_names(table[class_column], scheme, path, class_column)
    codes = table[code_column].str.strip()
    if aggregate_code_length:
        weights = None
        if weight_column is not None:
            if weight_column not in table.columns:
                raise InputError("weight column not found", path=path, column=weight_column)
            weights = pd.to_numeric(table[weight_column], errors="coerce").fillna(0.0)
        lookup = _modal_class(codes.str[:aggregate_code_length], names, order, weights)
    else:
        lookup = pd.Series(names.to_numpy(), index=codes)
        lookup = lookup[~lookup.index.duplicated(keep="first")]
    classes = area_codes.astype(str).str.strip().map(lookup)
    unmatched = classes.isna()
    unmatched_codes = sorted(area_codes[unmatched].astype(str).unique().tolist())
    stats = {
        "origins_unmatched": int(unmatched.sum()),
        "codes_unmatched_count": len(unmatched_codes),
        "codes_unmatched": unmatched_codes[:50],
    }
    if "pop_count" in origins.columns:
        stats["pop_unmatched"] = float(origins.loc[unmatched.to_numpy(), "pop_count"].sum())
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


def _modal_class(
    codes: pd.Series,
    names: pd.Series,
    order: tuple[str, ...],
    weights: pd.Series | None = None,
) -> pd.Series:
    """The most common class among the small areas of each larger area (ties: more remote).

    Used to lift a finer lookup to the origins' areas, e.g. MMM 2019 by SA1 to SA2 (the SA1
    code starts with its SA2 code): the class holding most weight (e.g. SA1 population) or,
    without weights, most small areas.
    """
    rank = {name: i for i, name in enumerate(order)}
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, float)
    frame = pd.DataFrame({"code": codes.to_numpy(), "name": names.to_numpy(), "w": w})
    counts = frame.groupby(["code", "name"])["w"].sum().rename("n").reset_index()
    counts["rank"] = counts["name"].map(rank)
    counts = counts.sort_values(["code", "n", "rank"], ascending=[True, False, False])
    best = counts.drop_duplicates("code")
    return pd.Series(best["name"].to_numpy(), index=best["code"].to_numpy())


def _plain(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces: "Rural: Village" -> "rural village"."""
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).strip()


def _lookup_names(values: pd.Series, scheme: str, path: Path, column: str):
    values = values.astype(str).str.strip()
    if scheme == "mmm2019":
        codes = (
            values.str.upper()
            .str.replace(r"\.0+$", "", regex=True)  # "5.0" from a spreadsheet
            .str.replace(r"^(MM)?\s*", "MM", regex=True)
        )
        mapping = MMM_NAMES
    elif scheme in {"ruc2011", "ruc2021"}:
        mapping = RUC2011_CLASSES if scheme == "ruc2011" else RUC2021_CLASSES
        codes = values.str.upper()
        by_name = {_plain(v): k for k, v in mapping.items()}
        if scheme == "ruc2011":
            by_name.update(RUC2011_ALIASES)
        codes = codes.where(codes.isin(mapping), values.map(_plain).map(by_name))
    else:
        raise InputError(
            f"unknown lookup scheme {scheme!r}; use ruc2011, ruc2021 or mmm2019", path=path
        )
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


# -- computed ARIA-style index ---------------------------------------------------------------
ARIA_CLASS_LETTERS = ("A", "B", "C", "D", "E")
# Density that makes a place urban: ABS Urban Centres and Localities build urban areas from
# mesh blocks of 200 or more people per km².
URBAN_DENSITY_PER_KM2 = 200.0


def detect_centres(
    origins: gpd.GeoDataFrame,
    *,
    centre_eps_m: float = 1500.0,
    min_centre_pop: float = 1000.0,
    urban_density_per_km2: float = URBAN_DENSITY_PER_KM2,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Service centres (urban clusters with their populations) detected in the origins.

    Urban origins are those whose local density reaches ``urban_density_per_km2``: people
    over the square of the distance to the nearest other origin (the cell area for raster
    origins, roughly the area's size for area centroids). They are clustered with DBSCAN
    (:func:`geo.clusters.radius_clusters`, ``eps = centre_eps_m``, one point suffices), so
    contiguous built-up places chain into one town; each cluster's people are summed and
    clusters under ``min_centre_pop`` (ARIA+'s smallest service centre, 1,000 people) dropped.

    Returns
    -------
    labels : numpy.ndarray
        Centre number of each origin (position in ``centres``), -1 outside every centre.
    centres : pandas.DataFrame
        ``pop_count``, population-weighted ``x``/``y`` and ARIA+ ``size_class`` (A-E).
    """
    xy = np.column_stack([origins.geometry.x, origins.geometry.y])
    pop = origins["pop_count"].to_numpy(float)
    dense = _local_density_per_km2(xy, pop) >= urban_density_per_km2
    labels = np.full(len(pop), -1)
    if dense.any():
        labels[dense] = radius_clusters(xy[dense], centre_eps_m)
    frame = pd.DataFrame({"label": labels, "pop_count": pop, "x": xy[:, 0], "y": xy[:, 1]})
    frame = frame[labels >= 0]
    frame[["x", "y"]] = frame[["x", "y"]].mul(frame["pop_count"], axis=0)
    sums = frame.groupby("label").sum()
    sums = sums[sums["pop_count"] >= min_centre_pop].sort_values("pop_count", ascending=False)
    sums[["x", "y"]] = sums[["x", "y"]].div(sums["pop_count"], axis=0)
    size = np.searchsorted(-np.asarray(ARIA_CENTRE_CLASSES), -sums["pop_count"].to_numpy(), "right")
    sums["size_class"] = np.asarray(ARIA_CLASS_LETTERS)[size]
    renumber = pd.Series(np.arange(len(sums)), index=sums.index)
    labels = pd.Series(labels).map(renumber).fillna(-1).astype(np.int64).to_numpy()
    return labels, sums.reset_index(drop=True)


def _local_density_per_km2(xy: np.ndarray, pop: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    if len(xy) < 2:
        return np.full(len(xy), np.inf)
    spacing_m, _ = cKDTree(xy).query(xy, k=[2])
    return pop / np.maximum(spacing_m[:, 0], 1.0) ** 2 * 1e6


def computed_aria(
    origins: gpd.GeoDataFrame,
    network,
    *,
    centre_eps_m: float = 1500.0,
    min_centre_pop: float = 1000.0,
    national_means_m: dict[int | str, float] | None = None,
    absent_class_ratio: float | None = None,
    urban_density_per_km2: float = URBAN_DENSITY_PER_KM2,
    snap: Any = None,
) -> RemotenessResult:
    """An ARIA+-style remoteness index computed on the region's own road network.

    Service centres come from :func:`detect_centres`. For each of the five ARIA+ size classes,
    the road distance from every origin to the edge of the nearest centre of that class or a
    larger one (zero inside it) is divided by the class's mean distance, capped at 3, and the
    five ratios summed (0-15); the ABS cut-points (:data:`ARIA_CUTS`) give the class.

    Two approximations, recorded in ``stats``: (1) without ``national_means_m`` (metres, by
    class index 0-4 or letter A-E) the region's own mean distances over its origins
    (unweighted, as ARIA+ averages over localities) are used, so the index is relative to
    the region; (2) a class with no centre in the region
    (e.g. no city of 250,000) takes ``absent_class_ratio`` when given (3 = ARIA+'s cap, right
    when the region is truly far from such a city), else the ratio of the largest class
    present (the region's largest town stands in for the missing larger centres).

    ``snap`` is the origins' :class:`~geo.routing.network.SnapResult` when the run has one
    (origins off the network then count as beyond every centre); default: each origin is
    attached to its nearest road node however far.

    Returns
    -------
    RemotenessResult
        Scheme ``aria_computed``; index summary and the centres in ``stats``.
    """
    labels, centres = detect_centres(
        origins,
        centre_eps_m=centre_eps_m,
        min_centre_pop=min_centre_pop,
        urban_density_per_km2=urban_density_per_km2,
    )
    pop = origins["pop_count"].to_numpy(float)
    if snap is None:
        snap = network.snap_points(origins, max_snap_distance_m=np.inf, offroad_speed_kph=15.0)
    size = pd.Series(centres["size_class"]).map(ARIA_CLASS_LETTERS.index).to_numpy()
    ratios, means, absent = [], {}, []
    for k, letter in enumerate(ARIA_CLASS_LETTERS):
        members = np.flatnonzero((labels >= 0) & (size[np.maximum(labels, 0)] <= k))
        if members.size == 0:
            absent.append(letter)
            ratios.append(None)
            continue
        dist = _distance_to_members(network, snap, members)
        finite = dist[np.isfinite(dist)]
        mean = _class_mean(national_means_m, k, letter) or float(finite.mean())
        means[letter] = mean
        ratios.append(np.minimum(3.0, np.nan_to_num(dist / max(mean, 1.0), nan=3.0, posinf=3.0)))
    index = _sum_ratios(ratios, absent_class_ratio, len(pop))
    codes = np.searchsorted(np.asarray(ARIA_CUTS), index, side="left")
    classes = pd.Series(np.asarray(ABS_CLASSES)[codes], index=origins.index)
    if absent:
        log.warning(
            "computed remoteness: no service centre of class %s in the region (%s)",
            ", ".join(absent),
            f"ratio {absent_class_ratio:.1f}"
            if absent_class_ratio is not None
            else "the largest class present stands in",
        )
    stats = {
        "centres": len(centres),
        "centre_pops": centres["pop_count"].round().head(20).tolist(),
        "centre_classes": centres["size_class"].value_counts().sort_index().to_dict(),
        "mean_distance_m": means,
        "means_source": "national" if national_means_m else "regional (approximation)",
        "classes_absent": absent,
        "absent_class_ratio": absent_class_ratio,
        "index_min": float(index.min()),
        "index_max": float(index.max()),
        "index_pop_mean": float(np.average(index, weights=pop)),
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


def _distance_to_members(network, snap, members: np.ndarray) -> np.ndarray:
    """Road distance (m) from every origin to the nearest of the given centre origins."""
    from geo.routing.travel import nearest_facility

    ok = members[snap.node[members] >= 0]
    res = nearest_facility(network, snap.node[ok], weight="length")
    node = np.maximum(snap.node, 0)
    dist = np.where(snap.node >= 0, res.time_s[node] + snap.snap_distance_m, np.inf)
    dist[members] = 0.0  # inside the centre: ARIA+ measures to the centre's edge
    return dist


def _class_mean(national: dict | None, k: int, letter: str) -> float | None:
    if not national:
        return None
    value = national.get(k, national.get(letter))
    if value is None:
        raise InputError(f"national_means_m has no mean for service-centre class {letter}")
    return float(value)


def _sum_ratios(ratios: list, absent_ratio: float | None, n: int) -> np.ndarray:
    present = [r for r in ratios if r is not None]
    if not present:
        log.warning("computed remoteness: no service centre of 1,000+ people; all Very Remote")
        return np.full(n, 15.0)
    stand_in = present[0]  # the largest class present
    index = np.zeros(n)
    for r in ratios:
        if r is not None:
            index += r
        elif absent_ratio is not None:
            index += absent_ratio
        else:
            index += stand_in
    return index
