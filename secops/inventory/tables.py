"""Reorganisation records: which agencies were merged or split into which, and from when.

A row links a predecessor (retired) to its successor; a merge has several predecessors for one
successor, a split one predecessor for several successors. Reports name predecessors from here
and trends sum their stored grades before the effective date.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow


class AgencyLinkRow(Base):
    __tablename__ = "agency_links"
    __table_args__ = (UniqueConstraint("predecessor_id", "successor_id", name="uq_agency_link"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    predecessor_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    successor_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), doc="merge | split")
    effective_date: Mapped[dt.date]
    source: Mapped[str | None] = mapped_column(Text, doc="mapping file it came from")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
