"""Schedule tables: named schedules and APScheduler's job store.

`apscheduler_jobs` is APScheduler's own table (SQLAlchemyJobStore). It is declared here with exactly
the columns APScheduler uses and created by our Alembic migration, so the schema has one owner:
APScheduler's `create(checkfirst=True)` at start then finds it and does nothing, and Alembic
autogenerate sees it in the metadata and never proposes to drop it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Column, Float, ForeignKey, LargeBinary, String, Table, Text, Unicode, true
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow

JOBSTORE_TABLE = "apscheduler_jobs"


class ScheduleRow(Base):
    """A named schedule: when (cron or fixed interval) to run which job, for which agency."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cron: Mapped[str | None] = mapped_column(String(120), doc="5 fields, or 6 with seconds first")
    every_seconds: Mapped[int | None] = mapped_column(doc="fixed interval instead of cron")
    job: Mapped[str] = mapped_column(String(64), doc="job name in policies/jobs.yaml")
    agency_code: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="lang and stage-specific options")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(),
                                          doc="false: kept, but the daemon does not run it")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# APScheduler 3.x SQLAlchemyJobStore layout (191 = InnoDB utf8mb4 key limit; Float(25) = 8-byte float).
apscheduler_jobs = Table(
    JOBSTORE_TABLE,
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class RunRequestRow(Base):
    """Work asked for by the console (a run, an evidence import, a regrade), done by the daemon (requests.py)."""

    __tablename__ = "run_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), doc="grade, schedule or import")
    schedule: Mapped[str | None] = mapped_column(String(64))
    agency_code: Mapped[str | None] = mapped_column(String(64), index=True, doc="whose work (an import)")
    params: Mapped[dict[str, Any] | None] = mapped_column(doc="an import's spooled file and options")
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True,
                                        doc="queued|started|done|failed")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
