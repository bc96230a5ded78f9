"""Map file size stays bounded as regions grow (issue: a million people under 15 MB)."""

from __future__ import annotations

import pytest

from geo.render.maps import MAX_VECTOR_ORIGINS, build_map, render_html
from tests.results_factory import make_results

MAX_MAP_MB = 15.0


@pytest.mark.parametrize("n_origins", [MAX_VECTOR_ORIGINS, MAX_VECTOR_ORIGINS + 1, 1_000_000])
def test_map_size_is_bounded(n_origins):
    results = make_results(n_origins, seed=3, with_hotspots=n_origins <= MAX_VECTOR_ORIGINS)
    page = render_html(build_map(results, offline=True))
    size_mb = len(page.encode("utf-8")) / 1e6
    assert size_mb < MAX_MAP_MB, f"{n_origins:,} places: {size_mb:.1f} MB"
    # Past the vector limit places become image overlays, not one marker each.
    rastered = n_origins > MAX_VECTOR_ORIGINS
    assert ("drawn as an image" in page) is rastered
    assert page.count('"type": "Point"') < (10 if rastered else n_origins * 2 + 10)


def test_vector_markers_carry_rounded_coordinates():
    page = render_html(build_map(make_results(200, seed=4), offline=True))
    import re

    coords = re.findall(r'"coordinates": \[(-?\d+\.\d+), (-?\d+\.\d+)\]', page)
    assert coords
    assert max(len(x.split(".")[1]) for pair in coords for x in pair) <= 5
