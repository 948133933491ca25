"""Export the inventory (agencies, systems, endpoints, staff) and the register (assessments) as files that
`inventory import` reads back."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from secops.safeio import ensure_folder, write_file
from secops.store.tables import AgencyRow, AssessmentRow, EndpointRow, StaffRow, SystemRow
from secops.textsafe import neutral_cell

SYSTEM_COLUMNS = ["code", "name", "owner", "operator", "proposed_level", "level", "approval_status",
                  "approval_decision", "approval_date", "approved_by", "approval_body", "regulation_decision",
                  "regulation_date", "regulation_body", "expected_approval_date", "plan_deployment",
                  "plan_deployed_date", "expected_deployment_date", "last_inspection_date", "system_type",
                  "national_security_list"]
ASSESSMENT_COLUMNS = ["system", "kind", "date", "assessor", "independent", "report_ref"]
AGENCY_COLUMNS = ["code", "name", "kind", "parent"]
ENDPOINT_COLUMNS = ["code", "hostname", "ips", "mac", "os_family", "role", "owner"]
STAFF_COLUMNS = ["code", "agency", "name", "is_head", "awareness_date", "informed_date", "training_date"]
COLUMNS = {"agencies": AGENCY_COLUMNS, "systems": SYSTEM_COLUMNS, "endpoints": ENDPOINT_COLUMNS,
           "staff": STAFF_COLUMNS, "assessments": ASSESSMENT_COLUMNS}


def inventory_records(session: Session, agency_ids: set[int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The agencies, endpoints and staff in service, in the import format (the register is beside them)."""
    parent = aliased(AgencyRow)
    agencies = select(AgencyRow.code, AgencyRow.name, AgencyRow.kind, parent.code).select_from(AgencyRow) \
        .outerjoin(parent, AgencyRow.parent_id == parent.id).where(AgencyRow.retired_at.is_(None))
    endpoints = select(EndpointRow, AgencyRow.code).join(AgencyRow, EndpointRow.agency_id == AgencyRow.id) \
        .where(EndpointRow.retired_at.is_(None))
    staff = select(StaffRow, AgencyRow.code).join(AgencyRow, StaffRow.agency_id == AgencyRow.id) \
        .where(StaffRow.retired_at.is_(None))
    if agency_ids is not None:
        agencies = agencies.where(AgencyRow.id.in_(agency_ids))
        endpoints = endpoints.where(EndpointRow.agency_id.in_(agency_ids))
        staff = staff.where(StaffRow.agency_id.in_(agency_ids))
    rows: list[tuple[str, str, str, str | None]] = [tuple(r) for r in session.execute(agencies)]  # type: ignore[misc]
    if agency_ids is not None:  # the top of a subtree keeps its parent only if that is exported too
        inside = {code for code, *_ in rows}
        rows = [(code, name, kind, up if up in inside else None) for code, name, kind, up in rows]
    order = _depths(rows)
    out_agencies = [dict(zip(AGENCY_COLUMNS, row, strict=True))
                    for row in sorted(rows, key=lambda r: (order[r[0]], r[0]))]
    out_endpoints = [{"code": e.code, "hostname": e.hostname, "ips": " ".join(e.ips or []), "mac": e.mac,
                      "os_family": e.os_family, "role": e.role, "owner": owner}
                     for e, owner in session.execute(endpoints.order_by(EndpointRow.code))]
    out_staff = [{"code": m.code, "agency": agency, "name": m.name, "is_head": m.is_head,
                  "awareness_date": m.awareness_date, "informed_date": m.informed_date,
                  "training_date": m.training_date}
                 for m, agency in session.execute(staff.order_by(StaffRow.code))]
    return {"agencies": out_agencies, "endpoints": out_endpoints, "staff": out_staff}


def _depths(rows: list[tuple[str, str, str, str | None]]) -> dict[str, int]:
    """Parents before children, so the file imports in one pass."""
    parent_of = {code: up for code, _, _, up in rows}
    depths: dict[str, int] = {}
    for code in parent_of:
        depth, current = 0, parent_of.get(code)
        while current is not None and depth < 64:
            depth, current = depth + 1, parent_of.get(current)
        depths[code] = depth
    return depths


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
    doc: dict[str, Any] = {"version": 1}
    for entity in COLUMNS:
        if entity in records:
            doc[entity] = [clean(r) for r in records[entity]]
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")


def write_register(records: dict[str, list[dict[str, Any]]], folder: Path, fmt: str) -> list[Path]:
    ensure_folder(folder)
    if fmt == "yaml":
        return [write_file(folder / "register.yaml", _yaml(records))]
    return [write_file(folder / f"{entity}.csv", _csv(records[entity], columns))
            for entity, columns in COLUMNS.items() if entity in records]
