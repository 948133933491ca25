"""The grade stage: grade the store into an existing run (a job run or `secops grade`)."""

from __future__ import annotations

from secops.grade.record import grade_store, record_grades
from secops.inventory.tree import check_one_root, load_agencies
from secops.stages import StageContext, StageOptions, StageResult
from secops.store.tables import RunRow
from secops.targets import load_targets


def run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    db = app_state.db()
    policy = load_targets(app_state.settings.policies)
    with db.session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None, f"run {run_id} vanished"
        as_of = run.as_of or run.started_at
    with db.session() as session:  # refuse before grading, so the run is recorded as failed
        check_one_root(load_agencies(session))  # today's tree: former provinces are retired, not roots
    cells = grade_store(db, policy, as_of)
    record_grades(db, run_id, cells)
    met = sum(1 for c in cells if c.status == "met")
    return StageResult(stage="grade", summary={"cells": len(cells), "met": met})
