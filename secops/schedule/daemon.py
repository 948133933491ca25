"""`secops daemon`: APScheduler in the foreground, jobs persisted in the secops database.

- Job store: APScheduler's SQLAlchemyJobStore on the same database (table apscheduler_jobs), so
  the next fire time of every schedule survives a restart; a run missed while the daemon was down
  still starts when it is back (within misfire_grace_seconds), and several missed runs of one
  schedule coalesce into one. max_instances=1: a schedule never overlaps itself.
- The `schedules` table is what users edit (`secops schedule add/remove`); every poll the daemon
  brings APScheduler's jobs in line with it, changing a job's trigger only when its schedule
  changed (so a pending missed run is not lost by the sync).
- One active daemon per database: the daemon holds the lease `daemon` (lock.py) and runs jobs only
  while it holds it; a second daemon on the same database stands by, scheduler paused, and takes
  over when the lease expires (or at once if the holder's process on this host is gone). Each run
  also holds the lease `schedule:<name>` and the active daemon re-checks its own lease before
  starting a run, so two daemons never run the same job at the same time.
- At start (and on taking over) runs left `running` by a dead process are marked `interrupted`.
- SIGTERM/SIGINT: no new runs start; a running job may finish for stop_timeout_seconds; past that
  it is marked `interrupted` and the daemon exits 0. A second signal stops waiting at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from secops.errors import SecopsError
from secops.runs.lock import Lease, process_owner, process_prefix, release_owned_by
from secops.runs.recovery import mark_interrupted, reap_interrupted
from secops.schedule.config import ScheduleConfig
from secops.schedule.runner import ScheduleBusy, run_schedule
from secops.schedule.schedules import all_schedules
from secops.schedule.tables import JOBSTORE_TABLE
from secops.schedule.triggers import describe, make_trigger
from secops.stages import StageContext

log = logging.getLogger("secops.schedule")

LEADER_LOCK = "daemon"
JOB_FUNCTION = "secops.schedule.daemon:fire"

# APScheduler stores jobs as a textual reference to a module-level function plus pickled args
# (only the schedule name). The function finds the daemon of this process here.
_ACTIVE: Daemon | None = None


def fire(name: str) -> None:
    """The function every stored job calls; runs schedule `name` in the daemon of this process."""
    if _ACTIVE is None:
        log.error("schedule %s fired outside a secops daemon; ignored", name)
        return
    _ACTIVE.fire(name)


class Daemon:
    def __init__(self, app_state: StageContext, config: ScheduleConfig):
        self.app_state = app_state
        self.db = app_state.db()
        self.config = config.daemon
        self.owner = process_owner("daemon")
        self.lease = Lease(self.db, LEADER_LOCK, self.owner, self.config.lease_seconds)
        self.stop = threading.Event()
        self.force = threading.Event()
        self.leader = False
        self.active: dict[int, str] = {}
        self._active_lock = threading.Lock()
        self._signal: str | None = None
        self._standby = False
        self._requests: threading.Thread | None = None

    # -- jobs -------------------------------------------------------------------------------
    def fire(self, name: str) -> None:
        if self.stop.is_set():
            log.info("schedule %s: not started, the daemon is stopping", name)
            return
        try:
            if not self.lease.holds():
                log.warning("schedule %s: not started, this daemon is no longer the active one", name)
                return
            run_schedule(self.app_state, name, trigger="schedule", on_start=lambda run_id: self._started(run_id, name))
        except ScheduleBusy as exc:
            log.warning("%s; this occurrence is skipped", exc)
        except SecopsError as exc:
            log.error("schedule %s: %s", name, exc)
        except Exception:
            log.exception("schedule %s: run failed unexpectedly", name)
        finally:
            with self._active_lock:
                for run_id in [r for r, n in self.active.items() if n == name]:
                    del self.active[run_id]

    def _started(self, run_id: int, name: str) -> None:
        with self._active_lock:
            self.active[run_id] = name

    def sync_jobs(self, scheduler: BackgroundScheduler) -> None:
        """Make APScheduler's jobs match the schedules table's enabled rows (add, retime, remove)."""
        wanted = {row.name: row for row in all_schedules(self.db) if row.enabled}
        existing = {job.id: job for job in scheduler.get_jobs()}
        tz = self.config.timezone
        for name, row in wanted.items():
            fingerprint = f"{name}: {describe(row.cron, row.every_seconds)} tz={tz or 'local'}"
            try:
                trigger = make_trigger(row.cron, row.every_seconds, tz)
            except SecopsError as exc:
                log.error("schedule %s: %s", name, exc)
                continue
            job = existing.get(name)
            if job is None:  # job_defaults give it coalesce, max_instances=1 and the misfire grace
                scheduler.add_job(JOB_FUNCTION, trigger=trigger, args=[name], id=name, name=fingerprint,
                                  replace_existing=True)
                log.info("schedule %s: added (%s)", name, fingerprint)
                continue
            if job.name != fingerprint:
                scheduler.modify_job(name, name=fingerprint)
                scheduler.reschedule_job(name, trigger=trigger)
                log.info("schedule %s: now %s", name, fingerprint)
            if (job.misfire_grace_time, job.coalesce, job.max_instances) != self._job_policy():
                grace, coalesce, instances = self._job_policy()
                scheduler.modify_job(name, misfire_grace_time=grace, coalesce=coalesce, max_instances=instances)
        for name in existing.keys() - wanted.keys():
            scheduler.remove_job(name)
            log.info("schedule %s: removed", name)

    def _job_policy(self) -> tuple[int, bool, int]:
        return self.config.misfire_grace_seconds, self.config.coalesce, 1

    # -- main loop --------------------------------------------------------------------------
    def run(self) -> int:
        global _ACTIVE
        _ACTIVE = self
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        scheduler = self._scheduler()
        try:
            for run_id in reap_interrupted(self.db):
                log.info("run %s marked interrupted", run_id)
            scheduler.start(paused=True)
            log.info("daemon %s started on %s", self.owner, self.db.engine.url.render_as_string(hide_password=True))
            while not self.stop.is_set():
                try:
                    self._tick(scheduler)
                except Exception:  # e.g. the database is briefly unreachable: try again next poll
                    log.exception("daemon poll failed")
                self.stop.wait(self.config.poll_seconds)
            return self._shutdown(scheduler)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _ACTIVE = None

    def _scheduler(self) -> BackgroundScheduler:
        grace, coalesce, instances = self._job_policy()
        kwargs: dict[str, Any] = {}
        if self.config.timezone:
            kwargs["timezone"] = self.config.timezone
        return BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.db.engine, tablename=JOBSTORE_TABLE)},
            executors={"default": ThreadPoolExecutor(self.config.workers)},
            job_defaults={"coalesce": coalesce, "max_instances": instances, "misfire_grace_time": grace},
            **kwargs)

    def _tick(self, scheduler: BackgroundScheduler) -> None:
        try:
            leader = self.lease.acquire()
        except Exception:  # database unreachable: stop running jobs rather than risk a double run
            log.exception("cannot renew the daemon lease")
            leader = False
        if leader and not self.leader:
            log.info("active daemon for this database (lease %r)", LEADER_LOCK)
            for run_id in reap_interrupted(self.db):
                log.info("run %s marked interrupted", run_id)
        elif not leader and (self.leader or not self._standby):
            if self.leader:
                scheduler.pause()
            holder = self.lease.holder()
            log.warning("standing by: another daemon (%s) is active until %s", holder.owner if holder else "?",
                        holder.expires_at.isoformat(timespec="seconds") if holder else "?")
        self._standby = not leader
        if leader:
            try:
                self.sync_jobs(scheduler)
            except Exception:
                log.exception("could not sync the schedules")
            if not self.leader:
                scheduler.resume()
            scheduler.wakeup()
            self._take_requests()
        self.leader = leader

    def _take_requests(self) -> None:
        """Queued run requests (the console's "start run", a regrade after an upload) run in a
        thread of their own, one at a time, so the poll keeps renewing the lease meanwhile."""
        from secops.schedule.requests import process_requests

        if self._requests is not None and self._requests.is_alive():
            return

        def work() -> None:
            try:
                process_requests(self.app_state)
            except Exception:
                log.exception("run requests failed")

        self._requests = threading.Thread(target=work, name="run-requests", daemon=True)
        self._requests.start()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            self.force.set()
            log.warning("%s again: not waiting for running jobs", name)
            return
        self._signal = name
        log.info("%s received: stopping", name)
        self.stop.set()

    def _shutdown(self, scheduler: BackgroundScheduler) -> int:
        scheduler.shutdown(wait=False)  # no new runs; queued ones see self.stop and return
        deadline = time.monotonic() + self.config.stop_timeout_seconds
        if self.active:
            log.info("waiting up to %ss for %d running job(s)", self.config.stop_timeout_seconds, len(self.active))
        while self.active and time.monotonic() < deadline and not self.force.is_set():
            time.sleep(0.1)
        with self._active_lock:
            abandoned = dict(self.active)
        for run_id, name in abandoned.items():
            mark_interrupted(self.db, run_id, f"interrupted: daemon stopped ({self._signal or 'stop'}) while "
                                              f"schedule {name} was still running")
            log.warning("run %s (schedule %s) marked interrupted", run_id, name)
        release_owned_by(self.db, process_prefix())
        log.info("daemon stopped")
        if abandoned:
            # A stage thread cannot be cancelled and would keep the interpreter alive; its open
            # transaction (if any) is rolled back by the database when the process ends.
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        return 0
