"""Waiver requests: an agency asks to accept a failing check for its own subtree; the province
approves (the waiver is then added to the waiver file exactly as `secops waivers add` adds it) or
rejects, with a reason. The request is validated by the same Waiver model as the file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from secops.errors import SecopsError
from secops.evaluate.waivers import Waiver, WaiverScope, load_waivers, save_waivers
from secops.localtime import local_today
from secops.store.base import Base, utcnow
from secops.store.db import Database


class WaiverRequestRow(Base):
    __tablename__ = "waiver_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    check: Mapped[str] = mapped_column(String(200))
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    expires: Mapped[dt.date]
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="pending", doc="pending|approved|rejected")
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)


def _waiver(check: str, agency: str, reason: str, approver: str, expires: dt.date, today: dt.date) -> Waiver:
    if expires <= today:
        raise SecopsError(f"expires {expires}: the date has passed; a waiver must end in the future")
    try:
        return Waiver(check=check, scope=WaiverScope(agencies=[agency]), reason=reason, approver=approver,
                      expires=expires, created=today)
    except ValidationError as exc:
        why = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SecopsError(f"waiver for {check!r}: {why}") from exc


def parse_date(text: str, field: str = "expires") -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise SecopsError(f"{field} {text!r}: give a date as YYYY-MM-DD") from exc


def request_waiver(session: Session, check: str, agency: str, reason: str, expires: dt.date,
                   requested_by: str, today: dt.date | None = None) -> WaiverRequestRow:
    """TODAY is the province's date (default: localtime.local_today() in the bundled zone; the console
    passes its policies' date): a waiver ends on the province's calendar."""
    waiver = _waiver(check, agency, reason, "(pending)", expires, today or local_today())
    row = WaiverRequestRow(check=waiver.check, agency_code=agency, reason=waiver.reason, expires=expires,
                           requested_by=requested_by)
    session.add(row)
    session.flush()
    return row


def decide(session: Session, request_id: int, approve: bool, approver: str, reason: str,
           waivers_file: Path, today: dt.date | None = None, expires: dt.date | None = None) -> WaiverRequestRow:
    """Approve (the waiver goes into the file, expiry as asked or shortened) or reject a pending request."""
    row = session.get(WaiverRequestRow, request_id)
    if row is None:
        raise SecopsError(f"waiver request {request_id}: no such request")
    if row.status != "pending":
        raise SecopsError(f"waiver request {request_id} is already {row.status}")
    if not reason.strip():
        raise SecopsError("reason: say why the request is approved or rejected")
    if approve:
        until = expires or row.expires
        waiver = _waiver(row.check, row.agency_code, f"{row.reason} — {reason.strip()}", approver, until,
                         today or local_today())
        save_waivers(waivers_file, [*load_waivers(waivers_file), waiver])
        row.expires = until
    row.status = "approved" if approve else "rejected"
    row.decided_by, row.decided_at, row.decision_reason = approver, utcnow(), reason.strip()
    return row


def requests_for(db: Database, agency_codes: set[str] | None, limit: int = 200) -> list[WaiverRequestRow]:
    with db.session() as session:
        query = select(WaiverRequestRow).order_by(WaiverRequestRow.id.desc()).limit(limit)
        if agency_codes is not None:
            query = query.where(WaiverRequestRow.agency_code.in_(agency_codes))
        return list(session.scalars(query))
