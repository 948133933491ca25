"""Write validated inventory models to the store, upserting by code (re-import is idempotent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from secops.models import Agency, Assessment, Endpoint, InformationSystem, StaffMember
from secops.store.base import Base
from secops.store.tables import AgencyRow, AssessmentRow, EndpointRow, EvidenceRow, StaffRow, SystemRow


class Tally(BaseModel):
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _apply(row: Base, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _upsert(session: Session, table: type[Base], items: list[tuple[str, dict[str, Any]]]) -> Tally:
    tally = Tally()
    codes = [code for code, _ in items]
    existing = {}
    for chunk in range(0, len(codes), 500):  # stay under SQLite's bound-parameter limit
        part = codes[chunk:chunk + 500]
        existing.update({r.code: r for r in session.scalars(select(table).where(table.code.in_(part)))})  # type: ignore[attr-defined]
    for code, values in items:
        row = existing.get(code)
        if row is None:
            session.add(table(code=code, **values))
            tally.inserted += 1
        elif _apply(row, values):
            tally.updated += 1
        else:
            tally.unchanged += 1
    session.flush()
    return tally


def agency_ids(session: Session) -> dict[str, int]:
    return dict(session.execute(select(AgencyRow.code, AgencyRow.id)).all())


def _depth(code: str, parents: dict[str, str | None]) -> int:
    depth, current = 0, parents.get(code)
    while current is not None and depth < 64:
        depth, current = depth + 1, parents.get(current)
    return depth


def upsert_agencies(session: Session, agencies: Sequence[Agency]) -> Tally:
    parents = {a.code: a.parent for a in agencies}
    tally = Tally()
    # Parents first, so every child finds its parent's id.
    for agency in sorted(agencies, key=lambda a: _depth(a.code, parents)):
        ids = agency_ids(session) if agency.parent else {}
        step = _upsert(session, AgencyRow, [(agency.code, {
            "name": agency.name, "kind": agency.kind,
            "parent_id": ids.get(agency.parent) if agency.parent else None})])
        tally = Tally(**{k: getattr(tally, k) + getattr(step, k) for k in Tally.model_fields})
    return tally


def upsert_systems(session: Session, systems: Sequence[InformationSystem]) -> Tally:
    ids = agency_ids(session)
    return _upsert(session, SystemRow, [(s.code, {
        "name": s.name, "agency_id": ids[s.owner], "level": s.level,
        "state": s.state.value if s.state else "unclassified",
        "approval_decision": s.approval_decision, "approval_date": s.approval_date,
        "approved_by": s.approved_by.value if s.approved_by else None,
        "plan_deployed_date": s.plan_deployed_date, "last_inspection_date": s.last_inspection_date,
        **{name: getattr(s, name) for name in REGISTER_TEXT},
        "approval_status": s.approval_status.value, "plan_deployment": s.plan_deployment.value,
    }) for s in systems])


# Register fields copied as they are (enums are handled beside them).
REGISTER_TEXT = ("operator", "proposed_level", "approval_body", "regulation_decision", "regulation_date",
                 "regulation_body", "expected_approval_date", "expected_deployment_date")


def upsert_assessments(session: Session, assessments: Sequence[Assessment]) -> Tally:
    """Assessments keyed by (system, kind, date): re-importing a file changes nothing."""
    tally = Tally()
    if not assessments:
        return tally
    system_ids = dict(session.execute(select(SystemRow.code, SystemRow.id)).all())
    existing = {(r.system_id, r.kind, r.date): r for r in session.scalars(
        select(AssessmentRow).where(AssessmentRow.system_id.in_({system_ids[a.system] for a in assessments})))}
    for item in assessments:
        key = (system_ids[item.system], item.kind.value, item.date)
        values = {"assessor": item.assessor, "independent": item.independent, "report_ref": item.report_ref}
        row = existing.get(key)
        if row is None:
            session.add(AssessmentRow(system_id=key[0], kind=key[1], date=key[2], **values))
            tally.inserted += 1
        elif _apply(row, values):
            tally.updated += 1
        else:
            tally.unchanged += 1
    session.flush()
    return tally


def upsert_endpoints(session: Session, endpoints: Sequence[Endpoint], run_id: int | None = None) -> Tally:
    ids = agency_ids(session)
    tally = _upsert(session, EndpointRow, [(e.code, {
        "hostname": e.hostname, "ips": list(e.ips), "mac": e.mac, "os_family": e.os_family.value,
        "role": e.role.value, "agency_id": ids[e.owner],
    }) for e in endpoints])
    add_inventory_evidence(session, endpoints, run_id)
    return tally


def add_inventory_evidence(session: Session, endpoints: Sequence[Endpoint], run_id: int | None) -> int:
    """Evidence declared in the inventory, added once per (endpoint, source, observed_at)."""
    with_evidence = [e for e in endpoints if e.protection is not None]
    if not with_evidence:
        return 0
    endpoint_ids = dict(session.execute(select(EndpointRow.code, EndpointRow.id)).all())
    keys = {(endpoint_ids[e.code], e.protection.source.value, e.protection.observed_at)  # type: ignore[union-attr]
            for e in with_evidence}
    seen: set[tuple[int, str, Any]] = set()
    key_list = sorted(keys, key=lambda k: (k[0], k[1]))
    for chunk in range(0, len(key_list), 300):
        part = key_list[chunk:chunk + 300]
        rows = session.execute(select(EvidenceRow.endpoint_id, EvidenceRow.source, EvidenceRow.observed_at)
                               .where(tuple_(EvidenceRow.endpoint_id, EvidenceRow.source).in_([k[:2] for k in part])))
        seen.update((eid, src, obs) for eid, src, obs in rows)
    added = 0
    for endpoint in with_evidence:
        ev = endpoint.protection
        assert ev is not None
        key = (endpoint_ids[endpoint.code], ev.source.value, ev.observed_at)
        if key in seen:
            continue
        seen.add(key)
        session.add(EvidenceRow(endpoint_id=key[0], status=ev.status.value, product=ev.product,
                                source=ev.source.value, observed_at=ev.observed_at, detail=ev.detail, run_id=run_id))
        added += 1
    session.flush()
    return added


def upsert_staff(session: Session, staff: Sequence[StaffMember]) -> Tally:
    ids = agency_ids(session)
    return _upsert(session, StaffRow, [(s.code, {
        "agency_id": ids[s.agency], "name": s.name, "is_head": s.is_head, "awareness_date": s.awareness_date,
        "informed_date": s.informed_date, "training_date": s.training_date,
    }) for s in staff])
