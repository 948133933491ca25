"""Load a YAML data file into a pydantic model, with errors that name the file and the key."""

from __future__ import annotations

import threading
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


_LOADED: dict[tuple[str, type[BaseModel]], tuple[tuple[int, int, int], BaseModel]] = {}
_LOADED_LOCK = threading.Lock()


def load_model(path: Path, model: type[M], *, reuse: bool = False) -> M:
    """The policy file as MODEL. reuse=True (a file whose model depends on nothing but its text): a
    file already read, unchanged since (same inode, size and modification time), is not parsed
    again: a copy of the model read then is returned (each caller its own: a change made to it is
    not seen by the next). The console reads targets and kinds on every dashboard it builds; a YAML
    parse was most of that."""
    if not reuse:
        return _validated(path, model, read_yaml(path))
    try:
        stat = path.stat()
        stamp: tuple[int, int, int] | None = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    except OSError:
        stamp = None  # read_yaml says what is wrong with the path
    key = (str(path), model)
    with _LOADED_LOCK:
        hit = _LOADED.get(key)
    if stamp is not None and hit is not None and hit[0] == stamp:
        return hit[1].model_copy(deep=True)  # type: ignore[return-value]
    loaded = _validated(path, model, read_yaml(path))
    if stamp is not None:
        with _LOADED_LOCK:
            _LOADED[key] = (stamp, loaded.model_copy(deep=True))
    return loaded


def _validated(path: Path, model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc
