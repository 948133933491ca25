"""The real daemon (`python -m secops daemon` subprocesses), real APScheduler, real SQLite, real signals.

Intervals are seconds and every wait is bounded. Slow stages come from tests/schedule_helpers.py,
registered through the jobs file like any site-specific stage.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from schedule_helpers import DaemonProcess, job_runs, make_policies, wait_until
from sqlalchemy import func, select

from secops.runs.tables import LockRow, RunStageRow
from secops.sample.load import load_sample
from secops.schedule.jobs import load_jobs
from secops.schedule.schedules import add_schedule, remove_schedule
from secops.schedule.tables import apscheduler_jobs
from secops.store.db import Database
from secops.store.tables import GradeRow, RunRow

UTC = dt.UTC
JOBS = {
    "grade": {"stages": ["grade"]},
    "grade-report": {"stages": ["grade", {"stage": "report", "needs": ["grade"]}]},
    "slow": {"stages": [{"stage": "sleep", "options": {"seconds": 2.5}}]},
    "long": {"stages": ["grade", {"stage": "sleep", "options": {"seconds": 30}}]},
}


class Lab:
    def __init__(self, root: Path):
        self.root = root
        self.db_path = root / "secops.db"
        self.output = root / "out"
        self.db = Database(f"sqlite:///{self.db_path}")
        load_sample(self.db, dt.datetime.now(UTC), endpoints=200)
        self.daemons: list[DaemonProcess] = []

    def policies(self, **daemon: Any) -> Path:
        return make_policies(self.root / f"policies{len(list(self.root.glob('policies*')))}", jobs=JOBS, daemon=daemon)

    def add(self, name: str, job: str, every: int, policies: Path) -> None:
        add_schedule(self.db, load_jobs(policies), name, job=job, every_seconds=every)

    def start(self, policies: Path) -> DaemonProcess:
        daemon = DaemonProcess(self.db_path, policies, self.output, self.root / f"daemon{len(self.daemons)}.log")
        self.daemons.append(daemon)
        return daemon

    def runs(self, schedule: str | None = None) -> list[RunRow]:
        return job_runs(self.db, schedule)

    def finished(self, schedule: str | None = None) -> list[RunRow]:
        return [r for r in self.runs(schedule) if r.status != "running"]

    def stage_status(self, run_id: int) -> dict[str, str]:
        with self.db.session() as session:
            return dict(session.execute(select(RunStageRow.stage, RunStageRow.status)
                                        .where(RunStageRow.run_id == run_id)).all())

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.close()
        self.db.dispose()


@pytest.fixture
def lab(tmp_path: Path):
    lab = Lab(tmp_path)
    yield lab
    lab.close()


def stop(daemon: DaemonProcess, timeout: float = 30) -> tuple[int, float]:
    began = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.wait(timeout)
    return code, time.monotonic() - began


def test_a_job_fires_records_runs_and_sigterm_stops_cleanly(lab: Lab) -> None:
    policies = lab.policies()
    lab.add("quick", "grade-report", 1, policies)
    daemon = lab.start(policies)
    runs = wait_until(lambda: len(lab.finished("quick")) >= 2 and lab.finished("quick"), 40, what="two runs")
    for run in runs:
        assert (run.status, run.trigger, run.pid) == ("ok", "schedule", daemon.pid)
        assert lab.stage_status(run.id) == {"grade": "ok", "report": "ok"}
        assert (Path(run.report_dir) / "dashboard.html").is_file()
    assert (lab.output / "latest" / "dashboard.html").is_file()

    code, took = stop(daemon)
    assert code == 0, daemon.text()
    assert "SIGTERM received" in daemon.text() and "daemon stopped" in daemon.text()
    assert all(r.status != "running" for r in lab.runs()), "nothing left running"
    with lab.db.session() as session:
        assert session.scalar(select(func.count()).select_from(LockRow)) == 0, "leases are released on exit"


def test_jobs_survive_a_restart_and_missed_runs_coalesce(lab: Lab) -> None:
    policies = lab.policies()
    lab.add("quick", "grade", 3, policies)
    first = lab.start(policies)
    wait_until(lambda: lab.finished("quick"), 30, what="a first run")
    assert stop(first)[0] == 0
    with lab.db.session() as session:
        stored = session.execute(select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)).all()
    assert [row.id for row in stored] == ["quick"], "the job is persisted in the database"
    next_run = stored[0].next_run_time
    # Stay down long enough to miss three fire times (next_run, +3 s, +6 s).
    wait_until(lambda: time.time() > next_run + 6.5, 20, what="missed fire times")
    before = {r.id for r in lab.runs()}

    second = lab.start(policies)
    new = wait_until(lambda: [r for r in lab.finished("quick") if r.id not in before], 30, what="a run after restart")
    catch_up = new[0]
    assert catch_up.pid == second.pid
    time.sleep(2.5)
    burst = [r for r in lab.runs("quick")
             if r.id not in before and r.started_at <= catch_up.started_at + dt.timedelta(seconds=2.5)]
    # Coalesced: one catch-up run for the three missed fire times (plus at most one regular 3 s tick).
    assert 1 <= len(burst) <= 2, [(r.id, r.started_at) for r in burst]
    assert "quick: added" not in second.text(), "the job came from the persistent job store, not re-created"
    with lab.db.session() as session:
        assert session.scalar(select(apscheduler_jobs.c.next_run_time)) > time.time() - 1
    assert stop(second)[0] == 0


def test_no_overlap_when_a_run_outlasts_the_interval(lab: Lab) -> None:
    policies = lab.policies()
    lab.add("slow", "slow", 1, policies)
    daemon = lab.start(policies)
    wait_until(lambda: len(lab.finished("slow")) >= 2, 40, what="two slow runs")
    code, took = stop(daemon)  # a run is probably in progress: it is allowed to finish
    assert code == 0, daemon.text()
    runs = lab.runs("slow")
    assert len(runs) >= 2 and all(r.status == "ok" for r in runs), [(r.id, r.status) for r in runs]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.finished_at is not None and later.started_at >= earlier.finished_at, "runs overlapped"
    assert "maximum number of running instances reached" in daemon.text()


def test_sigterm_past_the_stop_timeout_marks_the_running_job_interrupted(lab: Lab) -> None:
    policies = lab.policies(stop_timeout_seconds=1)
    lab.add("long", "long", 1, policies)
    daemon = lab.start(policies)
    run = wait_until(lambda: next((r for r in lab.runs("long") if lab.stage_status(r.id).get("sleep") == "running"),
                                  None), 30, what="the long stage to start")
    code, took = stop(daemon)
    assert code == 0, daemon.text()
    assert took < 15, "did not wait for the 30 s stage"
    [after] = [r for r in lab.runs("long") if r.id == run.id]
    assert after.status == "interrupted" and after.finished_at is not None
    assert "daemon stopped (SIGTERM)" in after.errors[-1]
    assert lab.stage_status(run.id) == {"grade": "ok", "sleep": "interrupted"}
    with lab.db.session() as session:
        assert session.scalar(select(func.count()).select_from(GradeRow).where(GradeRow.run_id == run.id)) > 0


def test_a_killed_daemon_leaves_its_run_interrupted_at_next_start(lab: Lab) -> None:
    policies = lab.policies()
    lab.add("long", "long", 1, policies)
    first = lab.start(policies)
    run = wait_until(lambda: next((r for r in lab.runs("long") if lab.stage_status(r.id).get("sleep") == "running"),
                                  None), 30, what="the long stage to start")
    first.kill()  # SIGKILL: no handler, no cleanup
    with lab.db.session() as session:
        assert session.get(RunRow, run.id).status == "running"  # type: ignore[union-attr]
        grades = session.scalar(select(func.count()).select_from(GradeRow).where(GradeRow.run_id == run.id))
    assert grades > 0
    remove_schedule(lab.db, "long")  # so the restarted daemon does not start a new long run

    second = lab.start(policies)
    wait_until(lambda: f"run {run.id} was left running" in second.text(), 30, what="recovery at start")
    with lab.db.session() as session:
        after = session.get(RunRow, run.id)
        assert after is not None and after.status == "interrupted"
        assert f"process {first.pid}" in after.errors[-1] and "ended without closing the run" in after.errors[-1]
        assert session.scalar(select(func.count()).select_from(GradeRow).where(GradeRow.run_id == run.id)) == grades
    assert lab.stage_status(run.id) == {"grade": "ok", "sleep": "interrupted"}
    second.wait_active(15)  # it took over the dead daemon's lease without waiting for it to expire
    assert stop(second)[0] == 0


def test_two_daemons_on_one_database_never_double_run(lab: Lab) -> None:
    # A long lease, so a busy test machine cannot make the leader miss a renewal: the takeover
    # below must come from the dead-holder check, not from expiry.
    policies = lab.policies(lease_seconds=30)
    lab.add("quick", "grade", 1, policies)
    a, b = lab.start(policies), lab.start(policies)
    wait_until(lambda: len(lab.finished("quick")) >= 4, 40, what="four runs")
    runs = lab.finished("quick")
    pids = {r.pid for r in runs}
    assert len(pids) == 1, f"runs by {pids}"
    active, standby = (a, b) if pids == {a.pid} else (b, a)
    assert "standing by" in standby.text() and "active daemon" not in standby.text()
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later.started_at >= earlier.finished_at  # type: ignore[operator]

    active.kill()
    taken = wait_until(lambda: [r for r in lab.finished("quick") if r.pid == standby.pid], 30,
                       what="the standby daemon to take over")
    assert taken and "active daemon" in standby.text()
    assert stop(standby)[0] == 0
    assert all(r.status in ("ok", "interrupted") for r in lab.runs("quick"))
    assert not [r for r in lab.runs() if r.status == "running"]
