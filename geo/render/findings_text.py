"""The findings in words: every sentence the report, the packs and the CLI print about a run.

Each sentence is generated from :class:`~geo.results.Findings` (one computation, see
:mod:`geo.analysis.findings`) and says only what the data support: unknown access is stated as
unknown (never as "beyond"), practices left out of routing are never called isolated, classes
the area does not have are never named, and a sub-area's pack speaks of the sub-area.
"""

from __future__ import annotations

from geo.analysis.classes import SPC_BEYOND, SPC_WITHIN
from geo.results import Findings
from geo.text import count, listing

UNKNOWN_WHAT = {
    "gp_travel_time_min": "Access to GP practices",
    "spc_travel_time_min": "Access to specialist palliative care",
    "spc_non_cancer_travel_time_min": "Access to specialist services that accept non-cancer "
    "referrals",
}


def fmt(value: float, digits: int = 0) -> str:
    """A count with thousands separators (``1,234``, or ``12.5`` with ``digits=1``)."""
    return f"{value:,.{digits}f}"


def pct(part: float, whole: float) -> str:
    """A percentage of ``whole`` with one decimal (``n/a`` when ``whole`` is 0; ``<0.1%`` for
    a positive share that would print as 0.0%)."""
    if whole <= 0:
        return "n/a"
    share = 100 * part / whole
    return "<0.1%" if 0 < share < 0.05 else f"{share:.1f}%"


def area_name(findings: Findings) -> str:
    """How sentences name the area: ``the region`` or ``this sub-area``."""
    return "this sub-area" if findings.scope == "subarea" else "the region"


def unknown_sentences(findings: Findings) -> list[str]:
    """What could not be computed, and what to do about it (first in every summary)."""
    out = []
    for column, reason in findings.unknown_kinds.items():
        what = UNKNOWN_WHAT.get(column)
        if what is None or (findings.spc_unknown and column == "spc_non_cancer_travel_time_min"):
            continue
        out.append(
            f"{what} could not be computed: {reason}. Coverage that depends on it is reported "
            "as unknown, not as beyond reach. Extend the road extract to reach these services "
            "(or check their coordinates) and run again."
        )
    if findings.origins_off_network:
        n = findings.origins_off_network
        places = count(n, "populated place", "populated places")
        out.append(
            f"{places} ({fmt(findings.pop_off_network)} people) {'lies' if n == 1 else 'lie'} "
            "beyond the snapping limit of any mapped road; their access is unknown."
        )
    return out


def population_sentence(f: Findings) -> str:
    """People and need in the area."""
    return (
        f"{fmt(f.pop_count)} people live in {area_name(f)}; an estimated {fmt(f.need_total, 1)} "
        f"of them need palliative care each year ({fmt(f.need_cancer, 1)} cancer, "
        f"{fmt(f.need_non_cancer, 1)} non-cancer)."
    )


def coverage_sentences(f: Findings) -> list[str]:
    """Both, beyond, the non-cancer gap, the integration gap, neither."""
    th = f.thresholds
    spc, gp = th.get("spc_min", 60), th.get("gp_min", 30)
    if f.spc_unknown:
        return []
    unknown = f.need_in(("unknown",))
    out = []
    if f.known_need > 0:  # else no share and no "all within": nothing is known
        out.append(
            f"{pct(f.need_in(('both',)), f.need_total)} of that need lives within reach of both "
            "a GP and a specialist palliative care service that would accept it."
        )
        out.append(_beyond_sentence(f, spc))
    if unknown > 0:
        out.append(
            f"For {fmt(unknown, 1)} a year of that need ({pct(unknown, f.need_total)}) access "
            "cannot be computed (see above): it is counted as unknown, not as beyond reach."
        )
    nc = f.headline_shares()
    nc_known = "spc_non_cancer_travel_time_min" not in f.unknown_kinds
    if (
        nc_known
        and nc["non_cancer_need_within_spc_share"] + 0.005 < nc["cancer_need_within_spc_share"]
    ):
        out.append(
            "Non-cancer need is less well served: "
            f"{pct(f.need_in(SPC_WITHIN, 'non_cancer'), f.need_non_cancer)} of it is within "
            f"{spc:g} minutes of a service that accepts non-cancer referrals, against "
            f"{pct(f.need_in(SPC_WITHIN, 'cancer'), f.need_cancer)} of cancer need."
        )
    gp_only = f.people_in(("gp_only",))
    if gp_only > 0:
        out.append(
            f"The integration gap: {fmt(gp_only)} people ({pct(gp_only, f.pop_count)}) have a "
            f"GP within {gp:g} minutes but no specialist service within {spc:g}; their GPs "
            "carry palliative care with specialist support only at a distance (case "
            "conferences, shared care, telehealth)."
        )
    neither = f.people_in(("neither",))
    if neither > 0:
        out.append(
            f"{fmt(neither)} people ({pct(neither, f.pop_count)}) reach neither a GP nor a "
            "specialist service within the thresholds."
        )
    near = nearness_sentence(f)
    if near:
        out.append(near)
    return out


