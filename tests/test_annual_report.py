"""`secops report annual`: Form 08 from a register with every status combination (hostile text
included), reopened with openpyxl; each consistency rule fires on a crafted violation."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import openpyxl
import pytest
from annual_helpers import build_register, policies_with_contacts

from secops.config import Settings, bundled
from secops.inventory.regime import load_regimes, regime_on
from secops.models import ApprovalStatus, AssessmentKind, PlanDeployment
from secops.register.annual import annual_report
from secops.register.form08 import build_form08
from secops.register.rules import check

REGIMES = load_regimes(bundled("policies"))
FORM = regime_on(REGIMES, dt.date(2026, 12, 14)).form
APPROVED = FORM.values.approval_status[ApprovalStatus.approved].vi
PERIODIC = FORM.values.assessments[AssessmentKind.periodic].vi


@pytest.fixture
def register(db, tmp_path):
    index = build_register(db)
    return db, index, policies_with_contacts(tmp_path)


def _settings(db_path: Path, policies: Path, tmp_path: Path) -> Settings:
    return Settings(db=str(db_path), policies=policies, output=tmp_path / "out")


def test_violations_of_the_full_combination_register_are_exactly_the_real_ones(register):
    db, index, policies = register
    with db.session() as session:
        form = build_form08(session, REGIMES, 2026, policies)
    found = {(v.rule, v.code) for v in check(form)}
    expected = {("status_not_started", c) for c, (s, _, _) in index.items() if s is ApprovalStatus.not_started}
    expected |= {("periodic_unapproved", c) for c, (s, _, k) in index.items()
                 if s is not ApprovalStatus.approved and AssessmentKind.periodic in k}
    expected.add(("periodic_total", "section1"))
    assert found == expected


def _sheet_rows(ws):
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_workbook_reopened_with_openpyxl(register, db_path, tmp_path):
    db, index, policies = register
    result = annual_report(db, _settings(db_path, policies, tmp_path), 2026, tmp_path / "out")
    xlsx = next(p for p in result.files if p.suffix == ".xlsx")
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["Mẫu 08"]
    rows = _sheet_rows(ws)
    assert rows[0][0] == "TỈNH <THỬ>" and rows[0][6] == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert rows[3][0] == "Kính gửi: Bộ Công an"
    assert rows[4][0] == "Kỳ số liệu: từ 15/12/2025 đến 14/12/2026"
    # Section 3: the twelve headings exactly, then (1)..(12), then one row per system.
    head = next(i for i, r in enumerate(rows) if r[0] == "STT")
    assert rows[head] == [c.vi for c in FORM.section3.columns]
    assert rows[head][5] == "Tình trạng phê duyệt cấp độ" and rows[head][11] == "Đã kiểm tra, đánh giá ANM"
    assert rows[head + 1] == [f"({n})" for n in range(1, 13)]
    table = rows[head + 2:]
    assert len(table) == len(index) == 60
    assert [r[0] for r in table] == list(range(1, 61))
    statuses = {v.vi for v in FORM.values.approval_status.values()}
    plans = {v.vi for v in FORM.values.plan_deployment.values()}
    checks = {"Trước khi đưa vào sử dụng", "Định kỳ", "Trước khi đưa vào sử dụng; Định kỳ"}
    assert {r[5] for r in table} == statuses | {None}  # not started: the form has no value, the cell is empty
    assert statuses == {"Đang dự thảo", "Đã gửi thẩm định", "Đã thẩm định", "Đã được phê duyệt"}
    assert {r[9] for r in table} == plans == {"Chưa triển khai", "Đã triển khai một số hạng mục", "Đã triển khai đầy đủ"}
    assert {r[11] for r in table} == checks | {None}
    # Section 1 totals equal what the table holds.
    s1 = {r[1]: r[11] for r in rows if r[1] and str(r[1]).startswith("- ")}
    line = {k: f"- {v.vi}:" for k, v in FORM.section1.lines.items()}
    assert s1[line["total"]] == len(table)
    assert s1[line["approved"]] == sum(r[5] == APPROVED for r in table) == 12
    assert s1[line["assessed_periodically"]] == sum(r[5] == APPROVED and PERIODIC in (r[11] or "") for r in table) == 6
    assert s1[line["appraised"]] == sum(r[5] in (APPROVED, "Đã thẩm định") for r in table)
    assert s1[line["expected_all_approved"]] == "28/01/2027"  # the latest expected date of an unapproved row
    # Hostile text stays text: stored as strings, never as formulas; the approval cell has the body.
    cells = [c for row in ws.iter_rows(min_row=head + 3) for c in row]
    formulas = [c for c in cells if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))]
    assert formulas and all(c.data_type == "s" and c.quotePrefix for c in formulas)
    assert any(str(c.value).startswith('=HYPERLINK(') for c in formulas)
    approved_row = next(r for r in table if r[5] == APPROVED)
    assert approved_row[6].startswith("Số ") and approved_row[6].endswith("ngày 01/09/2026, @UBND tỉnh")
    assert approved_row[8] is None  # (9) only for unapproved rows
    # The allowed values sheet and the drop-downs that use it.
    values = _sheet_rows(wb["Giá trị hợp lệ"])
    assert [r[1] for r in values[2:6]] == ["Đang dự thảo", "Đã gửi thẩm định", "Đã thẩm định", "Đã được phê duyệt"]
    assert {str(v.sqref) for v in ws.data_validations.dataValidation} == {
        f"{col}{head + 3}:{col}{head + 62}" for col in ("F", "J", "L")}
    s2 = [r for r in rows if r[1] == "(1) Tên"]
    assert [r[6] for r in s2] == ["UBND tỉnh", "=Sở KHCN"]


def test_csv_is_neutralised_and_html_escaped(register, db_path, tmp_path):
    db, _, policies = register
    result = annual_report(db, _settings(db_path, policies, tmp_path), 2026, tmp_path / "out", lang="en")
    by_name = {p.name: p for p in result.files}
    text = by_name["form08-2026-P-section3.csv"].read_text(encoding="utf-8-sig")
    assert "Tình trạng phê duyệt cấp độ" in text.splitlines()[0]
    assert '"\'=HYPERLINK(' in text and '"\'+SUM(1,2)' in text and ",'@cmd" in text and ",'=Sở Một," in text
    assert all(not line.startswith(("=", "+", "-", "@")) for line in text.splitlines())
    page = by_name["form08-2026-P.html"].read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Tỉnh &lt;Thử&gt;" in page and "Approval status" in page  # English gloss with --lang en
    assert page.count("<tr data-code=") == 60


def test_owner_limits_the_report_to_its_subtree(register, db_path, tmp_path):
    db, _, policies = register
    result = annual_report(db, _settings(db_path, policies, tmp_path), 2026, tmp_path / "out", owner="S1",
                           formats=("csv",))
    assert result.report.owner_code == "S1" and len(result.report.rows) == 30
    assert {r.owner for r in result.report.rows} == {"=Sở Một"}
    assert [p.name for p in result.files] == ["form08-2026-S1-section1.csv", "form08-2026-S1-section3.csv"]


def _clean(db, policies):
    """The register's form, keeping only rows that break no rule (to craft one violation at a time)."""
    with db.session() as session:
        form = build_form08(session, REGIMES, 2026, policies)
    rows = [r for r in form.rows if r.approval_status is not ApprovalStatus.not_started
            and (r.approved or AssessmentKind.periodic not in r.assessments)]
    form = form.model_copy(update={"rows": rows})
    from secops.register.form08 import section1
    form.section1 = section1(rows)
    assert check(form) == []
    return form


