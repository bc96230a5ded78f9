"""Every key-finding sentence, on three regions, against a direct computation on the layers.

The expected sentences are computed here from the origins and GP practices layers directly
(``coverage_class`` columns, ``reachable``, ``link_status``), never from the run's
:class:`~geo.results.Findings`: the demo, the Isle of Wight, and a synthetic variant of the demo
with a cancer-only team and every service that takes non-cancer referrals outside the road
extract (so non-cancer specialist access is unknown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.render.report import key_findings

BEYOND, WITHIN = ("gp_only", "neither"), ("both", "spc_only")
CANCER, NON_CANCER = "coverage_class", "coverage_class_non_cancer"


def _pct(part: float, whole: float) -> str:
    share = 100 * part / whole
    return "<0.1%" if 0 < share < 0.05 else f"{share:.1f}%"


def _need(o: pd.DataFrame, classes, *, group: str | None = None) -> float:
    total = 0.0
    if group in (None, "cancer"):
        total += o.loc[o[CANCER].isin(classes), "need_cancer"].sum()
    if group in (None, "non_cancer"):
        total += o.loc[o[NON_CANCER].isin(classes), "need_non_cancer"].sum()
    return float(total)


def expected_sentences(
    results, *, spc_min=60, gp_min=30, remote=(), where="the region"
) -> list[str]:
    """The sentences the report should print, from the layers alone (``where``: ``this
    sub-area`` in a workshop pack)."""
    o, gps = results.origins, results.gp_practices
    out = []
    reasons = results.findings.unknown_kinds  # which kinds are unknown is checked separately
    spc_unknown = (o[CANCER] == "unknown").all() and "spc_travel_time_min" in reasons
    nc_unknown = "spc_non_cancer_travel_time_min" in reasons
    for column, what in (
        ("gp_travel_time_min", "Access to GP practices"),
        ("spc_travel_time_min", "Access to specialist palliative care"),
        (
            "spc_non_cancer_travel_time_min",
            "Access to specialist services that accept non-cancer referrals",
        ),
    ):
        if column in reasons and not (spc_unknown and column != "spc_travel_time_min"):
            out.append(
                f"{what} could not be computed: {reasons[column]}. Coverage that depends on it "
                "is reported as unknown, not as beyond reach. Extend the road extract to reach "
                "these services (or check their coordinates) and run again."
            )
    off = ~o["reachable"]
    if off.any():
        one = off.sum() == 1
        out.append(
            f"{off.sum():,.0f} populated {'place' if one else 'places'} "
            f"({o.loc[off, 'pop_count'].sum():,.0f} people) {'lies' if one else 'lie'} "
            "beyond the snapping limit of any mapped road; their access is unknown."
        )
    cancer, nc = o["need_cancer"].sum(), o["need_non_cancer"].sum()
    need, people = cancer + nc, o["pop_count"].sum()
    out.append(
        f"{people:,.0f} people live in {where}; an estimated {need:,.1f} of them need "
        f"palliative care each year ({cancer:,.1f} cancer, {nc:,.1f} non-cancer)."
    )
    if not spc_unknown:
        unknown = _need(o, ("unknown",))
        known = _need(o, WITHIN + BEYOND) > 0  # some need's coverage is known
        if known:
            out.append(
                f"{_pct(_need(o, ('both',)), need)} of that need lives within reach of both a "
                "GP and a specialist palliative care service that would accept it."
            )
        beyond = _need(o, BEYOND)
        b_cancer, b_nc = _need(o, BEYOND, group="cancer"), _need(o, BEYOND, group="non_cancer")
        if beyond <= 0:
            text = (
                f"All need whose access is known lives within {spc_min:g} minutes of a "
                "specialist service that would accept it"
            )
        else:
            text = (
                f"{beyond:,.1f} a year of that need ({b_cancer:,.1f} cancer, {b_nc:,.1f} "
                f"non-cancer) lives beyond {spc_min:g} minutes of a specialist service that "
                "would accept it"
            )
        present = [c for c in remote if (o["remoteness_class"] == c).any()]
        if beyond > 0 and present and o["remoteness_class"].nunique() > 1:
            in_remote = _need(o[o["remoteness_class"].isin(present)], BEYOND)
            text += f"; {_pct(in_remote, beyond)} of it in {' or '.join(present)} areas"
        if known:
            out.append(text + ".")
        if unknown > 0:
            out.append(
                f"For {unknown:,.1f} a year of that need ({_pct(unknown, need)}) access cannot "
                "be computed (see above): it is counted as unknown, not as beyond reach."
            )
        within_c, within_nc = _need(o, WITHIN, group="cancer"), _need(o, WITHIN, group="non_cancer")
        if not nc_unknown and within_nc / nc + 0.005 < within_c / cancer:
            out.append(
                f"Non-cancer need is less well served: {_pct(within_nc, nc)} of it is within "
                f"{spc_min:g} minutes of a service that accepts non-cancer referrals, against "
                f"{_pct(within_c, cancer)} of cancer need."
            )
        gap = o.loc[o[CANCER] == "gp_only", "pop_count"].sum()
        if gap > 0:
            out.append(
                f"The integration gap: {gap:,.0f} people ({_pct(gap, people)}) have a GP within "
                f"{gp_min:g} minutes but no specialist service within {spc_min:g}; their GPs "
                "carry palliative care with specialist support only at a distance (case "
                "conferences, shared care, telehealth)."
            )
        neither = o.loc[o[CANCER] == "neither", "pop_count"].sum()
        if neither > 0:
            out.append(
                f"{neither:,.0f} people ({_pct(neither, people)}) reach neither a GP nor a "
                "specialist service within the thresholds."
            )
        near = _nearness(results, o, beyond, need)
        if near:
            out.append(near)
    minutes = gps["spc_travel_time_min"]
    routed = gps[gps["reachable"] & minutes.notna()]
    isolated = routed[routed["spc_travel_time_min"] > 60].sort_values(
        "spc_travel_time_min", ascending=False
    )
    if len(isolated):
        names = ", ".join(isolated["name"][:5])
        if len(isolated) > 5:
            names += f" and {len(isolated) - 5} more"
        out.append(
            f"{len(isolated)} of {len(routed)} GP practices "
            f"{'is' if len(isolated) == 1 else 'are'} isolated from specialist care "
            f"(no specialist service within 60 minutes; serving "
            f"{isolated['pop_served'].sum():,.0f} people): {names}."
        )
    elif len(routed) == 1:
        out.append(
            "No GP practice is isolated: the one routed practice reaches a specialist service "
            "within 60 minutes."
        )
    elif len(routed):
        out.append(
            f"No GP practice is isolated: all {len(routed)} routed practices reach a specialist "
            "service within 60 minutes."
        )
    off_gps = gps[~gps["reachable"]]
    if len(off_gps):
        one = len(off_gps) == 1
        names = ", ".join(off_gps["name"][:5])
        if len(off_gps) > 5:
            names += f" and {len(off_gps) - 5} more"
        out.append(
            f"{len(off_gps)} GP {'practice lies' if one else 'practices lie'} too far from any "
            f"mapped road and {'is' if one else 'are'} left out of routing (not counted as "
            f"isolated): {names}."
        )
    return out


def _nearness(results, o, beyond: float, need: float) -> str:
    """The 'specialist care is near' sentence, from the origins' own times."""
    bands = results.provenance["thresholds"]["bands_min"]
    times = {
        "need_cancer": o["spc_travel_time_min"].to_numpy(float),
        "need_non_cancer": o["spc_non_cancer_travel_time_min"].to_numpy(float),
    }
    known = sum(o[g].to_numpy()[~np.isnan(t)].sum() for g, t in times.items())
    if known <= 0 or len(bands) < 1 or beyond > 0.01 * need:
        return ""
    # "Near" is a claim on the times themselves: need past the SPC threshold by road rules it
    # out even where the classes are unknown (every GP off the network).
    spc_min = results.provenance["thresholds"]["spc_min"]
    past = sum(o[g].to_numpy()[t > spc_min].sum() for g, t in times.items())
    if past > 0.01 * known:
        return ""

    def within(limit: float) -> float:
        return sum(o[g].to_numpy()[t <= limit].sum() for g, t in times.items())

    text = (
        f"Specialist care is near: {_pct(within(bands[0]), known)} of the need whose access is "
        f"known lives within {bands[0]:g} minutes of a specialist service that would accept it"
    )
    if len(bands) > 1:
        text += f", {_pct(within(bands[1]), known)} within {bands[1]:g}"
    return text + "."


