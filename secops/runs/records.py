"""Runs: every manual command or scheduled job that produces results records one.

A run is opened in its own short transaction (so it is visible while it works), its results
are written in their own transactions, and it is closed with a status and a summary.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy import select

from secops import interrupts
from secops.models import RunStatus
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import RunRow


def boot_id() -> str | None:
    """This boot's id (Linux): a run recorded under another boot id died in a reboot or power cut."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def machine_id() -> str | None:
    """This machine's id (systemd's /etc/machine-id): two machines may share a hostname (cloned
    images, a default name), and a run of the other one must not look like one of ours."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, encoding="ascii", errors="replace") as handle:
                value = handle.read(64).strip()
        except OSError:
            continue
        if value and all(c in "0123456789abcdef" for c in value):
            return value
    return None


def process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot: tells a reused pid from the original."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return None


def process_identity() -> dict[str, Any]:
    """What the next command needs to tell whether this run's process is gone (see schedule.recovery)."""
    return {"host": socket.gethostname(), "machine_id": machine_id(), "boot_id": boot_id(),
            "pid_start": process_start(os.getpid())}


def start_run(db: Database, kind: str, *, trigger: str = "manual", job_name: str | None = None,
              agency_code: str | None = None, as_of: dt.datetime | None = None) -> int:
    """Record a new run `running`; returns its id.

    A stop (Ctrl-C, SIGTERM, SIGHUP) while the row is being committed is held until it is, then
    recorded on the run and raised: before, it could come out of the commit with the run stored
    `running` and its id lost to the caller, until a later command noticed the process was gone.
    Only the commit is held: a connection or the INSERT waiting on a lock can still be stopped."""
    with interrupts.deferred() as held, db.session() as session:
        run = RunRow(kind=kind, trigger=trigger, job_name=job_name, agency_code=agency_code,
                     as_of=as_of or utcnow(), status=RunStatus.running.value, pid=os.getpid(),
                     summary=process_identity(), errors=[])
        session.add(run)
        session.flush()
        run_id = run.id
        held.start()
    if held.stop is not None:
        stop = interrupts.stop_for(held.stop)
        _finish(db, run_id, RunStatus.interrupted, None, [interrupts.reason(stop)], None)
        raise stop
    return run_id


def recorded_status(db: Database, kind: str) -> tuple[int, str] | None:
    """(id, status) of this process's newest run of `kind`: what a stopped command reports, read
    from the store rather than assumed (a stop can come after the run was recorded `ok`)."""
    with db.session() as session:
        row = session.execute(select(RunRow.id, RunRow.status)
                              .where(RunRow.kind == kind, RunRow.pid == os.getpid())
                              .order_by(RunRow.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def finish_run(db: Database, run_id: int, status: RunStatus, *, summary: dict[str, Any] | None = None,
               errors: list[Any] | None = None, report_dir: str | None = None) -> None:
    """Record the run's end. A stop while this is committed waits for the commit, then is raised:
    the run keeps the status it was given (before, a stop just before the commit left it `running`)."""
    with interrupts.deferred() as held:
        _finish(db, run_id, status, summary, errors, report_dir, held)
    if held.stop is not None:
        raise interrupts.stop_for(held.stop)


def _finish(db: Database, run_id: int, status: RunStatus, summary: dict[str, Any] | None, errors: list[Any] | None,
            report_dir: str | None, held: interrupts.Deferral | None = None) -> None:
    with db.session() as session:
        run = session.get(RunRow, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        run.status = status.value
        run.finished_at = utcnow()
        if summary is not None:
            run.summary = {**(run.summary or {}), **summary}
        if errors:
            run.errors = [*(run.errors or []), *errors]
        if report_dir is not None:
            run.report_dir = report_dir
        if held is not None:
            session.flush()  # the UPDATE, which may wait on a lock, stays stoppable; the commit is held
            held.start()
