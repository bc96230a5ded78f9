"""Batch files: many region configs, or one config template run for each sub-area of a layer.

See :mod:`geo.workflows.batch` for how a batch runs, and the README for both forms.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from geo.config.files import InputPath, StrictModel, read_yaml, validate_file_model


class SubareaSource(StrictModel):
    """The national layer whose polygons are cut out and run one by one (form b)."""

    path: InputPath
    layer: str | None = None
    id_column: str
    name_column: str | None = None
    ids: list[str] | None = Field(default=None, min_length=1)


class BatchConfig(StrictModel):
    """A batch: a list of region configs, or a config template and a sub-area layer."""

    regions: list[InputPath] | None = Field(default=None, min_length=1)
    template: InputPath | None = None
    subareas: SubareaSource | None = None
    out_dir: InputPath | None = None
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_form(self) -> BatchConfig:
        listed = self.regions is not None
        cut = self.template is not None or self.subareas is not None
        if listed == cut:
            raise ValueError(
                "give either 'regions' (a list of region configs) or 'template' and 'subareas'"
            )
        if cut and (self.template is None or self.subareas is None):
            raise ValueError("'template' and 'subareas' go together: give both")
        return self


def load_batch(path: str | Path) -> BatchConfig:
    """Read and validate a batch file (paths resolved relative to it).

    Raises
    ------
    ConfigError
        Missing file, not YAML, or one invalid entry.
    InputErrors
        Several invalid entries.
    """
    path = Path(path)
    return validate_file_model(BatchConfig, read_yaml(path, what="batch"), path)
