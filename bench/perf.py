"""Performance bench (issue 12): load, grade and report of the sample province at several sizes,
each next to the plain-SQL aggregation of the same counts on the same database; `secops --version`.

Run:  python bench/perf.py                      # 10k and 200k endpoints (a few minutes)
      python bench/perf.py --million            # adds 1M endpoints (several minutes more)
      python bench/perf.py --code /work/main     # the same bench against another checkout (before/after)
      python bench/perf.py --sizes 10000 --pg      # PostgreSQL beside SQLite
      python bench/perf.py --sizes 200000 --pg --load-only   # only `inventory sample`
      python bench/perf.py --sizes 200000 --million --pg --load-only --rounds 3   # PostgreSQL vs SQLite load
      python bench/perf.py --db .benchdb/r1m.db --repeat 3   # report only, on a database built and graded once
      python bench/perf.py --million --pg --audit 50   # everything the issue asks, in one command (root)

Every step runs the real `secops` command in a child process; its wall time and its own peak RSS
(from wait4) are printed. Everything is local: a temporary SQLite file, and with --pg a throwaway
PostgreSQL server on loopback (tests/pg_server.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


LAST_CPU = [0.0]  # CPU seconds (user + sys) of the last child: on a loaded machine wall time is mostly waiting


def run_secops(code: Path, db: str, *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the child and its stdout, for one `secops` command."""
    env = {**os.environ, "PYTHONPATH": str(code), "COLUMNS": "120"}
    env.pop("SECOPS_DB", None)
    command = [sys.executable, "-m", "secops", *(["--db", db] if db else []), *args]
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=code)
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    if proc.returncode not in (0, 1):  # 1: targets not met is a normal outcome of grade
        raise SystemExit(f"`secops {' '.join(args)}` failed ({proc.returncode}):\n{out[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, out


def _stored(moment: dt.datetime) -> str:
    # How SQLAlchemy stores a UTC datetime in SQLite (secops.store.base.UTCDateTime).
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _n(condition: str) -> str:
    # SUM over a condition, written so SQLite and PostgreSQL (no SUM of booleans) both run it.
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


PLAIN_SQL = {
    "systems": f"""SELECT agency_id, COUNT(*), {_n("state = 'plan_deployed' AND level IS NOT NULL")}
                  FROM information_systems GROUP BY agency_id""",
    "endpoints": f"""WITH ranked AS (
                      SELECT endpoint_id, status, observed_at, ROW_NUMBER() OVER (
                        PARTITION BY endpoint_id ORDER BY observed_at DESC, id DESC) AS rn
                      FROM protection_evidence WHERE observed_at <= :as_of)
                    SELECT e.agency_id, COUNT(*),
                           {_n("r.status = 'protected' AND r.observed_at >= :cutoff")},
                           {_n("r.endpoint_id IS NULL OR r.observed_at < :cutoff OR r.status = 'unknown'")}
                    FROM endpoints e LEFT JOIN ranked r ON r.endpoint_id = e.id AND r.rn = 1
                    GROUP BY e.agency_id""",
    "staff": f"""SELECT agency_id, {_n("is_head")}, {_n("is_head AND awareness_date <= :day")}, COUNT(*),
                       {_n("informed_date <= :day")}, {_n("training_date <= :day")}
                FROM staff GROUP BY agency_id""",
}


def plain_sql_seconds(db: Path | str, as_of: dt.datetime, max_age_days: int = 7) -> float:
    """The floor: the same per-agency counts (T1..T5) by hand-written SQL, best of three, on the
    SQLite file or the PostgreSQL URL (psycopg, the driver secops uses there)."""
    pg = isinstance(db, str)
    cutoff = as_of - dt.timedelta(days=max_age_days)
    params: dict[str, object]
    if pg:  # naive UTC datetimes, as secops stores them; %(name)s is psycopg's placeholder
        params = {"as_of": as_of.astimezone(dt.UTC).replace(tzinfo=None),
                  "cutoff": cutoff.astimezone(dt.UTC).replace(tzinfo=None), "day": as_of.date()}
    else:
        params = {"as_of": _stored(as_of), "cutoff": _stored(cutoff), "day": as_of.date().isoformat()}
    best = float("inf")
    for _ in range(3):
        conn = _connect(db)
        start = time.perf_counter()
        for sql in PLAIN_SQL.values():
            if pg:
                sql = re.sub(r":(as_of|cutoff|day)\b", r"%(\1)s", sql)
            conn.execute(sql, params).fetchall()
        best = min(best, time.perf_counter() - start)
        conn.close()
    return best


def _connect(db: Path | str):  # type: ignore[no-untyped-def]
    if isinstance(db, str):
        import psycopg

        return psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"))
    return sqlite3.connect(db)


def line(label: str, seconds: float, mib: float, floor: float | None = None) -> None:
    ratio = f"   {seconds / floor:6.1f}x plain SQL ({floor:.2f} s)" if floor else ""
    print(f"  {label:<10} {seconds:8.2f} s  cpu {LAST_CPU[0]:7.2f} s  peak {mib:7.1f} MiB{ratio}", flush=True)


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_size(code: Path, endpoints: int, workdir: Path, load_only: bool = False) -> float:
    """The SQLite steps at one size; returns the load's seconds (the baseline of PostgreSQL's)."""
    print(f"{endpoints:,} endpoints (SQLite); {load_average()}", flush=True)
    db_file = workdir / f"bench-{endpoints}.db"
    as_of = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_secops(code, str(db_file), "init")  # only init creates a database (not timed)
    loaded, mib, _ = run_secops(code, str(db_file), "inventory", "sample", "--endpoints", str(endpoints))
    line("load", loaded, mib)
    if load_only:
        db_file.unlink()
        return loaded
    floor = plain_sql_seconds(db_file, as_of)
    seconds, mib, _ = run_secops(code, str(db_file), "grade", "--as-of", as_of.isoformat())
    line("grade", seconds, mib, floor)
    out = workdir / f"out-{endpoints}"
    seconds, mib, _ = run_secops(code, str(db_file), "report", "--out", str(out))
    line("report", seconds, mib, floor)
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    print("  outputs    " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())), flush=True)
    db_file.unlink()
    return loaded


