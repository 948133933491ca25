"""The reference grader: the whole province loaded into Python records and counted one by one.

Every earlier release graded this way; `secops grade` now counts in the database (secops/grade/sql.py)
and the report lists what to fix with SQL (secops/report/fixlist.py). The tests compare both with this
reference on generated provinces, so it lives with the tests, not in the product.

Endpoint protection is derived here, once, from evidence: the newest observation at or before the as-of
time decides; evidence older than the target's max age makes the endpoint `unknown` (never `protected`),
and so does having no evidence at all. Dates after the as-of time (a training recorded later, a plan
deployed later) are ignored, and so are the states they date (approved, fully deployed: grade/dated.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.grade.dated import UNKNOWN_STATE, record_then
from secops.grade.engine import Counts, GradeCell, cells_from_counts
from secops.grade.sources import protection_from
from secops.inventory.retire import active_on
from secops.inventory.tree import AgencyNode, load_agencies
from secops.report.fixlist import FixItem
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, StaffRow, SystemRow
from secops.targets import Target, TargetPolicy


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


# Filters: a policy filter (field -> condition) against one flat record.


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def condition_holds(value: Any, cond: Any, as_of: dt.date) -> bool:
    if isinstance(cond, dict):
        if cond.get("not_null") and value is None:
            return False
        if cond.get("is_null") and value is not None:
            return False
        if "within_days" in cond:
            day = _as_date(value)
            if day is None or (as_of - day).days > int(cond["within_days"]):
                return False
        return True
    if isinstance(cond, list):
        return value in cond
    return value == cond


def matches(record: dict[str, Any], flt: dict[str, Any] | None, as_of: dt.date) -> bool:
    return all(condition_holds(record.get(field), cond, as_of) for field, cond in (flt or {}).items())


def own_counts(target: Target, facts: Facts) -> dict[int, Counts]:
    as_of = facts.as_of.date()
    counts: dict[int, Counts] = defaultdict(Counts)
    for record in facts.records[target.entity]:
        if not matches(record, target.denominator, as_of):
            continue
        slot = counts[record["agency_id"]]
        slot.denominator += 1
        if matches(record, target.numerator, as_of):
            slot.numerator += 1
        elif target.unknown and matches(record, target.unknown, as_of):
            slot.unknown += 1
    return counts


def grade(policy: TargetPolicy, facts: Facts) -> list[GradeCell]:
    """The reference grader in Python over loaded facts; `secops grade` counts in SQL (grade/sql.py)."""
    return cells_from_counts(policy, {t.id: own_counts(t, facts) for t in policy.targets}, facts.agencies)


def reference_fix_items(policy: TargetPolicy, facts: Facts, in_scope: set[int]) -> list[FixItem]:
    """The fix lists from loaded facts: the reference that tests compare report/fixlist.py with."""
    as_of = facts.as_of.date()
    items: list[FixItem] = []
    for target in policy.targets:
        for record in facts.records[target.entity]:
            if record["agency_id"] not in in_scope or not matches(record, target.denominator, as_of):
                continue
            if matches(record, target.numerator, as_of):
                continue
            agency = facts.agencies[record["agency_id"]]
            items.append(_fix_item(target.id, target.entity, agency, record, sorted(target.numerator)))
    return sorted(items, key=_urgency)


PROTECTION_URGENCY = {"unprotected": 0, "degraded": 1, "unknown": 2}


def _urgency(item: FixItem) -> tuple[str, int, str, str]:
    """Most urgent first within a target: unprotected before unknown endpoints, higher levels first."""
    if item.entity == "endpoints":
        rank = PROTECTION_URGENCY.get(item.status, 3)
    elif item.entity == "systems":
        rank = -(item.detail.get("level") or 0)
    else:
        rank = 0
    return (item.target_id, rank, item.agency_code, item.code)


def _fix_item(target_id: str, entity: str, agency: AgencyNode, record: dict[str, Any], fields: list[str]) -> FixItem:
    if entity == "systems":
        label, status = record["name"], record["state"] or UNKNOWN_STATE
        reason, detail = "", {"level": record["level"]}
    elif entity == "endpoints":
        label, status = record["hostname"], record["protection"]
        reason = record["protection_reason"]
        detail = {"ips": record["ips"], "product": record["product"], "source": record["evidence_source"],
                  "observed_at": record["observed_at"].isoformat() if record["observed_at"] else None}
    else:
        label, status, detail = record["code"], "missing " + ", ".join(fields), {}
        reason = ""
    return FixItem(target_id=target_id, entity=entity, agency_code=agency.code, agency_name=agency.name,
                   code=record["code"], label=label, status=status, reason=reason, detail=detail)
