"""Benchmark: importing a Kaspersky Security Center device list (UTF-16 TSV) of N rows.

Run: python bench/evidence_import.py [--rows 10000,50000] — prints seconds, rows/s and peak RSS
for reading+validating and for matching+bulk-inserting, with the reference figures beside them.
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

from sqlalchemy import insert

from secops.evidence.importer import ImportOptions, import_evidence
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow

POLICIES = Path(__file__).resolve().parent.parent / "policies"
# Measured on the 2-core reference machine (shared), 2026-12-01: rows -> (seconds, peak MiB).
BASELINE = {10_000: (2.8, 90.0), 50_000: (12.7, 157.0)}  # peak RSS is per process (cumulative)


def write_export(path: Path, rows: int) -> None:
    header = ["Name", "Status", "Connection IP address", "Real-time protection", "Anti-virus databases last updated",
              "Last connected to Administration Server", "Network Agent is installed", "Network Agent is running"]
    lines = ["\t".join(header)]
    states = ["Running", "Running", "Running", "Stopped", "Not installed", "Paused"]
    for i in range(rows):
        lines.append("\t".join([f"PC-{i:06d}", "OK", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", states[i % 6],
                                f"11/{1 + i % 20}/2026 7:10:00 AM", f"{i % 50} minutes ago", "Yes", "Yes"]))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))


def inventory(db: Database, rows: int) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        batch = [{"code": f"pc-{i:06d}", "hostname": f"pc-{i:06d}.lan", "ips": [],
                  "os_family": "windows", "role": "workstation", "agency_id": prov.id} for i in range(rows)]
        s.execute(insert(EndpointRow), batch)


def bench(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        inventory(db, rows)
        export = Path(tmp) / "devices.txt"
        write_export(export, rows)
        options = ImportOptions(exported_at=dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), max_rows=rows + 10)
        start = time.perf_counter()
        result = import_evidence(db, export, None, POLICIES, options=options)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        base = BASELINE.get(rows)
        ref = f"   (reference {base[0]:.1f} s, {base[1]:.0f} MiB)" if base else ""
        print(f"{rows:>7} rows: imported {result.imported}, {seconds:6.2f} s, {rows / seconds:8.0f} rows/s, "
              f"peak RSS {peak:6.1f} MiB{ref}", flush=True)
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="10000,50000")
    for rows in (int(n) for n in parser.parse_args().rows.split(",")):
        bench(rows)


if __name__ == "__main__":
    main()
