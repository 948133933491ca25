"""Shared fixtures: a fresh SQLite database per test and a way to run the real `secops` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from secops.cliutil import AppState  # noqa: E402
from secops.config import Settings  # noqa: E402
from secops.store.db import Database  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """No test reads the developer's own secops config (a scope or audit file there could point a
    test at real networks): user config/data dirs are empty temp folders, SECOPS_* unset."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    for name in list(os.environ):
        if name.startswith("SECOPS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "secops.db"


@pytest.fixture
def db(db_path: Path) -> Database:
    database = Database(f"sqlite:///{db_path}")
    yield database
    database.dispose()


@pytest.fixture
def app_state(db_path: Path, tmp_path: Path) -> AppState:
    return AppState(Settings(db=str(db_path), output=tmp_path / "reports"))


def run_cli(*args: str, db: Path | None = None, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m secops ...` in a child process, as a user would (real exit codes, real output)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    command = [sys.executable, "-m", "secops", *(["--db", str(db)] if db else []), *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
