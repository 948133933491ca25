"""Leases, interrupted-run recovery, retention, cron parsing, job files and the migration."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from schedule_helpers import make_policies
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, func, inspect, select

from secops.cliutil import AppState
from secops.config import Settings
from secops.errors import SecopsError
from secops.grade.cli import run_grade
from secops.models import RunStatus
from secops.runs import finish_run, start_run
from secops.runs.lock import Lease, owner_is_dead, pid_alive
from secops.runs.recovery import reap_interrupted
from secops.runs.tables import RunStageRow
from secops.sample.load import load_sample
from secops.schedule import retention
from secops.schedule.config import RetentionConfig
from secops.schedule.jobs import load_jobs
from secops.schedule.runner import run_schedule
from secops.schedule.schedules import add_schedule
from secops.schedule.tables import JOBSTORE_TABLE
from secops.schedule.triggers import cron_trigger
from secops.store.db import Database, upgrade
from secops.store.metadata import metadata
from secops.store.tables import GradeRow, RunRow

UTC = dt.UTC
MY_TABLES = ("schedules", "run_stages", "scheduler_locks", JOBSTORE_TABLE)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- leases ---------------------------------------------------------------------------------

def test_lease_is_exclusive_until_released_or_expired(db: Database) -> None:
    a = Lease(db, "daemon", "otherhost:1:aa:daemon", 30)
    b = Lease(db, "daemon", "otherhost:2:bb:daemon", 30)
    assert a.acquire() and a.holds()
    assert not b.acquire() and not b.holds()
    assert a.acquire(), "the holder renews"
    a.release()
    assert b.acquire() and not a.holds()
    short = Lease(db, "short", "otherhost:3:cc:daemon", 0.2)
    assert short.acquire()
    assert not Lease(db, "short", "otherhost:4:dd:daemon", 5).acquire()
    time.sleep(0.3)
    assert Lease(db, "short", "otherhost:4:dd:daemon", 5).acquire(), "an expired lease can be taken"
    assert not short.holds()


def test_lease_of_a_dead_process_on_this_host_is_taken_at_once(db: Database) -> None:
    from secops.runs.lock import this_host

    gone = f"{this_host()}:{dead_pid()}:zz:daemon"
    assert owner_is_dead(gone) and not owner_is_dead(f"elsewhere:{dead_pid()}:zz:daemon")
    assert Lease(db, "daemon", gone, 600).acquire()
    me = Lease(db, "daemon", f"{this_host()}:1:me:daemon", 600)  # pid 1 is alive
    assert me.acquire(), "the dead holder's unexpired lease is taken over"
    assert not Lease(db, "daemon", f"elsewhere:{dead_pid()}:x:daemon", 600).acquire(), "a live holder keeps it"


def test_pid_alive() -> None:
    assert pid_alive(1)
    assert not pid_alive(dead_pid())


# -- recovery -------------------------------------------------------------------------------

def test_runs_of_dead_processes_are_marked_interrupted_and_keep_their_data(db: Database) -> None:
    now = dt.datetime.now(UTC)
    dead = start_run(db, "job", job_name="nightly")
    alive = start_run(db, "job", job_name="other")  # this process: alive
    remote_expired = start_run(db, "job", job_name="remote")
    remote_live = start_run(db, "job", job_name="remote2")
    finished = start_run(db, "grade")
    finish_run(db, finished, RunStatus.ok)
    with db.session() as session:
        session.get(RunRow, dead).pid = dead_pid()  # type: ignore[union-attr]
        session.add(RunStageRow(run_id=dead, position=0, stage="grade", status="ok", summary={}, errors=[]))
        session.add(RunStageRow(run_id=dead, position=1, stage="audit", status="running", summary={}, errors=[]))
        session.add(GradeRow(run_id=dead, target_id="T1", agency_code="P", numerator=1, denominator=2, unknown=0,
                             value=0.5, threshold="0.7", comparison=">=", status="not_met", gap=1))
        for run_id, lock in ((remote_expired, "schedule:remote"), (remote_live, "schedule:remote2")):
            session.get(RunRow, run_id).summary = {"host": "elsewhere", "lock": lock,  # type: ignore[union-attr]
                                                   "lock_owner": f"elsewhere:7:t:{lock}"}
    assert Lease(db, "schedule:remote2", "elsewhere:7:t:schedule:remote2", 60).acquire()

    assert reap_interrupted(db) == [dead, remote_expired]
    with db.session() as session:
        status = dict(session.execute(select(RunRow.id, RunRow.status)).all())
        stages = dict(session.execute(select(RunStageRow.stage, RunStageRow.status)).all())
        run = session.get(RunRow, dead)
        grades = session.scalar(select(func.count()).select_from(GradeRow).where(GradeRow.run_id == dead))
    assert status == {dead: "interrupted", alive: "running", remote_expired: "interrupted", remote_live: "running",
                      finished: "ok"}
    assert stages == {"grade": "ok", "audit": "interrupted"}
    assert run is not None and run.finished_at is not None and run.finished_at >= now
    assert "ended without closing the run" in run.errors[-1]
    assert grades == 1, "what the run stored before it died is kept"
    assert reap_interrupted(db) == [], "idempotent"


def test_a_machine_with_the_same_hostname_does_not_reap_our_runs(db: Database) -> None:
    """Two machines named alike (a cloned image) sharing one PostgreSQL database: the other one's
    live run has our hostname, another boot id and a pid that means nothing here. Before, it was
    marked interrupted as if this machine had rebooted; now its machine id tells it apart, and it is
    judged by its lease like any other host's run."""
    other_live, other_expired, ours_dead = (start_run(db, "job", job_name=n) for n in ("a", "b", "c"))
    with db.session() as session:
        for run_id, lock in ((other_live, "schedule:a"), (other_expired, "schedule:b")):
            run = session.get(RunRow, run_id)
            assert run is not None
            run.pid = dead_pid()
            run.summary = {**run.summary, "machine_id": "0" * 32, "boot_id": "another-boot",
                           "lock": lock, "lock_owner": f"{run.summary['host']}:7:t:{lock}"}
        mine = session.get(RunRow, ours_dead)
        assert mine is not None and mine.summary["machine_id"], "start_run records this machine's id"
        mine.pid = dead_pid()
    assert Lease(db, "schedule:a", f"{socket.gethostname()}:7:t:schedule:a", 60).acquire()
    assert reap_interrupted(db) == [other_expired, ours_dead]
    with db.session() as session:
        assert session.scalar(select(RunRow.status).where(RunRow.id == other_live)) == "running"


