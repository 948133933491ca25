"""Inventory import: validation errors name file:row: field, all-or-nothing writes, idempotent upserts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from secops.errors import InputRowsError, SecopsError
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, StaffRow, SystemRow

FIXTURES = Path(__file__).parent / "fixtures" / "core"
LEVELS = load_levels(Path(__file__).resolve().parent.parent / "policies")
GOOD = [FIXTURES / "small.yaml", FIXTURES / "endpoints.csv", FIXTURES / "staff.csv"]

BAD_YAML = """\
agencies:
  - {code: P, name: "Tỉnh", kind: province}
  - {code: X1, name: "Xã mồ côi", kind: commune, parent: NOPE}
  - {code: S9, name: "Sở", kind: department, parent: P}
systems:
  - {code: BAD1, name: "Thiếu cấp độ", owner: S9, state: plan_deployed, approval_decision: "1/QĐ", approval_date: 2025-01-01}
  - {code: BAD2, name: "Sai người duyệt", owner: S9, level: 3, state: level_approved, approval_decision: "2/QĐ",
     approval_date: 2025-01-01, approved_by: owner}
  - {code: OK1, name: "Hợp lệ", owner: S9, state: unclassified}
  - {code: BAD3, name: "Cấp 9", owner: S9, level: 9, state: dossier_submitted}
"""


def counts(db):
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in
                     (AgencyRow, SystemRow, EndpointRow, StaffRow, EvidenceRow))


def test_bad_rows_are_all_reported_and_nothing_is_written(db, tmp_path):
    import_files(db, GOOD, LEVELS, today=dt.date(2026, 11, 20))
    before = counts(db)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML, encoding="utf-8")
    with pytest.raises(InputRowsError) as caught:
        import_files(db, [bad], LEVELS)
    lines = [str(e) for e in caught.value.errors]
    assert f"{bad}:3: parent: parent agency 'NOPE' is not in the file or the database" in lines
    assert any(line.startswith(f"{bad}:6: ") and "requires an approved level" in line for line in lines)
    assert f"{bad}:7: approved_by: level 3 is approved by province, not owner (policies/levels.yaml)" in lines
    # A submitted dossier's level is its proposed level in the register (issue 8).
    assert any(line.startswith(f"{bad}:10: proposed_level: ") for line in lines)
    assert len(lines) == 4
    assert counts(db) == before  # the valid rows of the bad file (S9, OK1) were not written either


def test_skip_invalid_imports_the_good_rows(db, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_YAML, encoding="utf-8")
    result = import_files(db, [bad], LEVELS, skip_invalid=True)
    assert len(result.skipped) == 4
    with db.session() as s:
        assert sorted(s.scalars(select(AgencyRow.code))) == ["P", "S9"]
        assert list(s.scalars(select(SystemRow.code))) == ["OK1"]


def test_reimport_is_idempotent_and_updates_changed_rows(db, tmp_path):
    first = import_files(db, GOOD, LEVELS, today=dt.date(2026, 11, 20))
    assert first.tallies["endpoints"].inserted == 16
    snapshot = counts(db)
    again = import_files(db, GOOD, LEVELS, today=dt.date(2026, 11, 20))
    assert counts(db) == snapshot
    assert all(t.inserted == 0 and t.updated == 0 for t in again.tallies.values())
    changed = tmp_path / "endpoints.csv"
    changed.write_text((FIXTURES / "endpoints.csv").read_text().replace("s1-pc-1,", "s1-pc-renamed,"))
    third = import_files(db, [changed], LEVELS)
    assert (third.tallies["endpoints"].updated, third.tallies["endpoints"].inserted) == (1, 0)
    with db.session() as s:
        assert s.scalar(select(EndpointRow.hostname).where(EndpointRow.code == "E1")) == "s1-pc-renamed"


def test_csv_errors_name_the_line(db, tmp_path):
    import_files(db, [FIXTURES / "small.yaml"], LEVELS)
    bad = tmp_path / "endpoints.csv"
    bad.write_text("code,hostname,ips,owner,mac,protection_status,protection_observed_at\n"
                   "OK,host-ok,127.0.0.9,S1,,,\n"
                   "B1,host-b1,999.1.1.1,S1,,,\n"
                   "B2,host-b2,127.0.0.8,S1,zz,,\n"
                   "B3,host-b3,,S1,,maybe,2026-01-01\n"
                   "B4,host-b4,,NOWHERE,,,\n", encoding="utf-8")
    with pytest.raises(InputRowsError) as caught:
        import_files(db, [bad], LEVELS)
    rows = {(e.row, e.field) for e in caught.value.errors}
    assert {(3, "ips"), (4, "mac"), (5, "protection.status"), (6, "owner")} <= rows
    assert 2 not in {r for r, _ in rows}


def test_unreadable_inputs_are_clear_errors(db, tmp_path):
    with pytest.raises(SecopsError, match="file not found"):
        import_files(db, [tmp_path / "missing.yaml"], LEVELS)
    broken = tmp_path / "broken.yaml"
    broken.write_text("agencies: [ {code: P\n", encoding="utf-8")
    with pytest.raises(SecopsError, match=r"broken.yaml:\d+: not valid YAML"):
        import_files(db, [broken], LEVELS)
    unknown = tmp_path / "things.csv"
    unknown.write_text("code\nA\n", encoding="utf-8")
    with pytest.raises(SecopsError, match="cannot tell what the CSV holds"):
        import_files(db, [unknown], LEVELS)


def test_duplicate_codes_in_one_import(db, tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("agencies:\n  - {code: P, name: A, kind: province}\n  - {code: P, name: B, kind: province}\n")
    with pytest.raises(InputRowsError, match="appears more than once"):
        import_files(db, [dup], LEVELS)


def test_readme_examples_import_cleanly(db):
    examples = Path(__file__).resolve().parent.parent / "examples"
    result = import_files(db, [examples / "inventory.yaml", examples / "endpoints.csv", examples / "staff.csv"],
                          LEVELS)
    assert result.skipped == []
    assert {k: v.inserted for k, v in result.tallies.items()} == {"agencies": 4, "systems": 3, "endpoints": 4,
                                                                   "staff": 5, "assessments": 1}  # last_inspection_date
