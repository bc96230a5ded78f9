"""``gapmap sites``: candidates, the greedy choice, and its table and map for one region.

Candidates are the region's GP practices (outreach clinics are held at practices), a grid of
need-weighted k-means centres of the unmet need (scikit-learn), or a file of sites. Outputs go to
``<region output>/sites/``: ``tables/site_selection.csv`` (rank, site, marginal people and need,
cumulative share of unmet need), ``sites_map.html`` and ``sites.json`` (settings, greedy
guarantee and certified bound).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from geo.config import RegionConfig
from geo.errors import InputError
from geo.facilities import load_facilities
from geo.map_style import esc
from geo.maps import MapLayers, build_map, render_html
from geo.network import RoadNetwork
from geo.outputs import atomic_directory, write_atomic_text
from geo.pipeline import (
    _analysis_crs,
    _default_cache,
    _thresholds,
    analyse_with_provenance,
    load_inputs,
    output_dir,
)
from geo.report import remote_classes
from geo.results import Results
from geo.sites import (
    GREEDY_GUARANTEE,
    Selection,
    coverage_matrix,
    greedy_max_coverage,
    unmet_weight,
)

log = logging.getLogger(__name__)

GRID_CANDIDATES = 60


@dataclass
class SiteChoice:
    """A region's site selection: the candidates, the choice and its ranked table."""

    candidates: gpd.GeoDataFrame
    selection: Selection
    table: pd.DataFrame
    total_unmet: float


