"""The embedded demo region: a synthetic inland-Australian region, generated deterministically.

:func:`generate_demo` writes the demo inputs (:mod:`geo.demo.generator`, laid out by
:mod:`geo.demo.geography`). ``gapmap demo`` runs :func:`demo_run`'s config: in a source checkout
the committed ``data/demo/`` and ``scripts/regions/demo.yml``; in an installed package the same
files generated once into a cache folder (the generator is deterministic and tested to
reproduce ``data/demo/`` exactly) with the packaged config ``demo.yml``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from geo import __version__
from geo.demo.generator import DEFAULT_SEED, FILES, generate_demo

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SEED", "FILES", "demo_cache_dir", "demo_run", "generate_demo"]

_CHECKOUT = Path(__file__).resolve().parents[2]
CHECKOUT_CONFIG = _CHECKOUT / "scripts" / "regions" / "demo.yml"
CHECKOUT_DATA = _CHECKOUT / "data" / "demo"


def demo_cache_dir() -> Path:
    """Where an installed gapmap keeps its generated demo inputs (``$GAPMAP_CACHE`` or
    ``~/.cache/gapmap``), one folder per version."""
    base = os.environ.get("GAPMAP_CACHE") or Path.home() / ".cache" / "gapmap"
    return Path(base) / f"demo-{__version__}"


def _in_checkout() -> bool:
    return CHECKOUT_CONFIG.is_file() and all((CHECKOUT_DATA / name).is_file() for name in FILES)


def _generated() -> Path:
    """The packaged demo config beside inputs generated once into the cache folder."""
    folder = demo_cache_dir()
    config = folder / "demo.yml"
    if config.is_file() and all((folder / name).is_file() for name in FILES):
        return config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=folder.parent))
    try:
        log.info("generating the demo inputs into %s", folder)
        generate_demo(tmp)
        with resources.files(__name__).joinpath("demo.yml").open("rb") as src:
            (tmp / "demo.yml").write_bytes(src.read())
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return config


def demo_run(out: Path | None) -> tuple[Path, Path | None]:
    """The demo's config file and output folder for ``gapmap demo [--out DIR]``.

    Default output: ``maps/demo`` of the checkout (as its config says), or ``maps/demo`` in the
    current folder for an installed package.
    """
    if _in_checkout():
        return CHECKOUT_CONFIG, out
    return _generated(), out if out is not None else Path("maps") / "demo"