def bench_report(code: Path, db_file: Path, workdir: Path, repeat: int) -> None:
    """`secops report` on an existing database (built with `inventory sample` and graded once)."""
    print(f"report on {db_file} ({db_file.stat().st_size / 1e6:.0f} MB); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    for n in range(repeat):
        out = workdir / f"out-{n}"
        seconds, mib, _ = run_secops(code, str(db_file), "report", "--out", str(out))
        line("report", seconds, mib)
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    print("  outputs    " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())), flush=True)
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)


def bench_pg(code: Path, endpoints: int, workdir: Path, load_only: bool = False,
             sqlite_load: float | None = None) -> float:
    """The same steps on a fresh PostgreSQL; its load is printed next to SQLite's (the target:
    no slower). Returns the load's seconds."""
    sys.path.insert(0, str(ROOT))
    from tests.pg_server import PostgresServer

    print(f"{endpoints:,} endpoints (PostgreSQL, a fresh local server); {load_average()}", flush=True)
    server = PostgresServer()
    loaded = 0.0
    try:
        url = server.start()
        as_of = dt.datetime.now(dt.UTC).replace(microsecond=0)
        floor: float | None = None
        for label, args in (("load", ("inventory", "sample", "--endpoints", str(endpoints))),
                            ("grade", ("grade", "--as-of", as_of.isoformat())),
                            ("report", ("report", "--out", str(workdir / f"pg-out-{endpoints}")))):
            if load_only and label != "load":
                continue
            if label == "grade":
                floor = plain_sql_seconds(url, as_of)
            seconds, mib, _ = run_secops(code, url, *args)
            line(label, seconds, mib, floor)
            if label == "load":
                loaded = seconds
                if sqlite_load:
                    print(f"  {'':<10} {seconds / sqlite_load:8.2f}x the SQLite load ({sqlite_load:.2f} s)", flush=True)
    finally:
        server.stop()
    return loaded


def bench_version(code: Path) -> None:
    times = sorted(run_secops(code, "", "--version")[0] for _ in range(7))
    print(f"secops --version: median {times[3]:.3f} s, best {times[0]:.3f} s (7 runs)", flush=True)


def bench_audit(hosts: int) -> None:
    """The audit half of the issue's bench, in the same command: bench/audit.py prints its own table."""
    print(f"audit of {hosts} loopback sshd hosts (bench/audit.py):", flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "audit.py"), "--hosts", str(max(1, min(hosts, 250)))],
                   check=True, timeout=3 * 3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,200000", help="comma-separated endpoint counts")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 endpoints")
    parser.add_argument("--code", type=Path, default=ROOT, help="secops checkout to measure [this one]")
    parser.add_argument("--pg", action="store_true",
                        help="also load, grade and report on a throwaway PostgreSQL (tests/pg_server.py)")
    parser.add_argument("--db", type=Path, help="only `secops report`, on this graded SQLite file (kept)")
    parser.add_argument("--repeat", type=int, default=1, help="with --db: reports to run [1]")
    parser.add_argument("--audit", type=int, metavar="HOSTS", default=0,
                        help="also audit HOSTS loopback sshd hosts against the ssh floor and Ansible "
                             "(bench/audit.py; needs root)")
    parser.add_argument("--load-only", action="store_true", help="only `inventory sample` (no grade, report)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the sizes this many times, interleaved; with --pg, ends with each round's "
                             "PostgreSQL / SQLite load ratio [1]")
    args = parser.parse_args()
    code = args.code.resolve()
    if args.db:
        with tempfile.TemporaryDirectory(prefix="secops-bench-") as tmp:
            bench_report(code, args.db.resolve(), Path(tmp), max(1, min(args.repeat, 20)))
        return
    print(f"secops from {code}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
          f"sqlite {sqlite3.sqlite_version}")
    bench_version(code)
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.million else [])
    ratios: dict[int, list[float]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory(prefix="secops-bench-") as tmp:
        for _ in range(max(1, min(args.rounds, 10))):
            for size in sizes:
                sqlite_load = bench_size(code, size, Path(tmp), args.load_only)
                if args.pg:
                    ratios[size].append(bench_pg(code, size, Path(tmp), args.load_only, sqlite_load) / sqlite_load)
    if args.pg and args.rounds > 1:
        for size, found in ratios.items():
            print(f"PostgreSQL / SQLite load, {size:,} endpoints: " + ", ".join(f"{r:.2f}x" for r in found))
    if args.audit:
        bench_audit(args.audit)


if __name__ == "__main__":
    main()
