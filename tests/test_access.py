"""Access measures: hand-worked cases, PySAL ``access`` on identical inputs, equity indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.analysis.access import (
    concentration_index,
    cumulative_opportunities,
    gaussian_weights,
    gini,
    gravity_access,
    power_weights,
    step_weights,
    two_step_fca,
)
from geo.routing.travel import od_table

OD = pd.DataFrame(
    {
        "origin_id": [1, 1, 2, 2],
        "facility_id": ["A", "B", "B", "A"],
        "travel_time_min": [10.0, 40.0, 20.0, 50.0],
    }
)
DEMAND = pd.Series([100.0, 50.0], index=pd.Index([1, 2], name="origin_id"))
SUPPLY = pd.Series([2.0, 1.0], index=pd.Index(["A", "B"], name="facility_id"))


def test_two_step_fca_by_hand():
    # 30 min: A serves origin 1 only, B origin 2 only: 2/100 and 1/50.
    a = two_step_fca(OD, DEMAND, SUPPLY, threshold_min=30)
    np.testing.assert_allclose(a.to_numpy(), [0.02, 0.02])
    # 45 min: B now also serves origin 1, so R_B = 1/150 is shared.
    a = two_step_fca(OD, DEMAND, SUPPLY, threshold_min=45)
    np.testing.assert_allclose(a.to_numpy(), [0.02 + 1 / 150, 1 / 150])
    # Total supply is conserved when every facility has demand in its catchment.
    assert (a * DEMAND).sum() == pytest.approx(SUPPLY.sum())


def test_e2sfca_step_weights_by_hand():
    w = step_weights({15: 1.0, 30: 0.5, 60: 0.1})
    np.testing.assert_allclose(
        w(np.array([0, 15, 15.1, 30, 59, 60, 61])), [1, 1, 0.5, 0.5, 0.1, 0.1, 0]
    )
    a = two_step_fca(OD, DEMAND, SUPPLY, threshold_min=60, weight=w)
    # Facility A: demand 100*1 + 50*0.1 = 105; B: 100*0.1 + 50*0.5 = 35.
    r_a, r_b = 2 / 105, 1 / 35
    np.testing.assert_allclose(a.to_numpy(), [r_a * 1 + r_b * 0.1, r_b * 0.5 + r_a * 0.1])


def test_cumulative_opportunities():
    c = cumulative_opportunities(OD, SUPPLY, threshold_min=45, origin_ids=pd.Index([1, 2, 3]))
    np.testing.assert_allclose(c.to_numpy(), [3.0, 1.0, 0.0])


def test_origin_without_facilities_gets_zero_and_unknown_ids_are_ignored():
    od = pd.concat(
        [OD, pd.DataFrame({"origin_id": [9], "facility_id": ["Z"], "travel_time_min": [1.0]})]
    )
    demand = pd.concat([DEMAND, pd.Series([10.0], index=[3])])
    a = two_step_fca(od, demand, SUPPLY, threshold_min=30)
    assert a.loc[3] == 0.0 and len(a) == 3


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    n_o, n_f = 40, 7
    pairs = [(o, f) for o in range(n_o) for f in range(n_f) if rng.random() < 0.6]
    od = pd.DataFrame(pairs, columns=["origin_id", "facility_id"])
    od["facility_id"] = "F" + od["facility_id"].astype(str)
    od["travel_time_min"] = rng.uniform(0, 90, len(od)).round(3)
    demand = pd.Series(rng.uniform(1, 500, n_o), index=pd.RangeIndex(n_o))
    supply = pd.Series(rng.uniform(0.5, 10, n_f), index=[f"F{i}" for i in range(n_f)])
    return od, demand, supply


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_pysal_access(seed):
    access = pytest.importorskip("access")
    od, demand, supply = _random_case(seed)
    demand_df = demand.rename("demand").rename_axis("geoid").to_frame()
    supply_df = supply.rename("supply").rename_axis("geoid").to_frame()
    model = access.Access(
        demand_df=demand_df,
        demand_value="demand",
        supply_df=supply_df,
        supply_value="supply",
        cost_df=od.rename(
            columns={"origin_id": "origin", "facility_id": "dest", "travel_time_min": "cost"}
        ),
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    cases = [
        (
            two_step_fca(od, demand, supply, threshold_min=45),
            model.two_stage_fca(name="a", max_cost=45),
        ),
        (
            two_step_fca(
                od,
                demand,
                supply,
                threshold_min=60,
                weight=step_weights({20: 1, 40: 0.68, 60: 0.22}),
            ),
            model.enhanced_two_stage_fca(
                name="b", max_cost=60, weight_fn=access.weights.step_fn({20: 1, 40: 0.68, 60: 0.22})
            ),
        ),
        (
            two_step_fca(od, demand, supply, threshold_min=60, weight=gaussian_weights(25)),
            model.enhanced_two_stage_fca(
                name="c", max_cost=60, weight_fn=access.weights.gaussian(25)
            ),
        ),
        (
            gravity_access(od, demand, supply, weight=power_weights(1.5, min_time_min=1.0)),
            model.two_stage_fca(
                name="d", weight_fn=access.weights.gravity(scale=1, alpha=-1.5, min_dist=1.0)
            ),
        ),
    ]
    for (ours, theirs), name in zip(cases, "abcd", strict=True):
        theirs = theirs[f"{name}_supply"].reindex(demand.index).fillna(0.0)
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-9)
        assert np.abs(ours.to_numpy()).max() > 0


def test_gini_known_values():
    assert gini(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    # Everything with one of n equal-weight people: (n - 1) / n.
    assert gini(np.array([0.0, 0.0, 0.0, 4.0])) == pytest.approx(0.75)
    # Weights act like repeated observations.
    assert gini(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(
        gini(np.array([1.0, 1.0, 3.0]))
    )
    assert gini(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.25)


def test_concentration_index_sign_and_reference():
    rank = np.array([1, 2, 3, 4])  # least to most remote
    pro_urban = concentration_index(np.array([4.0, 3, 2, 1]), rank)
    pro_remote = concentration_index(np.array([1.0, 2, 3, 4]), rank)
    assert pro_urban < 0 < pro_remote
    assert pro_remote == pytest.approx(-pro_urban)
    # Equal values: no concentration.
    assert concentration_index(np.ones(4), rank) == pytest.approx(0.0)
    # Unweighted, untied ranks: the index equals the Gini of values sorted by rank order.
    values = np.array([1.0, 2, 3, 4])
    assert pro_remote == pytest.approx(gini(values))


@pytest.mark.parametrize("sparse_share", [0.0, 10.0])
@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_streamed_access_equals_the_od_table_computation(
    demo_inputs, chunk_size, sparse_share, monkeypatch
):
    """Chunk by chunk, without the OD table: the same supply within reach and E2SFCA as
    :func:`cumulative_opportunities` and :func:`two_step_fca` on the table, for any chunking."""
    import geo.routing.travel as travel
    from geo.analysis.access import streamed_access

    if chunk_size is not None:
        monkeypatch.setattr(travel, "_chunk_rows", lambda n_nodes: chunk_size)
    # Both ways of reading a search's pairs: at the origins' nodes, and nodes expanded.
    monkeypatch.setattr(travel, "SPARSE_ORIGINS_SHARE", sparse_share)
    net, snaps = demo_inputs.network, demo_inputs.snaps
    gps = demo_inputs.gp_practices
    rng = np.random.default_rng(5)
    demand = rng.gamma(2.0, 50.0, len(snaps.origins.node))
    supply = rng.uniform(0.5, 6.0, len(gps))
    weight = gaussian_weights(30 * 0.5)
    within, access = streamed_access(
        net, snaps.origins, snaps.gp, demand, supply, threshold_min=30, weight=weight
    )
    ok_o, ok_f = snaps.origins.reachable, snaps.gp.reachable
    od = od_table(
        net,
        snaps.origins.node[ok_o],
        snaps.gp.node[ok_f],
        max_time_s=30 * 60,
        origin_ids=np.flatnonzero(ok_o),
        facility_ids=np.flatnonzero(ok_f),
        origin_offset_s=snaps.origins.connector_time_s[ok_o],
        facility_offset_s=snaps.gp.connector_time_s[ok_f],
    )
    demand_s, supply_s = pd.Series(demand), pd.Series(supply)
    expected_within = cumulative_opportunities(
        od, supply_s, threshold_min=30, origin_ids=demand_s.index
    )
    expected = two_step_fca(od, demand_s, supply_s, threshold_min=30, weight=weight)
    assert len(od) > 1000 and (within > 0).sum() > 100
    np.testing.assert_allclose(within, expected_within.to_numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(access, expected.to_numpy(), rtol=1e-12, atol=1e-15)
