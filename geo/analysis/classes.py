"""The coverage model's vocabulary: class codes, need groups and column names.

Kept apart from :mod:`geo.analysis.coverage` (which imports the routing engine) so that
renderers and ``gapmap report`` can name classes and columns without importing SciPy.
"""

from __future__ import annotations

COVERAGE_CLASSES = ("both", "gp_only", "spc_only", "neither", "unknown")
NEED_GROUPS = ("cancer", "non_cancer")
CLASS_COLUMN = {"cancer": "coverage_class", "non_cancer": "coverage_class_non_cancer"}
NEED_COLUMN = {"cancer": "need_cancer", "non_cancer": "need_non_cancer"}
COUNT_COLUMNS = ("pop_count", "need_cancer", "need_non_cancer")  # people, then need by group
SPC_WITHIN = ("both", "spc_only")
SPC_BEYOND = ("gp_only", "neither")
GP_WITHIN = ("both", "gp_only")
GP_LINK_STATUSES = ("linked", "isolated", "off_network", "unknown")

GP_COLUMN = "gp_travel_time_min"
SPC_COLUMN = "spc_travel_time_min"
SPC_NON_CANCER_COLUMN = "spc_non_cancer_travel_time_min"
# Community teams that take non-cancer referrals: their home-visit reach covers non-cancer need.
COMMUNITY_NON_CANCER_COLUMN = "spc_community_non_cancer_travel_time_min"


def type_column(service_type: str) -> str:
    """The time column of one SPC service type, e.g. ``spc_community_travel_time_min``."""
    return f"spc_{service_type}_travel_time_min"


COMMUNITY_COLUMN = type_column("community")
