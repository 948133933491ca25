"""Console load bench (issue 25): locust, headless, against a real `secops serve` on loopback over
a synthetic PostgreSQL province: concurrent users over the province dashboard, agency pages and the
API. Targets: p95 <= 300 ms for pages, <= 100 ms for API reads, no error.

Run:  python bench/console_load.py                          # 1,000,000 endpoints, 50 users, 60 s, 2 workers
      python bench/console_load.py --endpoints 20000 --users 20 --seconds 30   # a quick look
      python bench/console_load.py --workers 1,2                # one locust run per worker count, same data

Everything is local: a throwaway PostgreSQL server (tests/pg_server.py) unless --db is given, the
console on 127.0.0.1, locust (pip install locust) sending only to it; the run stops by itself.
Leaders sign in once each (on_start); the figures exclude signing in (bench/console_locust.py resets
the statistics once every leader has signed in). The load average is printed at the start and end:
on a shared machine, figures taken at a load above the core count measure the neighbours. Each
console worker warms its caches when it starts (every agency's figures, secops/web/warm.py); the
bench prints how long that took and starts locust once every worker is warm (--warm-timeout).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def secops(db: str, *args: str, stdin: str | None = None, timeout: float = 3600) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "150"}
    done = subprocess.run([sys.executable, "-m", "secops", "--db", db, *args], capture_output=True, text=True,
                          env=env, timeout=timeout, input=stdin)
    if done.returncode not in (0, 1):
        raise SystemExit(f"secops {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def agency_codes(db: str) -> list[str]:
    """The province first, then its direct units and a sample of the rest."""
    from sqlalchemy import select

    from secops.store.db import Database
    from secops.store.tables import AgencyRow

    database = Database(db)
    with database.session() as session:
        rows = session.execute(select(AgencyRow.code, AgencyRow.parent_id).where(AgencyRow.retired_at.is_(None))).all()
    database.dispose()
    root = [code for code, parent in rows if parent is None]
    return root + sorted(code for code, parent in rows if parent is not None)[:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--db", help="an existing database holding a graded province (skips load and grade)")
    parser.add_argument("--workers", default="2", help="`secops serve --workers N`; a comma list runs once per N")
    parser.add_argument("--warm-timeout", type=int, default=1800, help="seconds to wait for the caches' warm-up")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    server = None
    print(f"load average at start {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="secops-console-bench-"))
    os.environ["XDG_DATA_HOME"] = str(work / "data")  # the console key and uploads of this bench only
    try:
        db = args.db
        if db is None:
            from tests.pg_server import PostgresServer

            server = PostgresServer()
            db = server.start()
            started = time.monotonic()
            secops(db, "inventory", "sample", "--endpoints", str(args.endpoints))
            print(f"loaded {args.endpoints:,} endpoints in {time.monotonic() - started:.1f} s", flush=True)
            started = time.monotonic()
            secops(db, "grade")
            print(f"graded in {time.monotonic() - started:.1f} s", flush=True)
        password = secrets.token_urlsafe(18)
        (work / "pw").write_text(password)
        leader = f"bench-leader-{secrets.token_hex(4)}"  # a new one each time: --db may be used again
        secops(db, "users", "add", leader, "--role", "leader", "--password-file", str(work / "pw"))
        token = secops(db, "tokens", "add", "--name", "bench").strip()
        codes = agency_codes(db)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # The 20 operations-centre users share one token: the per-token rate limit (api_rate_per_minute,
        # 120) would answer most of them 429, which measures the limit, not the reads. Raised here only.
        policies = work / "policies"
        policies.mkdir()
        console_yaml = (ROOT / "policies" / "console.yaml").read_text(encoding="utf-8")
        (policies / "console.yaml").write_text(console_yaml.replace("api_rate_per_minute: 120",
                                                                    "api_rate_per_minute: 1000000"), encoding="utf-8")
        env_locust = {**env, "SECOPS_BENCH_AGENCIES": ",".join(codes), "SECOPS_BENCH_TOKEN": token,
                      "SECOPS_BENCH_PASSWORD": password, "SECOPS_BENCH_USER": leader}
        for workers in counts:
            port = free_port()
            log = work / f"serve-{workers}.log"
            serve = subprocess.Popen([sys.executable, "-m", "secops", "--db", db, "--policies", str(policies), "serve",
                                      "--port", str(port), "--workers", str(workers)], env=env,
                                     stdout=open(log, "w"), stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 120
                while socket.socket().connect_ex(("127.0.0.1", port)) != 0 or \
                        log.read_text().count("Application startup complete") < workers:
                    if time.monotonic() > deadline or serve.poll() is not None:
                        raise SystemExit("the console did not start: " + log.read_text()[-2000:])
                    time.sleep(0.2)
                # Each worker warms its caches (web/warm.py) when it starts: measured apart, then the reads.
                warm_deadline = time.monotonic() + args.warm_timeout
                while log.read_text().count("console caches warm for run") < workers:
                    if time.monotonic() > warm_deadline or serve.poll() is not None:
                        print(f"caches not warm after {args.warm_timeout} s: measuring anyway", flush=True)
                        break
                    time.sleep(0.5)
                for line in log.read_text().splitlines():
                    if "console caches warm for run" in line:
                        print(line.strip(), flush=True)
                prefix = work / f"locust-{workers}"
                load_before = os.getloadavg()[0]
                print(f"\n{workers} worker(s): load average {load_before:.1f} before locust", flush=True)
                subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "console_locust.py"),
                                "--headless", "-u", str(args.users), "-r", str(max(1, args.users // 5)),
                                "-t", f"{args.seconds}s", "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix),
                                "--only-summary", "--stop-timeout", "10"],
                               env=env_locust, check=False, timeout=args.seconds + 180)
            finally:
                serve.send_signal(signal.SIGINT)  # uvicorn's own shutdown: its workers and private folder
                try:
                    serve.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    serve.kill()
                    serve.wait(timeout=30)
            report(prefix.with_name(prefix.name + "_stats.csv"), args, workers, load_before)
    finally:
        if server is not None:
            server.stop()


def report(stats: Path, args: argparse.Namespace, workers: int, load_before: float) -> None:
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; {args.endpoints:,} endpoints, "
          f"{workers} worker(s), {args.users} users, {args.seconds} s "
          f"(signing in excluded: statistics reset once every leader has signed in)")
    print(f"{'name':24} {'requests':>9} {'failures':>9} {'median ms':>10} {'p95 ms':>8} {'target':>8}  verdict")
    ok = True
    with open(stats, newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["Name"]
            if name == "Aggregated" or "signin" in name:
                continue
            if row["95%"] in ("", "N/A") or int(row["Request Count"]) == 0:
                print(f"{name:24} {'0':>9}  (no request measured)")
                ok = False
                continue
            p95 = float(row["95%"])
            target = 100 if name.startswith("api:") else 300
            failures = int(row["Failure Count"])
            good = p95 <= target and failures == 0
            ok = ok and good
            print(f"{name:24} {row['Request Count']:>9} {failures:>9} {row['Median Response Time']:>10} "
                  f"{p95:>8.0f} {target:>8}  {'met' if good else 'NOT met'}")
    print("all targets met" if ok else "some targets not met")


if __name__ == "__main__":
    main()
