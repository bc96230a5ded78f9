"""The map renders byte for byte as branca renders it, only faster."""

from __future__ import annotations

import itertools

import branca.element
import pytest
from jinja2 import Template

from geo.render.branca_render import literal_fragments, render_page
from geo.render.maps import build_map


def _build_with_counted_ids(results, monkeypatch):
    """The map with element ids 0, 1, 2, … (branca draws them at random)."""
    counter = itertools.count()
    monkeypatch.setattr(
        branca.element.Element, "_generate_id", classmethod(lambda cls: f"{next(counter):032x}")
    )
    return build_map(results).get_root()


def test_fast_render_equals_branca_render(demo_results, monkeypatch):
    fast = render_page(_build_with_counted_ids(demo_results, monkeypatch))
    assert branca.element.Template is Template  # restored afterwards
    assert fast == _build_with_counted_ids(demo_results, monkeypatch).render()
    assert len(fast) > 100_000


@pytest.mark.parametrize(
    "source",
    [
        "plain text\n",
        "two\n\n",
        "  {x: 1}\n",
        "{{ 1 + 1 }}\n",
        "{% if true %}y{% endif %}",
        "a\r\nb",
    ],
)
def test_fragments_render_as_jinja_would(source):
    element_text = Template(source).render()
    with literal_fragments():
        assert branca.element.Element(source).render() == element_text


def _reference_geojson(frame, columns):
    """GeoJSON the plain way: shapely's mapping per feature, NaN and inf as null."""
    import numpy as np
    import shapely

    geoms = shapely.set_precision(frame.geometry.to_numpy(), 1e-5)
    features = []
    for geom, props in zip(geoms, frame[columns].to_dict("records"), strict=True):
        if geom is None or geom.is_empty:
            continue
        props = {
            k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in props.items()
        }
        features.append(
            {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}
        )
    return {"type": "FeatureCollection", "features": features}


@pytest.mark.parametrize("kind", ["points", "polygons"])
def test_geojson_equals_shapely_mapping(kind):
    import json

    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Point, Polygon

    from geo.render.map_layers import geojson

    rng = np.random.default_rng(3)
    n = 40
    if kind == "points":
        geoms = [Point(x, y) for x, y in rng.uniform(-180, 180, (n, 2))]
    else:
        geoms = [Point(x, y).buffer(0.01) for x, y in rng.uniform(-80, 80, (n, 2))]
    geoms[3] = Polygon() if kind == "polygons" else Point()
    geoms[5] = None
    frame = gpd.GeoDataFrame(
        {
            "t": rng.uniform(0, 90, n),
            "count": rng.integers(0, 9, n),
            "name": [f"<b>{i}</b> & 'x'" for i in range(n)],
            "mixed": [np.nan if i % 4 else "text" for i in range(n)],
        },
        geometry=geoms,
        crs=4326,
    )
    frame.loc[[1, 7], "t"] = [np.nan, np.inf]
    columns = ["t", "count", "name", "mixed"]
    got = geojson(frame, columns)
    assert json.dumps(got) == json.dumps(_reference_geojson(frame, columns))
    assert len(got["features"]) == n - 2


def test_an_invalid_outline_is_repaired_not_a_failed_map():
    """A self-intersecting polygon (GEOS cannot snap it to the 1 m grid as it is) is drawn
    repaired instead of failing the whole map."""
    import geopandas as gpd
    import shapely

    from geo.render.map_layers import geojson

    bow_tie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    with pytest.raises(shapely.errors.GEOSException):
        shapely.set_precision(bow_tie, 1e-5)
    square = shapely.box(2, 2, 3, 3)
    frame = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[bow_tie, square], crs=4326)
    features = geojson(frame, ["n"])["features"]
    assert [f["properties"]["n"] for f in features] == [1, 2]
    drawn = shapely.geometry.shape(features[0]["geometry"])
    assert drawn.is_valid and drawn.area == pytest.approx(0.5)  # both triangles kept
    assert shapely.geometry.shape(features[1]["geometry"]).equals(square)
