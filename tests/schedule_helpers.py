"""Helpers for the scheduling tests: test-only stages, a policies folder, a real daemon process.

The stages here are registered the way a site registers its own stages: in the `stages:` map of
a jobs.yaml (see policies/jobs.yaml), so the daemon subprocess runs them through its normal code.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from secops.stages import StageOptions, StageResult
from secops.store.db import Database
from secops.store.tables import RunRow

ROOT = Path(__file__).resolve().parent.parent
MAX_SLEEP = 60.0


def sleep_stage(app_state: Any, run_id: int, options: StageOptions) -> StageResult:
    """A slow stage, for overlap and kill tests: sleeps options.extra['seconds'] (bounded)."""
    seconds = min(float(options.extra.get("seconds", 1)), MAX_SLEEP)
    time.sleep(seconds)
    return StageResult(stage="sleep", summary={"slept": seconds})


def boom_stage(app_state: Any, run_id: int, options: StageOptions) -> StageResult:
    raise RuntimeError("boom: the stage itself failed")


def failed_stage(app_state: Any, run_id: int, options: StageOptions) -> StageResult:
    return StageResult(stage="failing", status="failed", errors=["host 127.0.5.9 unreachable"])


TEST_STAGES = {"sleep": "schedule_helpers:sleep_stage", "boom": "schedule_helpers:boom_stage",
               "failing": "schedule_helpers:failed_stage",
               "ghost": "schedule_helpers_not_installed:run_stage"}  # a stage whose module is missing


def make_policies(folder: Path, *, jobs: dict[str, Any], daemon: dict[str, Any] | None = None,
                  retention: dict[str, Any] | None = None, trends: dict[str, Any] | None = None) -> Path:
    """A policies folder: the bundled targets and levels plus the given jobs and schedule settings."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("targets.yaml", "levels.yaml"):
        shutil.copy(ROOT / "policies" / name, folder / name)
    (folder / "jobs.yaml").write_text(yaml.safe_dump({"version": 1, "stages": TEST_STAGES, "jobs": jobs}),
                                      encoding="utf-8")
    settings = {"version": 1, "daemon": {"poll_seconds": 0.3, "lease_seconds": 3, "misfire_grace_seconds": 60,
                                         "stop_timeout_seconds": 20, **(daemon or {})},
                "retention": retention or {}, "trends": trends or {}}
    (folder / "schedule.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return folder


def child_env() -> dict[str, str]:
    # tests/ on the path so the daemon subprocess can import the stages registered in jobs.yaml.
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "COLUMNS": "200"}


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def job_runs(db: Database, schedule: str | None = None) -> list[RunRow]:
    query = select(RunRow).where(RunRow.kind == "job").order_by(RunRow.id)
    if schedule:
        query = query.where(RunRow.job_name == schedule)
    with db.session() as session:
        return list(session.scalars(query))


class DaemonProcess:
    """`python -m secops daemon` as a child process, with its log in a file of its own."""

    def __init__(self, db_path: Path, policies: Path, output: Path, log: Path):
        self.log = log
        self.handle = log.open("ab")
        command = [sys.executable, "-m", "secops", "--db", str(db_path), "--policies", str(policies),
                   "-o", str(output), "daemon"]
        self.proc = subprocess.Popen(command, stdout=self.handle, stderr=subprocess.STDOUT, env=child_env(),
                                     cwd=str(log.parent))
        self.started = dt.datetime.now(dt.UTC)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_active(self, timeout: float = 20) -> None:
        wait_until(lambda: "active daemon" in self.text(), timeout,
                   what=f"daemon {self.pid} to become active; log:\n{self.text()}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        self.handle.close()
