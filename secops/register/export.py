"""Export the register (systems and their assessments) as files that `inventory import` reads back."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.safeio import ensure_folder, write_file
from secops.store.tables import AgencyRow, AssessmentRow, SystemRow
from secops.textsafe import neutral_cell

SYSTEM_COLUMNS = ["code", "name", "owner", "operator", "proposed_level", "level", "approval_status",
                  "approval_decision", "approval_date", "approved_by", "approval_body", "regulation_decision",
                  "regulation_date", "regulation_body", "expected_approval_date", "plan_deployment",
                  "plan_deployed_date", "expected_deployment_date", "last_inspection_date", "system_type",
                  "national_security_list"]
ASSESSMENT_COLUMNS = ["system", "kind", "date", "assessor", "independent", "report_ref"]


def register_records(session: Session, agency_ids: set[int] | None = None) -> dict[str, list[dict[str, Any]]]:
    query = select(SystemRow, AgencyRow.code).join(AgencyRow, SystemRow.agency_id == AgencyRow.id)
    if agency_ids is not None:
        query = query.where(SystemRow.agency_id.in_(agency_ids))
    systems, assessments = [], []
    for row, owner in session.execute(query.order_by(SystemRow.code)):
        record = {c: getattr(row, c) for c in SYSTEM_COLUMNS if c != "owner"}
        systems.append({"owner": owner, **record})
        assessments += [{"system": row.code, "kind": a.kind, "date": a.date, "assessor": a.assessor,
                         "independent": a.independent, "report_ref": a.report_ref}
                        for a in session.scalars(select(AssessmentRow).where(AssessmentRow.system_id == row.id)
                                                 .order_by(AssessmentRow.date, AssessmentRow.kind))]
    ordered = [{k: s[k] for k in SYSTEM_COLUMNS} for s in systems]
    return {"systems": ordered, "assessments": assessments}


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    # CRLF (RFC 4180): the csv module quotes a field holding any character of the line terminator,
    # so a value with a bare CR is quoted too (with "\n" alone it was not, and broke its row).
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutral_cell(_plain(row[c])) for c in columns])
    return out.getvalue().encode("utf-8")


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if hasattr(value, "isoformat") else value


def _yaml(records: dict[str, list[dict[str, Any]]]) -> bytes:
    def clean(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if v is not None}
    doc = {"version": 1, "systems": [clean(r) for r in records["systems"]],
           "assessments": [clean(r) for r in records["assessments"]]}
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")


def write_register(records: dict[str, list[dict[str, Any]]], folder: Path, fmt: str) -> list[Path]:
    ensure_folder(folder)
    if fmt == "yaml":
        return [write_file(folder / "register.yaml", _yaml(records))]
    return [write_file(folder / "systems.csv", _csv(records["systems"], SYSTEM_COLUMNS)),
            write_file(folder / "assessments.csv", _csv(records["assessments"], ASSESSMENT_COLUMNS))]
