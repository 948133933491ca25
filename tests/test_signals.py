"""Real signals to a real `secops discover` running real nmap on loopback (127.0.3.0/24).

SIGTERM and SIGHUP are sent to secops alone (not its process group, as `kill PID` or systemd
would): the nmap children must stop with it and the run must be recorded `interrupted`.
After SIGKILL nothing in secops runs any more; the next command of any kind must notice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from secops.discover.tables import DiscoveryChunkRow
from secops.interrupts import descendants
from secops.runs.records import boot_id
from secops.store.db import Database
from secops.store.tables import RunRow
from tests.discover_helpers import AGENCY, NMAP, Listeners, seed_inventory, write_scope

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def hangup_not_ignored():  # type: ignore[no-untyped-def]
    """Children inherit an ignored SIGHUP (a suite started under nohup) and secops rightly keeps
    ignoring it then ("nohup stays nohup"); these tests are about the default disposition."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, previous)


@pytest.fixture
def lab(tmp_path: Path, db_path: Path):  # type: ignore[no-untyped-def]
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    listeners = Listeners()
    web = listeners.http("127.0.3.1")
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [{"code": "EP-WEB", "hostname": "web01", "ips": ["127.0.3.1"]}])
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/24"])
    yield {"db": db, "db_path": db_path, "scope": scope, "web": web}
    listeners.close()
    db.dispose()


def session_processes(sid: int) -> list[int]:
    """Every live process of a session, wherever it was re-parented (nmap orphaned under init)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                if handle.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X"):
                    found.append(int(entry))
        except (OSError, ProcessLookupError):
            continue
    return found


def start_slow_scan(lab) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    """A scan that cannot finish on its own within the test (nmap -T0 waits minutes between probes)."""
    command = [sys.executable, "-m", "secops", "--db", str(lab["db_path"]), "discover", "--agency", AGENCY,
               "--scope", str(lab["scope"]), "--targets", "127.0.3.1-2", "--chunk-prefix", "32", "--timing", "0",
               "--ports", str(lab["web"]), "--json"]
    proc = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until both nmap processes run
        nmaps = [p for p in descendants(proc.pid) if _comm(p) == "nmap"]
        if len(nmaps) >= 2:
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("nmap did not start")


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def stop_all(proc: subprocess.Popen[str]) -> None:
    for pid in session_processes(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait(timeout=10)


def check_db(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_nmap_and_records_interrupted(lab, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    proc = start_slow_scan(lab)
    try:
        os.kill(proc.pid, sig)  # secops alone, not its process group
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        deadline = time.monotonic() + 10
        while session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session_processes(proc.pid) == [], "nmap kept scanning after secops stopped"
    finally:
        stop_all(proc)
    with lab["db"].session() as session:
        run = session.scalars(select(RunRow).where(RunRow.kind == "discover")).one()
        assert run.status == "interrupted" and run.finished_at is not None
        assert run.summary["interrupted_by"] == f"interrupted by {sig.name}"
        assert sorted(session.scalars(select(DiscoveryChunkRow.status)).all()) == ["interrupted", "interrupted"]
    check_db(lab["db"])


def recorded(db: Database) -> bool:
    with db.session() as session:
        return session.scalar(select(RunRow.id).where(RunRow.kind == "discover")) is not None


def test_kill_9_is_noticed_by_the_next_command(lab, cli) -> None:  # type: ignore[no-untyped-def]
    proc = start_slow_scan(lab)
    try:
        # nmap starts before the run is recorded (issue 12: the database is opened while nmap
        # scans). A stop by signal is held until the run is recorded (test above); kill -9 cannot
        # be, so it is sent once the run exists.
        deadline = time.monotonic() + 60
        while not recorded(lab["db"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop_all(proc)
    with lab["db"].session() as session:
        run = session.scalars(select(RunRow).where(RunRow.kind == "discover")).one()
        assert run.status == "running", "nothing could close it"
        assert run.summary["boot_id"] == boot_id() and run.summary["pid_start"]
    result = cli("runs", "list", db=lab["db_path"])  # any command, not a daemon start
    assert result.returncode == 0, result.stderr
    with lab["db"].session() as session:
        run = session.scalars(select(RunRow).where(RunRow.kind == "discover")).one()
        assert run.status == "interrupted"
        assert "ended without closing the run" in run.errors[-1]
    check_db(lab["db"])


def test_run_from_before_a_reboot_is_interrupted_even_if_its_pid_is_alive(lab, cli) -> None:  # type: ignore[no-untyped-def]
    """A power cut: after the restart the recorded pid may belong to an unrelated live process."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with lab["db"].session() as session:
            session.add(RunRow(kind="audit", trigger="manual", status="running", pid=sleeper.pid,
                               summary={"host": os.uname().nodename, "boot_id": "an-earlier-boot"}, errors=[]))
        result = cli("runs", "list", db=lab["db_path"])
        assert result.returncode == 0, result.stderr
        with lab["db"].session() as session:
            assert session.scalars(select(RunRow.status).where(RunRow.kind == "audit")).one() == "interrupted"
    finally:
        sleeper.kill()
        sleeper.wait()


SLOW_PACK = """policy: {id: test_slow, name: "Slow check"}
secops: {os: linux}
checks:
  - id: 1
    title: "A command that takes minutes"
    condition: all
    rules:
      - 'c:sleep 300 -> r:never'
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_a_local_audit(cli, tmp_path: Path, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    db_path = tmp_path / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "slow.yml").write_text(SLOW_PACK, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "secops", "--db", str(db_path), "audit", "--local", "--endpoint",
                             "QT-STTTT-SRV01", "--checks", str(checks), "--no-progress"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(_comm(p) == "sleep" for p in descendants(proc.pid)):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert any(_comm(p) == "sleep" for p in descendants(proc.pid)), "the slow check did not start"
        os.kill(proc.pid, sig)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and f"interrupted by {sig.name}" in err
        assert session_processes(proc.pid) == [], "the check's command kept running"
    finally:
        stop_all(proc)
    db = Database(f"sqlite:///{db_path}")
    try:
        with db.session() as session:
            run = session.scalars(select(RunRow).where(RunRow.kind == "audit")).one()
            assert run.status == "interrupted" and f"interrupted by {sig.name}" in run.errors
        check_db(db)
    finally:
        db.dispose()
