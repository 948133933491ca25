"""Execute a schedule's job as one run: each stage in turn, each recorded, never a crash.

A stage that is not available, raises, or reports `failed` is recorded as such and the run goes
on (unless a later stage `needs` it); the run ends `ok` when every stage is ok, `failed` when none
produced anything, `partial` otherwise. The run holds the lease `schedule:<name>` while it works,
so the same schedule never runs twice at once, whatever process started it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update

from secops.errors import SecopsError
from secops.models import RunStatus
from secops.runs import start_run
from secops.runs.lock import Lease, LeaseKeeper, process_owner, this_host
from secops.runs.tables import RunStageRow
from secops.schedule.config import load_schedule_config
from secops.schedule.jobs import JobDef, JobFile, StageStep, load_jobs
from secops.schedule.outputs import base_folder, run_folder, update_latest
from secops.schedule.retention import prune
from secops.schedule.schedules import get_schedule
from secops.schedule.tables import ScheduleRow
from secops.stages import StageContext, StageOptions, StageResult
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import RunRow

log = logging.getLogger("secops.schedule")

GOOD = ("ok", "partial")


class ScheduleBusy(SecopsError):
    """The schedule is already running (its lease is held by another run)."""


class StageOutcome(BaseModel):
    stage: str
    status: str
    errors: list[str] = Field(default_factory=list)


class RunOutcome(BaseModel):
    run_id: int
    status: str
    stages: list[StageOutcome]
    report_dir: str | None = None
    latest: str | None = None


def lock_name(schedule: str) -> str:
    return f"schedule:{schedule}"


def run_status(statuses: list[str]) -> RunStatus:
    if statuses and all(s == "ok" for s in statuses):
        return RunStatus.ok
    if any(s in GOOD for s in statuses):
        return RunStatus.partial
    return RunStatus.failed


def run_schedule(app_state: StageContext, name: str, *, trigger: str = "manual", owner: str | None = None,
                 on_start: Callable[[int], None] | None = None) -> RunOutcome:
    """Run the schedule `name` now, in this thread. Raises ScheduleBusy if it is already running."""
    settings = app_state.settings
    db: Database = app_state.db()
    schedule = get_schedule(db, name)
    jobs = load_jobs(settings.policies)
    job = jobs.job(schedule.job)
    config = load_schedule_config(settings.policies)
    lease = Lease(db, lock_name(name), owner or process_owner(f"run-{secrets.token_hex(3)}"), config.daemon.lease_seconds)
    if not lease.acquire():
        holder = lease.holder()
        raise ScheduleBusy(f"schedule {name!r} is already running (lease held by "
                           f"{holder.owner if holder else '?'} until {holder.expires_at:%H:%M:%S} UTC)"
                           if holder else f"schedule {name!r} is already running")
    try:
        with LeaseKeeper(lease):
            run_id = start_run(db, "job", trigger=trigger, job_name=name, agency_code=schedule.agency_code)
            _annotate(db, run_id, {"job": schedule.job, "host": this_host(), "lock": lease.name,
                                   "lock_owner": lease.owner})
            if on_start is not None:
                on_start(run_id)
            log.info("run %s: schedule %s, job %s started", run_id, name, schedule.job)
            try:
                outcome = _execute(app_state, run_id, schedule, jobs, job)
            except Exception as exc:  # our own bookkeeping failed (e.g. the disk is full): close the run
                log.exception("run %s failed", run_id)
                status = _finish(db, run_id, RunStatus.failed, [f"run failed: {type(exc).__name__}: {exc}"], None, {})
                outcome = RunOutcome(run_id=run_id, status=status, stages=[])
    finally:
        lease.release()
    log.info("run %s: %s", run_id, outcome.status)
    try:
        prune(db, config.retention, settings.output)
    except Exception:  # retention is housekeeping; the run's own result is already stored
        log.exception("retention after run %s failed", run_id)
    return outcome


def _annotate(db: Database, run_id: int, values: dict[str, Any]) -> None:
    with db.session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        run.summary = {**(run.summary or {}), **values}


def _execute(app_state: StageContext, run_id: int, schedule: ScheduleRow, jobs: JobFile, job: JobDef) -> RunOutcome:
    settings = app_state.settings
    db: Database = app_state.db()
    with db.session() as session:
        started = session.get(RunRow, run_id).started_at  # type: ignore[union-attr]
    output = Path(settings.output).resolve()  # history records where the reports are, whatever the cwd
    folder = run_folder(output, schedule.agency_code, run_id, started)
    options = schedule.options or {}
    done: dict[str, str] = {}
    outcomes: list[StageOutcome] = []
    for position, step in enumerate(job.stages):
        outcome = run_step(app_state, run_id, position, step, jobs, done, StageOptions(
            agency_code=schedule.agency_code, lang=options.get("lang", settings.lang), report_dir=folder,
            extra=dict(step.options)))
        done[step.stage] = outcome.status
        outcomes.append(outcome)
    report_dir = latest = None
    if done.get("report") in GOOD and folder.is_dir():
        report_dir = str(folder)
        try:
            written = update_latest(folder, base_folder(output, schedule.agency_code), run_id)
            latest = str(written) if written else None
        except OSError as exc:
            outcomes.append(StageOutcome(stage="latest", status="failed", errors=[f"updating latest/: {exc}"]))
    status = run_status([o.status for o in outcomes])
    errors = [f"{o.stage}: {e}" for o in outcomes for e in o.errors]
    final = _finish(db, run_id, status, errors, report_dir,
                    {"stages": {o.stage: o.status for o in outcomes}, "latest": latest})
    return RunOutcome(run_id=run_id, status=final, stages=outcomes, report_dir=report_dir, latest=latest)


def run_step(app_state: StageContext, run_id: int, position: int, step: StageStep, jobs: JobFile,
              done: dict[str, str], options: StageOptions) -> StageOutcome:
    db: Database = app_state.db()
    with db.session() as session:
        row = RunStageRow(run_id=run_id, position=position, stage=step.stage, status="running", summary={}, errors=[])
        session.add(row)
        session.flush()
        row_id = row.id
    unmet = [f"{n} ({done.get(n, 'not run')})" for n in step.needs if done.get(n) not in GOOD]
    if unmet:
        result = StageResult(stage=step.stage, status="failed", errors=[f"skipped: needs {', '.join(unmet)}"])
        status = "skipped"
    else:
        try:
            function = jobs.stage_function(step.stage)
        except SecopsError as exc:
            result, status = StageResult(stage=step.stage, status="failed", errors=[str(exc)]), "unavailable"
        except Exception as exc:  # the stage's module exists but cannot be imported
            log.exception("run %s: stage %s cannot be loaded", run_id, step.stage)
            result = StageResult(stage=step.stage, status="failed", errors=[f"cannot load: {type(exc).__name__}: {exc}"])
            status = "failed"
        else:
            result, status = _call(function, app_state, run_id, options, step.stage)
    with db.session() as session:
        stage_row = session.get(RunStageRow, row_id)
        assert stage_row is not None
        stage_row.status, stage_row.finished_at = status, utcnow()
        stage_row.summary = _jsonable(result.summary)
        stage_row.errors = [str(e) for e in result.errors]
    log.info("run %s: stage %s %s", run_id, step.stage, status)
    return StageOutcome(stage=step.stage, status=status, errors=[str(e) for e in result.errors])


def _call(function: Callable[..., StageResult], app_state: StageContext, run_id: int, options: StageOptions,
          stage: str) -> tuple[StageResult, str]:
    try:
        result = function(app_state, run_id, options)
    except Exception as exc:  # a stage failure is the run's result, not the daemon's crash
        log.exception("run %s: stage %s raised", run_id, stage)
        return StageResult(stage=stage, status="failed", errors=[f"{type(exc).__name__}: {exc}"]), "failed"
    if not isinstance(result, StageResult):
        return StageResult(stage=stage, status="failed",
                           errors=[f"stage returned {type(result).__name__}, not StageResult"]), "failed"
    return result, result.status


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _finish(db: Database, run_id: int, status: RunStatus, errors: list[str], report_dir: str | None,
            summary: dict[str, Any]) -> str:
    """Close the run unless someone already did (the daemon marks it interrupted on a forced stop)."""
    with db.session() as session:
        current = session.execute(select(RunRow.summary, RunRow.errors).where(RunRow.id == run_id)).one()
    values: dict[str, Any] = {"status": status.value, "finished_at": utcnow(),
                              "summary": {**(current.summary or {}), **summary},
                              "errors": [*(current.errors or []), *errors]}
    if report_dir is not None:
        values["report_dir"] = report_dir
    with db.session() as session:
        changed = session.execute(update(RunRow).where(RunRow.id == run_id, RunRow.status == RunStatus.running.value)
                                  .values(**values)).rowcount  # type: ignore[attr-defined]
        if changed:
            return status.value
        return session.scalar(select(RunRow.status).where(RunRow.id == run_id)) or status.value
