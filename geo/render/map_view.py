"""What the map shows when it opens, and the headline that says why.

The rule (:func:`default_view`), read from the run's :class:`~geo.results.Findings` (never
recomputed): when nearly everyone is covered — at least :data:`NEARLY_ALL_SHARE` of people
have both a GP and a specialist palliative care (SPC) service within their thresholds, *and*
at least that share of non-cancer need has a service that takes non-cancer referrals within
reach — a field of "both" dots would say nothing, so the travel-time bands to specialist care
are on instead, and the headline says everyone (or that share) is within the thresholds and
that the bands show how far. Otherwise (or when specialist access is unknown, or the run has
no travel-time surface or SPC bands to show) people by coverage class are on, and the
headline gives the shares of both, GP only and neither.
"""

from __future__ import annotations

import math

from geo.render.findings_text import UNKNOWN_WHAT, pct
from geo.render.map_style import esc
from geo.results import Findings, Results
from geo.text import data_date, joined

NEARLY_ALL_SHARE = 0.99
VIEW_COVERAGE = "coverage"
VIEW_BANDS = "bands"


def default_view(findings: Findings | None, *, has_bands: bool) -> str:
    """:data:`VIEW_BANDS` when nearly everyone is covered and there are bands to show, else
    :data:`VIEW_COVERAGE` (see the module docstring for the rule)."""
    if findings is None or not has_bands:
        return VIEW_COVERAGE
    shares = findings.headline_shares()
    both = shares["people_both_share"]
    non_cancer = shares["non_cancer_need_within_spc_share"]
    if findings.need_non_cancer <= 0:  # no non-cancer need: nothing to hold the rule back
        non_cancer = 1.0
    covered = [both, non_cancer]
    if all(math.isfinite(s) and s >= NEARLY_ALL_SHARE for s in covered):
        return VIEW_BANDS
    return VIEW_COVERAGE


def threshold_text(findings: Findings | None, results: Results, kind: str) -> str:
    """``30 min``, with per-remoteness overrides: ``30 min (54 min in Remote and Very Remote
    areas)``."""
    base = results.thresholds_min.get(kind, float("nan"))
    text = f"{base:g} min"
    overrides: dict[float, list[str]] = {}
    by_class = (findings.thresholds.get("by_remoteness") if findings else None) or {}
    for name, values in by_class.items():
        value = values.get(f"{kind}_min")
        if value is not None and value != base:
            overrides.setdefault(float(value), []).append(str(name))
    extra = "; ".join(f"{v:g} min in {joined(names)} areas" for v, names in overrides.items())
    return f"{text} ({extra})" if extra else text


def _share(value: float) -> str:
    return pct(value, 1.0)


def headline(results: Results, view: str) -> str:
    """The map's headline sentence (plain text) for ``view``, from the findings' shares."""
    f = results.findings
    gp, spc = threshold_text(f, results, "gp"), threshold_text(f, results, "spc")
    if f is None:
        return f"GP within {gp} and specialist palliative care within {spc} by road."
    nobody_known = f.pop_count > 0 and f.known_people <= 0
    if f.spc_unknown or nobody_known:
        kinds = ("spc_travel_time_min", "gp_travel_time_min")
        what = next((UNKNOWN_WHAT[k] for k in kinds if k in f.unknown_kinds), "Access")
        return f"{what} could not be computed (see the report); people are shown by what is known."
    shares = f.headline_shares()
    if view == VIEW_BANDS:
        everyone = shares["people_both_share"] >= 1.0 and (
            f.need_non_cancer <= 0 or shares["non_cancer_need_within_spc_share"] >= 1.0
        )
        who = "Everyone is" if everyone else f"{_share(shares['people_both_share'])} of people are"
        return (
            f"{who} within {gp} of a GP and {spc} of specialist palliative care by road; "
            "the bands show how far."
        )
    text = (
        f"{_share(shares['people_both_share'])} of people have a GP within {gp} and specialist "
        f"palliative care within {spc} by road; {_share(shares['people_gp_only_share'])} have "
        f"a GP only (the integration gap), {_share(shares['people_neither_share'])} neither"
    )
    unknown = f.people_in(("unknown",))
    # Otherwise the shares would read as if the rest were covered by a specialist service only.
    text += f"; access could not be computed for {pct(unknown, f.pop_count)}." if unknown else "."
    cancer = shares["cancer_need_within_spc_share"]
    non_cancer = shares["non_cancer_need_within_spc_share"]
    if f.need_non_cancer > 0 and non_cancer + 0.005 < cancer:
        text += (
            f" Non-cancer need is less well served: {_share(non_cancer)} is within reach of a "
            f"service that takes non-cancer referrals (cancer need: {_share(cancer)})."
        )
    return text


def title_html(results: Results, view: str) -> str:
    """The title box: region name, headline, road data and its licence (all escaped)."""
    date = data_date(results.provenance.get("osm_data_date"))
    return (
        f'<div class="gm-region">{esc(results.region_name)}</div>'
        f'<div id="gm-headline">{esc(headline(results, view))}</div>'
        f'<div class="gm-small">Road data: OpenStreetMap, {esc(date)} &copy; OpenStreetMap '
        "contributors (ODbL)</div>"
    )


__all__ = ["NEARLY_ALL_SHARE", "VIEW_BANDS", "VIEW_COVERAGE", "default_view", "headline"]
