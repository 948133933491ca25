"""Migration 0005 on a database made by the previous release: the register is filled from the old
lifecycle state and grading gives the very figures that release stored."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import func, select

from secops.config import bundled
from secops.store.db import Database, current_revision, head_revision
from secops.store.tables import AssessmentRow, GradeRow, SystemRow
from secops.targets import load_targets
from tests.reference_grader import grade, load_facts

FIXTURE = Path(__file__).parent / "fixtures" / "register" / "secops-0004.db"


def _open_copy(tmp_path: Path) -> Database:
    copy = tmp_path / "old.db"
    shutil.copy(FIXTURE, copy)
    return Database(f"sqlite:///{copy}")  # opening migrates to head


def test_fixture_is_from_the_previous_release(tmp_path):
    copy = tmp_path / "raw.db"
    shutil.copy(FIXTURE, copy)
    raw = Database(f"sqlite:///{copy}", migrate=False)
    assert current_revision(raw.engine) == "0004"
    raw.dispose()


def test_states_map_onto_the_register(tmp_path):
    db = _open_copy(tmp_path)
    assert current_revision(db.engine) == head_revision(db.url)
    with db.session() as session:
        pairs = dict(session.execute(
            select(SystemRow.state, func.count()).group_by(SystemRow.state)).all())
        assert pairs == {"unclassified": 28, "dossier_submitted": 34, "level_approved": 42, "plan_deployed": 201}
        combos = set(session.execute(select(SystemRow.state, SystemRow.approval_status,
                                            SystemRow.plan_deployment).distinct()).all())
        assert combos == {("unclassified", "not_started", "not_deployed"),
                          ("dossier_submitted", "sent_for_appraisal", "not_deployed"),
                          ("level_approved", "approved", "not_deployed"),
                          ("plan_deployed", "approved", "fully_deployed")}
        submitted = session.scalars(select(SystemRow).where(SystemRow.state == "dossier_submitted")).all()
        assert all(s.level is None and s.proposed_level is not None for s in submitted)
        approved = session.scalars(select(SystemRow).where(SystemRow.approval_status == "approved")).all()
        assert all(s.level == s.proposed_level and s.level is not None for s in approved)
        inspected = session.scalar(select(func.count()).select_from(SystemRow)
                                   .where(SystemRow.last_inspection_date.is_not(None)))
        assert inspected and session.scalar(select(func.count()).select_from(AssessmentRow)
                                            .where(AssessmentRow.kind == "periodic")) == inspected
    db.dispose()


def test_grades_after_migration_equal_the_previous_release(tmp_path):
    db = _open_copy(tmp_path)
    targets = load_targets(bundled("policies"))
    with db.session() as session:
        before = {(g.target_id, g.agency_code): (g.numerator, g.denominator, g.status, g.gap)
                  for g in session.scalars(select(GradeRow).where(GradeRow.run_id == 1))}
        as_of = dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=dt.UTC)
        facts = load_facts(session, as_of, 7)
        after = {}
        for result in grade(targets, facts):
            after[(result.target_id, result.agency_code)] = (result.numerator, result.denominator,
                                                             result.status, result.gap)
    assert before[("T1", "SAMPLE")] == (201, 305, "not_met", 13)
    assert len(before) == 5 * 208
    assert after == before
    db.dispose()
