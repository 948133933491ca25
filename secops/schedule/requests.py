"""Run requests: work asked for by the console (or anyone) and done by the daemon.

A request is a row; the daemon takes queued rows on each poll, runs them as it runs a schedule
(`run_schedule`) or a grade (`run_grade`), and records the run's id and outcome on the row. A web
request therefore never runs a stage itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update

from secops.schedule.tables import RunRequestRow
from secops.store.base import utcnow
from secops.store.db import Database

log = logging.getLogger("secops.schedule")

KINDS = ("grade", "schedule")
__all__ = ["KINDS", "RunRequestRow", "process_requests", "queue_request", "recent_requests"]


def queue_request(db: Database, kind: str, requested_by: str, schedule: str | None = None) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown run request kind {kind!r}")
    with db.session() as session:
        row = RunRequestRow(kind=kind, schedule=schedule, requested_by=requested_by)
        session.add(row)
        session.flush()
        return row.id


def recent_requests(db: Database, limit: int = 50) -> list[RunRequestRow]:
    with db.session() as session:
        return list(session.scalars(select(RunRequestRow).order_by(RunRequestRow.id.desc()).limit(limit)))


def _claim(db: Database) -> RunRequestRow | None:
    """Take the oldest queued request; an UPDATE ... WHERE status='queued' makes the claim atomic."""
    with db.session() as session:
        row = session.scalars(select(RunRequestRow).where(RunRequestRow.status == "queued")
                              .order_by(RunRequestRow.id).limit(1)).first()
        if row is None:
            return None
        taken = session.execute(update(RunRequestRow).where(RunRequestRow.id == row.id,
                                                            RunRequestRow.status == "queued")
                                .values(status="started")).rowcount  # type: ignore[attr-defined]
        return row if taken else None


def _close(db: Database, request_id: int, status: str, run_id: int | None, error: str | None) -> None:
    with db.session() as session:
        session.execute(update(RunRequestRow).where(RunRequestRow.id == request_id)
                        .values(status=status, run_id=run_id, error=error, finished_at=utcnow()))


def process_requests(app_state: Any, limit: int = 10) -> int:
    """Run up to `limit` queued requests in this thread; returns how many were taken."""
    from secops.grade.cli import run_grade
    from secops.schedule.runner import run_schedule

    db: Database = app_state.db()
    done = 0
    for _ in range(limit):
        row = _claim(db)
        if row is None:
            break
        done += 1
        try:
            if row.kind == "grade":
                run_id: int | None = run_grade(app_state, dt.datetime.now(dt.UTC), trigger="request")
            else:
                run_id = run_schedule(app_state, row.schedule or "", trigger="request").run_id
        except Exception as exc:  # recorded on the request; the daemon goes on
            log.exception("run request %s failed", row.id)
            _close(db, row.id, "failed", None, f"{type(exc).__name__}: {exc}"[:2000])
            continue
        _close(db, row.id, "done", run_id, None)
    return done