# -- retention ------------------------------------------------------------------------------

@pytest.fixture
def graded(tmp_path: Path) -> AppState:
    policies = make_policies(tmp_path / "policies", jobs={"grade-report": {"stages": ["grade", "report"]}})
    state = AppState(Settings(db=str(tmp_path / "s.db"), output=tmp_path / "out", policies=policies))
    load_sample(state.db(), dt.datetime.now(UTC), endpoints=200)
    return state


def grade_counts(db: Database) -> dict[int, tuple[int, int]]:
    """run id -> (grade rows, rows of agencies other than the province)."""
    with db.session() as session:
        rows = session.execute(select(GradeRow.run_id, GradeRow.agency_code)).all()
    out: dict[int, tuple[int, int]] = {}
    for run_id, code in rows:
        total, detail = out.get(run_id, (0, 0))
        out[run_id] = (total + 1, detail + (code != "SAMPLE"))
    return out


def test_retention_keeps_last_runs_detail_and_summaries_forever(graded: AppState, monkeypatch) -> None:
    db = graded.db()
    runs = [run_grade(graded, dt.datetime.now(UTC)) for _ in range(4)]
    # A per-host detail table of some stage, declared the generic way (info retention=detail).
    extra = MetaData()
    hosts = Table("test_host_results", extra, Column("id", Integer, primary_key=True),
                  Column("run_id", ForeignKey(RunRow.__table__.c.id)), info={"retention": "detail"})
    extra.create_all(db.engine, tables=[hosts], checkfirst=True)
    Table("runs", extra, autoload_with=db.engine)
    with db.engine.begin() as conn:
        conn.execute(hosts.insert(), [{"run_id": r} for r in runs for _ in range(3)])
    monkeypatch.setattr(retention, "detail_tables", lambda: [hosts])
    full = grade_counts(db)[runs[0]]
    assert full[1] > 0

    result = retention.prune(db, RetentionConfig(keep_detail_runs=2))
    assert result.runs == [runs[1], runs[0]]
    counts = grade_counts(db)
    assert counts[runs[0]] == counts[runs[1]] == (5, 0), "the province's rows (5 targets) are kept forever"
    assert counts[runs[2]] == counts[runs[3]] == full
    with db.engine.connect() as conn:
        left = sorted(r for (r,) in conn.execute(select(hosts.c.run_id)))
    assert left == [runs[2]] * 3 + [runs[3]] * 3
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(RunRow)) == 4, "run rows are kept"
        assert session.get(RunRow, runs[0]).summary["detail_pruned"] is True  # type: ignore[union-attr]
    assert retention.prune(db, RetentionConfig(keep_detail_runs=2)).runs == [], "nothing twice"
    assert not any(t.info.get("retention") == "detail" for t in metadata.sorted_tables
                   if t.name in ("runs", "grades", "protection_evidence")), "core history is never detail"


