"""A system's checklist at an as-of time: each applicable item with its status, evidence and due date.

Status per item, newest statement wins between the officer's latest row and secops' own evidence:
- automated evidence (evidence.py) gives met / partly_met / not_met with a link to the run;
- an officer row gives any status, with a document reference or a run as evidence;
- "met" whose evidence is older than the level's interval (or, for automated items without a
  frequency, the catalogue's evidence age) becomes "overdue": the activity must be done again;
- nothing at all is "not_met" with "no evidence".
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.requirements import evidence
from secops.requirements.catalogue import Catalogue, Group, Item
from secops.requirements.tables import RequirementStatusRow, SystemHostRow
from secops.store.tables import EndpointRow, SystemRow

STATUSES = ("met", "partly_met", "not_met", "not_applicable", "overdue")
OFFICER_STATUSES = ("met", "partly_met", "not_met", "not_applicable")
NEEDS_MILESTONE = ("partly_met", "not_met")


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class Entry:
    group: Group
    item: Item
    clause: str
    status: str
    source: str  # officer | secops | none
    evidence: str | None = None
    evidence_date: dt.date | None = None
    run_id: int | None = None
    responsible_unit: str | None = None
    milestone: dt.date | None = None
    note: str | None = None
    due: dt.date | None = None
    interval_months: int | None = None
    minimum_months: int | None = None
    detail: str = ""
    clause_checked: bool = True  # False: the clause number at this level is derived, to verify

    @property
    def open(self) -> bool:
        """Counts against deployment: not met, partly met or overdue."""
        return self.status in ("not_met", "partly_met", "overdue")


def system_hosts(session: Session, system_id: int) -> list[EndpointRow]:
    return list(session.scalars(select(EndpointRow).join(SystemHostRow, SystemHostRow.endpoint_id == EndpointRow.id)
                                .where(SystemHostRow.system_id == system_id).order_by(EndpointRow.code)))


def latest_rows(session: Session, system_id: int, standard: str, as_of: dt.datetime) -> dict[str, RequirementStatusRow]:
    rows = session.scalars(select(RequirementStatusRow)
                           .where(RequirementStatusRow.system_id == system_id,
                                  RequirementStatusRow.standard == standard,
                                  RequirementStatusRow.recorded_at <= as_of)
                           .order_by(RequirementStatusRow.recorded_at, RequirementStatusRow.id))
    return {row.item_id: row for row in rows}  # later rows overwrite earlier: newest wins


class Prefetched:
    """What the checklists of many systems read, fetched once (`secops report`: every system with a
    level): each system's hosts and latest officer rows, the hosts audited by then, the discovery
    scans. checklist(..., prefetched=) gives the same entries as without it (one query per item)."""

    def __init__(self, session: Session, system_ids: list[int], standard: str, as_of: dt.datetime) -> None:
        self.as_of, self.standard = as_of, standard
        self.hosts: dict[int, list[EndpointRow]] = {system_id: [] for system_id in system_ids}
        self.rows: dict[int, dict[str, RequirementStatusRow]] = {system_id: {} for system_id in system_ids}
        for start in range(0, len(system_ids), 5000):
            chunk = system_ids[start:start + 5000]
            for system_id, host in session.execute(
                    select(SystemHostRow.system_id, EndpointRow)
                    .join(SystemHostRow, SystemHostRow.endpoint_id == EndpointRow.id)
                    .where(SystemHostRow.system_id.in_(chunk)).order_by(EndpointRow.code)):
                self.hosts[system_id].append(host)
            for row in session.scalars(select(RequirementStatusRow)
                                       .where(RequirementStatusRow.system_id.in_(chunk),
                                              RequirementStatusRow.standard == standard,
                                              RequirementStatusRow.recorded_at <= as_of)
                                       .order_by(RequirementStatusRow.recorded_at, RequirementStatusRow.id)):
                self.rows[row.system_id][row.item_id] = row  # later rows overwrite earlier: newest wins
        self.audited = evidence.audited_hosts(session, sorted({h.id for hosts in self.hosts.values()
                                                               for h in hosts}), as_of)
        self._scans: list[tuple[Any, dt.datetime, int]] | None = None

    def scans(self, session: Session) -> list[tuple[Any, dt.datetime, int]]:
        if self._scans is None:
            self._scans = evidence.discovery_scans(session, self.as_of)
        return self._scans


def _automated(session: Session, item: Item, level: int, hosts: list[EndpointRow],
               as_of: dt.datetime, prefetched: Prefetched | None = None) -> evidence.Observation | None:
    refs = item.checks_for(level)
    audited = prefetched.audited if prefetched is not None else None
    if "run:discover" in refs:
        return evidence.from_discovery(session, hosts, as_of, prefetched.scans(session) if prefetched else None)
    if "run:audit" in refs:
        return evidence.from_audit_runs(session, hosts, as_of, audited)
    if "evidence:protection" in refs:
        return evidence.from_protection(session, hosts, as_of)
    return evidence.from_checks(session, hosts, refs, as_of, audited) if refs else None


def _due(evidence_date: dt.date | None, interval: int | None, max_age_days: int | None) -> dt.date | None:
    if evidence_date is None:
        return None
    if interval is not None:
        return add_months(evidence_date, interval)
    return evidence_date + dt.timedelta(days=max_age_days) if max_age_days else None


def build_entry(session: Session, cat: Catalogue, item: Item, level: int, hosts: list[EndpointRow],
                row: RequirementStatusRow | None, as_of: dt.datetime, prefetched: Prefetched | None = None) -> Entry:
    interval = item.frequency_months.get(level)
    entry = Entry(group=cat.group_of(item.id), item=item, clause=cat.clause(item, level), status="not_met",
                  source="none", interval_months=interval, minimum_months=item.minimum_months.get(level),
                  detail="no evidence", clause_checked=item.clause_checked(level))
    seen = _automated(session, item, level, hosts, as_of, prefetched) if item.is_automated else None
    if seen is not None and (row is None or row.recorded_at <= seen.observed_at):
        entry.status, entry.source, entry.run_id, entry.detail = seen.status, "secops", seen.run_id, seen.detail
        entry.evidence_date = seen.observed_at.date()
        entry.evidence = f"run {seen.run_id}" if seen.run_id else None
        entry.due = _due(entry.evidence_date, interval, cat.standard.evidence_max_age_days)
    elif row is not None:
        entry.status, entry.source, entry.detail = row.status, "officer", ""
        entry.evidence, entry.run_id, entry.note = row.evidence, row.run_id, row.note
        entry.evidence_date = row.evidence_date or (row.recorded_at.date() if row.status == "met" else None)
        entry.due = _due(entry.evidence_date, interval, None)
    if row is not None:  # who answers for it and by when, whatever the evidence source
        entry.responsible_unit, entry.milestone = row.responsible_unit, row.milestone
    if entry.status == "met" and entry.due is not None and entry.due < as_of.date():
        entry.status = "overdue"
        entry.detail = (entry.detail + "; " if entry.detail else "") + f"last done {entry.evidence_date}"
    return entry


def checklist(session: Session, system: SystemRow, cat: Catalogue, as_of: dt.datetime,
              level: int | None = None, prefetched: Prefetched | None = None) -> list[Entry]:
    """The system's checklist under a catalogue; empty when the system has no level. prefetched:
    the same, read from a Prefetched of this standard and as-of time holding the system."""
    level = level if level is not None else system.level
    if level is None:
        return []
    if prefetched is not None and (prefetched.standard != cat.standard.id or prefetched.as_of != as_of
                                   or system.id not in prefetched.hosts):
        raise ValueError("prefetched for another standard, time or set of systems")
    hosts = prefetched.hosts[system.id] if prefetched else system_hosts(session, system.id)
    rows = prefetched.rows[system.id] if prefetched else latest_rows(session, system.id, cat.standard.id, as_of)
    return [build_entry(session, cat, item, level, hosts, rows.get(item.id), as_of, prefetched)
            for item in cat.applicable(level)]