def test_demo_sentences(demo_results):
    expected = expected_sentences(demo_results, remote=("Remote", "Very Remote"))
    assert key_findings(demo_results) == expected


@pytest.mark.realdata
@pytest.mark.xdist_group("iow")
def test_isle_of_wight_sentences(iow_outcome):
    results = iow_outcome.results
    # England's rural-urban classes: the most remote class the island has.
    order = results.remoteness_classes
    present = [c for c in order if (results.origins["remoteness_class"] == c).any()]
    expected = expected_sentences(results, remote=present[-1:])
    assert key_findings(results) == expected


@pytest.mark.realdata
@pytest.mark.xdist_group("iow")
def test_isle_of_wight_pack_sentences(iow_outcome):
    """Every workshop pack's findings, from its own residents and practices (18 sub-areas,
    some with a single practice)."""
    from geo.render.packs import subarea_results

    results = iow_outcome.results
    singles = 0
    for area_id in results.subareas["area_id"]:
        pack = subarea_results(results, area_id)
        assert key_findings(pack) == expected_sentences(pack, where="this sub-area"), area_id
        singles += len(pack.gp_practices) == 1
    assert singles  # the one-practice wording is among them


def test_cancer_only_team_with_unknown_non_cancer_access(demo_config, tmp_path):
    """A synthetic region: the demo with every service that takes non-cancer referrals moved
    far outside the road extract, so only a cancer-only team is routable."""
    from geo.workflows.pipeline import analyse, load_inputs

    services = pd.read_csv(demo_config.specialist_services.path)
    accepts = services["accepts_non_cancer"].str.lower().eq("yes")
    assert (~accepts).any() and accepts.any()
    services.loc[accepts, "longitude"] = 120.0  # Western Australia: off this extract
    path = tmp_path / "spc.csv"
    services.to_csv(path, index=False)
    config = demo_config.model_copy(
        update={
            "specialist_services": demo_config.specialist_services.model_copy(
                update={"path": path}
            ),
            "uncertainty": demo_config.uncertainty.model_copy(update={"draws": 2}),
            "catchments": demo_config.catchments.model_copy(update={"enabled": False}),
        }
    )
    results = analyse(config, load_inputs(config, cache_dir=tmp_path / "cache"))
    assert "spc_non_cancer_travel_time_min" in results.findings.unknown_kinds
    assert "spc_travel_time_min" not in results.findings.unknown_kinds
    assert (results.origins[NON_CANCER] == "unknown").all()
    assert (results.origins[CANCER] != "unknown").any()
    sentences = key_findings(results)
    assert sentences == expected_sentences(results, remote=("Remote", "Very Remote"))
    assert sentences[0].startswith("Access to specialist services that accept non-cancer")
    assert not any(s.startswith("Non-cancer need is less well served") for s in sentences)


