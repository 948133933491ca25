"""Real nmap against real services this test starts on 127.0.3.x (one address per "host").

Every scan targets 127.0.3.0/24 only, with an explicit port list so runs stay fast and
deterministic: a port another process holds on all addresses could not be bound here, so the
ports we listen on are ours alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from secops.discover.gaps import stale_endpoints
from secops.discover.tables import DiscoveredHostRow, DiscoveryChunkRow, DiscoveryScanRow
from secops.store.db import Database
from secops.store.tables import EndpointRow, RunRow
from tests.discover_helpers import (
    AGENCY,
    NMAP,
    Listeners,
    days_ago,
    free_port,
    path_with,
    recording_nmap,
    seed_inventory,
    write_scope,
)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def lab(tmp_path: Path, db_path: Path):  # type: ignore[no-untyped-def]
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    listeners = Listeners()
    web = listeners.http("127.0.3.1")
    extra = listeners.tcp("127.0.3.1")
    other = listeners.tcp("127.0.3.2")
    closed = free_port("127.0.3.1")
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [{"code": "EP-WEB", "hostname": "web01", "ips": ["127.0.3.1"]},
                        {"code": "EP-OLD", "hostname": "old01", "ips": ["127.0.3.20"]},
                        {"code": "EP-NEVER", "hostname": "never01", "ips": ["127.0.3.30"]}])
    with db.session() as session:  # EP-OLD was last seen by discovery 40 days ago
        session.scalars(select(EndpointRow).where(EndpointRow.code == "EP-OLD")).one().last_seen = days_ago(40)
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.0/24"])
    yield {"db": db, "db_path": db_path, "scope": scope, "web": web, "extra": extra, "other": other,
           "closed": closed, "listeners": listeners, "tmp": tmp_path}
    listeners.close()
    db.dispose()


def discover(cli, lab, *args: str, env: dict | None = None):  # type: ignore[no-untyped-def]
    return cli("discover", "--agency", AGENCY, "--scope", str(lab["scope"]), "--json", *args,
               db=lab["db_path"], env=env)


def open_ports(db: Database, run_id: int) -> dict[str, set[int]]:
    with db.session() as session:
        hosts = session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run_id))
        return {h.address: {p.port for p in h.ports if p.state == "open"} for h in hosts}


def test_scan_finds_hosts_ports_and_reconciles(cli, lab) -> None:  # type: ignore[no-untyped-def]
    ports = f"{lab['web']},{lab['extra']},{lab['other']},{lab['closed']}"
    result = discover(cli, lab, "--targets", "127.0.3.1-3", "--ports", ports)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    run_id, summary = payload["run"], payload["summary"]
    assert payload["status"] == "ok"
    assert (summary["hosts_up"], summary["matched"], summary["unregistered"], summary["conflict"]) == (3, 1, 2, 0)
    assert open_ports(lab["db"], run_id) == {"127.0.3.1": {lab["web"], lab["extra"]},
                                             "127.0.3.2": {lab["other"]}, "127.0.3.3": set()}
    db = lab["db"]
    with db.session() as session:
        hosts = {h.address: h for h in session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run_id))}
        assert (hosts["127.0.3.1"].match_status, hosts["127.0.3.1"].match_rule) == ("matched", "ip")
        assert hosts["127.0.3.2"].match_status == hosts["127.0.3.3"].match_status == "unregistered"
        endpoints = {e.code: e for e in session.scalars(select(EndpointRow))}
        assert endpoints["EP-WEB"].last_seen is not None and endpoints["EP-WEB"].last_seen > days_ago(1)
        assert endpoints["EP-NEVER"].last_seen is None
        stale = stale_endpoints(session, [AGENCY, "DISC-SO"], days_ago(0), 30)
        assert [e.code for e, _ in stale] == ["EP-OLD"]
        chunk = session.scalars(select(DiscoveryChunkRow)).one()
        assert chunk.status == "ok" and chunk.raw_size > 0 and "-oX" in chunk.command
        run = session.get(RunRow, run_id)
        assert run is not None and run.status == "ok" and run.summary["hosts_up"] == 3
    # The raw XML is kept and can be printed for audit.
    xml = cli("discover", "xml", str(run_id), db=lab["db_path"])
    assert xml.returncode == 0 and f'portid="{lab["other"]}"' in xml.stdout and "<nmaprun" in xml.stdout

    # The dashboard gains the discovery gaps: unregistered hosts and the stale endpoint.
    assert cli("grade", db=lab["db_path"]).returncode == 0
    out = lab["tmp"] / "report"
    report = cli("report", "--lang", "en", "--out", str(out), db=lab["db_path"])
    assert report.returncode == 0, report.stderr
    section = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["sections"]["discovery"]
    assert section["counts"] == {"unregistered": 2, "conflict": 0, "stale": 1, "never_seen": 1, "risky_ports": 0}
    assert [h["address"] for h in section["unregistered"]] == ["127.0.3.2", "127.0.3.3"]
    assert section["unregistered"][0]["ports"][0]["port"] == lab["other"]
    assert [e["code"] for e in section["stale"]] == ["EP-OLD"]
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert 'id="discovery"' in html and "Unregistered hosts" in html and "old01" in html and "127.0.3.2" in html


def test_diff_after_a_port_is_opened(cli, lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The risky list is data: a policy folder that calls the new port risky flags it, no code change.
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    risky = yaml.safe_load((policies / "risky_services.yaml").read_text(encoding="utf-8"))
    risky["risky"].append({"port": lab["closed"], "protocol": "tcp", "reason": "test database port"})
    (policies / "risky_services.yaml").write_text(yaml.safe_dump(risky), encoding="utf-8")
    env = {"SECOPS_POLICIES": str(policies)}
    ports = f"{lab['web']},{lab['other']},{lab['closed']}"
    first = discover(cli, lab, "--targets", "127.0.3.1-2", "--ports", ports, env=env)
    assert first.returncode == 0, first.stderr
    lab["listeners"].tcp("127.0.3.1", lab["closed"])  # the change between the two runs
    second = discover(cli, lab, "--targets", "127.0.3.1-2", "--ports", ports, env=env)
    assert second.returncode == 0, second.stderr
    run_a, run_b = json.loads(first.stdout)["run"], json.loads(second.stdout)["run"]
    assert lab["closed"] not in open_ports(lab["db"], run_a)["127.0.3.1"]
    assert lab["closed"] in open_ports(lab["db"], run_b)["127.0.3.1"]

    latest = cli("discover", "diff", "--json", db=lab["db_path"], env=env)
    assert latest.returncode == 0, latest.stderr
    diff = json.loads(latest.stdout)
    assert (diff["run_a"], diff["run_b"]) == (run_a, run_b)
    assert diff["new_hosts"] == [] and diff["gone_hosts"] == [] and diff["closed_ports"] == []
    assert [(p["address"], p["port"], p["risky"]) for p in diff["opened_ports"]] == [
        ("127.0.3.1", lab["closed"], "test database port")]
    assert diff["risky_opened"] == 1 and diff["warnings"] == []

    explicit = cli("discover", "diff", str(run_a), str(run_b), "--fail-on-risky", db=lab["db_path"], env=env)
    assert explicit.returncode == 1  # a risky service newly opened
    assert f"127.0.3.1:{lab['closed']}/tcp" in explicit.stdout and "RISKY: test database port" in explicit.stdout
    # Backwards, the same port shows as closed.
    backwards = json.loads(cli("discover", "diff", str(run_b), str(run_a), "--json", db=lab["db_path"]).stdout)
    assert [(p["address"], p["port"]) for p in backwards["closed_ports"]] == [("127.0.3.1", lab["closed"])]
    assert backwards["opened_ports"] == []


def test_services_profile_detects_service_and_os(cli, lab) -> None:  # type: ignore[no-untyped-def]
    result = discover(cli, lab, "--targets", "127.0.3.1", "--profile", "services",
                      "--ports", f"{lab['web']},{lab['closed']}")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run"]
    with lab["db"].session() as session:
        host = session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run_id)).one()
        web = next(p for p in host.ports if p.port == lab["web"])
        assert (web.state, web.service, web.product) == ("open", "http", "SimpleHTTPServer")
        assert web.extrainfo and "Python" in web.extrainfo
        scan_args = json.loads(result.stdout)["summary"]["arguments"]
        if "-O" in scan_args:  # running as root (as CI does): OS detection ran and its guess is stored
            assert host.os_name and host.os_family == "Linux" and 0 < (host.os_accuracy or 0) <= 100
        else:
            assert "OS detection skipped: it needs root privileges" in json.loads(result.stdout)["summary"]["notes"]


def test_failed_chunk_keeps_what_was_found(cli, lab) -> None:  # type: ignore[no-untyped-def]
    bin_dir, calls = recording_nmap(lab["tmp"] / "bin", fail_on="127.0.3.2/32")
    result = discover(cli, lab, "--targets", "127.0.3.1-2", "--ports", str(lab["web"]), "--chunk-prefix", "32",
                      "--parallel", "2", env={"PATH": path_with(bin_dir)})
    assert result.returncode == 1, result.stderr  # partial
    payload = json.loads(result.stdout)
    assert payload["status"] == "partial"
    assert (payload["summary"]["chunks"], payload["summary"]["chunks_ok"], payload["summary"]["chunks_failed"]) == (2, 1, 1)
    assert any("chunk 127.0.3.2/32: failed" in e and "injected failure" in e for e in payload["errors"])
    assert open_ports(lab["db"], payload["run"]) == {"127.0.3.1": {lab["web"]}}
    assert calls.read_text().count("-oX") == 2  # both chunks really ran
    with lab["db"].session() as session:
        run = session.get(RunRow, payload["run"])
        assert run is not None and run.status == "partial"


def test_timeout_marks_the_run_failed(cli, lab) -> None:  # type: ignore[no-untyped-def]
    # -T0 waits minutes between probes: the 1-second chunk timeout stops nmap for certain.
    result = discover(cli, lab, "--targets", "127.0.3.1", "--ports", str(lab["web"]), "--timing", "0",
                      "--chunk-timeout", "1")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["status"] == "failed"
    assert any("timeout: nmap did not finish within 1s" in e for e in payload["errors"])
    with lab["db"].session() as session:
        assert session.scalars(select(DiscoveryChunkRow.status)).all() == ["timeout"]
        assert session.scalars(select(DiscoveredHostRow)).all() == []


def _nmaps(group: int) -> list[str]:
    """Command lines of the nmap processes of a process group, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if name == "nmap" and int(rest[2]) == group:
            try:
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return found


