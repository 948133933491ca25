"""Core ORM tables: inventory, protection evidence, runs and per-run grades.

Feature stages keep their tables in their own modules (discover/tables.py, collect/tables.py,
schedule/tables.py); all share Base so one Alembic history covers them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from secops.store.base import Base, utcnow


class AgencyRow(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    retired_at: Mapped[dt.date | None] = mapped_column(doc="retired from this date on (kept for history)")
    retired_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[AgencyRow | None] = relationship(remote_side=[id])


class SystemRow(Base):
    __tablename__ = "information_systems"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    level: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(30))
    approval_decision: Mapped[str | None] = mapped_column(String(120))
    approval_date: Mapped[dt.date | None]
    approved_by: Mapped[str | None] = mapped_column(String(30))
    plan_deployed_date: Mapped[dt.date | None]
    last_inspection_date: Mapped[dt.date | None]
    retired_at: Mapped[dt.date | None] = mapped_column(doc="retired from this date on (kept for history)")
    retired_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Level-dossier register (Decree 331/2026 Form 08). `level` is the approved level and
    # `state` the former lifecycle state, kept in step with these fields for older readers.
    operator: Mapped[str | None] = mapped_column(String(300))
    proposed_level: Mapped[int | None] = mapped_column(Integer)
    approval_status: Mapped[str] = mapped_column(String(30), default="not_started", index=True)
    approval_body: Mapped[str | None] = mapped_column(String(300))
    regulation_decision: Mapped[str | None] = mapped_column(String(120))
    regulation_date: Mapped[dt.date | None]
    regulation_body: Mapped[str | None] = mapped_column(String(300))
    expected_approval_date: Mapped[dt.date | None]
    plan_deployment: Mapped[str] = mapped_column(String(20), default="not_deployed", index=True)
    expected_deployment_date: Mapped[dt.date | None]

    agency: Mapped[AgencyRow] = relationship()
    assessments: Mapped[list[AssessmentRow]] = relationship(back_populates="system", cascade="all, delete-orphan",
                                                              order_by="AssessmentRow.date")


class AssessmentRow(Base):
    """A security assessment of an information system (before operation, periodic, ad hoc)."""

    __tablename__ = "system_assessments"
    __table_args__ = (UniqueConstraint("system_id", "kind", "date", name="uq_assessment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("information_systems.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    date: Mapped[dt.date]
    assessor: Mapped[str] = mapped_column(String(300))
    independent: Mapped[bool] = mapped_column(Boolean, default=False)
    report_ref: Mapped[str | None] = mapped_column(String(200))

    system: Mapped[SystemRow] = relationship(back_populates="assessments")


class EndpointRow(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    ips: Mapped[list[Any]] = mapped_column(default=list)
    mac: Mapped[str | None] = mapped_column(String(17), index=True)
    os_family: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(doc="last time discovery saw the host")
    retired_at: Mapped[dt.date | None] = mapped_column(doc="retired from this date on (kept for history)")
    retired_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    agency: Mapped[AgencyRow] = relationship()


class EvidenceRow(Base):
    """One dated observation of an endpoint's protection; the newest valid one wins in grading."""

    __tablename__ = "protection_evidence"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "source", "observed_at", name="uq_evidence_observation"),
        Index("ix_evidence_endpoint_time", "endpoint_id", "observed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    product: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    observed_at: Mapped[dt.datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    # From console exports: the console's own words, and central management facts.
    console_status: Mapped[str | None] = mapped_column(String(200))
    centrally_managed: Mapped[bool | None] = mapped_column(Boolean)
    reports_to_national_platform: Mapped[bool | None] = mapped_column(Boolean)


class StaffRow(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)
    awareness_date: Mapped[dt.date | None]
    informed_date: Mapped[dt.date | None]
    training_date: Mapped[dt.date | None]
    retired_at: Mapped[dt.date | None] = mapped_column(doc="retired from this date on (kept for history)")
    retired_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MetaRow(Base):
    """Facts about the database itself (e.g. that it holds the synthetic sample province)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    """One execution of secops (manual command or scheduled job); results hang off it."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), doc="grade | discover | audit | job | import")
    trigger: Mapped[str] = mapped_column(String(20), default="manual", doc="manual | schedule")
    job_name: Mapped[str | None] = mapped_column(String(100))
    agency_code: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None]
    as_of: Mapped[dt.datetime | None] = mapped_column(doc="reference time for evidence age")
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    report_dir: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer, doc="process that runs it; for interrupted detection")

    grades: Mapped[list[GradeRow]] = relationship(back_populates="run", cascade="all, delete-orphan")


class GradeRow(Base):
    """One target graded for one agency (its whole subtree) in one run."""

    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("run_id", "target_id", "agency_code", name="uq_grade_cell"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[str] = mapped_column(String(40))
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    numerator: Mapped[int]
    denominator: Mapped[int]
    unknown: Mapped[int] = mapped_column(default=0)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[str] = mapped_column(String(20))
    comparison: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    gap: Mapped[int | None]

    run: Mapped[RunRow] = relationship(back_populates="grades")
