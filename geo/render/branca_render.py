"""Render a folium map without recompiling every rendered fragment as a Jinja template.

branca renders each element's header, html and script fragment and then wraps the resulting
text in a new ``Element``, whose constructor compiles that text as a Jinja template before it
is rendered again. For fragments that hold a layer's GeoJSON this lexes megabytes of data for
nothing: on the demo region it is a third of the map's rendering time. A fragment with no
Jinja syntax renders to itself (less one trailing newline, as Jinja's default
``keep_trailing_newline=False`` drops it), so while rendering, such fragments get a literal
template; anything with Jinja syntax or a carriage return (which Jinja would normalise) still
goes through Jinja. The page is byte for byte the same (tested).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import branca.element
from jinja2 import Template

_JINJA_MARKERS = ("{{", "{%", "{#", "\r")


class _LiteralTemplate:
    """A template whose text has no Jinja syntax: it renders to that text."""

    def __init__(self, text: str) -> None:
        self._text = text[:-1] if text.endswith("\n") else text

    def render(self, *args: object, **kwargs: object) -> str:
        return self._text


def _template(source: str) -> Template | _LiteralTemplate:
    if any(marker in source for marker in _JINJA_MARKERS):
        return Template(source)
    return _LiteralTemplate(source)


@contextlib.contextmanager
def literal_fragments() -> Iterator[None]:
    """While active, branca compiles only fragments that contain Jinja syntax."""
    previous = branca.element.Template
    branca.element.Template = _template
    try:
        yield
    finally:
        branca.element.Template = previous


def render_page(root: branca.element.Element) -> str:
    """``root.render()`` with literal fragments (see the module docstring)."""
    with literal_fragments():
        return root.render()