def test_retention_of_report_folders(graded: AppState, tmp_path: Path) -> None:
    db = graded.db()
    manual = run_grade(graded, dt.datetime.now(UTC))
    add_schedule(db, load_jobs(graded.settings.policies), "daily", job="grade-report", every_seconds=60)
    first, second = run_schedule(graded, "daily"), run_schedule(graded, "daily")
    outside = tmp_path / "elsewhere" / "runs" / "2026-01-01T0000Z-run1"
    outside.mkdir(parents=True)
    with db.session() as session:  # a run whose report_dir is not one the scheduler made
        session.get(RunRow, manual).report_dir = str(outside)  # type: ignore[union-attr]
    result = retention.prune(db, RetentionConfig(keep_detail_runs=30, keep_report_folders=1), graded.settings.output)
    assert result.folders == [first.report_dir]
    assert not Path(first.report_dir).exists() and Path(second.report_dir).is_dir()
    assert (graded.settings.output / "latest" / "dashboard.html").is_file()
    assert outside.is_dir(), "never deletes a folder outside <output>/runs"
    with db.session() as session:
        run = session.get(RunRow, first.run_id)
        assert run is not None and run.report_dir is None and run.summary["report_pruned"] == first.report_dir


# -- cron and job files ---------------------------------------------------------------------

@pytest.mark.parametrize("expr, after, expected", [
    ("0 2 * * *", "2026-11-25T03:00", "2026-11-26T02:00:00"),
    ("0 2 * * 0", "2026-11-25T03:00", "2026-11-29T02:00:00"),  # 0 = Sunday, as in crontab
    ("0 2 * * 7", "2026-11-25T03:00", "2026-11-29T02:00:00"),
    ("30 1 * * 1-5", "2026-11-27T03:00", "2026-11-30T01:30:00"),  # Friday -> Monday
    ("0 0 * * */3", "2026-11-23T01:00", "2026-11-25T00:00:00"),  # sun, wed, sat
    ("0 6 * * mon-fri", "2026-11-28T07:00", "2026-11-30T06:00:00"),
    ("*/15 * * * * *", "2026-11-25T03:00:01", "2026-11-25T03:00:15"),  # 6 fields: seconds first
])
def test_cron_expressions(expr: str, after: str, expected: str) -> None:
    start = dt.datetime.fromisoformat(after).replace(tzinfo=UTC)
    fire = cron_trigger(expr, "UTC").get_next_fire_time(None, start)
    assert fire is not None and fire.replace(tzinfo=None).isoformat() == expected


@pytest.mark.parametrize("expr, message", [("0 2 * *", "expected 5 fields"), ("61 * * * *", "61"),
                                          ("0 2 * * 8", "weekday"),
                                          ("0 0 30 2 *", "never occurs"), ("0 0 31 4 *", "never occurs")])
