"""Plan deployment of a system from its checklist, unless an officer overrode it (with a reason).

fully_deployed: every applicable item met (not_applicable items aside);
partly_deployed: some met or partly met; not_deployed: none, or no checklist at all.
Overdue counts as not met: an activity not repeated in time is not deployed any more.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.requirements.checklist import Entry
from secops.requirements.tables import PlanOverrideRow

DEPLOYMENT = ("not_deployed", "partly_deployed", "fully_deployed")


@dataclass(frozen=True)
class Deployment:
    computed: str
    value: str  # what reports use: the override when there is one
    met: int
    applicable: int
    override_reason: str | None = None
    override_by: str | None = None
    override_at: dt.datetime | None = None


def computed(entries: list[Entry]) -> tuple[str, int, int]:
    counted = [e for e in entries if e.status != "not_applicable"]
    met = sum(e.status == "met" for e in counted)
    if counted and met == len(counted):
        return "fully_deployed", met, len(counted)
    if any(e.status in ("met", "partly_met") for e in counted):
        return "partly_deployed", met, len(counted)
    return "not_deployed", met, len(counted)


def latest_override(session: Session, system_id: int, as_of: dt.datetime) -> PlanOverrideRow | None:
    return session.scalars(select(PlanOverrideRow)
                           .where(PlanOverrideRow.system_id == system_id, PlanOverrideRow.recorded_at <= as_of)
                           .order_by(PlanOverrideRow.recorded_at.desc(), PlanOverrideRow.id.desc()).limit(1)).first()


def latest_overrides(session: Session, system_ids: list[int], as_of: dt.datetime) -> dict[int, PlanOverrideRow]:
    """latest_override of many systems in one query (systems without one are left out)."""
    found: dict[int, PlanOverrideRow] = {}
    for start in range(0, len(system_ids), 5000):
        for row in session.scalars(select(PlanOverrideRow)
                                   .where(PlanOverrideRow.system_id.in_(system_ids[start:start + 5000]),
                                          PlanOverrideRow.recorded_at <= as_of)
                                   .order_by(PlanOverrideRow.recorded_at.desc(), PlanOverrideRow.id.desc())):
            found.setdefault(row.system_id, row)  # newest first: the first row of a system is its latest
    return found


def deployment(session: Session, system_id: int, entries: list[Entry], as_of: dt.datetime,
               overrides: dict[int, PlanOverrideRow] | None = None) -> Deployment:
    """overrides: latest_overrides of a set of systems holding this one (else read here)."""
    value, met, applicable = computed(entries)
    override = overrides.get(system_id) if overrides is not None else latest_override(session, system_id, as_of)
    if override is None or override.value is None:
        return Deployment(value, value, met, applicable)
    return Deployment(value, override.value, met, applicable, override.reason, override.recorded_by,
                      override.recorded_at)
