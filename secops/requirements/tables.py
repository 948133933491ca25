"""Checklist tables: which endpoints make up a system, officers' status rows (appended, never
edited: the newest row up to a date wins, so any past date can be graded again), plan-deployment
overrides, and what a protection console says about central management (2026 rules).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow


class SystemHostRow(Base):
    """An endpoint that is part of an information system (its servers, its users' machines)."""

    __tablename__ = "system_hosts"

    system_id: Mapped[int] = mapped_column(ForeignKey("information_systems.id", ondelete="CASCADE"),
                                           primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequirementStatusRow(Base):
    """One officer statement about one requirement of one system; later rows supersede earlier ones."""

    __tablename__ = "requirement_status"
    __table_args__ = (Index("ix_requirement_status_lookup", "system_id", "standard", "item_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("information_systems.id", ondelete="CASCADE"))
    standard: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), doc="met | partly_met | not_met | not_applicable")
    evidence: Mapped[str | None] = mapped_column(Text, doc="document reference typed by the officer")
    evidence_date: Mapped[dt.date | None] = mapped_column(doc="when the activity was done (for frequencies)")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True,
                                               doc="a secops run given as evidence")
    responsible_unit: Mapped[str | None] = mapped_column(String(200))
    milestone: Mapped[dt.date | None] = mapped_column(doc="remediation deadline when not (fully) met")
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), doc="cli | import | sample")
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlanOverrideRow(Base):
    """An officer's override of the computed plan deployment, with the reason (value None clears it)."""

    __tablename__ = "plan_deployment_overrides"
    __table_args__ = (Index("ix_plan_override_lookup", "system_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("information_systems.id", ondelete="CASCADE"))
    value: Mapped[str | None] = mapped_column(String(20), doc="not_deployed | partly_deployed | fully_deployed")
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProtectionManagementRow(Base):
    """Central management and national-platform reporting of an endpoint's protection, when known.

    Nullable on purpose: None means "nobody told us", which reports show as unknown, never as no.
    """

    __tablename__ = "protection_management"
    __table_args__ = (Index("ix_protection_management_endpoint_time", "endpoint_id", "observed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    observed_at: Mapped[dt.datetime]
    centrally_managed: Mapped[bool | None] = mapped_column(Boolean)
    reports_national: Mapped[bool | None] = mapped_column(Boolean, doc="reports to the national malware platform")
    console: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20), doc="import | audit | sample")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
