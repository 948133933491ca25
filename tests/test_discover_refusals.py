"""Every refusal of `secops discover` comes before the first packet: traced with strace (execve of
every process secops starts), no nmap is executed for any refused scan.

Refusals: a retired agency, an agency not in the inventory, an agency the scope file does not
authorise, a target outside the authorised ranges, an excluded target, option injection in a
target, an empty override reason, an unknown profile, the address budget, a corrupt database.
A scan that is allowed is traced the same way and does execute nmap (the tracing works).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from secops.inventory.retire import retire
from secops.store.db import Database
from tests.discover_helpers import AGENCY, NMAP, seed_inventory, write_scope

ROOT = Path(__file__).resolve().parent.parent
STRACE = shutil.which("strace")
YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
pytestmark = pytest.mark.timeout(180)


def traced_discover(tmp_path: Path, db_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`secops discover ARGS` under strace -f: the result and every program it executed."""
    assert STRACE, "strace is required (scripts/install-test-deps.sh installs it)"
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    log = tmp_path / "execve.log"
    command = [STRACE, "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", str(log),
               sys.executable, "-m", "secops", "--db", str(db_path), "discover", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    programs = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "execve(" in line and "= -1" not in line:
            programs.append(line.split("execve(", 1)[1].split(",", 1)[0].strip('"'))
    return result, programs


def nmaps(programs: list[str]) -> list[str]:
    return [p for p in programs if os.path.basename(p) == "nmap"]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    db_path = tmp_path / "secops.db"
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [])
    with db.session() as session:
        retire(session, "agencies", "DISC-SO", "merged", YESTERDAY)
    db.dispose()
    return db_path


def _scope(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "scope.yaml"
    if case == "retired":
        return write_scope(path, ["127.0.3.0/30"], agency="DISC-SO")
    if case == "not-in-inventory":
        return write_scope(path, ["127.0.3.0/30"], agency="GHOST")
    if case == "not-in-scope-file":
        return write_scope(path, ["127.0.3.0/30"], agency="OTHER")
    if case == "budget":
        return write_scope(path, ["127.0.3.0/30"], max_addresses=1)
    return write_scope(path, ["127.0.3.0/30"], [{"cidr": "127.0.3.2/32", "reason": "router"}])


REFUSALS = [
    ("retired", ["--agency", "DISC-SO"], "was retired on"),
    ("not-in-inventory", ["--agency", "GHOST"], "not in the inventory"),
    ("not-in-scope-file", ["--agency", AGENCY], AGENCY),
    ("outside-scope", ["--agency", AGENCY, "--targets", "127.0.4.1"], "127.0.4.1"),
    ("excluded", ["--agency", AGENCY, "--targets", "127.0.3.2"], "127.0.3.2"),
    ("injection", ["--agency", AGENCY, "--targets", "127.0.3.1,-oN/tmp/x"], "-oN/tmp/x"),
    ("empty-override", ["--agency", AGENCY, "--targets", "127.0.4.1", "--override-scope", " "], "outside the ranges"),
    ("profile", ["--agency", AGENCY, "--profile", "nosuch"], "nosuch"),
    ("budget", ["--agency", AGENCY], "max_addresses"),
]


@pytest.mark.parametrize("case, args, said", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_discover_executes_no_nmap(tmp_path: Path, inventory: Path, case: str, args: list[str],
                                             said: str) -> None:
    scope = _scope(tmp_path, case)
    result, programs = traced_discover(tmp_path, inventory, *args, "--scope", str(scope), "--ports", "1-1000",
                                       "--timing", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert programs, "strace traced nothing"
    assert nmaps(programs) == [], f"nmap was executed before the refusal: {nmaps(programs)}"


def test_a_corrupt_database_executes_no_nmap(tmp_path: Path) -> None:
    db_path = tmp_path / "secops.db"
    db_path.write_bytes(b"SQLite format 3\x00" + b"\x17" * 4096)
    scope = _scope(tmp_path, "ok")
    result, programs = traced_discover(tmp_path, db_path, "--agency", AGENCY, "--scope", str(scope),
                                       "--targets", "127.0.3.1", "--ports", "1-1000", "--timing", "0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert nmaps(programs) == [], f"nmap was executed before the refusal: {nmaps(programs)}"


def test_an_allowed_discover_is_traced_executing_nmap(tmp_path: Path, inventory: Path) -> None:
    scope = _scope(tmp_path, "ok")
    result, programs = traced_discover(tmp_path, inventory, "--agency", AGENCY, "--scope", str(scope),
                                       "--targets", "127.0.3.1", "--ports", "9", "--json")
    assert result.returncode == 0, result.stderr
    assert nmaps(programs), programs
