"""Grade the store as of a time and record the cells in a run (history is never overwritten)."""

from __future__ import annotations

import datetime as dt

from secops.grade.engine import GradeCell, grade
from secops.grade.facts import load_facts
from secops.grade.policy import TargetPolicy
from secops.store.db import Database
from secops.store.tables import GradeRow, RunRow


def endpoint_max_age(policy: TargetPolicy) -> int | None:
    ages = [t.evidence_max_age_days for t in policy.targets if t.entity == "endpoints"]
    return min((a for a in ages if a is not None), default=None)


def grade_store(db: Database, policy: TargetPolicy, as_of: dt.datetime) -> list[GradeCell]:
    with db.session() as session:
        facts = load_facts(session, as_of, endpoint_max_age(policy))
    return grade(policy, facts)


def record_grades(db: Database, run_id: int, cells: list[GradeCell]) -> None:
    with db.session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        session.add_all(GradeRow(run_id=run_id, **c.model_dump()) for c in cells)
        met = sum(1 for c in cells if c.status == "met")
        run.summary = {**(run.summary or {}), "grade_cells": len(cells), "grade_cells_met": met}
