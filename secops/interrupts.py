"""SIGTERM and SIGHUP end a command the way Ctrl-C does, and leave no child process behind.

Ctrl-C in a terminal signals the whole foreground process group, so nmap children stop with
secops. `kill PID`, a closed SSH session (SIGHUP) or systemd (SIGTERM) signal secops alone: the
handlers here turn those into the same KeyboardInterrupt (so every stage's Ctrl-C path records
the run `interrupted`), and `stop_children` ends whatever processes secops started.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """A stop request by signal; KeyboardInterrupt so the Ctrl-C paths handle it unchanged."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise stop_for(signum)


def install() -> None:
    """Make SIGTERM/SIGHUP raise Interrupted in the main thread (no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_IGN and sig == signal.SIGHUP:
            continue  # started under nohup: the user asked to survive a hang-up
        signal.signal(sig, _raise_interrupt)


_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_held: dict[signal.Signals, Any] | None = None  # while holding: the handlers to restore
_pending: list[int] = []


def hold() -> None:
    """Hold SIGINT/SIGTERM/SIGHUP until `release()`: a stop asked for meanwhile is raised then.

    `secops discover` starts nmap before it has opened the database and recorded the run
   ; a stop in that moment is held until the scan loop runs, so the run is recorded
    `interrupted` with its chunks, as a stop during the scan always was. No-op off the main thread."""
    global _held
    if _held is not None or threading.current_thread() is not threading.main_thread():
        return
    previous = {sig: signal.getsignal(sig) for sig in _STOPS}
    _pending.clear()
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:  # nohup stays nohup
            signal.signal(sig, _hold_signal)
    _held = previous


def _hold_signal(signum: int, _frame: FrameType | None) -> None:
    _pending.append(signum)


def release(raise_pending: bool = True) -> int | None:
    """End `hold()`: restore the handlers, then raise a stop that came meanwhile (unless told not
    to, when the command is failing anyway: then it is returned). No-op when nothing is held."""
    global _held
    if _held is None or threading.current_thread() is not threading.main_thread():
        return None
    previous, _held = _held, None
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    pending = _pending[:1]
    _pending.clear()
    if pending and raise_pending:
        raise stop_for(pending[0])
    return pending[0] if pending else None


_requested: list[str] = []  # the stop signals acted on in this process


def stop_requested() -> str | None:
    """The name of the stop signal acted on in this process, if any (even if a library turned the
    exception it raised into one of its own, as pydantic does inside attribute access)."""
    return _requested[0] if _requested else None


def stop_for(signum: int) -> KeyboardInterrupt:
    """The exception a stop signal raises once it is acted on (as its handler would have)."""
    _requested.append("SIGINT (Ctrl-C)" if signum == signal.SIGINT else signal.Signals(signum).name)
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a second signal during cleanup would cut it short
        signal.signal(sig, signal.SIG_IGN)
    return Interrupted(signal.Signals(signum).name)


class Deferral:
    """What `deferred()` yields: `start()` begins holding stops; `stop` is the signal of the one
    that came meanwhile (None: none did)."""

    def __init__(self) -> None:
        self.stop: int | None = None
        self.holding = False

    def start(self) -> None:
        """From here to the end of the block a stop waits. Call it just before the commit: a wait
        before it (a connection, a row lock) stays stoppable. Inside an outer hold(), or off the
        main thread, it does nothing: the outer holder raises the stop."""
        if self.holding or _held is not None or threading.current_thread() is not threading.main_thread():
            return
        hold()
        self.holding = True


@contextmanager
def deferred() -> Iterator[Deferral]:
    """For a block that must not be cut between its `start()` and its end (a run's row being
    committed); `stop` then has the stop asked for meanwhile, for the caller to act on. If the
    block fails, its error goes on and a held stop is dropped: the command is failing anyway."""
    held = Deferral()
    try:
        yield held
    finally:
        if held.holding:
            held.stop = release(raise_pending=False)


class WorkerStopped(Exception):
    """Raised in a worker thread at its next check once the command is stopping."""


_stopping = threading.Event()


def stop_workers() -> None:
    """Tell worker threads (host audits) to stop at their next check: only the main thread gets
    signals, and a pool's shutdown waits for its threads."""
    _stopping.set()


def workers_may_run() -> None:
    """Start of a pool's work: clear an earlier stop (tests run several commands in one process)."""
    _stopping.clear()


def check_stop() -> None:
    """In a worker's long loop: raise WorkerStopped once the command is stopping."""
    if _stopping.is_set():
        raise WorkerStopped("the command is stopping")


def reason(exc: BaseException) -> str:
    name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT (Ctrl-C)"
    return f"interrupted by {name}"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            continue
    return found


def descendants(pid: int | None = None) -> list[int]:
    """Every process below `pid` (default: this one), children first; Linux /proc only."""
    out: list[int] = []
    queue = _children(pid or os.getpid())
    while queue and len(out) < 10_000:
        child = queue.pop(0)
        out.append(child)
        queue += _children(child)
    return out


def stop_children(grace: float = 3.0) -> list[int]:
    """SIGTERM every descendant, wait up to `grace` seconds, SIGKILL the ones still there."""
    pids = descendants()
    for pid in pids:
        _send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            _send(pid, signal.SIGKILL)
    return pids


def _send(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False
