"""Discovery overhead: `secops discover` of a loopback /24 against the nmap it runs (issue 12).

Run:  python bench/discover_cli.py [--repeat 5] [--listeners 20] [--code DIR ...]

Seeds an inventory, authorises 127.0.13.0/24 (loopback only) and opens `--listeners` real TCP
services in it, then runs the real `secops discover` command in a child process. nmap is wrapped
by a script that records when each nmap process starts and ends, so the figure printed is

    overhead = secops wall time - time nmap's scans were running (first start to last end)

i.e. what secops adds: start-up, scope check, `nmap -V`, parsing, storing, reconciling. The
issue's target is ≤ 0.3 s. A plain `nmap` with the same arguments is timed beside it. The overhead
is split into the time before nmap started and the time after it ended. "vs plain" is the command's
time minus the plain nmap of the same repetition: it also counts what running secops' work beside
nmap (on a 2-core machine) cost the scan itself.

`--code DIR` (repeatable) runs the `secops` of another checkout (e.g. `git worktree add /tmp/base
50a8034`) instead of this one; with several, each repetition runs them one after the other
(interleaved, so every checkout meets the same machine load), each on its own copy of the seeded
database, and a line per checkout is printed.
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
    parser.add_argument("--code", type=Path, action="append", default=None,
                        help="checkout whose secops runs (repeatable; default: this one)")
    args = parser.parse_args()
    nmap = shutil.which("nmap")
    if nmap is None:
        raise SystemExit("nmap: not found (scripts/install-test-deps.sh installs it)")
    codes = [c.resolve() for c in (args.code or [ROOT])][:8]
    for code in codes:
        if not (code / "secops" / "__main__.py").is_file():
            raise SystemExit(f"--code {code}: not a secops checkout")
    repeat, count = max(1, min(args.repeat, 20)), max(0, min(args.listeners, 250))
    work = Path(tempfile.mkdtemp(prefix="secops-bench-discover-"))
    listeners = Listeners()
    try:
        for i in range(count):
            listeners.http(f"{NET}.{i + 1}")
        seeded = work / "seeded.db"
        db = Database(f"sqlite:///{seeded}")
        seed_inventory(db, [{"code": f"EP-{i}", "hostname": f"h{i}", "ips": [f"{NET}.{i + 1}"]} for i in range(count)])
        db.dispose()
        db_paths = []
        for n, _code in enumerate(codes):
            db_paths.append(work / f"bench-{n}.db")
            shutil.copyfile(seeded, db_paths[-1])
        scope = write_scope(work / "scope.yaml", [f"{NET}.0/24"])
        bin_dir = work / "bin"
        bin_dir.mkdir()
        log = timing_nmap(bin_dir, nmap)
        figures: list[dict[str, list[float]]] = [{"total": [], "scan": [], "before": [], "after": []} for _ in codes]
        plain: list[float] = []
        loads: list[float] = []
        arguments: list[str] = []
        processes = 0
        for _ in range(repeat):
            for code, db_path, fig in zip(codes, db_paths, figures, strict=True):
                env = {**os.environ, "PYTHONPATH": str(code), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                       "SECOPS_OUTPUT": str(work / "out")}
                log.write_text("")
                loads.append(os.getloadavg()[0])
                start = time.time()
                done = subprocess.run([sys.executable, "-m", "secops", "--db", f"sqlite:///{db_path}", "discover",
                                       "--agency", "DISC", "--scope", str(scope), "--json"],
                                      capture_output=True, text=True, env=env, timeout=600, cwd=code)
                end = time.time()
                if done.returncode not in (0, 1):
                    raise SystemExit(f"secops discover ({code}) failed ({done.returncode}): {done.stderr[-2000:]}")
                calls = [line.split(" ", 2) for line in log.read_text().splitlines()]
                runs = [(float(s), float(e), a) for s, e, a in calls if not a.startswith("-V")]
                if not runs:
                    raise SystemExit("secops ran no nmap scan")
                first, last = min(s for s, _, _ in runs), max(e for _, e, _ in runs)
                arguments, processes = runs[0][2].split(), len(runs)
                fig["total"].append(end - start)
                fig["scan"].append(last - first)
                fig["before"].append(first - start)
                fig["after"].append(end - last)
            began = time.time()
            subprocess.run([nmap, *arguments], capture_output=True, timeout=600, check=True)
            plain.append(time.time() - began)
        med = statistics.median
        print(f"secops discover of {NET}.0/24 ({count} listeners), {os.cpu_count()} cores, load average "
              f"{min(loads):.1f}-{max(loads):.1f} (1 min) during the runs; median of {repeat} runs, "
              f"{processes} nmap process(es) per run")
        print(f"  plain nmap, same arguments: {med(plain):6.2f} s   (baseline)")
        print(f"  {'checkout':<36} {'command':>8} {'nmap':>7} {'before':>7} {'after':>7} {'overhead':>9} "
              f"{'vs plain':>9}")
        for code, fig in zip(codes, figures, strict=True):
            overheads = [t - s for t, s in zip(fig["total"], fig["scan"], strict=True)]
            beyond = [t - p for t, p in zip(fig["total"], plain, strict=True)]
            print(f"  {str(code)[-36:]:<36} {med(fig['total']):7.2f}s {med(fig['scan']):6.2f}s "
                  f"{med(fig['before']):6.2f}s {med(fig['after']):6.2f}s {med(overheads):8.2f}s {med(beyond):8.2f}s")
        print("  overhead = command - nmap inside it (first start to last end) = before + after; target <= 0.3 s")
        print("  vs plain = command - the plain nmap of the same repetition (work done while nmap scans "
              "can slow it down)")
    finally:
        listeners.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
