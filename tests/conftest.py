"""Shared fixtures: repository paths and the real data in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "data" / "demo"
DEMO_CONFIG = REPO_ROOT / "scripts" / "regions" / "demo.yml"
IOW_CONFIG = REPO_ROOT / "scripts" / "regions" / "isle_of_wight.yml"


def shared_data_root() -> Path:
    """``$GEO_DATA_ROOT`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("GEO_DATA_ROOT", REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared real-data folder; tests using it skip cleanly when it is absent."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set GEO_DATA_ROOT)")
    return root


@pytest.fixture(scope="session")
def iow_dir(data_root: Path) -> Path:
    """The Isle of Wight data folder."""
    path = data_root / "uk" / "isle_of_wight"
    if not path.is_dir():
        pytest.skip(f"Isle of Wight data not found at {path}")
    return path


@pytest.fixture(scope="session")
def au_dir(data_root: Path) -> Path:
    """The Australian national data folder."""
    path = data_root / "au" / "national"
    if not path.is_dir():
        pytest.skip(f"Australian data not found at {path}")
    return path


@pytest.fixture()
def geo_data_root_env(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Set ``GEO_DATA_ROOT`` for configs that use ``${GEO_DATA_ROOT}``."""
    monkeypatch.setenv("GEO_DATA_ROOT", str(data_root))
    return data_root


@pytest.fixture(scope="session")
def iow_lsoa_origins(iow_dir: Path):
    """Isle of Wight LSOA population-weighted centroids as origins (EPSG:27700)."""
    from geo.population import origins_from_points

    return origins_from_points(
        iow_dir / "population" / "lsoa11_isle_of_wight_pwc_pop2017_ruc11.csv",
        crs="EPSG:27700",
        count_column="pop_mid2017_all_ages",
        id_column="lsoa11cd",
        x_column="pwc_longitude",
        y_column="pwc_latitude",
    )
