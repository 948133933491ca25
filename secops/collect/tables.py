"""Audit results per run: one row per audited host, one row per check evaluated on it.

Remediation text and titles are copied into the rows so a run's results stay readable even
after a check pack changes (history is never rewritten).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from secops.store.base import Base


class AuditHostRow(Base):
    __tablename__ = "audit_hosts"
    # Per-host detail: retention drops it for old runs; check results cascade. Evidence rows stay.
    __table_args__ = {"info": {"retention": "detail"}}

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id", ondelete="SET NULL"), index=True)
    endpoint_code: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255))
    transport: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), doc="ok | error")
    error_kind: Mapped[str | None] = mapped_column(String(30), doc="host key | unreachable | auth | no credentials ...")
    message: Mapped[str | None] = mapped_column(Text)
    os_info: Mapped[str | None] = mapped_column(Text)
    protection: Mapped[str] = mapped_column(String(20))
    product: Mapped[str | None] = mapped_column(String(200))
    protection_detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]
    round_trips: Mapped[int] = mapped_column(Integer, default=0)
    policies: Mapped[list[Any]] = mapped_column(default=list, doc="per-policy summary: counts, score, n/a reason")

    checks: Mapped[list[CheckResultRow]] = relationship(back_populates="host", cascade="all, delete-orphan",
                                                          order_by="CheckResultRow.id")


class CheckResultRow(Base):
    __tablename__ = "audit_check_results"
    __table_args__ = (Index("ix_audit_check_host_result", "host_id", "result"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("audit_hosts.id", ondelete="CASCADE"))
    policy_id: Mapped[str] = mapped_column(String(100))
    check_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(20), doc="passed | failed | not_applicable | error")
    reason: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(String(10), doc="only where the pack gives one")
    serves: Mapped[list[Any]] = mapped_column(default=list)
    remediation: Mapped[str | None] = mapped_column(Text)
    rationale: Mapped[str | None] = mapped_column(Text)
    compliance: Mapped[dict[str, Any] | None] = mapped_column(doc="framework -> references (cis, nist_800_53...)")
    evidence: Mapped[str | None] = mapped_column(Text, doc="what decided a failed / n/a check: bounded, redacted")

    host: Mapped[AuditHostRow] = relationship(back_populates="checks")
