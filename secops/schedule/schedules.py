"""The schedules table: add (or edit), enable/disable, list, remove. The daemon turns the enabled
rows into APScheduler jobs. The command line and the console both call these functions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from secops.errors import SecopsError
from secops.i18n import _
from secops.schedule.jobs import NAME_PATTERN, JobFile
from secops.schedule.tables import ScheduleRow, apscheduler_jobs
from secops.schedule.triggers import describe, make_trigger
from secops.store.db import Database
from secops.store.tables import AgencyRow, RunRow


class ScheduleInfo(BaseModel):
    name: str
    when: str
    job: str
    agency_code: str | None
    options: dict[str, Any]
    next_run: dt.datetime | None
    last_run_id: int | None
    last_status: str | None
    enabled: bool = True


def add_schedule(db: Database, jobs: JobFile, name: str, *, job: str, cron: str | None = None,
                 every_seconds: int | None = None, agency_code: str | None = None,
                 options: dict[str, Any] | None = None, replace: bool = False,
                 session: Session | None = None) -> ScheduleRow:
    """Add a schedule, or with `replace` change one (its enabled state kept); in the caller's
    `session` when given, so that a record of the change commits with it."""
    if not re.match(NAME_PATTERN, name):
        raise SecopsError(_("schedule name {name}: use letters, digits, . _ - (max 64, starting with a letter or "
                            "digit)").format(name=repr(name)))
    jobs.job(job)
    make_trigger(cron, every_seconds)  # validate now, not at 2 a.m.
    if session is not None:
        return _upsert(session, name, job, cron, every_seconds, agency_code, options, replace)
    with db.session() as own:
        return _upsert(own, name, job, cron, every_seconds, agency_code, options, replace)


def _upsert(session: Session, name: str, job: str, cron: str | None, every_seconds: int | None,
            agency_code: str | None, options: dict[str, Any] | None, replace: bool) -> ScheduleRow:
    if agency_code is not None and session.scalar(select(AgencyRow.id).where(AgencyRow.code == agency_code)) is None:
        raise SecopsError(_("agency {code} is not in the inventory").format(code=repr(agency_code)))
    row = session.scalar(select(ScheduleRow).where(ScheduleRow.name == name))
    if row is not None and not replace:
        raise SecopsError(_("schedule {name} exists; remove it first or use --replace").format(name=repr(name)))
    if row is None:
        row = ScheduleRow(name=name, enabled=True)
        session.add(row)
    row.cron, row.every_seconds, row.job, row.agency_code = cron, every_seconds, job, agency_code
    row.options = options or {}
    session.flush()
    return row


def set_enabled(db: Database, name: str, enabled: bool, *, session: Session | None = None) -> ScheduleRow:
    """Enable or disable a schedule: a disabled one is kept, and the daemon drops its job on its next sync."""
    if session is None:
        with db.session() as own:
            return set_enabled(db, name, enabled, session=own)
    row = session.scalar(select(ScheduleRow).where(ScheduleRow.name == name))
    if row is None:
        raise SecopsError(_("no schedule named {name}").format(name=repr(name)))
    row.enabled = enabled
    session.flush()
    return row


def schedule_values(row: ScheduleRow) -> dict[str, Any]:
    """A schedule as the audit log records it (before and after a change)."""
    return {"when": describe(row.cron, row.every_seconds), "job": row.job, "agency": row.agency_code,
            "options": dict(row.options or {}), "enabled": bool(row.enabled)}


def remove_schedule(db: Database, name: str) -> None:
    with db.session() as session:
        if session.execute(delete(ScheduleRow).where(ScheduleRow.name == name)).rowcount == 0:  # type: ignore[attr-defined]
            raise SecopsError(_("no schedule named {name}").format(name=repr(name)))
        # The daemon also drops orphaned jobs on its next sync; doing it here keeps the store tidy
        # when no daemon runs.
        session.execute(delete(apscheduler_jobs).where(apscheduler_jobs.c.id == name))


def get_schedule(db: Database, name: str) -> ScheduleRow:
    with db.session() as session:
        row = session.scalar(select(ScheduleRow).where(ScheduleRow.name == name))
    if row is None:
        raise SecopsError(_("no schedule named {name}").format(name=repr(name)))
    return row


def all_schedules(db: Database) -> list[ScheduleRow]:
    with db.session() as session:
        return list(session.scalars(select(ScheduleRow).order_by(ScheduleRow.name)))


def list_schedules(db: Database) -> list[ScheduleInfo]:
    with db.session() as session:
        rows = list(session.scalars(select(ScheduleRow).order_by(ScheduleRow.name)))
        next_runs = dict(session.execute(select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)).all())
        last_ids = dict(session.execute(select(RunRow.job_name, func.max(RunRow.id))
                                        .where(RunRow.kind == "job").group_by(RunRow.job_name)).all())
        statuses = dict(session.execute(select(RunRow.id, RunRow.status)
                                        .where(RunRow.id.in_([i for i in last_ids.values() if i]))).all())
    out = []
    for row in rows:
        stamp = next_runs.get(row.name)
        last = last_ids.get(row.name)
        out.append(ScheduleInfo(
            name=row.name, when=describe(row.cron, row.every_seconds), job=row.job, agency_code=row.agency_code,
            options=row.options or {},
            next_run=dt.datetime.fromtimestamp(stamp, dt.UTC) if stamp is not None else None,
            last_run_id=last, last_status=statuses.get(last) if last else None, enabled=bool(row.enabled)))
    return out
