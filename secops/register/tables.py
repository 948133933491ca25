"""The archive of annual reports sent: what went out, to whom, built from which register rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow


class SentReportRow(Base):
    """One generated report (one owner, one recipient): its files' hashes and the rows it holds."""

    __tablename__ = "sent_reports"
    __table_args__ = (Index("ix_sent_reports_year_owner", "year", "owner_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[dt.date]
    period_end: Mapped[dt.date]
    regime: Mapped[str] = mapped_column(String(40))
    owner_code: Mapped[str] = mapped_column(String(64))
    owner_name: Mapped[str] = mapped_column(String(300))
    summary: Mapped[bool] = mapped_column(Boolean, doc="the province (or subtree) summary, not one owner's report")
    recipient: Mapped[str] = mapped_column(String(20), doc="ministry | owner (the internal report)")
    recipient_name: Mapped[str] = mapped_column(String(300), doc='"Kính gửi" as printed')
    formats: Mapped[str] = mapped_column(String(60), doc="comma-separated, as written")
    files: Mapped[list[Any]] = mapped_column(doc="[{name, sha256, bytes}] of every file written")
    sha256: Mapped[str] = mapped_column(String(64), doc="sha256 of the file list (name and hash of each file)")
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(doc="the register rows, section 1 and 2 the report was built from")
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow, doc="when recorded (UTC)")
