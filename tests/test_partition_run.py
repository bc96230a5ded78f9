"""A region run with ``partition:`` writes the same tables as the whole-network run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.analysis.region import search_limit_min
from geo.config import PartitionConfig, load_config
from geo.errors import InputError, InputErrors
from geo.workflows.pipeline import run
from tests.conftest import DEMO_CONFIG

pytestmark = pytest.mark.slow


def _config(*, partition: PartitionConfig | None = None):
    """The demo without catchments and Monte Carlo, bands out to 8 hours (so every place is
    within the partitioned search limit and every table can be compared exactly)."""
    config = load_config(DEMO_CONFIG)
    return config.model_copy(
        update={
            "catchments": config.catchments.model_copy(update={"enabled": False}),
            "uncertainty": config.uncertainty.model_copy(update={"enabled": False}),
            "thresholds": config.thresholds.model_copy(
                update={"bands_min": [15, 30, 60, 120, 480]}
            ),
            "partition": partition,
        }
    )


def test_partitioned_run_equals_the_whole_network_run(tmp_path):
    whole = run(_config(), write_outputs=False, cache_dir=tmp_path).results
    tiled_config = _config(partition=PartitionConfig(tile_size_km=40, workers=2))
    tiled = run(tiled_config, write_outputs=False, cache_dir=tmp_path).results
    assert set(whole.tables) == set(tiled.tables)
    for name, table in whole.tables.items():
        pd.testing.assert_frame_equal(table, tiled.tables[name], check_exact=False, rtol=1e-12)
    limit = search_limit_min(tiled_config)
    assert limit == 480.0
    for col in ("gp_travel_time_min", "spc_travel_time_min", "spc_non_cancer_travel_time_min"):
        a = whole.origins[col].to_numpy(float)
        b = tiled.origins[col].to_numpy(float)
        np.testing.assert_array_equal(a, b)  # bit-identical (all within the limit here)
    assert (whole.origins["coverage_class"] == tiled.origins["coverage_class"]).all()


def test_beyond_the_search_limit_counts_in_the_open_band(tmp_path):
    config = _config(partition=PartitionConfig(tile_size_km=60, workers=1))
    config = config.model_copy(
        update={"thresholds": config.thresholds.model_copy(update={"bands_min": [15, 30]})}
    )
    tiled = run(config, write_outputs=False, cache_dir=tmp_path).results
    spc = tiled.origins["spc_travel_time_min"].to_numpy(float)
    assert np.isinf(spc).any()  # beyond max(thresholds, bands) = 60 min: inf
    bands = tiled.tables["travel_time_bands"]
    spc_bands = bands[bands["service_kind"] == "spc"].set_index("band")
    beyond = tiled.origins.loc[spc > 30.0, "pop_count"].sum()  # inf included
    assert spc_bands.loc["30+", "pop_count"] == pytest.approx(beyond)


def test_partition_needs_catchments_off(tmp_path):
    path = tmp_path / "p.yml"
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace(
        "../../data/demo/", str(DEMO_CONFIG.parents[2] / "data" / "demo") + "/"
    )
    path.write_text(text + "\npartition: {tile_size_km: 40}\n", encoding="utf-8")
    with pytest.raises((InputError, InputErrors), match="catchments need whole-network"):
        load_config(path)
