"""The dashboard's discovery section escapes what came from the network, and flags risky ports."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from secops.discover.nmap_runner import ChunkOutput
from secops.discover.scope import ScopePlan
from secops.discover.store import create_scan, record_chunk
from secops.models import RunStatus
from secops.runs import finish_run, start_run
from secops.store.db import Database
from tests.discover_helpers import AGENCY, seed_inventory

FIXTURE = Path(__file__).parent / "fixtures" / "discover" / "lan_sample.xml"


def test_hostile_strings_are_escaped_and_risky_ports_flagged(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [{"code": "EP-PC01", "hostname": "pc01", "ips": [], "mac": "52:54:00:12:34:56"}])
    # A recorded scan (documentation addresses, never scanned) stored as a finished discovery run.
    run_id = start_run(db, "discover", agency_code=AGENCY)
    plan = ScopePlan(agency_code=AGENCY, scope_file="scope.yaml", requested=["192.0.2.0/29"], networks=["192.0.2.0/29"])
    scan_id = create_scan(db, run_id, plan, "services", ["-sV"], "7.93")
    now = dt.datetime.now(dt.UTC)
    record = record_chunk(db, run_id, scan_id, ChunkOutput(targets=["192.0.2.0/29"], command=[], started_at=now,
                                                           finished_at=now, xml=FIXTURE.read_text(encoding="utf-8")))
    assert dict(record.matches) == {"matched": 1, "unregistered": 1}  # PC01 by MAC
    finish_run(db, run_id, RunStatus.ok)
    db.dispose()
    assert cli("grade", db=db_path).returncode == 0
    out = tmp_path / "report"
    result = cli("report", "--out", str(out), db=db_path)
    assert result.returncode == 0, result.stderr
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html and "<b>Technology" not in html
    assert "printer&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Thiết bị chưa đăng ký" in html  # Vietnamese by default
    section = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["sections"]["discovery"]
    telnet = section["unregistered"][0]["ports"][0]
    assert (telnet["port"], telnet["risky"]) == (23, "Telnet sends credentials in clear text")
    assert section["counts"]["risky_ports"] == 1 and section["counts"]["unregistered"] == 1


def test_no_discovery_run_means_no_section(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [{"code": "EP-1", "hostname": "pc1", "ips": ["198.18.0.1"]}])
    db.dispose()
    assert cli("grade", db=db_path).returncode == 0
    out = tmp_path / "report"
    assert cli("report", "--out", str(out), db=db_path).returncode == 0
    assert "discovery" not in json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["sections"]
    assert 'id="discovery"' not in (out / "dashboard.html").read_text(encoding="utf-8")
