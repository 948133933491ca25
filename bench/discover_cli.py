"""Discovery overhead: `secops discover` of a loopback /24 against the nmap it runs (issue 12).

Run:  python bench/discover_cli.py [--repeat 5] [--listeners 20]

Seeds an inventory, authorises 127.0.13.0/24 (loopback only) and opens `--listeners` real TCP
services in it, then runs the real `secops discover` command in a child process. nmap is wrapped
by a script that records when each nmap process starts and ends, so the figure printed is

    overhead = secops wall time - time nmap's scans were running (first start to last end)

i.e. what secops adds: start-up, scope check, `nmap -V`, parsing, storing, reconciling. The
issue's target is ≤ 0.3 s. A plain `nmap` with the same arguments is timed beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from secops.store.db import Database  # noqa: E402
from tests.discover_helpers import Listeners, seed_inventory, write_scope  # noqa: E402

NET = "127.0.13"


def timing_nmap(folder: Path, nmap: str) -> Path:
    """A `nmap` that appends `start end args` (seconds since the epoch) per call to a log."""
    log = folder / "calls.log"
    script = folder / "nmap"
    script.write_text(f'#!/bin/sh\ns=$(date +%s.%N)\n"{nmap}" "$@"\nrc=$?\n'
                      f'echo "$s $(date +%s.%N) $*" >> "{log}"\nexit $rc\n')
    script.chmod(0o755)
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--listeners", type=int, default=20)
    args = parser.parse_args()
    nmap = shutil.which("nmap")
    if nmap is None:
        raise SystemExit("nmap: not found (scripts/install-test-deps.sh installs it)")
    repeat, count = max(1, min(args.repeat, 20)), max(0, min(args.listeners, 250))
    work = Path(tempfile.mkdtemp(prefix="secops-bench-discover-"))
    listeners = Listeners()
    try:
        for i in range(count):
            listeners.http(f"{NET}.{i + 1}")
        db_path = work / "bench.db"
        db = Database(f"sqlite:///{db_path}")
        seed_inventory(db, [{"code": f"EP-{i}", "hostname": f"h{i}", "ips": [f"{NET}.{i + 1}"]} for i in range(count)])
        db.dispose()
        scope = write_scope(work / "scope.yaml", [f"{NET}.0/24"])
        bin_dir = work / "bin"
        bin_dir.mkdir()
        log = timing_nmap(bin_dir, nmap)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "SECOPS_OUTPUT": str(work / "out")}
        overheads, totals, scans, plain = [], [], [], []
        arguments: list[str] = []
        for _ in range(repeat):
            log.write_text("")
            start = time.time()
            done = subprocess.run([sys.executable, "-m", "secops", "--db", f"sqlite:///{db_path}", "discover",
                                   "--agency", "DISC", "--scope", str(scope), "--json"],
                                  capture_output=True, text=True, env=env, timeout=600)
            total = time.time() - start
            if done.returncode not in (0, 1):
                raise SystemExit(f"secops discover failed ({done.returncode}): {done.stderr[-2000:]}")
            calls = [line.split(" ", 2) for line in log.read_text().splitlines()]
            runs = [(float(s), float(e), a) for s, e, a in calls if not a.startswith("-V")]
            if not runs:
                raise SystemExit("secops ran no nmap scan")
            scan = max(e for _, e, _ in runs) - min(s for s, _, _ in runs)
            arguments = runs[0][2].split()
            totals.append(total)
            scans.append(scan)
            overheads.append(total - scan)
            began = time.time()
            subprocess.run([nmap, *arguments], capture_output=True, timeout=600, check=True)
            plain.append(time.time() - began)
        print(f"secops discover of {NET}.0/24 ({count} listeners), {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}; median of {repeat} runs")
        print(f"  plain nmap, same arguments     : {statistics.median(plain):6.2f} s   (baseline)")
        print(f"  nmap inside secops discover    : {statistics.median(scans):6.2f} s   ({len(runs)} nmap process(es))")
        print(f"  secops discover, whole command : {statistics.median(totals):6.2f} s")
        print(f"  overhead beyond nmap           : {statistics.median(overheads):6.2f} s   (target <= 0.3 s)")
    finally:
        listeners.close()


if __name__ == "__main__":
    main()
