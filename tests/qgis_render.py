"""Load layers of a ``layers.gpkg`` in QGIS with their stored default styles and render them.

Run by ``tests/test_qgis.py`` with a Python that can import QGIS (Debian's ``/usr/bin/python3``
with ``python3-qgis``), not the project's venv::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_render.py LAYERS.gpkg OUT_DIR NAME...

Writes ``OUT_DIR/<name>.png`` (each layer drawn with its style on white) and prints one JSON
object to stdout: for each layer, whether QGIS loaded its default style from the GeoPackage,
the renderer it built (type, attribute, and each category or range with its symbol's colours),
the feature count and geometry type, and the colours of the rendered pixels: for the whole
layer, and for each category or range drawn alone (the other classes switched off). Renders
use a transparent background and no antialiasing, so pixel colours are the symbols' colours.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtGui import QColor, QImage, QPainter

SIZE_PX = 500
TOP_COLOURS = 12


def main(gpkg: str, out_dir: str, names: list[str]) -> dict:
    """Describe and render each named layer of ``gpkg``."""
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        return {name: describe(gpkg, name, Path(out_dir)) for name in names}
    finally:
        app.exitQgis()


def describe(gpkg: str, name: str, out_dir: Path) -> dict:
    """One layer: its loaded style, its features, and its renders."""
    options = QgsVectorLayer.LayerOptions(False)  # load the default style explicitly below
    layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr", options)
    if not layer.isValid():
        return {"valid": False}
    message, loaded = layer.loadDefaultStyle()
    renderer = layer.renderer().clone()  # the layer owns (and replaces) its own
    info = {
        "valid": True,
        "style_loaded": bool(loaded),
        "style_message": message,
        "features": layer.featureCount(),
        "geometry_type": QgsWkbTypes.displayString(layer.wkbType()),
        "renderer": renderer.type(),
        "attribute": renderer.classAttribute() if hasattr(renderer, "classAttribute") else None,
        "classes": classes(renderer),
    }
    if layer.featureCount() == 0:
        return info
    extent = layer.extent()
    extent.grow(max(extent.width(), extent.height()) * 0.05 + 100.0)
    image = render(layer, extent)
    save_on_white(image, out_dir / f"{name}.png")
    info["pixels"] = colours(image)
    for i, entry in enumerate(info["classes"]):
        alone = renderer.clone()
        for j in range(len(info["classes"])):
            switch(alone, j, i == j)
        layer.setRenderer(alone)
        entry["pixels"] = colours(render(layer, extent))
    return info


def classes(renderer) -> list[dict]:
    """The renderer's categories or ranges (or its one symbol), with their symbols' colours."""
    kind = renderer.type()
    if kind == "categorizedSymbol":
        return [
            {"value": str(c.value()), "label": c.label(), **symbol_colours(c.symbol())}
            for c in renderer.categories()
        ]
    if kind == "graduatedSymbol":
        return [
            {
                "lower": r.lowerValue(),
                "upper": r.upperValue(),
                "label": r.label(),
                **symbol_colours(r.symbol()),
            }
            for r in renderer.ranges()
        ]
    if kind == "singleSymbol":
        return [{"label": "", **symbol_colours(renderer.symbol())}]
    return []


def switch(renderer, index: int, on: bool) -> None:
    """Draw (or not) one category or range of a renderer."""
    if renderer.type() == "categorizedSymbol":
        renderer.updateCategoryRenderState(index, on)
    elif renderer.type() == "graduatedSymbol":
        renderer.updateRangeRenderState(index, on)


def symbol_colours(symbol) -> dict:
    """The fill and stroke of a symbol's first layer (simple marker or simple fill)."""
    layer = symbol.symbolLayer(0)
    fill, stroke = layer.fillColor(), layer.strokeColor()
    return {
        "symbol_layer": layer.layerType(),
        "fill": fill.name(),
        "fill_alpha": fill.alpha(),
        "stroke": stroke.name(),
        "stroke_alpha": stroke.alpha(),
        "stroke_drawn": layer.strokeStyle() != Qt.NoPen,
        "stroke_width": layer.strokeWidth(),
        "size": layer.size() if hasattr(layer, "size") else None,
    }


def render(layer: QgsVectorLayer, extent) -> QImage:
    """The layer drawn alone on a transparent square image, without antialiasing."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(SIZE_PX, SIZE_PX))
    settings.setOutputDpi(96)
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    settings.setFlag(QgsMapSettings.Antialiasing, False)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def colours(image: QImage) -> dict:
    """Drawn (not fully transparent) pixels and their most common colours (un-premultiplied)."""
    plain = image.convertToFormat(QImage.Format_ARGB32)
    bits = plain.constBits()
    bits.setsize(plain.sizeInBytes())
    counts = Counter(array("I", bytes(bits)))
    drawn = {argb: n for argb, n in counts.items() if argb >> 24}
    top = sorted(drawn.items(), key=lambda item: -item[1])[:TOP_COLOURS]
    return {
        "drawn": sum(drawn.values()),
        "total": plain.width() * plain.height(),
        "colours": [[f"#{argb & 0xFFFFFF:06x}", argb >> 24, n] for argb, n in top],
    }


def save_on_white(image: QImage, path: Path) -> None:
    """Save a render as a PNG on a white background (to look at)."""
    canvas = QImage(image.size(), QImage.Format_ARGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    painter.drawImage(0, 0, image)
    painter.end()
    canvas.save(str(path))


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3:])))