def nearness_sentence(f: Findings) -> str:
    """How near specialist care is, when (nearly) all need is within reach: the gradient a
    planner still needs where distance is not the gap."""
    known = sum(b["need"] for b in f.spc_bands)
    beyond = f.need_in(SPC_BEYOND)
    if known <= 0 or len(f.spc_bands) < 2 or beyond > 0.01 * f.need_total:
        return ""
    if _past_threshold(f) > 0.01 * known:  # by the times alone (classes may be unknown)
        return ""
    first, second = f.spc_bands[0], f.spc_bands[1]
    text = (
        f"Specialist care is near: {pct(first['need'], known)} of the need whose access is "
        f"known lives within {first['upper_min']:g} minutes of a specialist service that would "
        "accept it"
    )
    if second["upper_min"] is not None:
        text += f", {pct(first['need'] + second['need'], known)} within {second['upper_min']:g}"
    return text + "."


def _past_threshold(f: Findings) -> float:
    """Need in the SPC travel-time bands that reach past the smallest SPC threshold (its own
    or a remoteness class's): what the times say lies, or may lie, beyond reach."""
    th = f.thresholds
    limits = [th.get("spc_min", 60)]
    limits += [v["spc_min"] for v in (th.get("by_remoteness") or {}).values() if "spc_min" in v]
    limit = min(limits)
    return sum(b["need"] for b in f.spc_bands if b["upper_min"] is None or b["upper_min"] > limit)


def _beyond_sentence(f: Findings, spc: float) -> str:
    beyond = f.need_in(SPC_BEYOND)
    if beyond <= 0:
        return (
            f"All need whose access is known lives within {spc:g} minutes of a specialist "
            "service that would accept it."
        )
    text = (
        f"{fmt(beyond, 1)} a year of that need ({fmt(f.need_in(SPC_BEYOND, 'cancer'), 1)} "
        f"cancer, {fmt(f.need_in(SPC_BEYOND, 'non_cancer'), 1)} non-cancer) lives beyond "
        f"{spc:g} minutes of a specialist service that would accept it"
    )
    remote = [c for c in f.remote_classes if c in f.by_remoteness]
    if remote and len(f.by_remoteness) > 1:
        in_remote = sum(f.by_remoteness[c]["need_beyond_spc"] for c in remote)
        label = " or ".join(remote)
        text += f"; {pct(in_remote, beyond)} of it in {label} areas"
    return text + "."


def gp_link_sentences(f: Findings) -> list[str]:
    """Practices isolated from specialist care, and practices left out of routing."""
    links = f.gp_links
    if not links:
        return []
    limit = f.thresholds.get("isolated_gp_min", 60)
    routed = [g for g in links if g["link_status"] in ("linked", "isolated")]
    isolated = sorted(
        (g for g in routed if g["link_status"] == "isolated"),
        key=lambda g: -(g["spc_travel_time_min"] or 0),
    )
    off = [g for g in links if g["link_status"] == "off_network"]
    out = []
    if isolated:
        served = sum(g["pop_served"] for g in isolated)
        verb = "is" if len(isolated) == 1 else "are"
        out.append(
            f"{len(isolated)} of {len(routed)} GP practices {verb} isolated from specialist care "
            f"(no specialist service within {limit:g} minutes; serving {fmt(served)} people): "
            f"{listing([g['name'] for g in isolated])}."
        )
    elif len(routed) == 1 and not f.spc_unknown:
        out.append(
            "No GP practice is isolated: the one routed practice reaches a specialist service "
            f"within {limit:g} minutes."
        )
    elif routed and not f.spc_unknown:
        out.append(
            f"No GP practice is isolated: all {len(routed)} routed practices reach a specialist "
            f"service within {limit:g} minutes."
        )
    if off:
        out.append(
            f"{count(len(off), 'GP practice lies', 'GP practices lie')} too far from any mapped "
            f"road and {'is' if len(off) == 1 else 'are'} left out of routing (not counted as "
            f"isolated): {listing([g['name'] for g in off])}."
        )
    return out


