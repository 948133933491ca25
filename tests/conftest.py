"""Shared fixtures: a fresh SQLite database per test and a way to run the real `secops` CLI."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Isolation, done at import so it holds before any fixture of any scope and in every child process:
# no test reads the developer's own secops settings (a SECOPS_DB, scope, audit config or
# known_hosts there could point a test at real hosts or databases). User config and data folders
# are an empty temporary folder; SECOPS_* variables are dropped. The terminal speaks English unless a
# test asks for Vietnamese: the developer's own locale (LANG=vi_VN...) must not change what tests read.
_TEST_HOME = Path(tempfile.mkdtemp(prefix="secops-test-home-"))
atexit.register(shutil.rmtree, _TEST_HOME, True)
for _name in [n for n in os.environ if n.startswith("SECOPS_")]:
    del os.environ[_name]
for _name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"
os.environ["XDG_CONFIG_HOME"] = str(_TEST_HOME / "config")
os.environ["XDG_DATA_HOME"] = str(_TEST_HOME / "data")


def let_stops_reach_children() -> None:
    """Ctrl-C reaches the commands the tests start. A runner started in the background by a
    non-interactive shell (`pytest &` in a script, `(nohup pytest &)`) inherits SIGINT ignored, and
    every process it starts would inherit that too: secops then rightly keeps Ctrl-C ignored, as for
    any nohup'ed command, and the tests that stop a command with SIGINT, as a terminal's Ctrl-C does,
    saw it run on to its end (exit 0 or 1 instead of 130: taken for flakiness under load). A Python
    handler is reset to the default at exec, so children start with SIGINT working."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


let_stops_reach_children()

from secops.cliutil import AppState  # noqa: E402
from secops.config import Settings  # noqa: E402
from secops.store.db import Database  # noqa: E402


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
    """Run `python -m secops ...` in a child process, as a user would (real exit codes, real output).
    A `db` file that does not exist yet is made first, as `secops init` makes it (the command line
    itself opens only existing databases); a test of that refusal passes `--db` among the args."""
    if db is not None and "://" not in str(db) and not Path(db).exists() and Path(db).parent.is_dir():
        Database(f"sqlite:///{Path(db).resolve()}").dispose()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    command = [sys.executable, "-m", "secops", *(["--db", str(db)] if db else []), *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback for the module (tests/pg_server.py): its URL."""
    from tests.pg_server import PostgresServer

    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


_pg_names = itertools.count()


@pytest.fixture
def fresh_pg(pg_url: str) -> Iterator[Callable[[], Database]]:
    """A factory of empty PostgreSQL databases (migrated when opened) on the module's server."""
    from sqlalchemy import create_engine, text

    made: list[Database] = []
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")

    def make() -> Database:
        name = f"fresh{next(_pg_names)}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        made.append(Database(pg_url.rsplit("/", 1)[0] + "/" + name))
        return made[-1]

    yield make
    for database in made:
        database.dispose()
    admin.dispose()

