"""Load a YAML data file into a pydantic model, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from secops.errors import SecopsError
from secops.i18n import validation_reason
from secops.yamlsafe import load_yaml

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A policy file's model: unknown keys are mistakes, reported rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class Text(Strict):
    """A text of a policy file in Vietnamese and English."""

    vi: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


def read_yaml(path: Path) -> object:
    """Parse a YAML file within bounds (size, nesting, alias expansion): see secops.yamlsafe."""
    return load_yaml(path)


def format_validation(path: Path | str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        # A model-level rule names its own field ("milestone: ..."); pydantic's "Value error, " is noise.
        message = validation_reason(err)
        lines.append(f"{path}: {key}: {message}" if key else f"{path}: {message}")
    return "\n".join(lines)


def load_model(path: Path, model: type[M]) -> M:
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc
