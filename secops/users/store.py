"""Accounts, sign-in, sessions, API tokens and the audit log: every writer of the console tables.

The command line (`secops users`, `secops tokens`) and the web console call these functions; the
rules (lockout, idle lock, second factor, token scope) live here and in policies/console.yaml.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from secops.errors import SecopsError
from secops.i18n import _
from secops.store.base import utcnow
from secops.store.db import Database
from secops.users.policy import ConsolePolicy
from secops.users.tables import ROLES, AuditRow, SessionRow, TokenRow, UserRow

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")
MIN_PASSWORD = 12
TOKEN_PREFIX = "sco_"
TOUCH_EVERY = dt.timedelta(seconds=20)  # last use of a session or token is written at most this often


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- the console key: encrypts TOTP seeds so the database holds no usable secret ---------------
def key_path() -> Path:
    from secops.config import default_data_dir

    return Path(os.environ.get("SECOPS_CONSOLE_KEY_FILE") or default_data_dir() / "console.key")


def _fernet() -> Any:
    from cryptography.fernet import Fernet

    from secops.safeio import ensure_folder

    path = key_path()
    if not path.exists():
        ensure_folder(path.parent)
        # Not safeio.write_file (which replaces a file atomically): the key must never replace an
        # existing one, or every sealed seed is lost. O_EXCL: of two processes starting together,
        # one creates it and the other reads it; O_NOFOLLOW: no planted link is written through.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
                out.flush()
                os.fsync(out.fileno())
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return Fernet(handle.read().strip())


def seal(data: str) -> str:
    """Encrypt and authenticate with the console key (a short-lived browser value: sign-in state)."""
    return _seal(data)


def unseal(sealed: str, max_age_seconds: int) -> str | None:
    """`seal`'s value if it is authentic and younger than max_age_seconds; None otherwise."""
    from cryptography.fernet import InvalidToken

    try:
        return str(_fernet().decrypt(sealed.encode(), ttl=max_age_seconds).decode())
    except (InvalidToken, ValueError):
        return None


def _seal(secret: str) -> str:
    return str(_fernet().encrypt(secret.encode()).decode())


def _open(sealed: str) -> str:
    return str(_fernet().decrypt(sealed.encode()).decode())


# -- passwords ----------------------------------------------------------------------------------
def _hasher() -> Any:
    from argon2 import PasswordHasher  # argon2id by default

    return PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise SecopsError(_("password: at least {n} characters").format(n=MIN_PASSWORD))
    return str(_hasher().hash(password))


def _password_ok(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored:
        _hasher().hash("x" * MIN_PASSWORD)  # same work as a real check: no timing hint
        return False
    try:
        return bool(_hasher().verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


# -- audit log ----------------------------------------------------------------------------------
def audit(session: Session, actor: str, action: str, target: str, *, agency: str | None = None,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
          remote: str | None = None) -> None:
    """Append one entry in the caller's transaction: the change and its record commit together."""
    session.add(AuditRow(actor=actor[:100], action=action[:60], target=target[:300], agency_code=agency,
                         before=_jsonable(before), after=_jsonable(after), remote=remote))


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def user_view(row: UserRow) -> dict[str, Any]:
    """What the audit log keeps of an account (never its hash or seed)."""
    return {"name": row.name, "role": row.role, "agency": row.agency_code, "source": row.source,
            "mfa_enrolled": row.totp_enrolled, "disabled": row.disabled_at is not None}


# -- accounts -----------------------------------------------------------------------------------
def _check_name(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 100 or not set(name) <= NAME_CHARS:
        raise SecopsError(_("user name {name}: use 1-100 of a-z 0-9 . _ - @").format(name=repr(name)))
    return name


def _check_scope(session: Session, role: str, agency: str | None) -> None:
    from secops.inventory.upsert import agency_ids

    if role not in ROLES:
        raise SecopsError(_("--role {role}: use one of {roles}").format(role=repr(role), roles=", ".join(ROLES)))
    if role == "agency-officer" and not agency:
        raise SecopsError(_("--agency: an agency officer needs the agency code it works for"))
    if agency is not None and agency not in agency_ids(session):
        raise SecopsError(_("--agency {agency}: no such agency in the inventory").format(agency=repr(agency)))


def add_user(db: Database, name: str, role: str, agency: str | None, password: str | None, *,
             actor: str, source: str = "local") -> UserRow:
    name = _check_name(name)
    hashed = hash_password(password) if password is not None else None
    with db.session() as session:
        _check_scope(session, role, agency)
        if session.scalars(select(UserRow).where(UserRow.name == name)).first() is not None:
            raise SecopsError(_("user {name} already exists").format(name=repr(name)))
        row = UserRow(name=name, role=role, agency_code=agency, source=source, password_hash=hashed,
                      totp_enrolled=False, failed_count=0)
        session.add(row)
        session.flush()
        audit(session, actor, "user.add", f"user:{name}", agency=agency, after=user_view(row))
        return row


def oidc_account(db: Database, name: str, role: str, agency: str | None) -> int:
    """The account of a single sign-on user whose ID token the console has verified and mapped:
    made at the first sign-in (source oidc, no password), its role and agency kept to the mapping
    (a change audited). A local or LDAP account of the same name is not taken over; a disabled one
    stays refused."""
    name = _check_name(name)
    with db.session() as session:
        _check_scope(session, role, agency)
        row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
        if row is None:
            row = UserRow(name=name, role=role, agency_code=agency, source="oidc", password_hash=None,
                          totp_enrolled=False, failed_count=0)
            session.add(row)
            session.flush()
            audit(session, "oidc", "user.add", f"user:{name}", agency=agency, after=user_view(row))
            return row.id
        if row.source != "oidc":
            raise SecopsError(_("user {name} is a {source} account; single sign-on does not take it over").format(
                name=repr(name), source=row.source))
        if row.disabled_at is not None:
            raise SecopsError(_("user {name} is disabled").format(name=repr(name)))
        if (row.role, row.agency_code) != (role, agency):
            before = user_view(row)
            row.role, row.agency_code = role, agency
            session.flush()
            audit(session, "oidc", "user.role", f"user:{name}", agency=agency, before=before, after=user_view(row))
        return row.id


def get_user(session: Session, name: str) -> UserRow:
    row = session.scalars(select(UserRow).where(UserRow.name == name.strip().lower())).first()
    if row is None:
        raise SecopsError(_("user {name}: no such user").format(name=repr(name)))
    return row


def list_users(db: Database) -> list[UserRow]:
    with db.session() as session:
        return list(session.scalars(select(UserRow).order_by(UserRow.name)))


def end_sessions(session: Session, user_id: int, reason: str) -> int:
    return int(session.execute(update(SessionRow).where(SessionRow.user_id == user_id, SessionRow.ended_at.is_(None))
                               .values(ended_at=utcnow(), ended_reason=reason)).rowcount)  # type: ignore[attr-defined]


def disable_user(db: Database, name: str, *, actor: str) -> int:
    """Disable the account and end its sessions at once; returns the sessions ended."""
    with db.session() as session:
        row = get_user(session, name)
        before = user_view(row)
        row.disabled_at = row.disabled_at or utcnow()
        ended = end_sessions(session, row.id, "user disabled")
        audit(session, actor, "user.disable", f"user:{row.name}", agency=row.agency_code, before=before,
              after=user_view(row))
        return ended


def reset_mfa(db: Database, name: str, *, actor: str) -> None:
    """Forget the TOTP seed: the user enrols again at the next sign-in; sessions end."""
    with db.session() as session:
        row = get_user(session, name)
        before = user_view(row)
        row.totp_secret, row.totp_enrolled, row.totp_last_step = None, False, None
        end_sessions(session, row.id, "mfa reset")
        audit(session, actor, "user.reset-mfa", f"user:{row.name}", agency=row.agency_code, before=before,
              after=user_view(row))


# -- sign-in ------------------------------------------------------------------------------------
@dataclass
class SignIn:
    ok: bool
    user_id: int | None = None
    reason: str = ""  # bad_credentials | locked | disabled


def check_password(db: Database, name: str, password: str, policy: ConsolePolicy, *,
                   remote: str | None = None, ldap_ok: bool | None = None) -> SignIn:
    """One sign-in attempt. Counts failures; locks the account for lockout_minutes after
    lockout_failures in a row; a locked or disabled account is refused even with the right password.
    ldap_ok: the result of an LDAP bind already made for an LDAP account (None for local ones).

    The password is checked outside any transaction, and the count is one atomic UPDATE
    (failed_count + 1): attempts arriving together, on threads or on several workers, each count."""
    now = utcnow()
    with db.session() as session:
        row = session.scalars(select(UserRow).where(UserRow.name == name.strip().lower())).first()
        if row is None:
            stored, source, user_id = None, "local", None
        else:
            if row.disabled_at is not None:
                return SignIn(False, reason="disabled")
            if row.locked_until is not None and row.locked_until > now:
                return SignIn(False, reason="locked")
            stored, source, user_id = row.password_hash, row.source, row.id
    if user_id is None:
        _password_ok(None, password)
        return SignIn(False, reason="bad_credentials")
    good = ldap_ok if source == "ldap" else _password_ok(stored, password)
    if not good:
        _count_failure(db, user_id, policy, remote=remote)
        return SignIn(False, reason="bad_credentials")
    with db.session() as session:  # unless a failure beside this one locked it meanwhile
        done = session.execute(update(UserRow).where(UserRow.id == user_id, or_(UserRow.locked_until.is_(None),
                                                                                 UserRow.locked_until <= utcnow()))
                               .values(failed_count=0, locked_until=None))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return SignIn(False, reason="locked")
    return SignIn(True, user_id=user_id)


def _count_failure(db: Database, user_id: int, policy: ConsolePolicy, *, remote: str | None) -> bool:
    """One failed attempt counted atomically; the attempt that reaches lockout_failures locks the
    account (its count back to 0, audited once). True when this attempt locked it."""
    with db.session() as session:
        count = session.execute(update(UserRow).where(UserRow.id == user_id)
                                .values(failed_count=func.coalesce(UserRow.failed_count, 0) + 1)
                                .returning(UserRow.failed_count)).scalar_one()
        if count < policy.lockout_failures:
            return False
        locked_until = utcnow() + dt.timedelta(minutes=policy.lockout_minutes)
        done = session.execute(update(UserRow).where(UserRow.id == user_id,
                                                     UserRow.failed_count >= policy.lockout_failures)
                               .values(locked_until=locked_until, failed_count=0))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return False  # another attempt reached the count first and locked it
        row = session.get(UserRow, user_id)
        assert row is not None
        audit(session, "system", "user.locked", f"user:{row.name}", agency=row.agency_code,
              after={"locked_until": locked_until}, remote=remote)
        return True


def second_factor_failed(db: Database, user_id: int, policy: ConsolePolicy, *, remote: str | None = None) -> bool:
    """A wrong TOTP code counts as a failed sign-in; True when the account is now locked (its
    sessions then end)."""
    with db.session() as session:
        if session.get(UserRow, user_id) is None:
            return True
    if not _count_failure(db, user_id, policy, remote=remote):
        with db.session() as session:  # locked by an attempt beside this one: as locked
            row = session.get(UserRow, user_id)
            if row is None or row.locked_until is None or row.locked_until <= utcnow():
                return False
    with db.session() as session:
        end_sessions(session, user_id, "locked")
    return True


# -- TOTP ---------------------------------------------------------------------------------------
def start_enrolment(db: Database, user_id: int, issuer: str) -> str:
    """A new seed for a user not yet enrolled; returns the otpauth:// URI to show once."""
    import pyotp

    with db.session() as session:
        row = session.get(UserRow, user_id)
        if row is None or row.totp_enrolled:
            raise SecopsError(_("already enrolled"))
        secret = pyotp.random_base32()
        row.totp_secret = _seal(secret)
        return str(pyotp.TOTP(secret).provisioning_uri(name=row.name, issuer_name=issuer))


def enrolment_secret(db: Database, user_id: int) -> str | None:
    with db.session() as session:
        row = session.get(UserRow, user_id)
        if row is None or row.totp_secret is None or row.totp_enrolled:
            return None
        return _open(row.totp_secret)


def verify_totp(db: Database, user_id: int, code: str, *, enrol: bool = False, actor: str | None = None) -> bool:
    """A 6-digit code for now (±1 step); a step already used is refused (no replay): the step is
    taken by one conditional UPDATE, so the same code posted twice at once (two workers) passes once."""
    import pyotp

    code = code.strip()
    if not (len(code) == 6 and code.isdigit()):
        return False
    with db.session() as session:
        row = session.get(UserRow, user_id)
        if row is None or row.totp_secret is None or row.totp_enrolled == enrol:
            return False
        totp = pyotp.TOTP(_open(row.totp_secret))
    step_now = totp.timecode(utcnow())
    for offset in (0, -1, 1):
        step = step_now + offset
        if secrets.compare_digest(totp.generate_otp(step), code):
            with db.session() as session:
                taken = session.execute(update(UserRow).where(
                    UserRow.id == user_id, UserRow.totp_enrolled == (not enrol),
                    or_(UserRow.totp_last_step.is_(None), UserRow.totp_last_step < step))
                    .values(totp_last_step=step))
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    return False  # replay of a code (or an older one) already accepted
                if enrol:
                    row = session.get(UserRow, user_id)
                    assert row is not None
                    before = user_view(row)
                    row.totp_enrolled = True
                    audit(session, actor or row.name, "user.enrol-mfa", f"user:{row.name}", agency=row.agency_code,
                          before=before, after=user_view(row))
            return True
    return False


# -- sessions -----------------------------------------------------------------------------------
@dataclass
class Current:
    session_id: int
    user_id: int
    name: str
    role: str
    agency: str | None
    csrf: str
    mfa_passed: bool
    mfa_enrolled: bool


def open_session(db: Database, user_id: int, *, previous: str | None = None, mfa_passed: bool = False
                 ) -> tuple[str, str]:
    """A new session id at every sign-in (the one before, if any, ends): returns (cookie, csrf)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with db.session() as session:
        if previous:
            session.execute(update(SessionRow).where(SessionRow.digest == digest(previous), SessionRow.ended_at.is_(None))
                            .values(ended_at=utcnow(), ended_reason="rotated"))
        session.add(SessionRow(digest=digest(token), user_id=user_id, csrf=csrf, mfa_passed=mfa_passed))
    return token, csrf


_SESSION_BY_DIGEST = (select(SessionRow.id, SessionRow.created_at, SessionRow.last_seen_at, SessionRow.ended_at,
                             SessionRow.csrf, SessionRow.mfa_passed, UserRow.id, UserRow.name, UserRow.role,
                             UserRow.agency_code, UserRow.disabled_at, UserRow.totp_enrolled)
                      .join(UserRow, SessionRow.user_id == UserRow.id)
                      .where(SessionRow.digest == bindparam("digest")))


def current(db: Database, token: str | None, policy: ConsolePolicy) -> Current | None:
    """The live session of this cookie, its last use touched; None when absent, ended, idle or
    too old (an idle or too old session is ended here). One indexed read (the digest's unique index,
    joined to the user: a disabled user's sessions are refused at once), columns only, no ORM objects;
    a write only to end a session or, at most every TOUCH_EVERY, to touch it."""
    if not token:
        return None
    now = utcnow()
    with db.engine.connect() as conn:
        found = conn.execute(_SESSION_BY_DIGEST, {"digest": digest(token)}).first()
        if found is None:
            return None
        (session_id, created_at, last_seen_at, ended_at, csrf, mfa_passed, user_id, name, role, agency,
         disabled_at, enrolled) = found
        if ended_at is not None:
            return None
        reason = None
        if disabled_at is not None:
            reason = "user disabled"
        elif now - last_seen_at > dt.timedelta(minutes=policy.idle_minutes):
            reason = "idle"
        elif now - created_at > dt.timedelta(hours=policy.session_max_hours):
            reason = "expired"
        if reason:
            conn.execute(update(SessionRow).where(SessionRow.id == session_id, SessionRow.ended_at.is_(None))
                         .values(ended_at=now, ended_reason=reason))
            conn.commit()
            return None
        if now - last_seen_at > TOUCH_EVERY:  # not a write per request: the idle lock's grain is a minute
            conn.execute(update(SessionRow).where(SessionRow.id == session_id).values(last_seen_at=now))
            conn.commit()
        return Current(session_id, user_id, name, role, agency, csrf, mfa_passed, enrolled)


def pass_mfa(db: Database, token: str) -> tuple[str, str]:
    """The second factor passed: the session id changes again (rotation at each privilege step)."""
    with db.session() as session:
        row = session.scalars(select(SessionRow).where(SessionRow.digest == digest(token))).one()
        user_id = row.user_id
    return open_session(db, user_id, previous=token, mfa_passed=True)


def close_session(db: Database, token: str, reason: str = "signed out") -> None:
    with db.session() as session:
        session.execute(update(SessionRow).where(SessionRow.digest == digest(token), SessionRow.ended_at.is_(None))
                        .values(ended_at=utcnow(), ended_reason=reason))


# -- API tokens ---------------------------------------------------------------------------------
def add_token(db: Database, name: str, agency: str | None, *, actor: str) -> str:
    """A new token, shown once; only its digest is kept."""
    from secops.inventory.upsert import agency_ids

    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        if agency is not None and agency not in agency_ids(session):
            raise SecopsError(_("--agency {agency}: no such agency in the inventory").format(agency=repr(agency)))
        row = TokenRow(name=name[:100], agency_code=agency, digest=digest(token), prefix=token[:12])
        session.add(row)
        session.flush()
        audit(session, actor, "token.add", f"token:{row.id}", agency=agency,
              after={"name": row.name, "agency": agency, "prefix": row.prefix})
    return token


def list_tokens(db: Database) -> list[TokenRow]:
    with db.session() as session:
        return list(session.scalars(select(TokenRow).order_by(TokenRow.id)))


def revoke_token(db: Database, token_id: int, *, actor: str) -> None:
    with db.session() as session:
        row = session.get(TokenRow, token_id)
        if row is None:
            raise SecopsError(_("token {id}: no such token").format(id=token_id))
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit(session, actor, "token.revoke", f"token:{row.id}", agency=row.agency_code,
                  before={"revoked": False}, after={"revoked": True})


_TOKEN_BY_DIGEST = select(TokenRow.id, TokenRow.agency_code, TokenRow.revoked_at, TokenRow.last_used_at).where(
    TokenRow.digest == bindparam("digest"))


def token_scope(db: Database, token: str) -> tuple[int, str | None] | None:
    """(token id, agency scope) of a live token; None for an unknown or revoked one. Read from the
    database on every request (a revocation holds at once): one indexed read of columns, a write at
    most every TOUCH_EVERY."""
    with db.engine.connect() as conn:
        found = conn.execute(_TOKEN_BY_DIGEST, {"digest": digest(token)}).first()
        if found is None or found.revoked_at is not None:
            return None
        now = utcnow()
        if found.last_used_at is None or now - found.last_used_at > TOUCH_EVERY:
            conn.execute(update(TokenRow).where(TokenRow.id == found.id).values(last_used_at=now))
            conn.commit()
        return found.id, found.agency_code
