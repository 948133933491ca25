"""remote_tasks: every task the central side sent to a site, and what became of it.

The row is written before the task is sent, so a result is only ever stored for a task this
database dispatched, and it is marked `stored` in the same transaction as the result's rows: a
redelivered or re-read result finds it `stored` and is not stored twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow


class RemoteTaskRow(Base):
    __tablename__ = "remote_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(128), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32), doc="discover | audit")
    agency_code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="sent",
                                        doc="sent | stored | refused | failed | no_scanner | unreachable | timeout")
    scanner: Mapped[str | None] = mapped_column(String(255), doc="the scanner that answered")
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()


class ScannerKeyRow(Base):
    """A site's enrolled public key: results of that site are accepted only when signed by its private key."""

    __tablename__ = "scanner_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(Text, doc="'ed25519 BASE64' (public: never a private key)")
    fingerprint: Mapped[str] = mapped_column(String(80))
    enrolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
