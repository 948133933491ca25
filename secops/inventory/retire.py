"""Retire inventory records: they stay in the store with their history and leave grading.

A retired record has `retired_at` (a date) and `retired_reason`. Grading as of a date on or after
`retired_at` ignores it; grades recorded before stay as they were. Retiring an agency retires its
whole subtree and every record it owns, so no active record is left under a retired agency.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from secops.errors import SecopsError
from secops.store.tables import AgencyRow, EndpointRow, StaffRow, SystemRow
from secops.textsafe import printable

Entity = Literal["agencies", "systems", "endpoints", "staff"]
TABLES: dict[str, Any] = {"agencies": AgencyRow, "systems": SystemRow, "endpoints": EndpointRow, "staff": StaffRow}
MAX_REASON = 500


def today() -> dt.date:
    """The day records are active on for audits and discovery (UTC, as grading's default)."""
    return dt.datetime.now(dt.UTC).date()


def active_on(table: Any, day: dt.date) -> Any:
    """Records not retired on or before `day` (retired ones keep their history but stop counting)."""
    return or_(table.retired_at.is_(None), table.retired_at > day)


def retired_note(session: Session, table: Any, code: str, day: dt.date | None = None) -> str | None:
    """"retired on D: reason" for a record of that code retired on or before day, else None."""
    row = session.execute(select(table.retired_at, table.retired_reason).where(table.code == code)).first()
    if row is None or row.retired_at is None or row.retired_at > (day or today()):
        return None
    return f"retired on {row.retired_at.isoformat()}: {printable(row.retired_reason or '') or 'no reason given'}"


def check_reason(reason: str) -> str:
    reason = (printable(reason) or "").strip()
    if not reason:
        raise SecopsError("--reason: say why the record is retired (it is kept in the history)")
    if len(reason) > MAX_REASON:
        raise SecopsError(f"--reason: at most {MAX_REASON} characters")
    return reason


def active_subtree(session: Session, root_id: int) -> list[int]:
    """Ids of the agency and its active descendants (bounded by the number of agencies)."""
    rows = session.execute(select(AgencyRow.id, AgencyRow.parent_id).where(AgencyRow.retired_at.is_(None))).all()
    children: dict[int | None, list[int]] = {}
    for agency_id, parent_id in rows:
        children.setdefault(parent_id, []).append(agency_id)
    out, stack, seen = [], [root_id], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        out.append(current)
        stack.extend(children.get(current, []))
    return out


def retire_records(session: Session, table: Any, where: Any, on: dt.date, reason: str) -> int:
    count = 0
    for row in session.scalars(select(table).where(where, table.retired_at.is_(None))):
        row.retired_at, row.retired_reason = on, reason
        count += 1
    return count


def retire(session: Session, entity: Entity, code: str, reason: str, on: dt.date) -> dict[str, int]:
    """Retire one record (an agency with everything under it); returns counts per entity, {} if already retired."""
    if entity not in TABLES:
        raise SecopsError(f"KIND must be one of {', '.join(TABLES)}, not {entity!r}")
    table = TABLES[entity]
    row = session.scalar(select(table).where(table.code == code))
    if row is None:
        raise SecopsError(f"{entity}: {code!r} is not in the inventory")
    if row.retired_at is not None:
        return {}
    reason = check_reason(reason)
    if entity != "agencies":
        return {entity: retire_records(session, table, table.id == row.id, on, reason)}
    ids = active_subtree(session, row.id)
    counts = {name: retire_records(session, t, t.agency_id.in_(ids), on, reason)
              for name, t in TABLES.items() if name != "agencies"}
    counts["agencies"] = retire_records(session, AgencyRow, AgencyRow.id.in_(ids), on, reason)
    session.flush()
    return counts