def test_every_practice_off_the_roads_makes_no_coverage_claim(demo_config, tmp_path):
    """The demo with every GP practice moved 300 km east, off the road extract (a practice
    file in the wrong place): coverage is unknown for everyone, so no share, no "all within"
    and no "specialist care is near" (the times still show the west beyond an hour); the
    unknown sentence names the practices, ten and how many more."""
    from geo.render.findings_text import summary_lines
    from geo.render.map_view import VIEW_COVERAGE, headline
    from geo.workflows.pipeline import analyse, load_inputs
    from geo.workflows.workshop import coverage_only

    practices = pd.read_csv(demo_config.gp_practices.path)
    practices["longitude"] += 3.0
    path = tmp_path / "gps.csv"
    practices.to_csv(path, index=False)
    config = coverage_only(demo_config).model_copy(
        update={"gp_practices": demo_config.gp_practices.model_copy(update={"path": path})}
    )
    results = analyse(config, load_inputs(config, cache_dir=tmp_path / "cache"))
    assert (results.origins[CANCER] == "unknown").all()
    assert (results.origins["spc_travel_time_min"] > 60).any()  # the times are known
    sentences = key_findings(results)
    assert sentences == expected_sentences(results, remote=("Remote", "Very Remote"))
    assert sentences[0].startswith(
        f"Access to GP practices could not be computed: all {len(practices)}"
    )
    assert f"and {len(practices) - 10} more)" in sentences[0]
    claims = ("of that need lives within reach", "All need whose access", "Specialist care is")
    assert not [s for s in sentences if s.startswith(claims) or claims[0] in s]
    assert headline(results, VIEW_COVERAGE).startswith("Access to GP practices could not be")
    lines = summary_lines(results.findings)  # the CLI's account: the unknowns, then the totals
    assert lines[0] == sentences[0] and len(lines) == 3 and " people, palliative need " in lines[2]
