"""A stop (Ctrl-C, SIGTERM) that arrives while a run's row is being committed: the run is
recorded as interrupted and the stop raised (runs.start_run with interrupts.deferred). Before,
the stop came out of the commit with the run stored `running` and its id lost to the caller, so
`secops grade` said "the run is recorded as interrupted" while it stayed `running`.

Real signals to this process, sent from SQLAlchemy's after_commit event: the moment the row is
committed and the commit is not yet finished."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from secops import interrupts
from secops.models import RunStatus
from secops.runs import finish_run, start_run
from secops.store.db import Database
from secops.store.tables import RunRow


@pytest.fixture
def handlers() -> Iterator[None]:
    """interrupts.install()'s handlers for the test (what every secops command runs with), put back after."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.install()
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _signal_once_after_commit(sig: signal.Signals) -> Any:
    sent: list[bool] = []

    def send(_session: Session) -> None:
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), sig)

    return send


def _runs(db: Database) -> list[tuple[str, list[Any]]]:
    with db.session() as session:
        return [(r.status, r.errors) for r in session.scalars(select(RunRow).order_by(RunRow.id))]


@pytest.mark.parametrize("sig, exc_type, name", [(signal.SIGINT, KeyboardInterrupt, "SIGINT (Ctrl-C)"),
                                                  (signal.SIGTERM, interrupts.Interrupted, "SIGTERM")])
def test_a_stop_while_the_run_is_committed_is_recorded(db: Database, handlers: None, sig: signal.Signals,
                                                       exc_type: type[BaseException], name: str) -> None:
    send = _signal_once_after_commit(sig)
    event.listen(Session, "after_commit", send)
    try:
        with pytest.raises(exc_type):
            start_run(db, "grade")
    finally:
        event.remove(Session, "after_commit", send)
    assert _runs(db) == [("interrupted", [f"interrupted by {name}"])]


def test_no_stop_no_change(db: Database, handlers: None) -> None:
    run_id = start_run(db, "grade")
    assert _runs(db) == [("running", [])]
    finish_run(db, run_id, RunStatus.ok)
    assert _runs(db)[0][0] == "ok"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers put back


def test_inside_an_outer_hold_the_stop_waits_for_it(db: Database, handlers: None) -> None:
    """discover holds stops from nmap's early start until its scan loop (interrupts.hold): the run's
    commit inside that hold leaves the stop to the outer holder."""
    send = _signal_once_after_commit(signal.SIGINT)
    interrupts.hold()
    event.listen(Session, "after_commit", send)
    try:
        run_id = start_run(db, "discover")
    finally:
        event.remove(Session, "after_commit", send)
    assert _runs(db) == [("running", [])]
    with pytest.raises(KeyboardInterrupt):
        interrupts.release()
    finish_run(db, run_id, RunStatus.ok)


def _signal_before_the_end_is_committed(sig: signal.Signals, status: str) -> Any:
    """A stop arriving while the run's end (`status`) is being committed, before the commit."""
    sent: list[bool] = []

    def send(session: Session) -> None:
        ending = any(isinstance(o, RunRow) and o.status == status for o in session.identity_map.values())
        if ending and not sent:
            sent.append(True)
            os.kill(os.getpid(), sig)

    return send


def test_a_stop_while_the_end_is_committed_keeps_the_status(db: Database, handlers: None) -> None:
    run_id = start_run(db, "grade")
    send = _signal_before_the_end_is_committed(signal.SIGTERM, "ok")
    event.listen(Session, "before_commit", send)
    try:
        with pytest.raises(interrupts.Interrupted):
            finish_run(db, run_id, RunStatus.ok)
    finally:
        event.remove(Session, "before_commit", send)
    assert _runs(db) == [("ok", [])]  # before: the commit was cut, the run stayed `running`


def test_grade_stopped_after_grading_says_what_was_recorded(app_state: Any, handlers: None) -> None:
    """`secops grade` stopped while its run's `ok` is committed: the run is `ok`, and the message
    says so (it used to say "recorded as interrupted" in every case)."""
    import datetime as dt

    from secops.grade.cli import _recorded, run_grade
    from secops.sample.load import load_sample

    load_sample(app_state.db(), dt.datetime(2026, 11, 20, tzinfo=dt.UTC), endpoints=200, seed=5)
    send = _signal_before_the_end_is_committed(signal.SIGINT, "ok")
    event.listen(Session, "before_commit", send)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_grade(app_state, dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    finally:
        event.remove(Session, "before_commit", send)
    (status, _errors), = _runs(app_state.db())
    assert status == "ok"
    assert _recorded(app_state).endswith("is recorded as ok")


def test_a_stop_while_the_insert_waits_on_a_lock_is_not_held(fresh_pg, handlers: None) -> None:  # type: ignore[no-untyped-def]
    """Only the commit is held: a start_run whose INSERT waits on a lock another session holds
    still stops at once (held from the start, it waited until the lock went)."""
    import threading

    from sqlalchemy import create_engine, text

    db = fresh_pg()
    locker = create_engine(db.engine.url).connect()
    released = threading.Event()

    def release_lock() -> None:  # the bound: whatever happens, the lock goes after 20 s
        released.set()
        locker.rollback()

    transaction = locker.begin()
    locker.execute(text("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE"))
    stopper = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    unlocker = threading.Timer(20.0, release_lock)
    stopper.start()
    unlocker.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            start_run(db, "grade")
        assert not released.is_set(), "the stop waited for the lock"
    finally:
        stopper.cancel()
        unlocker.cancel()
        if not released.is_set():
            transaction.rollback()
        locker.close()
    assert _runs(db) == []  # the INSERT never happened
