"""Flatten the store into the records that target filters are evaluated on.

Endpoint protection is derived here, once, from evidence: the newest observation at or before
the as-of time decides; evidence older than the target's max age makes the endpoint `unknown`
(never `protected`), and so does having no evidence at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.models import ProtectionStatus
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, StaffRow, SystemRow


@dataclass(frozen=True)
class AgencyNode:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None


@dataclass
class Facts:
    as_of: dt.datetime
    agencies: dict[int, AgencyNode]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def protection_of(evidence: EvidenceRow | None, as_of: dt.datetime, max_age_days: int | None) -> dict[str, Any]:
    """Protection status of one endpoint from its newest evidence, with the reason for it."""
    if evidence is None:
        return {"protection": ProtectionStatus.unknown.value, "protection_reason": "no evidence",
                "product": None, "evidence_source": None, "observed_at": None}
    base = {"product": evidence.product, "evidence_source": evidence.source,
            "observed_at": evidence.observed_at, "protection": evidence.status,
            "protection_reason": evidence.detail or ""}
    if max_age_days is not None and as_of - evidence.observed_at > dt.timedelta(days=max_age_days):
        age = (as_of - evidence.observed_at).days
        base.update(protection=ProtectionStatus.unknown.value,
                    protection_reason=f"evidence too old: {age} days (max {max_age_days}), was {evidence.status}")
    return base


def newest_evidence(session: Session, as_of: dt.datetime) -> dict[int, EvidenceRow]:
    newest: dict[int, EvidenceRow] = {}
    rows = session.scalars(select(EvidenceRow).where(EvidenceRow.observed_at <= as_of)
                           .order_by(EvidenceRow.endpoint_id, EvidenceRow.observed_at, EvidenceRow.id))
    for row in rows:
        newest[row.endpoint_id] = row  # ordered ascending, so the last one seen is the newest
    return newest


def load_agencies(session: Session) -> dict[int, AgencyNode]:
    return {row.id: AgencyNode(row.id, row.code, row.name, row.kind, row.parent_id)
            for row in session.scalars(select(AgencyRow).order_by(AgencyRow.id))}


def load_facts(session: Session, as_of: dt.datetime, evidence_max_age_days: int | None) -> Facts:
    facts = Facts(as_of=as_of, agencies=load_agencies(session))
    facts.records["systems"] = [
        {"agency_id": s.agency_id, "code": s.code, "name": s.name, "level": s.level, "state": s.state,
         "approved_by": s.approved_by, "approval_date": s.approval_date,
         "plan_deployed_date": s.plan_deployed_date, "last_inspection_date": s.last_inspection_date,
         "approval_status": s.approval_status, "plan_deployment": s.plan_deployment,
         "proposed_level": s.proposed_level}
        for s in session.scalars(select(SystemRow).order_by(SystemRow.code))
    ]
    evidence = newest_evidence(session, as_of)
    facts.records["endpoints"] = [
        {"agency_id": e.agency_id, "code": e.code, "hostname": e.hostname, "ips": e.ips, "mac": e.mac,
         "os_family": e.os_family, "role": e.role, "last_seen": e.last_seen,
         **protection_of(evidence.get(e.id), as_of, evidence_max_age_days)}
        for e in session.scalars(select(EndpointRow).order_by(EndpointRow.code))
    ]
    facts.records["staff"] = [
        {"agency_id": s.agency_id, "code": s.code, "is_head": s.is_head, "awareness_date": s.awareness_date,
         "informed_date": s.informed_date, "training_date": s.training_date}
        for s in session.scalars(select(StaffRow).order_by(StaffRow.code))
    ]
    return facts
