"""Runs: every manual command or scheduled job that produces results records one.

`records` opens and closes run rows, `recovery` closes the runs of processes that died, `lock` keeps
database leases, `tables` holds their rows. A command opens its run with `recorded(...)`, which closes it
whatever happens: with the status the command gives, `interrupted` on Ctrl-C/SIGTERM/SIGHUP, `failed`
(with the reason) on an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from secops import interrupts
from secops.models import RunStatus
from secops.runs.records import finish_run, recorded_status, start_run
from secops.store.db import Database

__all__ = ["RecordedRun", "finish_run", "recorded", "recorded_status", "start_run"]


@dataclass
class RecordedRun:
    """A run opened by `recorded`; `finish` records its end once (later calls are ignored)."""

    db: Database
    id: int
    finished: bool = False

    def finish(self, status: RunStatus, *, summary: dict[str, Any] | None = None, errors: list[Any] | None = None,
               report_dir: str | None = None) -> None:
        if not self.finished:
            self.finished = True
            finish_run(self.db, self.id, status, summary=summary, errors=errors, report_dir=report_dir)


@contextmanager
def recorded(db: Database, kind: str, *, failure: str | None = None, trigger: str = "manual",
             job_name: str | None = None, agency_code: str | None = None,
             as_of: dt.datetime | None = None) -> Iterator[RecordedRun]:
    """Open a run of `kind` and close it on the way out. The block calls `run.finish(...)` with its
    status; a block that ends without finishing records `ok`. A stop records `interrupted` (after
    stopping child processes: nmap, ssh); any other exception records `failed` with "<failure>: <error>"
    (or the error alone when no `failure` wording is given), then goes on."""
    run = RecordedRun(db, start_run(db, kind, trigger=trigger, job_name=job_name, agency_code=agency_code,
                                    as_of=as_of))
    try:
        yield run
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: what was stored stays, the run says so
        interrupts.stop_children()
        run.finish(RunStatus.interrupted, errors=[interrupts.reason(exc)])
        raise
    except BaseException as exc:
        run.finish(RunStatus.failed, errors=[f"{failure}: {exc}" if failure else str(exc)])
        raise
    run.finish(RunStatus.ok)
