"""The text of each Form 08 cell, in the form's exact wording (shared by XLSX, CSV and HTML)."""

from __future__ import annotations

import datetime as dt

from secops.inventory.regime import Form
from secops.models import ApprovalStatus
from secops.register.form08 import Form08, Row


def vn_date(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def _decision(number: str | None, day: dt.date | None, body: str | None) -> str:
    return ", ".join(part for part in (number and f"Số {number}", day and f"ngày {vn_date(day)}", body) if part)


def row_cells(row: Row, form: Form) -> list[object]:
    """Columns (1)-(12) of one system; empty where the form says to leave the cell empty."""
    values = form.values
    status = values.approval_status.get(row.approval_status)
    assessed = values.assessments_both_separator.join(values.assessments[k].vi for k in row.assessments)
    return [
        row.number, row.name, row.owner, row.operator or "", row.proposed_level or "",
        status.vi if status else "",
        _decision(row.approval_decision, row.approval_date, row.approval_body) if row.approved else "",
        _decision(row.regulation_decision, row.regulation_date, row.regulation_body),
        vn_date(row.expected_approval) if row.approval_status is not ApprovalStatus.approved else "",
        values.plan_deployment[row.plan_deployment].vi,
        vn_date(row.expected_deployment),
        assessed,
    ]


def section1_cells(report: Form08, form: Form) -> list[tuple[str, object]]:
    s = report.section1
    values: dict[str, object] = {
        "total": s.total, "classified": s.classified, "dossier_built": s.dossier_built, "appraised": s.appraised,
        "approved": s.approved, "assessed_periodically": s.assessed_periodically,
        "expected_all_approved": vn_date(s.expected_all_approved)}
    return [(form.section1.lines[key].vi, values[key]) for key in values]


def section2_cells(report: Form08, form: Form) -> list[tuple[str, list[tuple[str, str]]]]:
    fields = form.section2.fields
    out = []
    for title, party in ((form.section2.owner.vi, report.section2.owner), (form.section2.unit.vi, report.section2.unit)):
        out.append((title, [(f"({i}) {fields[key].vi}", getattr(party, key) or "")
                            for i, key in enumerate(("name", "mandate", "representative", "address", "contact"), 1)]))
    return out
