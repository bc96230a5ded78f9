"""A batch's own outputs: ``batch_summary.csv`` and ``index.html`` (links to each region).

Both are written atomically (temporary file, then rename). The index page is rendered with
Jinja2 with autoescaping on, so region names and error messages are shown as text, never as HTML.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from geo import __version__
from geo.render.outdir import write_atomic_text
from geo.render.pages import template_env
from geo.text import safe_cell

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "region",
    "status",
    "seconds",
    "pop_count",
    "need_cancer",
    "need_non_cancer",
    "need_total",
    "need_within_spc_share",
    "need_unknown_spc_share",
    "out_dir",
    "error",
)


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per region in :data:`SUMMARY_COLUMNS` order (missing figures are NaN)."""
    frame = pd.DataFrame(rows).reindex(columns=list(SUMMARY_COLUMNS))
    frame["error"] = frame["error"].fillna("")
    return frame


def write_summary(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write ``out_dir/batch_summary.csv``.

    Columns: ``region``, ``status`` (ok / failed / skipped), ``seconds`` (this batch's run time;
    0 for skipped), ``pop_count``, ``need_cancer``, ``need_non_cancer``, ``need_total`` (need per
    year), ``need_within_spc_share`` (share of need within reach of a specialist service that
    would accept it, 0-1), ``need_unknown_spc_share`` (share whose access is unknown), ``out_dir``
    (the region's folder, relative to ``out_dir``) and ``error``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = summary_frame(rows)
    for col in ("region", "error", "out_dir"):
        frame[col] = frame[col].map(safe_cell)
    text = frame.to_csv(index=False, float_format="%.10g")
    return write_atomic_text(out_dir / "batch_summary.csv", text)


def write_index(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write ``out_dir/index.html``: every region, its status and links to its map and report."""
    out_dir = Path(out_dir)
    env = template_env()
    entries = [_entry(row, out_dir) for row in rows]
    counts = {s: sum(e["status"] == s for e in entries) for s in ("ok", "skipped", "failed")}
    html = env.get_template("batch_index.html.j2").render(
        regions=entries,
        counts=counts,
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_atomic_text(out_dir / "index.html", html)


def _entry(row: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Template fields of one region; links only to files that exist."""
    folder = out_dir / row["slug"]
    links = {
        name: f"{quote(row['slug'])}/{name}.html"
        for name in ("map", "report")
        if (folder / f"{name}.html").is_file() and row["status"] != "failed"
    }
    share = row.get("need_within_spc_share")
    unknown = row.get("need_unknown_spc_share")
    return {
        "name": row["region"],
        "status": row["status"],
        "seconds": row.get("seconds"),
        "pop_count": row.get("pop_count"),
        "need_total": row.get("need_total"),
        "share_pct": None if share is None or share != share else 100 * share,
        # beside the within share, or the rest reads as beyond reach
        "unknown_pct": None if unknown is None or unknown != unknown else 100 * unknown,
        "links": links,
        "error": row.get("error") or "",
    }
