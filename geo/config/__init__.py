"""Every config model (region, scenario, batch) and the one way to read them from YAML.

* :mod:`geo.config.files`: the YAML reader, the validator, path resolution, the slug rule;
* :mod:`geo.config.region`: a region run (``gapmap run``);
* :mod:`geo.config.scenario`: a what-if scenario (``gapmap scenario``);
* :mod:`geo.config.batch`: a batch of regions (``gapmap batch``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geo.config.files import (
    InputPath,
    ServiceType,
    StrictModel,
    read_yaml,
    slugify,
    validate_file_model,
)
from geo.config.region import (
    CatchmentsConfig,
    FacilitiesConfig,
    HomeVisitsConfig,
    NeedConfig,
    OutputConfig,
    PartitionConfig,
    PopulationConfig,
    RegionConfig,
    RemotenessConfig,
    SubareasConfig,
    ThresholdsConfig,
    UncertaintyConfig,
    load_config,
    parse_config,
)
from geo.config.sources import (
    CapacityTableConfig,
    GeocodeConfig,
    PostcodeDirectoryConfig,
    SmrConfig,
)

if TYPE_CHECKING:
    from geo.config.batch import BatchConfig, SubareaSource, load_batch
    from geo.config.scenario import ScenarioConfig, load_scenario

# Scenario and batch models are built on first use: `gapmap run` and `gapmap report` never
# need them, and building pydantic models is a visible share of a short command's time.
_LAZY = {
    "BatchConfig": "geo.config.batch",
    "SubareaSource": "geo.config.batch",
    "load_batch": "geo.config.batch",
    "ScenarioConfig": "geo.config.scenario",
    "load_scenario": "geo.config.scenario",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BatchConfig",
    "CapacityTableConfig",
    "CatchmentsConfig",
    "FacilitiesConfig",
    "GeocodeConfig",
    "HomeVisitsConfig",
    "InputPath",
    "NeedConfig",
    "OutputConfig",
    "PartitionConfig",
    "PopulationConfig",
    "PostcodeDirectoryConfig",
    "RegionConfig",
    "RemotenessConfig",
    "ScenarioConfig",
    "ServiceType",
    "SmrConfig",
    "StrictModel",
    "SubareaSource",
    "SubareasConfig",
    "ThresholdsConfig",
    "UncertaintyConfig",
    "load_batch",
    "load_config",
    "load_scenario",
    "parse_config",
    "read_yaml",
    "slugify",
    "validate_file_model",
]
