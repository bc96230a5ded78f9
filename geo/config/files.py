"""Reading config files: the one YAML reader, the one validator, paths and the slug rule.

Region configs, scenario files and batch files all go through :func:`read_yaml` (which refuses a
key written twice) and :func:`validate_file_model` (every invalid entry reported at once, each
named with its key and the nearest valid key). Paths are relative to the file, or to
``$GEO_DATA_ROOT`` when written ``${GEO_DATA_ROOT}/...`` (any ``${VAR}`` is expanded).
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
)

from geo.errors import ConfigError, InputErrors

M = TypeVar("M", bound=BaseModel)

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ``${VAR}`` and make the path absolute.

    A relative path written in the config is relative to the config file's folder; a relative
    folder given in an environment variable is relative to the current directory (where the
    user typed it).
    """
    text = str(value)
    missing = [name for name in _ENV_VAR.findall(text) if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"environment variable {missing[0]} is not set; set it to the folder that holds "
            f"the data (e.g. export {missing[0]}=../shared/data) or write the path out in full"
        )
    text = _ENV_VAR.sub(lambda m: os.path.abspath(os.environ[m.group(1)]), text)
    path = Path(text).expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return Path(os.path.normpath(path))


InputPath = Annotated[Path, AfterValidator(_resolve_path)]
ServiceType = Literal["inpatient", "community", "hospital", "outreach"]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, and models are immutable.

    Validators are built on a model's first use (``defer_build``), not at import: a command
    builds those of the configs it reads, not every scenario, batch and sites model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


def validate_file_model(model: type[M], raw: Any, path: Path) -> M:
    """Validate a YAML file's mapping against ``model`` (relative paths resolved against the
    file's folder) and record the file as ``source_path``.

    Raises
    ------
    ConfigError, InputErrors
        One invalid entry, or several (each named with its key).
    """
    try:
        obj = model.model_validate(raw, context={"base_dir": path.parent.resolve()})
    except ValidationError as exc:
        problems = validation_problems(exc, model, path)
        raise (problems[0] if len(problems) == 1 else InputErrors(problems)) from None
    return obj.model_copy(update={"source_path": path.resolve()})


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (YAML says last wins,
    which silently drops the first value a user wrote)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one",
                key_node.start_mark,
            )
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, *, what: str = "config") -> dict[str, Any]:
    """Read a YAML mapping (region config, scenario or batch file): the one YAML reader.

    Raises
    ------
    ConfigError
        The file is missing, not UTF-8, not YAML, repeats a key, or is not a mapping; the
        message names the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file not found; check the path", path=path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"not valid YAML: {problem}", path=path, row=row) from None
    except UnicodeDecodeError:
        raise ConfigError("not a UTF-8 text file", path=path) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            "the config must be a mapping of sections (region:, roads:, ...)", path=path
        )
    return raw


def validation_problems(
    exc: ValidationError, model: type[BaseModel], path: Path
) -> list[ConfigError]:
    """Turn a pydantic error into one :class:`ConfigError` per problem, with key suggestions."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            valid = sorted(_fields_at(model, err["loc"][:-1]))
            near = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"valid keys: {', '.join(valid)}"
            message = f"unknown key '{key}'; {hint}"
        elif err["type"] == "missing":
            message = f"missing required key '{key}'"
        else:
            given = err.get("input")
            shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
            message = f"key '{key}': {_clean_message(err['msg'])}{shown}"
        problems.append(ConfigError(message, path=path, column=None))
    return problems


def _clean_message(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The valid keys of the (nested) model found at ``loc`` below ``model``."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return set()
        field = current.model_fields.get(str(part))
        if field is None:
            return set()
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {n for n, f in current.model_fields.items() if not f.exclude}
    return set()


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation such as ``Foo | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def slugify(name: str, *, max_length: int = 60, default: str = "region") -> str:
    """The folder name of a region, scenario or sub-area: the one slug rule.

    Lower case ASCII letters and digits; every run of other characters becomes one ``_``.
    """
    slug = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")[:max_length].strip("_")
    return slug or default