def test_bad_cron_is_a_clear_error(expr: str, message: str) -> None:
    with pytest.raises(SecopsError, match=message):
        cron_trigger(expr, "UTC")


@pytest.mark.parametrize("jobs, message", [
    ({"j": {"stages": ["grade", "nope"]}}, "unknown stage 'nope'"),
    ({"j": {"stages": [{"stage": "report", "needs": ["grade"]}, "grade"]}}, "must come earlier"),
    ({"j": {"stages": []}}, "jobs.j.stages"),
])
def test_bad_jobs_file_names_file_and_key(tmp_path: Path, jobs: dict, message: str) -> None:
    policies = make_policies(tmp_path / "p", jobs=jobs)
    with pytest.raises(SecopsError, match=message) as info:
        load_jobs(policies)
    assert str(policies / "jobs.yaml") in str(info.value)


def test_extra_stage_cannot_shadow_builtin(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text("version: 1\nstages: {grade: 'x:y'}\njobs: {j: {stages: [grade]}}\n")
    with pytest.raises(SecopsError, match="shadows the built-in stage"):
        load_jobs(tmp_path)


def test_bundled_jobs_and_settings_load() -> None:
    from secops.config import bundled
    from secops.schedule.config import load_schedule_config

    jobs = load_jobs(bundled("policies"))
    assert [s.stage for s in jobs.job("nightly").stages] == ["discover", "audit", "requirements", "grade", "report"]
    config = load_schedule_config(bundled("policies"))
    assert config.retention.keep_detail_runs >= 2 and config.daemon.lease_seconds >= 2 * config.daemon.poll_seconds


# -- migration ------------------------------------------------------------------------------

def test_migration_creates_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if any(name in repr(d) for name in MY_TABLES)] == []
    assert set(MY_TABLES) <= set(inspect(db.engine).get_table_names())


def test_apscheduler_uses_the_migrated_table(db: Database) -> None:
    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename=JOBSTORE_TABLE)})
    scheduler.start(paused=True)
    try:
        scheduler.add_job("secops.schedule.daemon:fire", "interval", seconds=60, args=["x"], id="x")
    finally:
        scheduler.shutdown(wait=False)
    with db.engine.connect() as conn:
        assert [r.id for r in conn.execute(select(Table(JOBSTORE_TABLE, MetaData(), autoload_with=conn)))] == ["x"]
    with db.engine.connect() as conn:  # still no schema drift after APScheduler's create(checkfirst)
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if JOBSTORE_TABLE in repr(d)] == []


def test_downgrade_and_upgrade_again(db: Database) -> None:
    from alembic import command

    from secops.store.db import alembic_config

    cfg = alembic_config(str(db.engine.url))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    assert not set(MY_TABLES) & set(inspect(db.engine).get_table_names())
    upgrade(db.engine)
    assert set(MY_TABLES) <= set(inspect(db.engine).get_table_names())


def test_retention_prunes_real_audit_detail_and_keeps_evidence(graded: AppState) -> None:
    from secops.collect.tables import AuditHostRow, CheckResultRow

    assert {t.name for t in retention.detail_tables()} == {"audit_hosts", "discovered_hosts"}
    db = graded.db()
    runs = [run_grade(graded, dt.datetime.now(UTC)) for _ in range(4)]
    now = dt.datetime.now(UTC)
    with db.session() as session:
        for run_id in runs:
            host = AuditHostRow(run_id=run_id, label="h", address="127.0.5.1", transport="ssh", status="ok",
                                protection="protected", started_at=now, finished_at=now, policies=[])
            host.checks = [CheckResultRow(policy_id="p", check_id=str(i), title="t", result="passed",
                                          severity="low", serves=[]) for i in range(4)]
            session.add(host)
    retention.prune(db, RetentionConfig(keep_detail_runs=2))
    with db.session() as session:
        assert sorted(session.scalars(select(AuditHostRow.run_id))) == runs[2:]
        assert session.scalar(select(func.count()).select_from(CheckResultRow)) == 8, "checks cascade with hosts"
