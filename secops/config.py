"""Settings: where the database, policies, checks, templates and outputs are.

Precedence: command-line option > SECOPS_* environment variable > built-in default.
The variables are read here, by name, rather than through pydantic-settings: importing it (with
asyncio, dotenv and its cloud sources) cost ~40 ms of every command's start.
The bundled checks/, policies/ and reports/ are found in a source checkout or, after
`pip install .`, inside the wheel (secops._bundled).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from secops.errors import SecopsError
from secops.i18n import _

PACKAGE_DIR = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """Path of a bundled top-level folder (checks, policies, reports)."""
    source_tree = PACKAGE_DIR.parent / name
    if (PACKAGE_DIR.parent / "pyproject.toml").exists() and source_tree.is_dir():
        return source_tree
    return PACKAGE_DIR / "_bundled" / name


def policy_path(policies: Path, name: str) -> Path:
    """A policy file from the chosen folder, else the bundled one.

    A site's policies folder then only needs the files it changes (say targets.yaml); the rest
    (discovery profiles, risky services, jobs, ...) keep their shipped defaults.
    """
    path = policies / name
    return path if path.exists() else bundled("policies") / name


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("secops", appauthor=False))


def database_url(value: str | None) -> str:
    """Accept a SQLAlchemy URL or a plain file path (taken as SQLite)."""
    if not value:
        return f"sqlite:///{default_data_dir() / 'secops.db'}"
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


ENV_PREFIX = "SECOPS_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    db: str | None = Field(default=None, description="SQLAlchemy URL or SQLite file path")
    output: Path = Field(default=Path("secops-reports"), description="folder for reports")
    policies: Path = Field(default_factory=lambda: bundled("policies"))
    checks: Path = Field(default_factory=lambda: bundled("checks"))
    reports: Path = Field(default_factory=lambda: bundled("reports"))
    lang: str = Field(default="vi", pattern="^(vi|en)$")

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        """SECOPS_<FIELD> (any letter case, as pydantic-settings matched it) under the values given."""
        if not isinstance(data, dict):
            return data
        return {**environment_values(cls), **data}

    @property
    def db_url(self) -> str:
        return database_url(self.db)


def environment_values(model: type[BaseModel]) -> dict[str, str]:
    """The SECOPS_* variables that name a field of MODEL, by field name."""
    found = {key.lower().removeprefix(ENV_PREFIX.lower()): value for key, value in os.environ.items()
             if key.lower().startswith(ENV_PREFIX.lower())}
    return {name: found[name] for name in model.model_fields if name in found}


def load_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from command-line values over SECOPS_* variables; a bad value is a user error
    naming the option or variable it came from, not a traceback."""
    try:
        return Settings.model_validate(overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "settings"
            origin = f"--{name}" if name in overrides else f"{ENV_PREFIX}{name.upper()}"
            lines.append(_("setting {origin}: {problem} (got {value})").format(
                origin=origin, problem=err["msg"], value=repr(str(err.get("input"))[:200])))
        raise SecopsError("\n".join(lines)) from exc