def findings_sentences(findings: Findings) -> list[str]:
    """Every key-finding sentence, in reading order (unknowns first)."""
    return [
        *unknown_sentences(findings),
        population_sentence(findings),
        *coverage_sentences(findings),
        *gp_link_sentences(findings),
    ]


def summary_lines(findings: Findings) -> list[str]:
    """The CLI's short account of a run (unknowns first), from the same findings."""
    f = findings
    lines = unknown_sentences(f)
    lines.append(
        f"{fmt(f.pop_count)} people, palliative need {fmt(f.need_total)} a year "
        f"({fmt(f.need_cancer)} cancer, {fmt(f.need_non_cancer)} non-cancer)"
    )
    unknown = f.need_in(("unknown",))
    if not f.spc_unknown and f.known_need > 0:  # else nothing known to sum up
        spc, gp = f.thresholds.get("spc_min", 60), f.thresholds.get("gp_min", 30)
        tail = f" ({pct(unknown, f.need_total)} unknown)" if unknown > 0 else ""
        lines.append(
            f"{pct(f.need_in(SPC_BEYOND), f.need_total)} of need lives beyond {spc:g} min of a "
            f"specialist palliative care service that would accept it{tail}; "
            f"{fmt(f.people_in(('gp_only',)))} people have a GP within {gp:g} min but no "
            "specialist service (the integration gap)"
        )
    return lines


def integration_actions(findings: Findings, cancer_only_services: list[str]) -> list[str]:
    """What the gaps mean for integrated palliative care, as actions (from the findings).

    Parameters
    ----------
    findings
        The area's findings.
    cancer_only_services
        Names of the specialist services that accept cancer referrals only.
    """
    f = findings
    if f.spc_unknown or f.need_total <= 0:
        return []
    th = f.thresholds
    spc, gp = th.get("spc_min", 60), th.get("gp_min", 30)
    out = []
    gp_only = f.need_in(("gp_only",))
    if gp_only > 0:
        isolated = [g["name"] for g in f.gp_links if g["link_status"] == "isolated"]
        start = f" Start with the isolated practices: {listing(isolated)}." if isolated else ""
        out.append(
            f"Bring specialist input to general practice: {fmt(gp_only, 1)} a year of need "
            f"({pct(gp_only, f.need_total)}) has a GP within {gp:g} minutes but no specialist "
            f"service within {spc:g}. Case conferences between these GPs and the nearest "
            "specialist team, shared care plans and telehealth links are the integration tools "
            f"that work at a distance.{start}"
        )
    shares = f.headline_shares()
    nc_gap = shares["cancer_need_within_spc_share"] - shares["non_cancer_need_within_spc_share"]
    if "spc_non_cancer_travel_time_min" not in f.unknown_kinds and nc_gap > 0.005:
        text = (
            "Open specialist care to non-cancer conditions: "
            f"{pct(f.need_in(SPC_WITHIN, 'non_cancer'), f.need_non_cancer)} of non-cancer need "
            f"is within reach of a service that accepts it, against "
            f"{pct(f.need_in(SPC_WITHIN, 'cancer'), f.need_cancer)} of cancer need."
        )
        if cancer_only_services:
            n = len(cancer_only_services)
            text += (
                f" {count(n, 'service takes', 'services take')} cancer referrals only "
                f"({listing(cancer_only_services)}): "
                "widening their referral criteria, or agreeing shared pathways for heart "
                "failure, lung disease, dementia and kidney failure, closes most of this gap."
            )
        out.append(text)
    neither = f.need_in(("neither",))
    if neither > 0:
        out.append(
            f"Reach the places with neither: {fmt(neither, 1)} a year of need "
            f"({pct(neither, f.need_total)}) has no GP within {gp:g} minutes and no specialist "
            f"service within {spc:g}. Visiting clinics or a new base are the options; the "
            "gapmap sites command ranks candidate sites by the need they would bring within "
            "reach."
        )
    if not out and f.need_in(("both",)) > 0:
        out.append(
            "Distance is not the gap here: all need whose access is known has a GP and a "
            "specialist service within reach. What remains is capacity and how the two work "
            "together (see access equity, and the travel-time bands for how near is near)."
        )
    return out
