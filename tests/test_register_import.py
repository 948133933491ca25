"""The level-dossier register through inventory import/export: every field, assessments,
all-or-nothing with `file:row: field: reason`, hostile text kept as data and round-tripped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from secops.errors import InputRowsError
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.register.export import register_records, write_register
from secops.store.tables import AssessmentRow, SystemRow

LEVELS = load_levels(Path(__file__).resolve().parent.parent / "policies")
HOSTILE = '=HYPERLINK("http://x.invalid","<script>alert(1)</script>")'

REGISTER = f"""\
agencies:
  - {{code: P, name: "Tỉnh", kind: province}}
  - {{code: S1, name: "Sở Một", kind: department, parent: P}}
systems:
  - code: A1
    name: '{HOSTILE.replace("'", "''")}'
    owner: S1
    operator: "+Trung tâm <b>CNTT</b>"
    proposed_level: 3
    approval_status: approved
    level: 3
    approval_decision: "12/QĐ-UBND"
    approval_date: 2026-09-01
    approved_by: province
    approval_body: "UBND tỉnh"
    regulation_decision: "5/QĐ-STTTT"
    regulation_date: 2026-08-20
    regulation_body: "@Sở Một"
    plan_deployment: partly_deployed
    expected_deployment_date: 2027-03-31
  - {{code: A2, name: "Cổng", owner: S1, proposed_level: 2, approval_status: drafting,
      expected_approval_date: 2027-01-15}}
  - {{code: A3, name: "Thư", owner: S1, state: plan_deployed, level: 1, approval_decision: "1/QĐ",
      approval_date: 2025-01-01, approved_by: owner}}
assessments:
  - {{system: A1, kind: before_operation, date: 2026-09-10, assessor: "-Công ty X", independent: true,
      report_ref: "BC-01"}}
  - {{system: A1, kind: periodic, date: 2026-11-01, assessor: "Thanh tra", independent: true}}
  - {{system: A3, kind: ad_hoc, date: 2026-10-01, assessor: "Đội ứng cứu"}}
"""


def _write(tmp_path: Path, text: str, name: str = "register.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_register_fields_and_assessments_are_stored(db, tmp_path):
    result = import_files(db, [_write(tmp_path, REGISTER)], LEVELS)
    assert result.tallies["assessments"].inserted == 3
    with db.session() as session:
        a1 = session.scalar(select(SystemRow).where(SystemRow.code == "A1"))
        assert a1.name == HOSTILE and a1.operator == "+Trung tâm <b>CNTT</b>"
        assert (a1.approval_status, a1.plan_deployment, a1.state) == ("approved", "partly_deployed", "level_approved")
        assert a1.regulation_body == "@Sở Một" and str(a1.expected_deployment_date) == "2027-03-31"
        assert [a.kind for a in a1.assessments] == ["before_operation", "periodic"]
        a2 = session.scalar(select(SystemRow).where(SystemRow.code == "A2"))
        assert (a2.level, a2.proposed_level, a2.state) == (None, 2, "unclassified")
        a3 = session.scalar(select(SystemRow).where(SystemRow.code == "A3"))  # a file of the previous release
        assert (a3.approval_status, a3.plan_deployment, a3.proposed_level) == ("approved", "fully_deployed", 1)
    again = import_files(db, [_write(tmp_path, REGISTER)], LEVELS)
    assert again.tallies["assessments"].unchanged == 3 and again.tallies["systems"].unchanged == 3


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_export_imports_back_unchanged(db, tmp_path, fmt):
    import_files(db, [_write(tmp_path, REGISTER)], LEVELS)
    with db.session() as session:
        before = register_records(session)
    paths = write_register(before, tmp_path / "out", fmt)
    if fmt == "csv":
        text = paths[0].read_text(encoding="utf-8")
        assert '\nA1,"\'=HYPERLINK' in text  # a spreadsheet shows the text, never runs it
        assert ",'+Trung tâm" in text and ",'@Sở Một" in text
    with db.session() as session:  # wipe the register, then import the export
        for row in session.scalars(select(SystemRow)):
            session.delete(row)
    result = import_files(db, paths, LEVELS)
    assert result.tallies["systems"].inserted == 3 and result.tallies["assessments"].inserted == 3
    with db.session() as session:
        assert register_records(session) == before


def test_bad_register_rows_name_file_row_field_and_nothing_is_written(db, tmp_path):
    import_files(db, [_write(tmp_path, REGISTER)], LEVELS)
    bad = tmp_path / "assessments.csv"
    bad.write_text("system,kind,date,assessor,independent\n"
                   "A1,periodic,2026-11-20,Ban,true\n"
                   "NOPE,periodic,2026-11-20,Ban,true\n"
                   "A2,yearly,2026-11-20,Ban,maybe\n"
                   "A2,periodic,2030-01-01,Ban,false\n", encoding="utf-8")
    systems = tmp_path / "systems.csv"
    systems.write_text("code,name,owner,approval_status,plan_deployment,level\n"
                       "B1,Hệ thống,S1,approved,fully_deployed,2\n"
                       "B2,Hệ thống,S1,sent_for_appraisal,half,\n", encoding="utf-8")
    with pytest.raises(InputRowsError) as caught:
        import_files(db, [bad, systems], LEVELS)
    lines = [str(e) for e in caught.value.errors]
    assert f"{bad}:3: system: information system 'NOPE' is not in the file or the database" in lines
    assert any(line.startswith(f"{bad}:4: kind: ") for line in lines)
    assert any(line.startswith(f"{bad}:4: independent: ") for line in lines)
    assert any(line.startswith(f"{bad}:5: date: ") and "future" in line for line in lines)
    assert any(line.startswith(f"{systems}:2: ") and "requires approval_decision" in line for line in lines)
    assert any(line.startswith(f"{systems}:3: plan_deployment: ") for line in lines)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AssessmentRow)) == 3
        assert session.scalar(select(func.count()).select_from(SystemRow)) == 3


def test_export_command_writes_csv_and_yaml(cli, db_path, tmp_path):
    db_file = _write(tmp_path, REGISTER)
    assert cli("inventory", "import", str(db_file), db=db_path).returncode == 0
    out = cli("inventory", "export", "--format", "yaml", "--out", str(tmp_path / "x"), db=db_path)
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load((tmp_path / "x" / "register.yaml").read_text(encoding="utf-8"))
    assert [s["code"] for s in doc["systems"]] == ["A1", "A2", "A3"] and len(doc["assessments"]) == 3
    bad = cli("inventory", "export", "--format", "xml", db=db_path)
    assert bad.returncode == 2 and "--format must be csv or yaml" in bad.stderr
