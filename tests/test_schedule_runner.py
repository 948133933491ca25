"""Job runs in-process: stage recording, run status, report folders, latest/, schedule lease."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from schedule_helpers import make_policies
from sqlalchemy import func, select

from secops.cliutil import AppState
from secops.config import Settings
from secops.errors import SecopsError
from secops.runs.lock import Lease, process_owner
from secops.runs.tables import RunStageRow
from secops.sample.load import load_sample
from secops.schedule.jobs import load_jobs
from secops.schedule.outputs import marked_run, update_latest
from secops.schedule.runner import ScheduleBusy, lock_name, run_schedule
from secops.schedule.schedules import add_schedule
from secops.store.tables import GradeRow, RunRow

JOBS = {
    "nightly": {"stages": ["ghost", "grade", {"stage": "report", "needs": ["grade"]}]},
    "grade-report": {"stages": ["grade", {"stage": "report", "needs": ["grade"]}]},
    "broken": {"stages": ["boom", "failing", {"stage": "report", "needs": ["boom"]}]},
    "mixed": {"stages": ["boom", "grade", "failing"]},
}


@pytest.fixture
def state(tmp_path: Path) -> AppState:
    policies = make_policies(tmp_path / "policies", jobs=JOBS)
    app_state = AppState(Settings(db=str(tmp_path / "s.db"), output=tmp_path / "out", policies=policies))
    load_sample(app_state.db(), dt.datetime.now(dt.UTC), endpoints=200)
    return app_state


def schedule(state: AppState, name: str, job: str, **kwargs: object) -> None:
    add_schedule(state.db(), load_jobs(state.settings.policies), name, job=job, cron="0 2 * * *", **kwargs)  # type: ignore[arg-type]


def stages_of(state: AppState, run_id: int) -> list[tuple[str, str]]:
    with state.db().session() as session:
        rows = session.scalars(select(RunStageRow).where(RunStageRow.run_id == run_id).order_by(RunStageRow.position))
        return [(r.stage, r.status) for r in rows]


def run_row(state: AppState, run_id: int) -> RunRow:
    with state.db().session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        return run


def test_grade_report_job_is_ok_and_writes_dated_folder_and_latest(state: AppState) -> None:
    schedule(state, "daily", "grade-report")
    outcome = run_schedule(state, "daily")
    assert outcome.status == "ok"
    assert stages_of(state, outcome.run_id) == [("grade", "ok"), ("report", "ok")]
    run = run_row(state, outcome.run_id)
    assert (run.kind, run.job_name, run.trigger, run.status) == ("job", "daily", "manual", "ok")
    assert run.finished_at is not None and run.summary["job"] == "grade-report"
    folder = Path(run.report_dir)
    assert folder.parent == state.settings.output / "runs" and folder.name.endswith(f"-run{outcome.run_id}")
    assert (folder / "dashboard.html").is_file() and (folder / "grades.csv").is_file()
    latest = state.settings.output / "latest"
    assert (latest / "dashboard.html").read_bytes() == (folder / "dashboard.html").read_bytes()
    assert marked_run(latest) == outcome.run_id
    with state.db().session() as session:
        assert session.scalar(select(func.count()).select_from(GradeRow).where(GradeRow.run_id == outcome.run_id)) > 0

    second = run_schedule(state, "daily")
    assert marked_run(latest) == second.run_id
    assert f"#{second.run_id}" in (latest / "dashboard.html").read_text(encoding="utf-8")
    assert not list(state.settings.output.glob(".latest*")), "temporary folders are cleaned up"
    # the first run's dated folder is history: still there, unchanged
    assert f"#{outcome.run_id}" in (folder / "dashboard.html").read_text(encoding="utf-8")


def test_unavailable_stages_make_the_run_partial_not_a_crash(state: AppState) -> None:
    schedule(state, "nightly", "nightly")
    outcome = run_schedule(state, "nightly")
    assert outcome.status == "partial"
    assert stages_of(state, outcome.run_id) == [("ghost", "unavailable"), ("grade", "ok"), ("report", "ok")]
    run = run_row(state, outcome.run_id)
    assert run.status == "partial"
    assert any(e.startswith("ghost: ") and "not available" in e for e in run.errors)
    assert run.report_dir is not None


def test_failing_stages_are_recorded_and_dependents_skipped(state: AppState) -> None:
    schedule(state, "broken", "broken")
    outcome = run_schedule(state, "broken")
    assert outcome.status == "failed"
    assert stages_of(state, outcome.run_id) == [("boom", "failed"), ("failing", "failed"), ("report", "skipped")]
    run = run_row(state, outcome.run_id)
    assert any("RuntimeError: boom" in e for e in run.errors)
    assert any("127.0.5.9 unreachable" in e for e in run.errors)
    assert any("skipped: needs boom (failed)" in e for e in run.errors)
    assert run.report_dir is None and not (state.settings.output / "latest").exists()

    schedule(state, "mixed", "mixed")
    assert run_schedule(state, "mixed").status == "partial"


def test_agency_schedule_writes_under_its_own_folder(state: AppState) -> None:
    schedule(state, "syt", "grade-report", agency_code="SYT", options={"lang": "en"})
    outcome = run_schedule(state, "syt")
    assert outcome.status == "ok"
    assert Path(outcome.report_dir).parent == state.settings.output / "SYT" / "runs"
    html = (state.settings.output / "SYT" / "latest" / "dashboard.html").read_text(encoding="utf-8")
    assert 'lang="en"' in html and "(SYT)" in html


def test_a_schedule_never_runs_twice_at_once(state: AppState) -> None:
    schedule(state, "daily", "grade-report")
    other = Lease(state.db(), lock_name("daily"), process_owner("other-run"), 30)
    assert other.acquire()
    with pytest.raises(ScheduleBusy, match="already running"):
        run_schedule(state, "daily")
    assert run_row_count(state) == 0, "a refused run leaves no run row"
    other.release()
    assert run_schedule(state, "daily").status == "ok"


def run_row_count(state: AppState) -> int:
    with state.db().session() as session:
        return session.scalar(select(func.count()).select_from(RunRow).where(RunRow.kind == "job")) or 0


def test_schedule_validation(state: AppState) -> None:
    jobs = load_jobs(state.settings.policies)
    db = state.db()
    with pytest.raises(SecopsError, match="unknown job 'nope'"):
        add_schedule(db, jobs, "x", job="nope", cron="0 2 * * *")
    with pytest.raises(SecopsError, match="agency 'NOPE' is not in the inventory"):
        add_schedule(db, jobs, "x", job="nightly", cron="0 2 * * *", agency_code="NOPE")
    with pytest.raises(SecopsError, match="exactly one of --cron or --every"):
        add_schedule(db, jobs, "x", job="nightly")
    with pytest.raises(SecopsError, match="schedule name"):
        add_schedule(db, jobs, "../evil", job="nightly", every_seconds=5)
    add_schedule(db, jobs, "x", job="nightly", every_seconds=5)
    with pytest.raises(SecopsError, match="exists"):
        add_schedule(db, jobs, "x", job="nightly", every_seconds=5)
    add_schedule(db, jobs, "x", job="grade-report", every_seconds=9, replace=True)


def test_update_latest_swaps_whole_folder_and_keeps_newer(tmp_path: Path) -> None:
    base = tmp_path / "out"
    for run_id, files in ((5, {"a.txt": "five", "old.txt": "x"}), (7, {"a.txt": "seven"})):
        src = base / "runs" / f"r{run_id}"
        src.mkdir(parents=True)
        for name, text in files.items():
            (src / name).write_text(text)
        assert update_latest(src, base, run_id) == base / "latest"
    latest = base / "latest"
    assert (latest / "a.txt").read_text() == "seven"
    assert not (latest / "old.txt").exists(), "latest is replaced as a whole, not merged"
    older = base / "runs" / "r6"
    older.mkdir()
    (older / "a.txt").write_text("six")
    assert update_latest(older, base, 6) is None, "an older run never replaces a newer latest"
    assert (latest / "a.txt").read_text() == "seven"
    assert sorted(p.name for p in base.iterdir()) == ["latest", "runs"]


def test_a_stage_module_that_fails_to_import_is_a_failed_stage(state: AppState, tmp_path: Path, monkeypatch) -> None:
    modules = tmp_path / "site"
    modules.mkdir()
    (modules / "secops_site_stage.py").write_text('raise ImportError("needs libfoo, which is not installed")\n')
    monkeypatch.syspath_prepend(str(modules))
    jobs_file = state.settings.policies / "jobs.yaml"
    jobs_file.write_text("version: 1\nstages: {site: 'secops_site_stage:run_stage', gone: 'no_such_module_x:run'}\n"
                         "jobs: {j: {stages: [site, gone, grade]}}\n")
    schedule(state, "j", "j")
    outcome = run_schedule(state, "j")
    assert outcome.status == "partial"
    assert stages_of(state, outcome.run_id) == [("site", "failed"), ("gone", "unavailable"), ("grade", "ok")]
    assert any("needs libfoo" in e for e in run_row(state, outcome.run_id).errors)
