"""Leases in the database, so that daemons sharing a database never double-run a job.

A lease is a row (name, owner, expires_at) in `scheduler_locks`. Taking or renewing it is ONE
conditional statement: `UPDATE ... SET owner=me, expires_at=now+ttl WHERE name=N AND (owner=me
OR expires_at < now OR owner=<a dead process on this host>)`, or an INSERT when no row exists
(the primary key makes a concurrent second INSERT fail). The database serialises these statements
(SQLite: one writer at a time; PostgreSQL/MySQL: the row lock and the primary key), so at any moment
at most one owner holds an unexpired lease.

Guarantee (documented in the README): while the holder keeps renewing (it does so every poll,
well within the lease), nobody else can take the lease. If the holder dies, another process takes
over once the lease expires, or at once when the dead holder was on the same host (its pid is
gone). The guarantee assumes the hosts' clocks agree to well within the lease time (NTP); a
holder frozen for longer than its lease (SIGSTOP, a suspended VM) may find on waking that another
took over; it re-checks its lease before it starts any new run, but a stage already in progress
finishes.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
from dataclasses import dataclass

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from secops.runs.tables import LockRow
from secops.store.base import utcnow
from secops.store.db import Database

_TOKEN = secrets.token_hex(4)


def this_host() -> str:
    return socket.gethostname()


def process_owner(role: str = "daemon") -> str:
    """host:pid:token:role; the token tells apart two processes that reused one pid."""
    return f"{this_host()}:{os.getpid()}:{_TOKEN}:{role}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def owner_is_dead(owner: str) -> bool:
    """True only when we can tell for sure: the owner ran on this host and its process is gone."""
    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != this_host() or not parts[1].isdigit():
        return False
    return not pid_alive(int(parts[1]))


@dataclass
class Holder:
    owner: str
    acquired_at: dt.datetime
    expires_at: dt.datetime


class Lease:
    def __init__(self, db: Database, name: str, owner: str, seconds: float):
        self.db, self.name, self.owner, self.seconds = db, name, owner, seconds

    def acquire(self) -> bool:
        """Take or renew the lease; False when someone else holds it."""
        now = utcnow()
        expires = now + dt.timedelta(seconds=self.seconds)
        holder = self.holder()
        takeable = [LockRow.owner == self.owner, LockRow.expires_at < now]
        if holder is not None and holder.owner != self.owner and owner_is_dead(holder.owner):
            takeable.append(LockRow.owner == holder.owner)  # compare-and-swap on the dead owner
        with self.db.session() as session:
            result = session.execute(
                update(LockRow).where(LockRow.name == self.name, or_(*takeable))
                .values(owner=self.owner, expires_at=expires,
                        acquired_at=case((LockRow.owner == self.owner, LockRow.acquired_at), else_=now)))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
        try:
            with self.db.session() as session:
                session.add(LockRow(name=self.name, owner=self.owner, acquired_at=now, expires_at=expires))
            return True
        except IntegrityError:
            return False

    def holds(self) -> bool:
        holder = self.holder()
        return holder is not None and holder.owner == self.owner and holder.expires_at > utcnow()

    def holder(self) -> Holder | None:
        with self.db.session() as session:
            row = session.scalar(select(LockRow).where(LockRow.name == self.name))
            return Holder(row.owner, row.acquired_at, row.expires_at) if row else None

    def release(self) -> None:
        with self.db.session() as session:
            session.execute(delete(LockRow).where(LockRow.name == self.name, LockRow.owner == self.owner))


class LeaseKeeper:
    """Renews a held lease from a background thread while a long job runs."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease:{lease.name}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.lease.seconds / 3):
            try:
                if not self.lease.acquire():
                    self.lost = True
            except Exception:  # a database hiccup: try again next period; the lease has slack
                pass

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def release_owned_by(db: Database, owner_prefix: str) -> int:
    """Drop every lease whose owner starts with `owner_prefix` (a process's runs, on forced exit)."""
    with db.session() as session:
        result = session.execute(delete(LockRow).where(LockRow.owner.startswith(owner_prefix, autoescape=True)))
        return int(result.rowcount)  # type: ignore[attr-defined]


def process_prefix() -> str:
    return f"{this_host()}:{os.getpid()}:{_TOKEN}:"