def gp_candidates(gps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Every GP practice of the region as a candidate outreach site."""
    return gpd.GeoDataFrame(
        {"site_id": gps["facility_id"].to_numpy(), "name": gps["name"].to_numpy()},
        geometry=gps.geometry.to_numpy(),
        crs=gps.crs,
    )


def grid_candidates(
    origins: gpd.GeoDataFrame,
    weight: np.ndarray,
    network: RoadNetwork,
    n_sites: int = GRID_CANDIDATES,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Need-weighted k-means centres of the origins with unmet need (scikit-learn), each
    moved to its nearest road node (a clinic sits on a road, not in a paddock)."""
    from sklearn.cluster import KMeans

    mask = weight > 0
    if not mask.any():
        return gpd.GeoDataFrame({"site_id": [], "name": []}, geometry=[], crs=origins.crs)
    xy = np.column_stack([origins.geometry.x.to_numpy()[mask], origins.geometry.y.to_numpy()[mask]])
    n = int(min(n_sites, len(xy)))
    km = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(xy, sample_weight=weight[mask])
    centres = km.cluster_centers_
    node = network.snap(centres[:, 0], centres[:, 1], max_snap_distance_m=1e12).node
    node = np.unique(node)
    ids = [f"grid-{i + 1:03d}" for i in range(len(node))]
    return gpd.GeoDataFrame(
        {"site_id": ids, "name": [f"Need-weighted centre {i + 1}" for i in range(len(node))]},
        geometry=gpd.points_from_xy(network.node_x[node], network.node_y[node]),
        crs=origins.crs,
    )


def file_candidates(path: Path, crs, *, input_crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Candidate sites from a CSV (``id``, ``name``, ``x``, ``y``) or a vector file."""
    frame = load_facilities(
        path,
        kind="spc",
        columns={"id": "id", "name": "name", "x": "x", "y": "y"},
        crs=crs,
        input_crs=input_crs,
        default_service_type="outreach",
    )
    return gpd.GeoDataFrame(
        {"site_id": frame["facility_id"].to_numpy(), "name": frame["name"].to_numpy()},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )


def choose_sites(
    network: RoadNetwork,
    origins: gpd.GeoDataFrame,
    origin_snap,
    candidates: gpd.GeoDataFrame,
    *,
    k: int,
    weight: np.ndarray,
    spc_threshold_min: np.ndarray,
    max_snap_distance_m: float,
    offroad_speed_kph: float,
) -> SiteChoice:
    """Coverage matrix, lazy greedy choice and the ranked table."""
    if candidates.empty:
        raise InputError("no candidate sites: the candidate set is empty")
    snap = network.snap(
        candidates.geometry.x.to_numpy(),
        candidates.geometry.y.to_numpy(),
        max_snap_distance_m=max_snap_distance_m,
        offroad_speed_kph=offroad_speed_kph,
    )
    off = candidates.loc[~snap.reachable, "site_id"].astype(str).tolist()
    if off:
        raise InputError(
            f"{len(off)} candidate site(s) lie more than {max_snap_distance_m:g} m from the road "
            f"network (e.g. {', '.join(off[:5])}): check their coordinates and CRS"
        )
    cover = coverage_matrix(
        network, origin_snap, snap, spc_threshold_min, origins_of_interest=weight > 0
    )
    selection = greedy_max_coverage(cover, weight, k)
    table = _ranked_table(candidates, origins, cover, selection, weight)
    return SiteChoice(candidates, selection, table, float(weight.sum()))


def _ranked_table(candidates, origins, cover, selection: Selection, weight) -> pd.DataFrame:
    covered = np.zeros(cover.shape[1], dtype=bool)
    rows = []
    unmet = weight > 0
    lonlat = candidates.to_crs(4326)
    for rank, (j, gain) in enumerate(zip(selection.order, selection.gains, strict=True), 1):
        cols = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        new = cols[~covered[cols] & unmet[cols]]
        covered[cols] = True
        rows.append(
            {
                "rank": rank,
                "site_id": candidates["site_id"].iloc[j],
                "name": candidates["name"].iloc[j],
                "longitude": lonlat.geometry.x.iloc[j],
                "latitude": lonlat.geometry.y.iloc[j],
                "marginal_weighted_need": gain,
                "marginal_people": origins["pop_count"].to_numpy(float)[new].sum(),
                "marginal_need_cancer": origins["need_cancer"].to_numpy(float)[new].sum(),
                "marginal_need_non_cancer": origins["need_non_cancer"].to_numpy(float)[new].sum(),
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        total = weight.sum()
        table["cumulative_weighted_need"] = table["marginal_weighted_need"].cumsum()
        table["cumulative_share_of_unmet"] = table["cumulative_weighted_need"] / total
    return table


def run_sites(
    config: RegionConfig,
    *,
    k: int,
    candidates: str = "gp_practices",
    non_cancer_weight: float = 1.0,
    remote_weight: float = 1.0,
    out_dir: str | Path | None = None,
    write: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[Results, SiteChoice, Path | None]:
    """Choose ``k`` outreach sites for a region and (by default) write the outputs."""
    if k < 1:
        raise InputError(f"--k must be at least 1 (got {k})")
    cache = Path(cache_dir) if cache_dir else _default_cache(config)
    inputs = load_inputs(config, crs=_analysis_crs(config), cache_dir=cache)
    results = analyse_with_provenance(config, inputs)
    origins = results.origins
    remote, _ = remote_classes(results.remoteness_classes)
    weight = unmet_weight(
        origins,
        non_cancer_weight=non_cancer_weight,
        remote_weight=remote_weight,
        remote_classes=remote,
    )
    cands = _candidates(candidates, results, weight, inputs.network)
    _, spc_th = _thresholds(config, origins)
    roads = config.roads
    origin_snap = inputs.network.snap(
        origins.geometry.x.to_numpy(),
        origins.geometry.y.to_numpy(),
        max_snap_distance_m=roads.max_snap_distance_m,
        offroad_speed_kph=roads.offroad_speed_kph,
    )
    choice = choose_sites(
        inputs.network,
        origins,
        origin_snap,
        cands,
        k=k,
        weight=weight,
        spc_threshold_min=spc_th,
        max_snap_distance_m=roads.max_snap_distance_m,
        offroad_speed_kph=roads.offroad_speed_kph,
    )
    settings = {
        "k": k,
        "candidates": candidates,
        "non_cancer_weight": non_cancer_weight,
        "remote_weight": remote_weight,
        "remote_classes": remote,
    }
    target = None
    if write:
        target = Path(out_dir) if out_dir else output_dir(config, None) / "sites"
        _write(results, choice, settings, target)
    return results, choice, target


def _candidates(spec: str, results: Results, weight, network) -> gpd.GeoDataFrame:
    if spec == "gp_practices":
        return gp_candidates(results.gp_practices)
    if spec == "grid":
        return grid_candidates(results.origins, weight, network)
    path = Path(spec)
    if not path.is_file():
        raise InputError(
            f"--candidates must be gp_practices, grid or a file of sites; {spec!r} is none"
        )
    return file_candidates(path, results.crs)


def summary(choice: SiteChoice) -> dict:
    """The choice's quality figures, for ``sites.json`` and the CLI."""
    sel = choice.selection
    return {
        "sites_chosen": len(sel.order),
        "weighted_need_covered": sel.covered_weight,
        "weighted_need_unmet_before": choice.total_unmet,
        "share_of_unmet_covered": sel.covered_weight / choice.total_unmet
        if choice.total_unmet > 0
        else 0.0,
        "greedy_guarantee": GREEDY_GUARANTEE,
        "certified_upper_bound": sel.upper_bound,
        "certified_ratio": sel.certified_ratio,
        "gain_evaluations": sel.evaluations,
        "candidates": len(choice.candidates),
    }


def _write(results: Results, choice: SiteChoice, settings: dict, target: Path) -> None:
    with atomic_directory(target) as tmp:
        (tmp / "tables").mkdir()
        choice.table.to_csv(
            tmp / "tables" / "site_selection.csv", index=False, float_format="%.10g"
        )
        info = {"settings": settings, **summary(choice)}
        write_atomic_text(tmp / "sites.json", json.dumps(info, indent=2, default=str))
        page = render_html(build_map(results, extra_layers=_sites_layer(choice)))
        write_atomic_text(tmp / "sites_map.html", page)
    log.info("site selection written to %s", target)


def _sites_layer(choice: SiteChoice):
    def add(fmap: folium.Map, layers: MapLayers) -> None:
        group = folium.FeatureGroup(name="Chosen outreach sites (ranked)", show=True)
        chosen = choice.candidates.to_crs(4326)
        for row in choice.table.to_dict("records"):
            geom = chosen.geometry.iloc[int(np.flatnonzero(chosen["site_id"] == row["site_id"])[0])]
            folium.Marker(
                [geom.y, geom.x],
                icon=folium.DivIcon(
                    html=f'<div class="gm-rank">{int(row["rank"])}</div>',
                    icon_size=(24, 24),
                    icon_anchor=(12, 12),
                    class_name="gm-spc",
                ),
                popup=folium.Popup(
                    f"<b>#{int(row['rank'])} {esc(row['name'])}</b><br>Newly covered need/yr: "
                    f"{row['marginal_need_cancer']:.1f} cancer, "
                    f"{row['marginal_need_non_cancer']:.1f} non-cancer<br>People: "
                    f"{row['marginal_people']:,.0f}",
                    max_width=300,
                ),
                tooltip=f"#{int(row['rank'])} {esc(row['name'])}",
            ).add_to(group)
        group.add_to(fmap)
        fmap.get_root().header.add_child(
            folium.Element(
                "<style>.gm-rank{width:24px;height:24px;border-radius:50%;background:#e7298a;"
                "color:#fff;font:bold 13px/24px sans-serif;text-align:center;"
                "border:2px solid #fff}</style>"
            )
        )
        layers.notes.append(f"{len(choice.table)} outreach sites chosen (greedy, lazy).")

    return add
