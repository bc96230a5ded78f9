"""Self-contained map pages: every Leaflet/plugin script and stylesheet inlined from a package.

Folium links Leaflet, jQuery and its plugins (MarkerCluster, Fullscreen, MeasureControl) from
CDNs. Inside health networks a map must open with no internet, so :func:`inline_assets`
replaces each CDN ``<script src>``/``<link href>`` in the rendered page with the file's content,
taken at build time from the installed ``folium-offline`` package (a repackaging of folium that
carries the exact CDN files folium 0.20 references, images already inlined as data URIs). The
only remote requests a page can then make are basemap tiles, and an offline map has none.

Bootstrap, Font Awesome and the awesome-markers plugin are dropped first: the map draws its
icons as inline SVG and needs none of them (Font Awesome would also fetch font files).
"""

from __future__ import annotations

import functools
import re

import folium

from geo.errors import GeoError

# Folium's map-level assets the page actually uses; the rest are removed before rendering.
_KEEP_JS = {"leaflet", "jquery"}
_KEEP_CSS = {"leaflet_css"}
_SCRIPT_SRC = re.compile(r'<script[^>]*\bsrc="(https?://[^"]+)"[^>]*>\s*</script>')
_LINK_HREF = re.compile(r'<link[^>]*\bhref="(https?://[^"]+)"[^>]*/?>')


@functools.lru_cache(maxsize=1)
def _cdn_files() -> dict[str, str]:
    """CDN URL -> file content, from the ``folium-offline`` package."""
    try:
        from offlinefolium.elements import _res
    except ImportError as exc:
        raise GeoError(
            "self-contained maps need the 'folium-offline' package (pip install "
            "folium-offline); reinstall gapmap with its dependencies"
        ) from exc
    return dict(_res)


def trim_default_assets(fmap: folium.Map) -> None:
    """Keep only Leaflet and jQuery (folium's popups call ``$(html)[0]``) on the map."""
    fmap.default_js = [(name, url) for name, url in fmap.default_js if name in _KEEP_JS]
    fmap.default_css = [(name, url) for name, url in fmap.default_css if name in _KEEP_CSS]


def inline_assets(page: str) -> str:
    """Replace every CDN script and stylesheet link in ``page`` with its inlined content.

    Raises
    ------
    GeoError
        If the page references a script or stylesheet the package does not carry (a folium
        plugin newer than the installed ``folium-offline``), naming the URL.
    """
    files = _cdn_files()

    def content(url: str) -> str:
        try:
            return files[url]
        except KeyError:
            raise GeoError(
                f"the map references {url}, which the installed folium-offline does not "
                "carry; install the folium-offline release matching folium's version"
            ) from None

    # Functions, not templates, as replacements: the files contain backslashes.
    page = _SCRIPT_SRC.sub(lambda m: f"<script>{content(m.group(1))}</script>", page)
    page = _LINK_HREF.sub(
        lambda m: (
            f"<style>{content(m.group(1))}</style>" if "stylesheet" in m.group(0) else m.group(0)
        ),
        page,
    )
    return page


__all__ = ["inline_assets", "trim_default_assets"]
