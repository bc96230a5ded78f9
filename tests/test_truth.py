"""Every printed figure equals a direct computation on the origins layer.

The property test draws random regions (origins with GP and SPC times that may be unknown or
unreachable, cancer-only services, per-class thresholds, home-visit reach) and checks that the
coverage classes, the tidy tables, the findings, the report's key-finding sentences, the CLI
summary and the batch summary all equal a computation written here from first principles, row
by row, without the coverage module. A second test does the same on the written demo run, from
its ``layers.gpkg`` origins layer.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geo.analysis import gaps
from geo.analysis.coverage import CoverageRule, classify_origins
from geo.analysis.findings import compute_findings
from geo.render.findings_text import findings_sentences, summary_lines
from geo.workflows.batch import summary_figures

CLASSES = ["Major Cities", "Inner Regional", "Outer Regional", "Remote", "Very Remote"]
BEYOND = ("gp_only", "neither")


def _hand_class(gp, spc, community, gp_th, spc_th, reach_min) -> str:
    """One origin's class, written out case by case (independent of geo.analysis.coverage)."""
    gp_known = not math.isnan(gp)
    gp_in = gp_known and gp <= gp_th
    visited = reach_min is not None and not math.isnan(community) and community <= reach_min
    spc_known = visited or not math.isnan(spc)
    spc_in = visited or (not math.isnan(spc) and spc <= spc_th)
    if not gp_known or not spc_known:
        return "unknown"
    if gp_in and spc_in:
        return "both"
    if gp_in:
        return "gp_only"
    if spc_in:
        return "spc_only"
    return "neither"


def _times(draw, n: int, name: str, *, unknown_all: bool = False) -> list[float]:
    if unknown_all:
        return [math.nan] * n
    values = st.one_of(
        st.floats(0, 200, allow_nan=False),
        st.just(math.inf),
        st.just(math.nan),
        st.sampled_from([30.0, 54.0, 60.0]),  # exactly at a threshold
    )
    return draw(st.lists(values, min_size=n, max_size=n), label=name)


