"""Benchmarks of the core pipeline on the synthetic province: load, grade, report, at several sizes.

Run: python bench/run.py [--endpoints 10000,50000] — prints seconds and peak memory per step.
Everything stays local (a temporary SQLite file); no network is touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from secops.cliutil import AppState
from secops.config import Settings
from secops.grade.cli import run_grade
from secops.report.publish import publish
from secops.sample.load import load_sample


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, func):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func()
    print(f"  {label:<22} {time.perf_counter() - start:7.2f} s   peak RSS {peak_mib():7.1f} MiB", flush=True)
    return result


def bench(endpoints: int) -> None:
    print(f"sample province with {endpoints} endpoints")
    with tempfile.TemporaryDirectory() as tmp:
        state = AppState(Settings(db=str(Path(tmp) / "bench.db"), output=Path(tmp) / "out"))
        now = dt.datetime.now(dt.UTC)
        timed("load sample", lambda: load_sample(state.db(), now, endpoints=endpoints))
        timed("reload (idempotent)", lambda: load_sample(state.db(), now, endpoints=endpoints))
        run_id = timed("grade", lambda: run_grade(state, now))
        timed("report html+json+csv", lambda: publish(state.db(), state.settings, Path(tmp) / "out", run_id=run_id))
        size = (Path(tmp) / "out" / "dashboard.html").stat().st_size
        print(f"  dashboard.html size   {size / 1024:7.1f} KiB")
        state.db().dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoints", default="10000,50000", help="comma-separated sizes")
    args = parser.parse_args()
    for size in (int(s) for s in args.endpoints.split(",")):
        bench(size)


if __name__ == "__main__":
    main()
