"""Write validated inventory models to the store, upserting by code (re-import is idempotent).

New rows are written with `secops.store.bulk.insert_rows` (COPY on PostgreSQL, Core `insert()`
executemany of BATCH rows elsewhere) and changed rows with ORM bulk `update()` executemany, inside
the caller's transaction: still all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from secops.models import (
    Agency,
    Assessment,
    Endpoint,
    EndpointRole,
    EvidenceSource,
    InformationSystem,
    OSFamily,
    ProtectionStatus,
    StaffMember,
)
from secops.store.base import Base, utcnow
from secops.store.bulk import in_keys, insert_rows
from secops.store.tables import AgencyRow, AssessmentRow, EndpointRow, EvidenceRow, StaffRow, SystemRow

BATCH = 5000  # rows per executemany
LOOKUP = 500  # codes per IN (...): stays under SQLite's bound-parameter limit
PG_LOOKUP = 20_000  # codes per `= ANY(:array)` on PostgreSQL (one bound parameter)


def _lookup_size(session: Session) -> int:
    return PG_LOOKUP if session.get_bind().dialect.name == "postgresql" else LOOKUP


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


def _existing(session: Session, table: type[Base], codes: list[str], fields: list[str]) -> dict[str, Any]:
    """code -> (id, *fields) of the rows already stored, as plain tuples (no ORM objects)."""
    columns = [table.id, *(getattr(table, f) for f in fields)]  # type: ignore[attr-defined]
    code_column = table.code  # type: ignore[attr-defined]
    found: dict[str, Any] = {}
    size = _lookup_size(session)
    for chunk in range(0, len(codes), size):
        rows = session.execute(select(code_column, *columns)
                               .where(in_keys(session, code_column, codes[chunk:chunk + size])))
        found.update((row[0], tuple(row[1:])) for row in rows)
    return found


def _batches(rows: list[dict[str, Any]]) -> Any:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def _upsert(session: Session, table: type[Base], items: list[tuple[str, dict[str, Any]]],
            inserted_codes: set[str] | None = None) -> Tally:
    tally = Tally()
    if not items:
        return tally
    fields = list(items[0][1])
    existing = _existing(session, table, [code for code, _ in items], fields)
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    now = utcnow()
    for code, values in items:
        stored = existing.get(code)
        if stored is None:
            new.append({"code": code, **values})
        elif any(old != values[f] for f, old in zip(fields, stored[1:], strict=True)):
            changed.append({"id": stored[0], **values, "updated_at": now})
        else:
            tally.unchanged += 1
    insert_rows(session, table, new, batch=BATCH)  # COPY on PostgreSQL, Core executemany elsewhere
    for batch in _batches(changed):
        session.execute(update(table), batch)  # ORM bulk UPDATE by primary key
    if inserted_codes is not None:
        inserted_codes.update(row["code"] for row in new)
    tally.inserted, tally.updated = len(new), len(changed)
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
    new: list[dict[str, Any]] = []
    for item in assessments:
        key = (system_ids[item.system], item.kind.value, item.date)
        values = {"assessor": item.assessor, "independent": item.independent, "report_ref": item.report_ref}
        row = existing.get(key)
        if row is None:  # the same key twice in one file: the uniqueness constraint refuses it, as ever
            new.append({"system_id": key[0], "kind": key[1], "date": key[2], **values})
            tally.inserted += 1
        elif _apply(row, values):
            tally.updated += 1
        else:
            tally.unchanged += 1
    session.flush()
    insert_rows(session, AssessmentRow, new, batch=BATCH)  # one batch, not one INSERT per row
    return tally


# Enum member -> its value by dict (Enum.value is a descriptor call per row: measurable at 1M rows).
_VALUES: dict[Any, str] = {m: m.value for enum in (OSFamily, EndpointRole, ProtectionStatus, EvidenceSource)
                           for m in enum}


def upsert_endpoints(session: Session, endpoints: Sequence[Endpoint], run_id: int | None = None) -> Tally:
    ids = agency_ids(session)
    inserted: set[str] = set()
    tally = _upsert(session, EndpointRow, [(e.code, {
        "hostname": e.hostname, "ips": list(e.ips), "mac": e.mac, "os_family": _VALUES[e.os_family],
        "role": _VALUES[e.role], "agency_id": ids[e.owner],
    }) for e in endpoints], inserted)
    add_inventory_evidence(session, endpoints, run_id, new_endpoints=inserted)
    return tally


def _endpoint_ids(session: Session, codes: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    size = _lookup_size(session)
    for chunk in range(0, len(codes), size):
        rows = session.execute(select(EndpointRow.code, EndpointRow.id)
                               .where(in_keys(session, EndpointRow.code, codes[chunk:chunk + size])))
        found.update((code, endpoint_id) for code, endpoint_id in rows)
    return found


def add_inventory_evidence(session: Session, endpoints: Sequence[Endpoint], run_id: int | None,
                           new_endpoints: set[str] | None = None) -> int:
    """Evidence declared in the inventory, added once per (endpoint, source, observed_at).

    Endpoints inserted by this same import (new_endpoints) cannot have stored evidence yet, so
    only the others are looked up.
    """
    with_evidence = [e for e in endpoints if e.protection is not None]
    if not with_evidence:
        return 0
    endpoint_ids = _endpoint_ids(session, [e.code for e in with_evidence])
    new = new_endpoints or set()
    keys = {(endpoint_ids[e.code], _VALUES[e.protection.source], e.protection.observed_at)  # type: ignore[union-attr]
            for e in with_evidence if e.code not in new}
    seen: set[tuple[int, str, Any]] = set()
    key_list = sorted(keys, key=lambda k: (k[0], k[1]))
    for chunk in range(0, len(key_list), 300):
        part = key_list[chunk:chunk + 300]
        rows = session.execute(select(EvidenceRow.endpoint_id, EvidenceRow.source, EvidenceRow.observed_at)
                               .where(tuple_(EvidenceRow.endpoint_id, EvidenceRow.source).in_([k[:2] for k in part])))
        seen.update((eid, src, obs) for eid, src, obs in rows)
    rows_to_add: list[dict[str, Any]] = []
    for endpoint in with_evidence:
        ev = endpoint.protection
        assert ev is not None
        key = (endpoint_ids[endpoint.code], _VALUES[ev.source], ev.observed_at)
        if key in seen:
            continue
        seen.add(key)
        rows_to_add.append({"endpoint_id": key[0], "status": _VALUES[ev.status], "product": ev.product,
                            "source": key[1], "observed_at": ev.observed_at, "detail": ev.detail,
                            "run_id": run_id})
    insert_rows(session, EvidenceRow, rows_to_add, batch=BATCH)
    return len(rows_to_add)


def upsert_staff(session: Session, staff: Sequence[StaffMember]) -> Tally:
    ids = agency_ids(session)
    return _upsert(session, StaffRow, [(s.code, {
        "agency_id": ids[s.agency], "name": s.name, "is_head": s.is_head, "awareness_date": s.awareness_date,
        "informed_date": s.informed_date, "training_date": s.training_date,
    }) for s in staff])
