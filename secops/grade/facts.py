"""Flatten the store into the records that target filters are evaluated on.

Endpoint protection is derived here, once, from evidence: the newest observation at or before
the as-of time decides; evidence older than the target's max age makes the endpoint `unknown`
(never `protected`), and so does having no evidence at all. Dates after the as-of time (a training
recorded later, a plan deployed later) are ignored, and so are the states they date (approved,
fully deployed: grade/dated.py): a past as-of date grades what was true then.

This is the reference implementation: `secops grade` counts in the database (grade/sql.py), and
tests compare the two on generated provinces.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.grade.dated import record_then
from secops.grade.sources import protection_from
from secops.inventory.retire import active_on
from secops.inventory.tree import AgencyNode, load_agencies
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, StaffRow, SystemRow


@dataclass
class Facts:
    as_of: dt.datetime
    agencies: dict[int, AgencyNode]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def protection_of(evidence: EvidenceRow | None, as_of: dt.datetime, max_age_days: int | None) -> dict[str, Any]:
    """Protection status of one endpoint from its newest evidence, with the reason for it."""
    if evidence is None:
        return protection_from(None, None, None, None, None, as_of, max_age_days)
    return protection_from(evidence.status, evidence.product, evidence.source, evidence.observed_at,
                           evidence.detail, as_of, max_age_days)


def known_then(value: Any, as_of: dt.datetime) -> Any:
    """A date or time after the as-of time was not true then: grading as of a past date ignores it."""
    if isinstance(value, dt.datetime):
        return None if value > as_of else value
    if isinstance(value, dt.date):
        return None if value > as_of.date() else value
    return value


def _then(record: dict[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    return {key: known_then(value, as_of) for key, value in record.items()}


def newest_evidence(session: Session, as_of: dt.datetime) -> dict[int, EvidenceRow]:
    newest: dict[int, EvidenceRow] = {}
    rows = session.scalars(select(EvidenceRow).where(EvidenceRow.observed_at <= as_of)
                           .order_by(EvidenceRow.endpoint_id, EvidenceRow.observed_at, EvidenceRow.id))
    for row in rows:
        newest[row.endpoint_id] = row  # ordered ascending, so the last one seen is the newest
    return newest


def _active_records(table: Any, day: dt.date) -> Any:
    """A record counts when neither it nor its agency is retired on or before `day`."""
    return select(table).join(AgencyRow, AgencyRow.id == table.agency_id) \
        .where(active_on(table, day), active_on(AgencyRow, day))


def load_facts(session: Session, as_of: dt.datetime, evidence_max_age_days: int | None) -> Facts:
    day = as_of.date()
    facts = Facts(as_of=as_of, agencies=load_agencies(session, day))
    facts.records["systems"] = [_then(record_then(
        {"agency_id": s.agency_id, "code": s.code, "name": s.name, "level": s.level, "state": s.state,
         "approved_by": s.approved_by, "approval_date": s.approval_date,
         "plan_deployed_date": s.plan_deployed_date, "last_inspection_date": s.last_inspection_date,
         "approval_status": s.approval_status, "plan_deployment": s.plan_deployment,
         "proposed_level": s.proposed_level}, as_of), as_of)
        for s in session.scalars(_active_records(SystemRow, day).order_by(SystemRow.code))
    ]
    evidence = newest_evidence(session, as_of)
    facts.records["endpoints"] = [
        {"agency_id": e.agency_id, "code": e.code, "hostname": e.hostname, "ips": e.ips, "mac": e.mac,
         "os_family": e.os_family, "role": e.role, "last_seen": known_then(e.last_seen, as_of),
         **protection_of(evidence.get(e.id), as_of, evidence_max_age_days)}
        for e in session.scalars(_active_records(EndpointRow, day).order_by(EndpointRow.code))
    ]
    facts.records["staff"] = [_then(
        {"agency_id": s.agency_id, "code": s.code, "is_head": s.is_head, "awareness_date": s.awareness_date,
         "informed_date": s.informed_date, "training_date": s.training_date}, as_of)
        for s in session.scalars(_active_records(StaffRow, day).order_by(StaffRow.code))
    ]
    return facts
