"""What the worker processes of one `secops serve --workers N` share besides the database: the API
rate limit per token or user, and the sign-in slots (argon2id checks at once). Both live in the
serve command's private folder (mode 0700, made by `secops serve`, removed when it stops) as files
locked with flock(2), so N workers count together exactly as one process does: at most
api_rate_per_minute requests per key in any 60 seconds, at most signin_concurrency password checks
at once on the machine. A lock dies with its process: a worker that crashes holds no slot.

Without a folder (one process: `secops serve` with one worker, the tests' in-process app) the
Console keeps the same counts in memory (context.Console.allow, signin_slots)."""

from __future__ import annotations

import asyncio
import bisect
import fcntl
import hashlib
import os
import time
from array import array
from pathlib import Path

STATE_ENV = "SECOPS_CONSOLE_STATE"  # the folder's path, for the workers
SLOT_POLL = 0.02  # seconds between tries for a free sign-in slot (the waiting sign-in holds no thread)


class SigninBusy(Exception):
    """No sign-in slot came free within signin_wait_seconds."""


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


class SharedState:
    def __init__(self, folder: Path):
        self.folder = folder
        for part in ("rate", "signin"):
            (folder / part).mkdir(mode=0o700, exist_ok=True)

    # -- API rate limit: a sliding window of the allowed requests' times, per key -------------
    def allow(self, key: str, limit: int, window: float = 60.0) -> bool:
        """True (and counted) when KEY made fewer than LIMIT allowed requests in the last WINDOW
        seconds, over every worker. CLOCK_MONOTONIC is the machine's, the same in every process."""
        now = time.monotonic()
        fd = _open(self.folder / "rate" / hashlib.sha256(key.encode()).hexdigest()[:32])
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            stamps = array("d")
            stamps.frombytes(os.pread(fd, size - size % 8, 0))
            recent = stamps[bisect.bisect_left(stamps, now - window):]
            allowed = len(recent) < limit
            if allowed:
                recent.append(now)
            if allowed or len(recent) != len(stamps):
                data = recent.tobytes()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            return allowed
        finally:
            os.close(fd)  # closing releases the lock

    # -- sign-in slots ----------------------------------------------------------------------
    async def signin_slot(self, slots: int, wait_seconds: float) -> int:
        """A held slot (its file descriptor: `release` it) among SLOTS machine-wide, waited for in
        the event loop (no thread held) for at most WAIT_SECONDS; SigninBusy after that."""
        deadline = time.monotonic() + wait_seconds
        while True:
            for number in range(slots):
                fd = _open(self.folder / "signin" / f"slot-{number}")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                return fd
            if time.monotonic() >= deadline:
                raise SigninBusy()
            await asyncio.sleep(SLOT_POLL)

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)

