"""nmap started early (issue 12): only after the scope guard, adopted by the chunk that runs the same
command, stopped when the run fails before scanning, never for a site's agency; stops held meanwhile."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from secops import interrupts
from secops.config import bundled
from secops.discover import nmap_runner
from secops.discover.plan import start_early
from secops.errors import SecopsError
from secops.store.db import Database
from secops.store.tables import RunRow
from tests.discover_helpers import AGENCY, Listeners, path_with, seed_inventory, write_scope

pytestmark = pytest.mark.timeout(240)
POLICIES = bundled("policies")


def pid_logging_nmap(folder: Path) -> tuple[Path, Path]:
    """A `nmap` that logs `pid argv` (the pid stays nmap's: it execs the real one)."""
    real = nmap_runner.find_nmap()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.log"
    script = folder / "nmap"
    script.write_text(f'#!/bin/sh\necho "$$ $*" >> "{log}"\nexec "{real}" "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return folder, log


def scans(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    return [(int(pid), args) for pid, args in lines if "-oX" in args]


def started(log: Path, count: int) -> list[tuple[int, str]]:
    """The scans logged, once `count` have (a started process logs itself a moment later)."""
    deadline = time.monotonic() + 30
    while len(scans(log)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return scans(log)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    """A SQLite inventory holding AGENCY: its URL (the early start reads it)."""
    db = Database(f"sqlite:///{tmp_path / 'inventory.db'}")
    seed_inventory(db, [])
    db.dispose()
    return f"sqlite:///{tmp_path / 'inventory.db'}"


@pytest.fixture
def nmap_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    bin_dir, log = pid_logging_nmap(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(bin_dir))
    yield log
    interrupts.release(raise_pending=False)
    nmap_runner.discard_prestarted()


@pytest.mark.parametrize("targets, override", [(["127.0.3.8"], None), (["127.0.3.2"], None),
                                               (["127.0.3.1,-oN/tmp/x"], None), ([], "bad"),
                                               (["127.0.3.9"], "no")])
def test_refused_targets_start_nothing(tmp_path: Path, nmap_log: Path, targets: list[str],
                                       override: str | None, inventory: str) -> None:
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"], [{"cidr": "127.0.3.2/32", "reason": "router"}])
    extra = {"targets": targets, "scope_file": str(scope), "override_scope": override}
    assert start_early(POLICIES, AGENCY, extra, inventory) == 0
    assert scans(nmap_log) == []


def test_an_agency_without_a_scope_starts_nothing(tmp_path: Path, nmap_log: Path, inventory: str) -> None:
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
    assert start_early(POLICIES, "OTHER", {"scope_file": str(scope)}, inventory) == 0
    assert scans(nmap_log) == []


def test_a_site_agency_is_not_scanned_from_here(tmp_path: Path, nmap_log: Path, inventory: str) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "sites.yaml").write_text(yaml.safe_dump(
        {"version": 1, "sites": [{"code": "site-a", "agencies": [AGENCY]}]}), encoding="utf-8")
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
    assert start_early(policies, AGENCY, {"scope_file": str(scope)}, inventory) == 0
    assert scans(nmap_log) == []


def test_the_started_process_is_the_chunks_own(tmp_path: Path, nmap_log: Path, inventory: str) -> None:
    listeners = Listeners()
    try:
        port = listeners.http("127.0.3.1")
        scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
        extra = {"targets": ["127.0.3.1-2"], "scope_file": str(scope), "ports": str(port), "chunk_prefix": 32,
                 "parallel": 1}
        assert start_early(POLICIES, AGENCY, extra, inventory) == 1  # parallel 1: only the first chunk starts now
        [(pid, args)] = started(nmap_log, 1)
        assert "127.0.3.1/32" in args and f"-p {port}" in args
        nmap = nmap_runner.find_nmap()
        arguments = args.split("127.0.3.1/32 ", 1)[1].split()
        out = nmap_runner.run_chunk(nmap, ["127.0.3.1/32"], arguments, 120)  # adopts it
        assert out.status == "ok" and f'portid="{port}"' in out.xml and gone(pid)
        assert len(scans(nmap_log)) == 1, "the chunk started nmap a second time"
        other = nmap_runner.run_chunk(nmap, ["127.0.3.2/32"], arguments, 120)  # not started early: started now
        assert other.status == "ok" and len(started(nmap_log, 2)) == 2
        assert nmap_runner.discard_prestarted() == 0
    finally:
        listeners.close()


def test_a_process_no_chunk_adopts_is_stopped(tmp_path: Path, nmap_log: Path, inventory: str) -> None:
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
    extra = {"targets": ["127.0.3.1"], "scope_file": str(scope), "timing": 0, "ports": "1-1000"}
    assert start_early(POLICIES, AGENCY, extra, inventory) == 1
    [(pid, _args)] = started(nmap_log, 1)
    assert not gone(pid)
    assert nmap_runner.discard_prestarted() == 1
    assert gone(pid)


def test_a_run_failing_before_its_scan_leaves_no_nmap(tmp_path: Path, cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [])
    # Authorised in the scope file, but not in the inventory: no early start, the stage refuses.
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"], agency="GHOST")
    bin_dir, log = pid_logging_nmap(tmp_path / "bin")
    result = cli("discover", "--agency", "GHOST", "--scope", str(scope), "--targets", "127.0.3.1", "--timing", "0",
                 "--ports", "1-1000", env={"PATH": path_with(bin_dir)}, db=db_path)
    assert result.returncode == 2 and "not in the inventory" in result.stderr, result.stderr
    assert scans(log) == [], "nmap started for an agency the inventory does not have"
    with db.session() as session:
        run = session.scalars(select(RunRow).where(RunRow.kind == "discover")).one()
        assert run.status == "failed" and "not in the inventory" in run.errors[0]
    db.dispose()


def test_the_early_start_changes_nothing_stored(tmp_path: Path, cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    # One scan, its nmap started early and adopted: stored as any scan (one process, one chunk).
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [{"code": "EP-WEB", "hostname": "web01", "ips": ["127.0.3.1"]}])
    listeners = Listeners()
    try:
        port = listeners.http("127.0.3.1")
        scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/30"])
        bin_dir, log = pid_logging_nmap(tmp_path / "bin")
        result = cli("discover", "--agency", AGENCY, "--scope", str(scope), "--targets", "127.0.3.1",
                     "--ports", str(port), "--json", env={"PATH": path_with(bin_dir)}, db=db_path)
    finally:
        listeners.close()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert (summary["chunks_ok"], summary["hosts_up"], summary["open_ports"], summary["matched"]) == (1, 1, 1, 1)
    assert len(scans(log)) == 1
    db.dispose()


def test_a_stop_while_held_is_raised_on_release() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        interrupts.hold()
        os.kill(os.getpid(), signal.SIGTERM)  # held: pytest goes on
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(interrupts.Interrupted) as raised:
            interrupts.release()
        assert interrupts.reason(raised.value) == "interrupted by SIGTERM"  # the first stop asked for
        interrupts.hold()
        interrupts.release()  # nothing came: nothing raised
        interrupts.hold()
        os.kill(os.getpid(), signal.SIGHUP)
        interrupts.release(raise_pending=False)  # the command is failing anyway: dropped
        with pytest.raises(SecopsError):  # and the next hold starts clean
            interrupts.hold()
            try:
                raise SecopsError("boom")
            finally:
                interrupts.release()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
