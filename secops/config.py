"""Settings: where the database, policies, checks, templates and outputs are.

Precedence: command-line option > SECOPS_* environment variable > built-in default.
The bundled checks/, policies/ and reports/ are found in a source checkout or, after
`pip install .`, inside the wheel (secops._bundled).
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SECOPS_", extra="ignore")

    db: str | None = Field(default=None, description="SQLAlchemy URL or SQLite file path")
    output: Path = Field(default=Path("secops-reports"), description="folder for reports")
    policies: Path = Field(default_factory=lambda: bundled("policies"))
    checks: Path = Field(default_factory=lambda: bundled("checks"))
    reports: Path = Field(default_factory=lambda: bundled("reports"))
    lang: str = Field(default="vi", pattern="^(vi|en)$")

    @property
    def db_url(self) -> str:
        return database_url(self.db)
