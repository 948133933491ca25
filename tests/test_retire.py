"""Issue 10 item 4: a second province is refused at import; a grade that cannot work records a failed run;
records can be retired (kept with history, ignored by grading from their retirement date)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.grade.record import grade_store
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.store.tables import AgencyRow, EndpointRow, RunRow, StaffRow, SystemRow
from secops.targets import load_targets

FIXTURES = Path(__file__).parent / "fixtures" / "core"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
GOOD = [FIXTURES / "small.yaml", FIXTURES / "endpoints.csv", FIXTURES / "staff.csv"]
AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
SECOND = """\
agencies:
  - {code: Q, name: "Tỉnh Thứ Hai", kind: province}
  - {code: QS, name: "Sở Thứ Hai", kind: department, parent: Q}
"""


@pytest.fixture
def small(db_path, db):
    import_files(db, GOOD, load_levels(POLICIES), today=dt.date(2026, 11, 20))
    return db


def cell(db, target, agency, as_of=AS_OF):
    return next(c for c in grade_store(db, load_targets(POLICIES), as_of)
                if c.target_id == target and c.agency_code == agency)


def test_second_province_is_refused_at_import_with_row_and_reason(small, db_path, tmp_path, cli):
    bad = tmp_path / "second.yaml"
    bad.write_text(SECOND, encoding="utf-8")
    result = cli("inventory", "import", str(bad), db=db_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad}:2: parent: a second top-level agency" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
    with small.session() as s:  # nothing written, not even the department whose parent would be Q
        assert s.scalar(select(AgencyRow).where(AgencyRow.code.in_(["Q", "QS"]))) is None
    assert cli("grade", db=db_path).returncode == 0


def test_two_provinces_in_one_file_are_refused(db_path, tmp_path, cli):
    both = tmp_path / "both.yaml"
    both.write_text(SECOND + '  - {code: R, name: "Tỉnh Ba", kind: province}\n', encoding="utf-8")
    result = cli("inventory", "import", str(both), db=db_path)
    assert result.returncode == 2
    assert f"{both}:4: parent: a second top-level agency: the inventory already holds 'Q'" in \
        result.stderr.replace("\n", "")


def _old_database_with_two_provinces(db):
    """A database written before the refusal existed: two top-level agencies."""
    with db.session() as s:
        s.add(AgencyRow(code="Q", name="Tỉnh Thứ Hai", kind="province", parent_id=None))


def test_grade_that_cannot_work_records_a_failed_run_then_remove_recovers(small, db_path, cli):
    _old_database_with_two_provinces(small)
    result = cli("grade", db=db_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "2 top-level agencies (P, Q)" in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr
    with small.session() as s:
        run = s.scalars(select(RunRow).order_by(RunRow.id.desc())).first()
        assert run is not None and run.kind == "grade" and run.status == "failed"
        assert "top-level agencies" in run.errors[0]
    removed = cli("inventory", "remove", "agencies", "Q", "--reason", "nhập nhầm tỉnh khác", db=db_path)
    assert removed.returncode == 0, removed.stderr
    assert "1 agencies" in removed.stdout
    again = cli("grade", db=db_path)
    assert again.returncode == 0, again.stderr
    show = cli("inventory", "show", "--json", db=db_path)
    assert show.returncode == 0 and '"Q"' not in show.stdout
    with small.session() as s:  # kept, with the reason
        q = s.scalar(select(AgencyRow).where(AgencyRow.code == "Q"))
        assert q is not None and q.retired_reason == "nhập nhầm tỉnh khác" and q.retired_at is not None
    assert "already retired" in cli("inventory", "remove", "agencies", "Q", "--reason", "x", db=db_path).stdout


def test_retiring_an_agency_retires_its_subtree_and_grading_ignores_it_from_that_date(small, db_path, cli):
    before = cell(small, "T2", "P")
    assert (before.numerator, before.denominator) == (10, 16)  # tests/test_grading.py hand-worked figures
    d1 = cell(small, "T2", "D1")
    assert (d1.numerator, d1.denominator) == (9, 11)
    result = cli("inventory", "remove", "agencies", "D1", "--reason", "sáp nhập", "--date", "2026-07-01", db=db_path)
    assert result.returncode == 0, result.stderr
    with small.session() as s:
        retired = {a.code for a in s.scalars(select(AgencyRow).where(AgencyRow.retired_at.is_not(None)))}
        assert retired == {"D1", "C1", "C2"}
        assert s.scalar(select(SystemRow).where(SystemRow.code == "SYS4")).retired_at == dt.date(2026, 7, 1)
        assert all(e.retired_at is not None for e in s.scalars(select(EndpointRow).join(AgencyRow)
                                                                   .where(AgencyRow.code.in_(["D1", "C1"]))))
        assert s.scalars(select(StaffRow).where(StaffRow.retired_at.is_not(None))).first() is not None
    after = cell(small, "T2", "P")
    assert (after.numerator, after.denominator) == (10 - 9, 16 - 11)
    assert all(c.agency_code not in {"D1", "C1", "C2"} for c in grade_store(small, load_targets(POLICIES), AS_OF))
    # As of a date before the retirement, the agency still counts (on the day itself it no longer does).
    old = cell(small, "T1", "P", dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC))
    assert old.denominator == 5
    assert cell(small, "T1", "P", dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)).denominator == 5 - 2


def test_retiring_one_endpoint(small, db_path, cli):
    result = cli("inventory", "remove", "endpoints", "E1", "--reason", "thanh lý", db=db_path)
    assert result.returncode == 0, result.stderr
    after = cell(small, "T2", "P", dt.datetime.now(dt.UTC))
    assert after.denominator == 15


@pytest.mark.parametrize("args, message", [
    (["agencies", "NOPE", "--reason", "x"], "agencies: 'NOPE' is not in the inventory"),
    (["printers", "E1", "--reason", "x"], "KIND must be one of agencies, systems, endpoints, staff"),
    (["endpoints", "E1", "--reason", "  "], "--reason: say why"),
    (["endpoints", "E1", "--reason", "x", "--date", "1/7/2026"], "--date '1/7/2026': use YYYY-MM-DD"),
])
def test_remove_refusals(small, db_path, cli, args, message):
    result = cli("inventory", "remove", *args, db=db_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    with small.session() as s:
        assert s.scalars(select(EndpointRow).where(EndpointRow.retired_at.is_not(None))).first() is None
