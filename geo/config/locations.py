"""Where a region's files are: the inputs its config reads (with their hashes and the key of
the results computed from them) and the folder its outputs go to.

Pure Python on top of the config models, so a command that only needs to know whether a
run's stored results still hold (``gapmap report``) can ask without loading the analysis.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from geo import __version__
from geo.config.files import slugify
from geo.config.region import RegionConfig


def sha256_file(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (for run.json provenance and caches)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def input_files(config: RegionConfig) -> dict[str, Path]:
    """Every input file of a region config, by role (for hashes and resuming)."""
    files = {
        "config": config.source_path,
        "roads": config.roads.path,
        "gp_practices": config.gp_practices.path,
        "specialist_services": config.specialist_services.path,
        "population": config.population.path,
        "population_density": config.population.density_raster,
        "region_boundary": config.region.boundary,
        "remoteness": config.remoteness.path if config.remoteness else None,
        "subareas": config.subareas.path if config.subareas else None,
        "deaths": config.need.deaths.path if config.need.deaths else None,
        "need_smr": config.need.smr.path if config.need.smr else None,
    }
    for section in ("gp_practices", "specialist_services", "population"):
        cfg = getattr(config, section)
        if cfg.geocode is not None and cfg.geocode.postcodes is not None:
            files[f"{section}_postcodes"] = cfg.geocode.postcodes.path
        table = getattr(cfg, "capacity_table", None)
        if table is not None:
            files[f"{section}_capacity"] = table.path
    return {k: v for k, v in files.items() if v is not None}


def input_hashes(config: RegionConfig) -> dict[str, dict[str, str | None]]:
    """Each input file's path and SHA-256 (None for a file that does not exist)."""
    return {
        name: {"path": str(path), "sha256": sha256_file(path) if path.is_file() else None}
        for name, path in input_files(config).items()
    }


def results_key(config: RegionConfig, hashes: dict[str, dict[str, str | None]]) -> str:
    """What a run's results depend on, as one hash: gapmap's version, the settings and every
    input file's bytes (see :mod:`geo.store`)."""
    basis = {
        "version": __version__,
        "settings": config.model_dump(mode="json", exclude={"output", "source_path"}),
        "inputs": {name: entry["sha256"] for name, entry in hashes.items()},
    }
    text = json.dumps(basis, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def output_dir(config: RegionConfig, out_dir: str | Path | None) -> Path:
    """The output folder: ``--out``, else ``output.dir``, else ``maps/<region slug>``."""
    if out_dir is not None:
        return Path(out_dir)
    if config.output.dir is not None:
        return config.output.dir
    return Path("maps") / slugify(config.region.name)
