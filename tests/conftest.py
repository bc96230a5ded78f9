"""Shared fixtures: repository paths and the real data in ../shared/data (skipped when absent)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "data" / "demo"
DEMO_CONFIG = REPO_ROOT / "scripts" / "regions" / "demo.yml"
IOW_CONFIG = REPO_ROOT / "scripts" / "regions" / "isle_of_wight.yml"


def pytest_configure(config) -> None:
    """Keep built road networks (and any generated demo) in one folder for this test session,
    shared by the xdist workers, instead of ``.cache/`` folders beside the repository's
    configs."""
    if "workerinput" in getattr(config, "__dict__", {}) or os.environ.get("GAPMAP_CACHE"):
        return  # a worker inherits the controller's folder; a caller's choice is kept
    folder = Path(tempfile.mkdtemp(prefix="gapmap-test-cache-"))
    os.environ["GAPMAP_CACHE"] = str(folder)
    config.gapmap_test_cache = folder


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "gapmap_test_cache", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_report_header(config) -> str:
    """Which pandas, NumPy and pyarrow the run uses (the oldest-supported run lays older ones)."""
    import numpy
    import pandas
    import pyarrow

    return f"pandas {pandas.__version__}, numpy {numpy.__version__}, pyarrow {pyarrow.__version__}"


def shared_data_root() -> Path:
    """``$GEO_DATA_ROOT`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("GEO_DATA_ROOT", REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(autouse=True)
def _one_process_unless_asked(monkeypatch):
    """Each test starts as a library call, in one process (as ``main`` runs unless the
    console script calls it); :func:`spy_background` lets the worker run for one test."""
    monkeypatch.setattr("geo.parallel._BACKGROUND_ENABLED", [])


def spy_background(monkeypatch, module) -> list[tuple]:
    """Let ``module``'s :func:`~geo.parallel.in_background` start a worker (two processes, as
    the CLI allows) and record the positional arguments of each call."""
    from geo.parallel import WORKERS_ENV

    calls: list[tuple] = []
    real = module.in_background
    monkeypatch.setattr(module, "in_background", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr("geo.parallel._BACKGROUND_ENABLED", [True])  # as the CLI does
    monkeypatch.setenv(WORKERS_ENV, "2")
    return calls


@pytest.fixture(autouse=True)
def _library_logging():
    """Undo the CLI's logging set-up after each test (``main`` configures the ``geo`` logger
    for the terminal, which would hide later tests' records from ``caplog``)."""
    yield
    logger = logging.getLogger("geo")
    logger.handlers[:] = [h for h in logger.handlers if isinstance(h, logging.NullHandler)]
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


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
    from geo.inputs.population import origins_from_points

    return origins_from_points(
        iow_dir / "population" / "lsoa11_isle_of_wight_pwc_pop2017_ruc11.csv",
        crs="EPSG:27700",
        count_column="pop_mid2017_all_ages",
        id_column="lsoa11cd",
        x_column="pwc_longitude",
        y_column="pwc_latitude",
        input_crs="EPSG:4326",
    )


@pytest.fixture(scope="session")
def demo_config():
    """The demo region's config (frozen: derive variants with ``model_copy``)."""
    from geo.config import load_config

    return load_config(DEMO_CONFIG)


@pytest.fixture(scope="session")
def demo_inputs(demo_config, tmp_path_factory):
    """The demo region's loaded inputs, read and snapped once per session (per xdist worker).

    Analyse them with any config variant that keeps the inputs (thresholds, uncertainty,
    catchments); do not modify them.
    """
    from geo.workflows.pipeline import load_inputs

    return load_inputs(demo_config, cache_dir=tmp_path_factory.mktemp("demo_cache"))


@pytest.fixture(scope="session")
def demo_outcome(demo_config, demo_inputs, tmp_path_factory):
    """The demo region run once per test session, outputs written (as ``gapmap run`` does).

    Returns a :class:`~geo.workflows.pipeline.RunOutcome`; its ``out_dir`` holds the files.
    Tests must not modify the results or the folder (copy them first).
    """
    from geo.workflows.pipeline import RunOutcome, analyse, write

    results = analyse(demo_config, demo_inputs)
    out = tmp_path_factory.mktemp("demo_run") / "out"
    files = write(results, out, demo_config)
    return RunOutcome(results=results, out_dir=out, files=files)


@pytest.fixture(scope="session")
def demo_results(demo_outcome):
    """The demo run's :class:`~geo.results.Results` (shared: do not modify)."""
    return demo_outcome.results


@pytest.fixture(scope="session")
def iow_outcome(tmp_path_factory, data_root):
    """The Isle of Wight run once per session, outputs written (skipped without real data)."""
    from geo.config import load_config
    from geo.workflows.pipeline import run

    previous = os.environ.get("GEO_DATA_ROOT")
    os.environ["GEO_DATA_ROOT"] = str(data_root)
    try:
        config = load_config(IOW_CONFIG)
    finally:
        if previous is None:
            os.environ.pop("GEO_DATA_ROOT", None)
        else:
            os.environ["GEO_DATA_ROOT"] = previous
    out = tmp_path_factory.mktemp("iow_run") / "out"
    return run(config, out_dir=out, cache_dir=tmp_path_factory.mktemp("iow_cache"))


@pytest.fixture(scope="session")
def demo_scenario(demo_config, demo_inputs, tmp_path_factory):
    """The shipped demo scenario (west outreach), analysed and written once per session."""
    from geo.config import load_scenario
    from geo.workflows.scenario import analyse_scenario, scenario_config, write_scenario

    scenario = load_scenario(REPO_ROOT / "scripts" / "scenarios" / "demo_west_outreach.yml")
    config = scenario_config(demo_config, scenario)
    outcome = analyse_scenario(config, demo_inputs, scenario)
    return write_scenario(config, scenario, outcome, tmp_path_factory.mktemp("scenario") / "out")


@pytest.fixture(scope="session")
def demo_sites(demo_config, demo_inputs, demo_results, tmp_path_factory):
    """Three outreach sites chosen for the demo, written once per session.

    Returns ``(results, choice, out_dir)`` as :func:`geo.workflows.sites.run_sites` does.
    """
    from geo.workflows.sites import select_sites, write_sites

    choice, settings = select_sites(demo_config, demo_inputs, demo_results, k=3)
    out = tmp_path_factory.mktemp("sites") / "out"
    write_sites(demo_results, choice, settings, out)
    return demo_results, choice, out
