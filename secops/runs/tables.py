"""Run bookkeeping tables: the stages of each run and the database leases (see lock.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow


class RunStageRow(Base):
    """One stage of a job run, with its own status, so a run's history shows where it went wrong."""

    __tablename__ = "run_stages"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_run_stage_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    stage: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), doc="running|ok|partial|failed|unavailable|skipped|interrupted")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)


class LockRow(Base):
    """A lease: `owner` holds `name` until `expires_at` unless it renews it (see lock.py)."""

    __tablename__ = "scheduler_locks"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    acquired_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
