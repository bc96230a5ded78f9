"""Report pages laid out from their content, without the analysis stack.

A page's *content* is everything its template shows: sentences, protected tables, drawn
charts and maps, provenance. It is computed once from a run's results
(:func:`geo.render.report.report_content`, with pandas). A run stores the content of its
report and of every sub-area's workshop pack beside its outputs (:mod:`geo.store`), so
``gapmap report`` lays the pages out again with Jinja2 alone: it never imports pandas or
geopandas when the run's inputs are unchanged (a test checks this).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from geo.errors import GeoError
from geo.render.outdir import atomic_directory, write_atomic_text
from geo.text import safe_cell

log = logging.getLogger(__name__)

PACK_INDEX_COLUMNS = ("area_id", "area_name", "file")


@dataclass
class ReportTable:
    """A table as the report shows it: the first rows, the rest folded, and its CSV.

    Cells are text (numbers already formatted); ``numeric`` marks right-aligned columns.
    """

    columns: list[str]
    numeric: list[bool]
    head: list[list[str]]
    rest: list[list[str]]
    csv: str | None

    @property
    def rows(self) -> int:
        """How many rows the table has in all."""
        return len(self.head) + len(self.rest)


@functools.cache
def template_env() -> Environment:
    """The Jinja2 environment of the package's HTML templates (autoescaping on).

    One per process, so each template is compiled once however many reports (packs) render.
    """
    env = Environment(
        loader=PackageLoader("geo.render", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    # ``tojson`` data is read by the browser's JSON.parse, which refuses NaN: fail here, on
    # the first page that would carry one, rather than write a page that cannot load.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "allow_nan": False}
    return env


def render_page(content: dict[str, Any]) -> str:
    """The report page (a region's or a pack's) laid out from its content."""
    return template_env().get_template("report.html.j2").render(**content)


def content_json(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` as plain JSON data (charts as SVG text, tables as mappings)."""
    return {
        **content,
        "charts": {name: str(svg) for name, svg in content["charts"].items()},
        "tables": {
            name: None if table is None else dataclasses.asdict(table)
            for name, table in content["tables"].items()
        },
    }


def content_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """The content :func:`content_json` made plain, ready for :func:`render_page` again.

    The charts are gapmap's own drawings, read back from the run's store, so they are
    marked safe again (their input text was escaped when they were drawn).
    """
    return {
        **data,
        "charts": {name: Markup(svg) for name, svg in data["charts"].items()},
        "tables": {
            name: None if table is None else ReportTable(**table)
            for name, table in data["tables"].items()
        },
    }


def write_page(path: str | Path, content: dict[str, Any], *, pdf: bool = False) -> Path:
    """Lay out a report page and write it atomically (and ``<name>.pdf`` beside it when asked).

    Parameters
    ----------
    path
        The HTML file to write.
    content
        The page's content (:func:`geo.render.report.report_content`).
    pdf
        Also write a PDF with WeasyPrint (an optional dependency; a clear error if missing).

    Returns
    -------
    pathlib.Path
        The written HTML file.
    """
    path = Path(path)
    page = render_page(content)
    pdf_bytes = html_to_pdf(page) if pdf else None  # before writing: fail without outputs
    write_atomic_text(path, page)
    if pdf_bytes is not None:
        tmp = path.with_suffix(".pdf.tmp")
        tmp.write_bytes(pdf_bytes)
        tmp.replace(path.with_suffix(".pdf"))
    log.info("report written to %s", path)
    return path


def html_to_pdf(page: str) -> bytes:
    """The report as PDF through WeasyPrint, when it is installed."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint present, Pango libraries not
        raise GeoError(
            "PDF output needs WeasyPrint and its Pango libraries (pip install weasyprint; "
            f"apt-get install libpango-1.0-0 libpangoft2-1.0-0): {exc}"
        ) from exc
    return HTML(string=page).write_pdf()


def write_pack_pages(
    packs: Sequence[dict[str, Any]], out_dir: str | Path, *, pdf: bool = False
) -> list[Path]:
    """Write workshop packs into ``out_dir`` (replaced atomically), with ``index.csv``.

    Parameters
    ----------
    packs
        One mapping per pack, in sub-area order: ``area_id``, ``area_name``, ``file`` and its
        page ``content`` as plain JSON data (:func:`content_json`).
    out_dir
        The packs folder.
    pdf
        Also write each pack as PDF.

    Returns
    -------
    list of pathlib.Path
        The written reports, in sub-area order, plus ``index.csv`` listing them.
    """
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, kind="packs") as tmp:
        for pack in packs:
            write_page(tmp / pack["file"], content_from_json(pack["content"]), pdf=pdf)
        write_atomic_text(tmp / "index.csv", pack_index_csv(packs))
    log.info("%d workshop packs written to %s", len(packs), out_dir)
    return [*(out_dir / pack["file"] for pack in packs), out_dir / "index.csv"]


def pack_index_csv(packs: Sequence[dict[str, Any]]) -> str:
    """The packs' ``index.csv``: each sub-area's id, name and report file (cells safe from
    spreadsheet formulas, as in every CSV gapmap writes)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(PACK_INDEX_COLUMNS)
    for pack in packs:
        writer.writerow([safe_cell(_text(pack[column])) for column in PACK_INDEX_COLUMNS])
    return text.getvalue()


def _text(value: object) -> str:
    return "" if value is None else str(value)