def test_ctrl_c_marks_the_run_interrupted(lab) -> None:  # type: ignore[no-untyped-def]
    # Ctrl-C in a terminal signals the whole foreground process group (secops and its nmap children).
    command = [sys.executable, "-m", "secops", "--db", str(lab["db_path"]), "discover", "--agency", AGENCY,
               "--scope", str(lab["scope"]), "--targets", "127.0.3.1-2", "--chunk-prefix", "32", "--timing", "0",
               "--ports", str(lab["web"]), "--json"]
    proc = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait for the condition, not a guess: the scan recorded (its chunks are then being run) and an
        # nmap of each of the two chunks started in secops' process group (nmap starts early, before
        # the scan is recorded; on a loaded machine all this can take many seconds).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with lab["db"].session() as session:
                run = session.scalar(select(DiscoveryScanRow.id))
            scanning = " ".join(_nmaps(proc.pid))
            if run is not None and all(f" {target}" in scanning for target in ("127.0.3.1", "127.0.3.2")):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail(f"the two chunks' nmap processes never started: nmaps {_nmaps(proc.pid)}")
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 130, f"{err}\n--- stdout:\n{out}"
    payload = json.loads(out)
    assert payload["status"] == "interrupted" and payload["summary"]["interrupted"] is True
    with lab["db"].session() as session:
        run = session.get(RunRow, payload["run"])
        assert run is not None and run.status == "interrupted" and run.finished_at is not None
        assert sorted(session.scalars(select(DiscoveryChunkRow.status)).all()) == ["interrupted", "interrupted"]
