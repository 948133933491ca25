"""Mark runs left `running` by a process that no longer exists as `interrupted`.

A run is orphaned when we can tell its process is gone:
- it ran on this host (its summary says so by hostname and machine id, or it does not say: runs of
  older versions) and the
  machine restarted since (boot id), or its pid no longer exists or now belongs to a younger
  process (start time);
- it ran on another host and the lease it held (`schedule:<name>`) has expired or passed to
  someone else: a live job renews its lease, so an expired lease means a dead holder.
What the run already stored (grades, evidence, finished stages) is kept: only its status, end
time and an error line change, and its unfinished stage is marked `interrupted` too.
"""

from __future__ import annotations

import logging
import os

from sqlalchemy import select, update

from secops.models import RunStatus
from secops.runs.lock import Lease, pid_alive, this_host
from secops.runs.records import boot_id, machine_id, process_start
from secops.runs.tables import RunStageRow
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import RunRow

log = logging.getLogger("secops.schedule")


def _this_machine(summary: dict[str, object]) -> bool:
    """The run's process ran here: same hostname and, when both sides know it, the same machine id
    (two machines with one hostname sharing a PostgreSQL database must not reap each other's runs)."""
    if summary.get("host") not in (None, this_host()):
        return False
    recorded, ours = summary.get("machine_id"), machine_id()
    return not (recorded and ours and recorded != ours)


def _orphaned(db: Database, run: RunRow) -> bool:
    summary = run.summary or {}
    if _this_machine(summary):
        if run.pid is None or run.pid == os.getpid():
            return False
        recorded_boot = summary.get("boot_id")
        if recorded_boot and boot_id() and recorded_boot != boot_id():
            return True  # the machine restarted since: power cut or reboot
        if not pid_alive(run.pid):
            return True
        recorded_start = summary.get("pid_start")
        return bool(recorded_start) and process_start(run.pid) not in (None, recorded_start)  # pid reused
    lock, owner = summary.get("lock"), summary.get("lock_owner")
    if not lock or not owner:
        return False  # another host's run without a lease: we cannot tell, leave it
    return not Lease(db, lock, owner, 0).holds()


def mark_interrupted(db: Database, run_id: int, reason: str) -> bool:
    """Close a running run as interrupted; False if it was no longer running."""
    now = utcnow()
    with db.session() as session:
        errors = session.scalar(select(RunRow.errors).where(RunRow.id == run_id)) or []
        changed = session.execute(
            update(RunRow).where(RunRow.id == run_id, RunRow.status == RunStatus.running.value)
            .values(status=RunStatus.interrupted.value, finished_at=now, errors=[*errors, reason])
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            session.execute(update(RunStageRow).where(RunStageRow.run_id == run_id, RunStageRow.status == "running")
                            .values(status="interrupted", finished_at=now, errors=[reason]))
    return bool(changed)


def reap_interrupted(db: Database) -> list[int]:
    with db.session() as session:
        running = list(session.scalars(select(RunRow).where(RunRow.status == RunStatus.running.value)))
    marked = []
    for run in running:
        if not _orphaned(db, run):
            continue
        reason = (f"interrupted: process {run.pid} on {(run.summary or {}).get('host') or this_host()} "
                  f"ended without closing the run (killed or crashed); found by process {os.getpid()}")
        if mark_interrupted(db, run.id, reason):
            log.warning("run %s was left running by a process that is gone: marked interrupted", run.id)
            marked.append(run.id)
    return marked
