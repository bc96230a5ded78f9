"""The site-selection map: the region's map with the chosen outreach sites, ranked."""

from __future__ import annotations

from pathlib import Path

import folium
import numpy as np

from geo.analysis.sites import SiteChoice
from geo.render.map_legend import swatch
from geo.render.map_style import esc
from geo.render.maps import MapLayers, build_map, render_html
from geo.render.outdir import write_atomic_text
from geo.render.palette import SITE_COLOUR
from geo.results import Results


def write_sites_map(
    results: Results, choice: SiteChoice, path: Path, *, offline: bool = False
) -> Path:
    """Build the map with the chosen sites and write it atomically."""
    page = render_html(build_map(results, offline=offline, extra_layers=_sites_layer(choice)))
    return write_atomic_text(path, page)


def _sites_layer(choice: SiteChoice):
    def add(fmap: folium.Map, layers: MapLayers) -> None:
        group, block = layers.group(
            "Chosen outreach sites (ranked)",
            show=True,
            title="Chosen outreach sites",
            rows=[swatch(SITE_COLOUR, "Site, numbered by rank (greedy choice)")],
        )
        chosen = choice.candidates.to_crs(4326)
        for row in choice.table.to_dict("records"):
            geom = chosen.geometry.iloc[int(np.flatnonzero(chosen["site_id"] == row["site_id"])[0])]
            folium.Marker(
                [geom.y, geom.x],
                icon=folium.DivIcon(
                    html=f'<div class="gm-rank">{int(row["rank"])}</div>',
                    icon_size=(24, 24),
                    # Set off up and right: a site at a GP practice leaves the practice's
                    # marker visible and clickable.
                    icon_anchor=(-2, 26),
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
                f"<style>.gm-rank{{width:24px;height:24px;border-radius:50%;background:{SITE_COLOUR};"
                "color:#fff;font:bold 13px/24px sans-serif;text-align:center;"
                "border:2px solid #fff}</style>"
            )
        )
        block.notes.append(sites_note(choice))

    return add


def sites_note(choice: SiteChoice) -> str:
    """How many sites were chosen, or why none was."""
    if choice.total_unmet <= 0:
        return "No site chosen: no need lies beyond specialist reach."
    return f"{len(choice.table)} outreach sites chosen (greedy, lazy)."
