"""Speed uncertainty: intervals reproducible by seed, wider with wider spread, exact at zero."""

from __future__ import annotations

import numpy as np
import pytest

from geo.analysis.uncertainty import monte_carlo, road_groups, with_speed_multipliers
from geo.config import CatchmentsConfig, UncertaintyConfig
from geo.routing.network import RoadNetwork
from geo.workflows.pipeline import analyse


@pytest.fixture(scope="module")
def run_with(demo_config, demo_inputs):
    """The demo's uncertainty table for given settings (the loaded inputs are reused)."""

    def table(**uncertainty):
        cfg = demo_config.model_copy(
            update={
                "uncertainty": UncertaintyConfig(**uncertainty),
                "catchments": CatchmentsConfig(enabled=False),
            }
        )
        return analyse(cfg, demo_inputs).tables["uncertainty"].set_index("measure")

    return table


def test_intervals_are_reproducible_and_bracket_the_median(run_with):
    a = run_with(draws=12, spread=0.2, seed=7)
    b = run_with(draws=12, spread=0.2, seed=7)
    c = run_with(draws=12, spread=0.2, seed=8)
    assert a.equals(b)
    assert not a[["p05_share", "p95_share"]].equals(c[["p05_share", "p95_share"]])
    assert (a["p05_share"] <= a["p50_share"]).all() and (a["p50_share"] <= a["p95_share"]).all()
    assert set(a.index) >= {"need_within_spc_share", "non_cancer_need_within_spc_share"}


def test_intervals_widen_with_the_spread_and_vanish_without_it(run_with):
    narrow = run_with(draws=20, spread=0.05, seed=1)
    wide = run_with(draws=20, spread=0.4, seed=1)
    width = lambda t: t["p95_share"] - t["p05_share"]  # noqa: E731
    assert (
        width(wide)["non_cancer_need_within_spc_share"]
        > width(narrow)["non_cancer_need_within_spc_share"]
    )
    assert width(wide).sum() > width(narrow).sum()
    none = run_with(draws=3, spread=0.0, seed=1)
    np.testing.assert_allclose(none["p05_share"], none["estimate_share"])
    np.testing.assert_allclose(none["p95_share"], none["estimate_share"])


def test_estimate_is_the_runs_own_findings(demo_results):
    """The intervals' estimates are the run's findings (one definition of every share)."""
    unc = demo_results.tables["uncertainty"].set_index("measure")["estimate_share"]
    shares = demo_results.findings.headline_shares()
    for measure, value in shares.items():
        assert unc[measure] == pytest.approx(value, nan_ok=True), measure
    totals = demo_results.tables["coverage_totals"]
    cancer = totals[totals["need_group"] == "cancer"].set_index("coverage_class")
    assert unc["people_gp_only_share"] == pytest.approx(cancer.loc["gp_only", "pop_pct"] / 100)
    assert unc["people_both_share"] == pytest.approx(cancer.loc["both", "pop_pct"] / 100)
    assert demo_results.provenance["uncertainty"][0]["draws"] == 30


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
    assert out.loc[0, "p05_share"] < out.loc[0, "estimate_share"] < out.loc[0, "p95_share"]


def test_bounded_draws_give_the_intervals_of_whole_network_draws(demo_config, demo_inputs):
    """Draws searched only up to the longest threshold, counting headline figures only, give
    exactly the intervals of unbounded searches through the full findings (the old way)."""
    from geo.analysis.coverage import CoverageRule, classify_origins
    from geo.analysis.findings import compute_findings
    from geo.analysis.region import (
        COVERAGE_TIME_COLUMNS,
        classify,
        speed_uncertainty,
        travel_times,
    )
    from geo.analysis.service_times import run_plan

    cfg = demo_config.model_copy(update={"uncertainty": UncertaintyConfig(draws=16, seed=3)})
    times = travel_times(cfg, demo_inputs)
    origins, _ = classify(cfg, demo_inputs.origins, times)
    assert times.plan.limit_min == np.inf  # the run itself searches everything
    rule = CoverageRule.from_config(cfg.thresholds)

    def unbounded(net):
        drawn = run_plan(net, times.plan, times.snaps.origins, columns=COVERAGE_TIME_COLUMNS)
        classes = classify_origins(drawn.minutes, origins["remoteness_class"], rule)
        frame = origins.assign(**{c: classes[c].to_numpy() for c in classes.columns})
        order = tuple(demo_inputs.remoteness.class_order)
        findings = compute_findings(
            frame,
            gp_practices=None,
            class_order=order,
            thresholds={},
            unknown_kinds=times.plan.unknown,
        )
        return findings.headline_shares()

    expected = monte_carlo(demo_inputs.network, unbounded, draws=16, spread=0.15, seed=3)
    got = speed_uncertainty(cfg, demo_inputs, origins, times)
    assert got.equals(expected)
    # The bound matters on the demo: some places are beyond it on the modelled speeds.
    assert (origins["spc_travel_time_min"] > cfg.thresholds.longest_min).any()
