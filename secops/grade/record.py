"""Grade the store as of a time and record the cells in a run (history is never overwritten)."""

from __future__ import annotations

import datetime as dt

from secops.grade.engine import GradeCell
from secops.grade.sql import endpoint_max_age, grade_sql
from secops.store.db import Database
from secops.store.tables import GradeRow, RunRow
from secops.targets import TargetPolicy


def grade_store(db: Database, policy: TargetPolicy, as_of: dt.datetime) -> list[GradeCell]:
    with db.session() as session:
        return grade_sql(session, policy, as_of)


__all__ = ["endpoint_max_age", "grade_store", "record_grades"]


def record_grades(db: Database, run_id: int, cells: list[GradeCell]) -> None:
    with db.session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        session.add_all(GradeRow(run_id=run_id, **c.model_dump()) for c in cells)
        met = sum(1 for c in cells if c.status == "met")
        run.summary = {**(run.summary or {}), "grade_cells": len(cells), "grade_cells_met": met}
