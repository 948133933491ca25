"""Tables of the console: accounts, server-side sessions, API tokens, the audit log.

No secret is stored in the clear: passwords as argon2id hashes, session ids and API tokens as
SHA-256 digests, TOTP seeds encrypted with the console key (a file outside the database).
The audit log is append-only: the ORM refuses updates and deletes, and the migration adds database
triggers that refuse them too (any client, not only secops).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from secops.store.base import Base, utcnow

ROLES = ("province-officer", "agency-officer", "leader", "auditor")


class UserRow(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(30))
    agency_code: Mapped[str | None] = mapped_column(String(64), doc="scope: this agency's subtree; null = province")
    source: Mapped[str] = mapped_column(String(10), default="local", doc="local, ldap or oidc")
    password_hash: Mapped[str | None] = mapped_column(Text, doc="argon2id; null for LDAP accounts")
    totp_secret: Mapped[str | None] = mapped_column(Text, doc="TOTP seed encrypted with the console key")
    totp_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, doc="last accepted time step (no replay)")
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SessionRow(Base):
    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True, doc="SHA-256 of the cookie's value")
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(40))


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    agency_code: Mapped[str | None] = mapped_column(String(64), doc="scope: this agency's subtree; null = province")
    digest: Mapped[str] = mapped_column(String(64), unique=True, doc="SHA-256 of the token")
    prefix: Mapped[str] = mapped_column(String(12), doc="first characters, to tell tokens apart")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), doc="user name, 'cli:<os user>' or 'system'")
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(300))
    agency_code: Mapped[str | None] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    remote: Mapped[str | None] = mapped_column(String(64))


class AuditLogIsAppendOnly(Exception):
    pass


@event.listens_for(AuditRow, "before_update")
@event.listens_for(AuditRow, "before_delete")
def _refuse(*_args: Any) -> None:
    raise AuditLogIsAppendOnly("the audit log is append-only")