def _first(form, **where):
    return next(r for r in form.rows if all(getattr(r, k) == v for k, v in where.items()))


CRAFTED = {
    "rows_total": lambda f: setattr(f.section1, "total", f.section1.total + 1) or "section1",
    "approved_needs_7": lambda f: (r := _first(f, approval_status=ApprovalStatus.approved),
                                   setattr(r, "approval_decision", None))[0].code,
    "approved_needs_8": lambda f: (r := _first(f, approval_status=ApprovalStatus.approved),
                                   setattr(r, "regulation_date", None))[0].code,
    "unapproved_needs_9": lambda f: (r := _first(f, approval_status=ApprovalStatus.drafting),
                                     setattr(r, "expected_approval", None))[0].code,
    "undeployed_needs_11": lambda f: (r := _first(f, plan_deployment=PlanDeployment.partly_deployed),
                                      setattr(r, "expected_deployment", None))[0].code,
    "regulation_after_approval": lambda f: (r := _first(f, approval_status=ApprovalStatus.approved),
                                            setattr(r, "regulation_date", dt.date(2026, 9, 2)))[0].code,
    "periodic_total": lambda f: setattr(f.section1, "assessed_periodically", 0) or "section1",
    "periodic_unapproved": lambda f: (r := _first(f, approval_status=ApprovalStatus.appraised),
                                      r.assessments.append(AssessmentKind.periodic))[0].code,
    "status_not_started": lambda f: (r := _first(f, approval_status=ApprovalStatus.drafting),
                                     setattr(r, "approval_status", ApprovalStatus.not_started))[0].code,
    "section2_unit": lambda f: setattr(f.section2.unit, "contact", None) or "section2",
}


@pytest.mark.parametrize("rule", sorted(CRAFTED))
def test_each_consistency_rule_fires_on_a_crafted_violation(register, rule):
    db, _, policies = register
    form = _clean(db, policies)
    code = CRAFTED[rule](form)
    assert (rule, code) in {(v.rule, v.code) for v in check(form)}


def test_strict_refuses_and_names_system_and_fix(register, db_path, tmp_path, cli):
    _, index, policies = register
    out = tmp_path / "strict"
    done = cli("--policies", str(policies), "report", "annual", "--year", "2026", "--strict", "--lang", "en",
               "--out", str(out), db=db_path)
    assert done.returncode == 2, done.stderr
    not_started = sorted(c for c, (s, _, _) in index.items() if s is ApprovalStatus.not_started)
    assert f"{not_started[0]}: Dossier not started: column (6) has none of the form's values — Fix: Start drafting" \
        in done.stderr
    assert "--strict: nothing written" in done.stderr and not out.exists()
    loose = cli("--policies", str(policies), "report", "annual", "--year", "2026", "--out", str(out), db=db_path)
    assert loose.returncode == 0 and "lỗi nhất quán" in loose.stderr
    assert sorted(p.name for p in out.iterdir()) == ["form08-2026-P-section1.csv", "form08-2026-P-section3.csv",
                                                     "form08-2026-P.html", "form08-2026-P.xlsx"]


def test_year_under_the_former_regime_and_bad_format_are_clear_errors(register, db_path, cli):
    old = cli("report", "annual", "--year", "2025", db=db_path)
    assert old.returncode == 2 and "decree85_2016" in old.stderr and "Traceback" not in old.stderr
    bad = cli("report", "annual", "--year", "2026", "--format", "pdf", db=db_path)
    assert bad.returncode == 2 and "--format: unknown pdf" in bad.stderr


def test_files_replace_a_planted_symlink_instead_of_writing_through_it(register, db_path, tmp_path):
    db, _, policies = register
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    os.symlink(victim, out / "form08-2026-P.html")
    annual_report(db, _settings(db_path, policies, tmp_path), 2026, out, formats=("html",))
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not (out / "form08-2026-P.html").is_symlink()
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
