"""Load a YAML data file into a pydantic model, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from secops.errors import SecopsError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as handle:
            # libyaml's loader when built in: real SCA policies are large (seconds with the pure-Python one)
            return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError as exc:
        raise SecopsError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise SecopsError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc


def format_validation(path: Path | str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{path}: {key}: {err['msg']}")
    return "\n".join(lines)


def load_model(path: Path, model: type[M]) -> M:
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc
