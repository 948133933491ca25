"""Run requests: work asked for by the console (or anyone) and done by the daemon.

A request is a row; the daemon takes queued rows on each poll, runs them as it runs a schedule
(`run_schedule`) or a grade (`run_grade`), or imports a console user's spooled evidence file
(`evidence/queued.import_spooled`, then a grade request of its own), and records the run's id and
outcome on the row. A web request therefore never runs a stage or a large import itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from secops.schedule.tables import RunRequestRow
from secops.store.base import utcnow
from secops.store.db import Database

log = logging.getLogger("secops.schedule")

KINDS = ("grade", "schedule", "import")
ERROR_MAX = 8000  # characters of an outcome's messages kept on the row
__all__ = ["KINDS", "RunRequestRow", "process_requests", "queue_request", "recent_requests"]


def queue_request(db: Database, kind: str, requested_by: str, schedule: str | None = None, *,
                  agency: str | None = None, params: dict[str, Any] | None = None,
                  session: Session | None = None) -> int:
    """Queue a request; in the caller's `session` when given (so its audit entry commits with it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown run request kind {kind!r}")
    row = RunRequestRow(kind=kind, schedule=schedule, requested_by=requested_by, agency_code=agency, params=params)
    if session is not None:
        session.add(row)
        session.flush()
        return row.id
    with db.session() as own:
        own.add(row)
        own.flush()
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


def _close(db: Database, request_id: int, status: str, run_id: int | None, error: str | None,
           params: dict[str, Any] | None = None) -> None:
    values: dict[str, Any] = {"status": status, "run_id": run_id, "error": error, "finished_at": utcnow()}
    if params is not None:
        values["params"] = params
    with db.session() as session:
        session.execute(update(RunRequestRow).where(RunRequestRow.id == request_id).values(**values))


def _import(app_state: Any, row: RunRequestRow) -> None:
    """A console user's confirmed evidence import: the spooled file imported all or nothing, the
    outcome on the row and in the audit log (as that user's change), then a grade request so the
    figures follow."""
    from secops.errors import InputRowsError, SecopsError
    from secops.evidence.queued import import_spooled
    from secops.users.store import audit

    db: Database = app_state.db()
    params = dict(row.params or {})
    target = f"agency:{row.agency_code}"
    try:
        run_id, summary = import_spooled(db, app_state.settings.policies, params)
    except SecopsError as exc:
        lines = [str(e) for e in exc.errors] if isinstance(exc, InputRowsError) else [str(exc)]
        with db.session() as session:
            audit(session, row.requested_by, "evidence.import", target, agency=row.agency_code,
                  after={"request": row.id, "status": "failed", "file": params.get("file"), "errors": lines[:20]})
        _close(db, row.id, "failed", _newest_import_run(db), "\n".join(lines)[:ERROR_MAX])
        return
    with db.session() as session:
        grade = queue_request(db, "grade", row.requested_by, session=session)
        audit(session, row.requested_by, "evidence.import", target, agency=row.agency_code,
              after={"request": row.id, "run": run_id, "grade_request": grade, **summary})
    _close(db, row.id, "done", run_id, None, {**params, "grade_request": grade})


def _newest_import_run(db: Database) -> int | None:
    """The failed import run import_spooled has just recorded (this process's newest)."""
    from secops.runs import recorded_status

    found = recorded_status(db, "import")
    return found[0] if found else None


def process_requests(app_state: Any, limit: int = 10) -> int:
    """Run up to `limit` queued requests in this thread; returns how many were taken."""
    from secops.evidence.spool import sweep
    from secops.grade.cli import run_grade
    from secops.schedule.runner import run_schedule

    db: Database = app_state.db()
    try:
        sweep()  # uploads previewed but never confirmed
    except Exception:
        log.exception("could not sweep the upload spool")
    done = 0
    for _ in range(limit):
        row = _claim(db)
        if row is None:
            break
        done += 1
        try:
            if row.kind == "import":
                _import(app_state, row)
                continue
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
