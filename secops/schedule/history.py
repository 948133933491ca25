"""Run history: what `secops runs list/show` print (every run, manual or scheduled)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from secops.errors import SecopsError
from secops.i18n import _
from secops.runs.tables import RunStageRow
from secops.store.db import Database
from secops.store.tables import GradeRow, RunRow


class StageInfo(BaseModel):
    position: int
    stage: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    summary: dict[str, Any]
    errors: list[Any]


class RunInfo(BaseModel):
    id: int
    kind: str
    trigger: str
    job_name: str | None
    agency_code: str | None
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.datetime | None
    pid: int | None
    report_dir: str | None
    summary: dict[str, Any]
    errors: list[Any]
    grade_rows: int = 0
    stages: list[StageInfo] = []

    @property
    def duration(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


def _info(run: RunRow, grade_rows: int = 0) -> RunInfo:
    return RunInfo(id=run.id, kind=run.kind, trigger=run.trigger, job_name=run.job_name, agency_code=run.agency_code,
                   status=run.status, started_at=run.started_at, finished_at=run.finished_at, as_of=run.as_of,
                   pid=run.pid, report_dir=run.report_dir, summary=run.summary or {}, errors=run.errors or [],
                   grade_rows=grade_rows)


def list_runs(db: Database, *, limit: int = 20, schedule: str | None = None, status: str | None = None) -> list[RunInfo]:
    query = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
    if schedule:
        query = query.where(RunRow.job_name == schedule)
    if status:
        query = query.where(RunRow.status == status)
    with db.session() as session:
        runs = session.scalars(query).all()
        counts = dict(session.execute(select(GradeRow.run_id, func.count()).where(GradeRow.run_id.in_([r.id for r in runs]))
                                      .group_by(GradeRow.run_id)).all())
        return [_info(run, counts.get(run.id, 0)) for run in runs]


def show_run(db: Database, run_id: int) -> RunInfo:
    with db.session() as session:
        run = session.get(RunRow, run_id)
        if run is None:
            raise SecopsError(_("run {run_id} does not exist").format(run_id=run_id))
        grades = session.scalar(select(func.count()).select_from(GradeRow).where(GradeRow.run_id == run_id)) or 0
        info = _info(run, grades)
        info.stages = [StageInfo.model_validate(s, from_attributes=True) for s in session.scalars(
            select(RunStageRow).where(RunStageRow.run_id == run_id).order_by(RunStageRow.position))]
    return info