@st.composite
def regions(draw):
    n = draw(st.integers(1, 40))
    spc_unknown = draw(st.booleans().filter(lambda b: True)) and draw(st.integers(0, 9)) == 0
    frame = pd.DataFrame(
        {
            "origin_id": range(n),
            "pop_count": draw(st.lists(st.floats(0.5, 5000), min_size=n, max_size=n)),
            "remoteness_class": draw(st.lists(st.sampled_from(CLASSES), min_size=n, max_size=n)),
            "gp_travel_time_min": _times(draw, n, "gp"),
            "spc_travel_time_min": _times(draw, n, "spc", unknown_all=spc_unknown),
        }
    )
    # A cancer-only team: non-cancer times are never shorter than the all-service times.
    extra = draw(st.lists(st.floats(0, 80), min_size=n, max_size=n))
    frame["spc_non_cancer_travel_time_min"] = frame["spc_travel_time_min"] + np.asarray(extra)
    if draw(st.booleans()):
        frame.loc[frame.index[:: max(1, n // 3)], "spc_non_cancer_travel_time_min"] = math.inf
    community = _times(draw, n, "community")
    frame["spc_community_travel_time_min"] = community
    frame["spc_community_non_cancer_travel_time_min"] = [
        c if draw(st.booleans()) else math.inf for c in community
    ]
    rate_c, rate_nc = draw(st.floats(0.0005, 0.01)), draw(st.floats(0.0005, 0.02))
    frame["need_cancer"] = frame["pop_count"] * rate_c
    frame["need_non_cancer"] = frame["pop_count"] * rate_nc
    frame["reachable"] = ~frame["gp_travel_time_min"].isna()
    by_class = draw(
        st.dictionaries(
            st.sampled_from(CLASSES),
            st.fixed_dictionaries(
                {}, optional={"gp_min": st.sampled_from([20.0, 54.0]), "spc_min": st.just(90.0)}
            ),
            max_size=3,
        )
    )
    visits = draw(st.sampled_from([None, 120.0, 240.0]))
    rule = CoverageRule(gp_min=30, spc_min=60, by_remoteness=by_class, home_visit_reach_min=visits)
    return frame, rule, spc_unknown


def _direct(frame: pd.DataFrame, rule: CoverageRule) -> pd.DataFrame:
    rows = []
    for r in frame.itertuples():
        per_class = rule.by_remoteness.get(r.remoteness_class, {})
        gp_th = per_class.get("gp_min", rule.gp_min)
        spc_th = per_class.get("spc_min", rule.spc_min)
        reach_min = rule.home_visit_reach_min
        rows.append(
            {
                "cancer": _hand_class(
                    r.gp_travel_time_min,
                    r.spc_travel_time_min,
                    r.spc_community_travel_time_min,
                    gp_th,
                    spc_th,
                    reach_min,
                ),
                "non_cancer": _hand_class(
                    r.gp_travel_time_min,
                    r.spc_non_cancer_travel_time_min,
                    r.spc_community_non_cancer_travel_time_min,
                    gp_th,
                    spc_th,
                    reach_min,
                ),
            }
        )
    return pd.DataFrame(rows, index=frame.index)


def _pct(part: float, whole: float) -> str:
    share = 100 * part / whole
    return "<0.1%" if 0 < share < 0.05 else f"{share:.1f}%"


def _one_place_off_the_roads():
    """The case CI's draws once found: a single place, no time known, nothing claimed."""
    nan = math.nan
    frame = pd.DataFrame(
        {
            "origin_id": [0],
            "pop_count": [1.0],
            "remoteness_class": [CLASSES[0]],
            "gp_travel_time_min": [nan],
            "spc_travel_time_min": [nan],
            "spc_non_cancer_travel_time_min": [nan],
            "spc_community_travel_time_min": [nan],
            "spc_community_non_cancer_travel_time_min": [nan],
            "need_cancer": [0.0005],
            "need_non_cancer": [0.015625],
            "reachable": [False],
        }
    )
    return frame, CoverageRule(gp_min=30, spc_min=60), False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regions())
@example(_one_place_off_the_roads())
def test_every_figure_equals_a_direct_computation(region):
    frame, rule, spc_unknown = region
    hand = _direct(frame, rule)
    classes = classify_origins(frame, frame["remoteness_class"], rule)
    assert list(classes["coverage_class"]) == list(hand["cancer"])
    assert list(classes["coverage_class_non_cancer"]) == list(hand["non_cancer"])
    origins = pd.concat([frame, classes], axis=1)

    # Tables: each row is the people and need of one group in one class; blocks add up.
    table = gaps.coverage_by_remoteness(origins, class_order=CLASSES)
    assert not ((table["pop_count"] == 0) & (table["need"] > 0)).any()
    for row in table.itertuples():
        mask = (frame["remoteness_class"] == row.remoteness_class) & (
            hand[row.need_group] == row.coverage_class
        )
        need = frame[f"need_{row.need_group}"]
        assert math.isclose(row.pop_count, frame.loc[mask, "pop_count"].sum(), rel_tol=1e-12)
        assert math.isclose(row.need, need[mask].sum(), rel_tol=1e-9, abs_tol=1e-12)

    # Findings.
    unknown = (
        {"spc_travel_time_min": "all 2 specialist services lie far away"} if spc_unknown else {}
    )
    findings = compute_findings(
        origins,
        gp_practices=None,
        class_order=CLASSES,
        thresholds={"gp_min": 30, "spc_min": 60, "isolated_gp_min": 60},
        unknown_kinds=unknown,
    )
    need_c, need_nc = frame["need_cancer"], frame["need_non_cancer"]
    total = need_c.sum() + need_nc.sum()
    beyond_c = need_c[hand["cancer"].isin(BEYOND)].sum()
    beyond_nc = need_nc[hand["non_cancer"].isin(BEYOND)].sum()
    known_c = need_c[hand["cancer"] != "unknown"].sum()
    known_nc = need_nc[hand["non_cancer"] != "unknown"].sum()
    within = (
        need_c[hand["cancer"].isin(["both", "spc_only"])].sum()
        + need_nc[hand["non_cancer"].isin(["both", "spc_only"])].sum()
    )
    gp_only = frame.loc[hand["cancer"] == "gp_only", "pop_count"].sum()
    assert math.isclose(findings.need_in(BEYOND), beyond_c + beyond_nc, abs_tol=1e-9)
    shares = findings.headline_shares()
    if spc_unknown:  # nothing is said about specialist reach: unknown, never 0%
        assert math.isnan(shares["need_within_spc_share"])
        assert shares["need_unknown_spc_share"] == 1.0
    else:
        assert math.isclose(shares["need_within_spc_share"], within / total, abs_tol=1e-12)

    # The report's sentences and the CLI summary quote the direct figures.
    sentences = findings_sentences(findings)
    people = f"{frame['pop_count'].sum():,.0f} people live in the region"
    assert any(s.startswith(people) for s in sentences)
    summary = " ".join(summary_lines(findings))
    if spc_unknown:
        assert sentences[0].startswith("Access to specialist palliative care could not be")
        assert not any("lives beyond" in s for s in sentences)  # unknown is not "beyond"
        assert "of need lives beyond" not in summary
    elif known_c + known_nc == 0:  # no need's coverage is known: nothing is claimed
        assert not any("lives beyond" in s or "lives within" in s for s in sentences)
        assert "of need lives beyond" not in summary and "have a GP within" not in summary
    else:
        if beyond_c + beyond_nc > 0:
            text = f"{beyond_c + beyond_nc:,.1f} a year of that need ({beyond_c:,.1f} cancer, "
            assert any(s.startswith(text) for s in sentences)
        assert f"{_pct(beyond_c + beyond_nc, total)} of need lives beyond" in summary
        assert f"{gp_only:,.0f} people have a GP within" in summary

    # The batch summary's figures come from the same findings.
    figures = summary_figures(
        shares,
        {
            "pop_count": frame["pop_count"].sum(),
            "need_cancer": need_c.sum(),
            "need_non_cancer": need_nc.sum(),
        },
    )
    if not spc_unknown:
        assert math.isclose(figures["need_within_spc_share"], within / total, abs_tol=1e-12)


def test_the_demo_run_says_what_its_origins_layer_says(demo_outcome):
    """End to end on the written demo: layer → findings, report, CLI summary, batch summary."""
    from geo.cli.commands import run_summary

    out = demo_outcome.out_dir
    origins = gpd.read_file(out / "layers.gpkg", layer="origins")
    c, nc = origins["coverage_class"], origins["coverage_class_non_cancer"]
    beyond = (
        origins.loc[c.isin(BEYOND), "need_cancer"].sum()
        + origins.loc[nc.isin(BEYOND), "need_non_cancer"].sum()
    )
    total = origins["need_cancer"].sum() + origins["need_non_cancer"].sum()
    gp_only = origins.loc[c == "gp_only", "pop_count"].sum()
    printed = "\n".join(run_summary(demo_outcome, 1.0))
    assert f"{_pct(beyond, total)} of need lives beyond 60 min" in printed
    assert f"{gp_only:,.0f} people have a GP within 30 min" in printed
    report = (out / "report.html").read_text(encoding="utf-8")
    assert f"{origins['pop_count'].sum():,.0f} people live in the region" in report
    run_json = json.loads((out / "run.json").read_text(encoding="utf-8"))
    figures = summary_figures(run_json["headline_shares"], run_json["totals"])
    assert math.isclose(
        figures["need_within_spc_share"],
        1 - beyond / total - run_json["headline_shares"]["need_unknown_spc_share"],
        abs_tol=1e-9,
    )
    totals = pd.read_csv(out / "tables" / "coverage_totals.csv")
    cancer = totals[totals["need_group"] == "cancer"].set_index("coverage_class")
    assert math.isclose(cancer.loc["gp_only", "pop_count"], gp_only, rel_tol=1e-9)
