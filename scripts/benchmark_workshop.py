"""Benchmark the workshop page: file size, load time and toggle response in Chromium; prints JSON.

Two pages: the demo region (3,510 places, 5 specialist services, its 16 GP practices as
candidate clinics) and a synthetic region of ``--origins`` places (100,000 by default; the
road-like grid of ``scripts/benchmark_analysis.py``, 12 specialist services, its 300 GP
practices as candidate clinics; its 63 km square is crossed in about an hour, so every service
and candidate is within the 120-minute slider of every place: the densest case the page can
hold). Each page is opened from disk in headless Chromium with every network request refused,
and a sequence of toggles (services off and on, clinics on and off, telehealth links, both
sliders) is timed in the page: ``sync_ms`` is the recomputation and redraw of panel and map,
``frame_ms`` adds the wait for the next painted frame.

    python scripts/benchmark_workshop.py [--origins 100000] [--toggles 24] [--keep DIR]

Needs Chromium (``/usr/bin/chromium``) and the test extra's ``playwright``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

CHROMIUM = "/usr/bin/chromium"
API = "window.gapmapWorkshop"
TIMED = """async ([call, args]) => {
    const api = window.gapmapWorkshop, t0 = performance.now();
    api[call](...args);
    const sync = performance.now() - t0;
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    return [sync, performance.now() - t0];
}"""


def demo_page(folder: Path) -> Path:
    """The demo's workshop page (as ``gapmap workshop scripts/regions/demo.yml`` writes it)."""
    from geo.config import load_config
    from geo.workflows.workshop import run_workshop

    config = load_config(REPO / "scripts" / "regions" / "demo.yml")
    outcome = run_workshop(config, out_dir=folder / "demo", cache_dir=folder / "cache")
    return outcome.out_dir / "workshop.html"


def synthetic_page(folder: Path, n_origins: int) -> tuple[Path, dict]:
    """A synthetic region's workshop page, and how long each step took (seconds)."""
    from benchmark_analysis import CRS, synthetic_inputs

    from geo.config import parse_config
    from geo.inputs.region import RegionInputs
    from geo.routing.network import Snaps
    from geo.workflows.pipeline import analyse
    from geo.workflows.workshop import coverage_only, prepare_workshop, write_workshop

    steps = {}
    start = time.perf_counter()
    net, origins, gps, spcs, remoteness, need = synthetic_inputs(n_origins)
    config = parse_config(
        {
            "region": {"name": f"synthetic {n_origins:,}", "crs": CRS},
            "roads": {"path": "synthetic.osm"},
            "gp_practices": {"path": "gp.csv", "columns": {"id": "id", "name": "name"}},
            "specialist_services": {"path": "spc.csv", "columns": {"id": "id", "name": "name"}},
            "population": {"kind": "points", "path": "pop.csv", "count": "n"},
        },
        path=REPO / "synthetic.yml",  # paths are placeholders: nothing is read
    )
    config = coverage_only(config)
    snaps = Snaps.of(net, origins, gps, spcs)
    inputs = RegionInputs(net, gps, spcs, origins, None, remoteness, need, net.crs, snaps)
    steps["inputs_s"] = time.perf_counter() - start
    baseline = analyse(config, inputs)
    steps["baseline_s"] = time.perf_counter() - start - steps["inputs_s"]
    mark = time.perf_counter()
    data = prepare_workshop(config, inputs, baseline)
    steps["precompute_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    write_workshop(data, folder / "synthetic", candidates="gp_practices")
    steps["write_s"] = time.perf_counter() - mark
    return folder / "synthetic" / "workshop.html", {k: round(v, 2) for k, v in steps.items()}


def toggles(page, n: int, seed: int = 0) -> list[tuple[str, list]]:
    """``n`` varied toggles that each change the state (and keep it one the page accepts)."""
    rng = random.Random(seed)
    services = [s["id"] for s in page.evaluate(f"{API}.services()")]
    candidates = [c["id"] for c in page.evaluate(f"{API}.candidates()")]
    practices = [p["id"] for p in page.evaluate(f"{API}.practices()")]
    gp = page.evaluate(f"{API}.thresholds()")
    steps = []
    for i in range(n):
        kind = i % 6
        if kind in (0, 1):  # lose a service, then get it back
            sid = services[(i // 6) % len(services)]
            steps.append(("setService", [sid, kind == 1]))
        elif kind in (2, 3):  # hold a clinic, then drop it
            cid = candidates[(i // 6) % len(candidates)] if candidates else None
            if cid is not None:
                steps.append(("setCandidate", [cid, kind == 2]))
        elif kind == 4:
            steps.append(("setTelehealth", [rng.choice(practices), True]))
        else:
            steps.append(
                (
                    "setThresholds",
                    [
                        rng.randint(int(gp["gpRange"][0]) + 5, int(gp["gpRange"][1])),
                        rng.randint(int(gp["spcRange"][0]) + 5, int(gp["spcRange"][1])),
                    ],
                )
            )
    return steps


def measure(browser, path: Path, n_toggles: int) -> dict:
    """Open a page with the network blocked and time its load and its toggles."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors, remote = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))

    def block(route):
        if route.request.url.startswith(("file:", "data:", "about:", "blob:")):
            return route.continue_()
        remote.append(route.request.url)
        return route.abort()

    page.route("**/*", block)
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(f"{API} && {API}.loaded", timeout=300_000)
    load_s = time.perf_counter() - start
    timings: dict[str, list[tuple[float, float]]] = {}
    for call, args in toggles(page, n_toggles):
        sync, frame = page.evaluate(TIMED, [call, args])
        timings.setdefault(call, []).append((sync, frame))
    # Through the panel, as a participant does: a checkbox click.
    page.locator("#gm-services input[type=checkbox]").first.click()
    click_ms = page.evaluate(f"{API}.lastUpdateMs")
    page.close()
    every = [t for values in timings.values() for t in values]
    return {
        "file_mb": round(path.stat().st_size / 1e6, 2),
        "load_s": round(load_s, 2),
        "toggles": len(every),
        "sync_ms_median": round(statistics.median(t[0] for t in every), 1),
        "sync_ms_max": round(max(t[0] for t in every), 1),
        "frame_ms_median": round(statistics.median(t[1] for t in every), 1),
        "frame_ms_max": round(max(t[1] for t in every), 1),
        "panel_click_ms": round(click_ms, 1),
        "by_toggle_ms_max": {k: round(max(t[1] for t in v), 1) for k, v in timings.items()},
        "page_errors": errors,
        "network_requests": remote,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--origins", type=int, default=100_000)
    parser.add_argument("--toggles", type=int, default=24)
    parser.add_argument("--keep", type=Path, default=None, help="keep the pages in this folder")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        demo = demo_page(folder)
        large, steps = synthetic_page(folder, args.origins)
        report = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            report["demo"] = measure(browser, demo, args.toggles)
            report[f"synthetic_{args.origins}"] = {
                **measure(browser, large, args.toggles),
                "build": steps,
            }
            browser.close()
    report["targets"] = {"demo_toggle_ms": 100, "large_toggle_ms": 500, "large_file_mb": 10}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
