"""PNG screenshots of the demo and Isle of Wight maps and reports, as they open (default view).

    python scripts/screenshots.py [FOLDER] [--regions demo isle_of_wight] [--rerun]

Writes ``<region>_map.png`` (1280 × 800) and ``<region>_report.png`` (the whole page) into
FOLDER (default ``maps/screenshots/``) with headless Chromium (``/usr/bin/chromium``, or
``$CHROMIUM``) driven by Playwright. A region whose ``maps/<region>/map.html`` or
``report.html`` is missing is run first (``--rerun`` always runs it). The Isle of Wight reads
``$GEO_DATA_ROOT`` (default ``../shared/data``) and is skipped with a note when it is absent.
The pages are opened from disk with every network request refused, as a user without internet
would see them; basemap tiles are drawn plain grey.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REGIONS = {
    "demo": REPO / "scripts" / "regions" / "demo.yml",
    "isle_of_wight": REPO / "scripts" / "regions" / "isle_of_wight.yml",
}
VIEWPORT = {"width": 1280, "height": 800}


def _grey_tile() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (236, 236, 236)).save(buffer, format="PNG")
    return buffer.getvalue()


GREY_PNG = _grey_tile()


def ensure_outputs(name: str, config_path: Path, *, rerun: bool) -> Path | None:
    """The region's output folder, running the pipeline when its map or report is missing;
    None when the region's data are absent."""
    out = REPO / "maps" / name
    if not rerun and (out / "map.html").is_file() and (out / "report.html").is_file():
        return out
    os.environ.setdefault("GEO_DATA_ROOT", str(REPO.parent / "shared" / "data"))
    needs_data = "GEO_DATA_ROOT" in config_path.read_text(encoding="utf-8")
    if needs_data and not Path(os.environ["GEO_DATA_ROOT"]).is_dir():
        print(f"{name}: skipped, no data at $GEO_DATA_ROOT={os.environ['GEO_DATA_ROOT']}")
        return None
    from geo.config import load_config
    from geo.workflows.pipeline import run

    print(f"{name}: running the pipeline into {out}")
    run(load_config(config_path), out_dir=out, force=True)
    return out


def _route(route) -> None:
    url = route.request.url
    if url.startswith(("file:", "data:", "about:")):
        route.continue_()
    elif "tile.openstreetmap.org" in url:
        route.fulfill(status=200, content_type="image/png", body=GREY_PNG)
    else:
        route.abort()


def shoot(browser, page_path: Path, png: Path, *, full_page: bool) -> list[str]:
    """Screenshot one page; returns its console and page errors."""
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", _route)
    page.goto(page_path.as_uri(), wait_until="load")
    page.wait_for_timeout(500)  # let Leaflet finish fitting and drawing
    page.screenshot(path=str(png), full_page=full_page)
    page.close()
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(REPO / "maps" / "screenshots"))
    parser.add_argument("--regions", nargs="+", choices=sorted(REGIONS), default=list(REGIONS))
    parser.add_argument("--rerun", action="store_true", help="run the pipeline again first")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    status = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu"],
        )
        for name in args.regions:
            out = ensure_outputs(name, REGIONS[name], rerun=args.rerun)
            if out is None:
                continue
            for kind, full_page in (("map", False), ("report", True)):
                png = folder / f"{name}_{kind}.png"
                errors = shoot(browser, out / f"{kind}.html", png, full_page=full_page)
                print(f"{png}" + (f"  ({len(errors)} page errors: {errors[0]})" if errors else ""))
                status = status or int(bool(errors))
        browser.close()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
