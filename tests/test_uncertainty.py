"""Speed uncertainty: intervals reproducible by seed, wider with wider spread, exact at zero."""

from __future__ import annotations

import numpy as np
import pytest

from geo.config import CatchmentsConfig, UncertaintyConfig, load_config
from geo.network import RoadNetwork
from geo.pipeline import run
from geo.uncertainty import monte_carlo, road_groups, with_speed_multipliers
from tests.conftest import DEMO_CONFIG


def _run(tmp_path, **uncertainty):
    cfg = load_config(DEMO_CONFIG).model_copy(
        update={
            "uncertainty": UncertaintyConfig(**uncertainty),
            "catchments": CatchmentsConfig(enabled=False),
        }
    )
    table = run(cfg, write=False, cache_dir=tmp_path).results.tables["uncertainty"]
    return table.set_index("measure")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_intervals_are_reproducible_and_bracket_the_median(cache):
    a = _run(cache, draws=12, spread=0.2, seed=7)
    b = _run(cache, draws=12, spread=0.2, seed=7)
    c = _run(cache, draws=12, spread=0.2, seed=8)
    assert a.equals(b)
    assert not a[["p05", "p95"]].equals(c[["p05", "p95"]])
    assert (a["p05"] <= a["p50"]).all() and (a["p50"] <= a["p95"]).all()
    assert set(a.index) >= {"share_need_within_spc", "share_non_cancer_need_within_spc"}


def test_intervals_widen_with_the_spread_and_vanish_without_it(cache):
    narrow = _run(cache, draws=20, spread=0.05, seed=1)
    wide = _run(cache, draws=20, spread=0.4, seed=1)
    width = lambda t: t["p95"] - t["p05"]  # noqa: E731
    assert (
        width(wide)["share_non_cancer_need_within_spc"]
        > width(narrow)["share_non_cancer_need_within_spc"]
    )
    assert width(wide).sum() > width(narrow).sum()
    none = _run(cache, draws=3, spread=0.0, seed=1)
    np.testing.assert_allclose(none["p05"], none["estimate"])
    np.testing.assert_allclose(none["p95"], none["estimate"])


def test_estimate_matches_the_coverage_tables(cache):
    cfg = load_config(DEMO_CONFIG).model_copy(
        update={
            "uncertainty": UncertaintyConfig(draws=2),
            "catchments": CatchmentsConfig(enabled=False),
        }
    )
    results = run(cfg, write=False, cache_dir=cache).results
    unc = results.tables["uncertainty"].set_index("measure")["estimate"]
    cov = results.tables["coverage_by_remoteness"]
    total = cov[cov["remoteness_class"] == "All"].set_index("coverage_class")
    assert unc["share_people_gp_only"] == pytest.approx(total.loc["gp_only", "pop_pct"] / 100)
    assert unc["share_people_both"] == pytest.approx(total.loc["both", "pop_pct"] / 100)
    assert results.provenance["uncertainty"][0]["draws"] == 2


def test_multipliers_scale_times_by_road_group():
    net = RoadNetwork.from_arrays(
        [0, 1, 1, 2], [1, 0, 2, 1], [10.0, 10.0, 20.0, 20.0], [0, 100, 200], [0, 0, 0], "EPSG:7855"
    )
    groups, factor = road_groups(net)
    assert (groups == 0).all() and factor.tolist() == [1.0]  # no attributes: one group
    faster = with_speed_multipliers(net, np.full(net.n_edges, 2.0))
    assert faster.graph.data.tolist() == [5.0, 5.0, 10.0, 10.0]
    assert net.graph.data.tolist() == [10.0, 10.0, 20.0, 20.0]  # the original is untouched
    out = monte_carlo(net, lambda n: {"t": float(n.graph.data.sum())}, draws=50, spread=0.3, seed=3)
    assert out.loc[0, "p05"] < out.loc[0, "estimate"] < out.loc[0, "p95"]
