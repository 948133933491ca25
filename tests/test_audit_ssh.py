"""End to end over real OpenSSH servers: audit -> per-check results -> evidence -> regraded T2 -> report.

Hosts (all on 127.0.4.0/24, one shared dynamic port, see audit_helpers.py):
    run      ClamAV installed, clamd running, signatures fresh         -> protected
    stopped  ClamAV installed, not running, signatures fresh           -> degraded
    stale    clamd running, signatures 30 days old (TOFU scope)        -> degraded
    none     nothing installed                                          -> unprotected
    hostile  nothing installed; uname prints ANSI, <script>, fake marks -> unprotected, output escaped
    wrongkey known_hosts holds another key                              -> unknown, error: host key, nothing run
    unreach  127.0.4.250, nothing listening                             -> unknown, error: unreachable
    nocreds  endpoint of an agency no scope covers                      -> unknown, error: no credentials
T2 by hand: 1 protected of 8 endpoints, 3 unknown; 90% of 8 needs 8 (7/8 = 87.5%), so gap = 7.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from audit_helpers import Host, SshLab, keygen, sha256_fingerprint
from sqlalchemy import select

from secops.collect.tables import AuditHostRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, GradeRow, RunRow

ROOT = Path(__file__).resolve().parent.parent
SLEEP = Path(shutil.which("sleep") or "/bin/sleep")
HOSTILE = b'\x1b[2J\x1b[31m<script>alert("uname")</script> deadbeef E 0 0\n'

pytestmark = pytest.mark.timeout(300)


def _uname_trap(marker: Path) -> bytes:
    # Runs the real uname (kept beside it) after leaving a marker: proof that a command ran.
    return f"#!/bin/sh\ntouch {marker}\nexec /usr/bin/uname.real \"$@\"\n".encode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("sshlab")
    now = time.time()
    clamav = {"/usr/sbin/clamd": SLEEP, "/var/lib/clamav/daily.cvd": b"ClamAV-VDB:test", }
    real_uname = Path(shutil.which("uname") or "/usr/bin/uname")
    hosts = [
        Host("run", "127.0.4.2", files=dict(clamav), processes=["/usr/sbin/clamd 600"]),
        Host("stopped", "127.0.4.3", files=dict(clamav)),
        Host("stale", "127.0.4.6", files=dict(clamav), processes=["/usr/sbin/clamd 600"],
             mtimes={"/var/lib/clamav/daily.cvd": now - 30 * 86400}),
        Host("none", "127.0.4.4", files={"/usr/bin/uname": _uname_trap(base / "ran-none"),
                                         "/usr/bin/uname.real": real_uname}),
        Host("hostile", "127.0.4.7", files={"/usr/bin/uname": b"#!/bin/sh\nprintf '" +
                                            HOSTILE.replace(b"\x1b", b"\\033").replace(b"\n", b"\\n") + b"'\n"}),
        Host("wrongkey", "127.0.4.5", files={**clamav, "/usr/bin/uname": _uname_trap(base / "ran-wrongkey"),
                                             "/usr/bin/uname.real": real_uname},
             processes=["/usr/sbin/clamd 600"]),
    ]
    lab = SshLab(base, hosts)
    lab.start()
    yield lab
    lab.stop()


def _inventory(db: Database, lab: SshLab) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh Thử", kind="province")
        s.add(prov)
        s.flush()
        labagency = AgencyRow(code="LAB", name="Sở <Thử nghiệm>", kind="department", parent_id=prov.id)
        other = AgencyRow(code="OTHER", name="Sở khác", kind="department", parent_id=prov.id)
        s.add_all([labagency, other])
        s.flush()
        names = {"hostile": "<script>alert('host')</script>"}
        for name, host in lab.hosts.items():
            s.add(EndpointRow(code=f"ep-{name}", hostname=names.get(name, f"{name}.lab"), ips=[host.address],
                              os_family="linux", role="server", agency_id=labagency.id))
        s.add(EndpointRow(code="ep-unreach", hostname="unreach.lab", ips=["127.0.4.250"], os_family="linux",
                          role="workstation", agency_id=labagency.id))
        s.add(EndpointRow(code="ep-nocreds", hostname="nocreds.lab", ips=["127.0.4.251"], os_family="linux",
                          role="workstation", agency_id=other.id))


@pytest.fixture(scope="module")
def audited(lab: SshLab, tmp_path_factory: pytest.TempPathFactory):
    """Trust the host keys the way an officer does, then run `secops audit` once."""
    from conftest import run_cli

    work = tmp_path_factory.mktemp("audit")
    db_path = work / "secops.db"
    db = Database(f"sqlite:///{db_path}")
    _inventory(db, lab)
    known_hosts = work / "known_hosts"
    config = work / "audit.yaml"
    config.write_text(json.dumps({
        "concurrency": 4, "known_hosts": str(known_hosts),
        "scopes": [
            {"name": "tofu", "hosts": ["127.0.4.6"], "username": "root", "port": lab.port,
             "key_files": [str(lab.client_key)], "trust_on_first_use": True, "connect_timeout": 5},
            {"name": "lab", "agencies": ["LAB"], "username": "root", "port": lab.port,
             "key_files": [str(lab.client_key)], "connect_timeout": 5, "command_timeout": 20},
        ]}))
    for name in ("run", "stopped", "none", "hostile"):
        host = lab.hosts[name]
        fp = sha256_fingerprint(host.host_key.with_suffix(".pub"))  # type: ignore[union-attr]
        done = run_cli("hosts", "trust", host.address, "--port", str(lab.port), "--fingerprint", fp,
                       "--config", str(config), db=db_path)
        assert done.returncode == 0, done.stderr
        assert fp in done.stdout
    # wrongkey: known_hosts holds a key the server does not have.
    impostor = keygen(work / "impostor").with_suffix(".pub").read_text().split()
    with known_hosts.open("a") as fh:
        fh.write(f"[127.0.4.5]:{lab.port} {impostor[0]} {impostor[1]}\n")
    checks = work / "checks"
    shutil.copytree(ROOT / "checks", checks)
    shutil.copy(ROOT / "tests" / "fixtures" / "audit" / "hostile_pack.yml", checks / "hostile_pack.yml")
    done = run_cli("audit", "--config", str(config), "--checks", str(checks), "--no-progress", db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = run_cli("report", "--lang", "en", env={"SECOPS_OUTPUT": str(work / "report")}, db=db_path)
    yield {"db": db, "db_path": db_path, "work": work, "known_hosts": known_hosts, "config": config,
           "stdout": done.stdout, "report": report, "checks": checks}
    db.dispose()


def _hosts(db: Database) -> dict[str, AuditHostRow]:
    with db.session() as s:
        rows = s.scalars(select(AuditHostRow)).all()
        for row in rows:
            _ = row.checks  # load while the session is open
        return {row.endpoint_code: row for row in rows}


def test_protection_status_per_host_state(audited) -> None:
    hosts = _hosts(audited["db"])
    expected = {"ep-run": "protected", "ep-stopped": "degraded", "ep-stale": "degraded", "ep-none": "unprotected",
                "ep-hostile": "unprotected", "ep-wrongkey": "unknown", "ep-unreach": "unknown",
                "ep-nocreds": "unknown"}
    assert {code: h.protection for code, h in hosts.items()} == expected
    assert hosts["ep-run"].product == "ClamAV"
    assert "running=failed" in (hosts["ep-stopped"].protection_detail or "")
    assert "signatures=failed" in (hosts["ep-stale"].protection_detail or "")
    assert {code: h.error_kind for code, h in hosts.items() if h.status == "error"} == {
        "ep-wrongkey": "host key", "ep-unreach": "unreachable", "ep-nocreds": "no credentials"}
    # One connection, one framed round: requirement-gated commands and directory contents are
    # decided on the host (issue 12).
    assert [h.round_trips for h in hosts.values() if h.status == "ok"] == [1] * 5


def test_refused_host_key_runs_nothing(audited, lab: SshLab) -> None:
    hosts = _hosts(audited["db"])
    assert "host key changed" in (hosts["ep-wrongkey"].message or "")
    assert hosts["ep-wrongkey"].checks == []
    work = lab.base
    assert (work / "ran-none").exists(), "control: the uname trap works on an audited host"
    assert not (work / "ran-wrongkey").exists(), "a command ran on the host with the wrong key"
    log = lab.log("wrongkey")
    assert "Connection from" in log  # the server did see us ...
    assert "Accepted" not in log  # ... but no authentication ever happened, so no session
    assert "Accepted publickey for root" in lab.log("none")


def test_tofu_scope_records_key_and_others_are_untouched(audited, lab: SshLab) -> None:
    text = audited["known_hosts"].read_text()
    assert f"[127.0.4.6]:{lab.port}" in text  # recorded by trust-on-first-use
    stale_key = lab.hosts["stale"].host_key.with_suffix(".pub").read_text().split()[1]  # type: ignore[union-attr]
    assert stale_key in text
    wrong = lab.hosts["wrongkey"].host_key.with_suffix(".pub").read_text().split()[1]  # type: ignore[union-attr]
    assert wrong not in text  # a changed key is never replaced silently


def test_hosts_trust_yes_never_replaces_a_changed_key(audited, lab: SshLab, cli) -> None:
    before = audited["known_hosts"].read_text()
    done = cli("hosts", "trust", "127.0.4.5", "--port", str(lab.port), "--yes", "--config",
                   str(audited["config"]), db=audited["db_path"])
    assert done.returncode == 2 and "host key changed" in done.stderr and "--fingerprint" in done.stderr
    assert audited["known_hosts"].read_text() == before


def test_hosts_trust_wrong_fingerprint_on_a_trusted_host_is_a_mismatch(audited, lab: SshLab, cli) -> None:
    """It used to print "already trusted" and exit 0: the officer's fingerprint was never compared."""
    before = audited["known_hosts"].read_text()
    done = cli("hosts", "trust", "127.0.4.6", "--port", str(lab.port), "--fingerprint", "SHA256:WRONG",
               "--config", str(audited["config"]), db=audited["db_path"])
    assert done.returncode == 2 and "fingerprint mismatch" in done.stderr, done.stdout + done.stderr
    assert "already trusted" not in done.stdout
    assert audited["known_hosts"].read_text() == before


def test_unknown_key_without_tofu_is_refused(lab: SshLab, tmp_path: Path, db_path: Path, cli) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"known_hosts": str(tmp_path / "kh"), "scopes": [
        {"name": "x", "username": "root", "port": lab.port, "key_files": [str(lab.client_key)]}]}))
    done = cli("audit", "--hosts", "127.0.4.4", "--config", str(config), "--no-progress", db=db_path)
    assert done.returncode == 0, done.stderr
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        host = s.scalars(select(AuditHostRow)).one()
        assert (host.status, host.error_kind, host.endpoint_id) == ("error", "host key", None)
        assert "unknown host key" in (host.message or "")
        assert s.scalars(select(EvidenceRow)).all() == []  # not an inventory endpoint: no evidence
    db.dispose()
    assert not (tmp_path / "kh").exists()


def test_evidence_and_regraded_t2(audited) -> None:
    db = audited["db"]
    with db.session() as s:
        run = s.scalars(select(RunRow).where(RunRow.kind == "audit")).one()
        assert run.status == "partial"  # three hosts could not be audited
        assert run.summary["audited_hosts"] == 8
        evidence = {e.endpoint_id: e for e in s.scalars(select(EvidenceRow))}
        # The five hosts reached are evidence; the three attempts that could not look are not (they
        # stay on their audit host rows, error kind and message).
        assert len(evidence) == 5 and all(e.source == "audit" and e.run_id == run.id for e in evidence.values())
        unreach = s.scalar(select(EndpointRow).where(EndpointRow.code == "ep-unreach"))
        assert unreach.id not in evidence
        attempt = s.scalars(select(AuditHostRow).where(AuditHostRow.endpoint_id == unreach.id)).one()
        assert attempt.error_kind == "unreachable"
        cell = s.scalar(select(GradeRow).where(GradeRow.run_id == run.id, GradeRow.target_id == "T2",
                                               GradeRow.agency_code == "PROV"))
        assert (cell.numerator, cell.denominator, cell.unknown, cell.status, cell.gap) == (1, 8, 3, "not_met", 7)
        lab_cell = s.scalar(select(GradeRow).where(GradeRow.run_id == run.id, GradeRow.target_id == "T2",
                                                   GradeRow.agency_code == "LAB"))
        assert (lab_cell.numerator, lab_cell.denominator) == (1, 7)


def test_per_check_results_stored(audited) -> None:
    hosts = _hosts(audited["db"])
    by_check = {c.check_id: c for c in hosts["ep-run"].checks if c.policy_id == "secops_ep_linux"}
    assert (by_check["9100"].result, by_check["9101"].result, by_check["9102"].result) == ("passed",) * 3
    assert by_check["9110"].result == "failed" and by_check["9110"].remediation
    stopped = {c.check_id: c.result for c in hosts["ep-stopped"].checks}
    assert (stopped["9100"], stopped["9101"], stopped["9102"]) == ("passed", "failed", "passed")
    summary = {p["policy"]: p for p in hosts["ep-run"].policies}
    ep = summary["secops_ep_linux"]
    assert ep["passed"] == 3 and ep["score"] == pytest.approx(3 / (3 + ep["failed"]))
    assert summary["secops_ep_windows"]["applicable"] is False


def test_hostile_output_cannot_break_framing_or_reports(audited) -> None:
    hosts = _hosts(audited["db"])
    hostile = hosts["ep-hostile"]
    assert hostile.status == "ok"
    assert hostile.os_info is not None and '<script>alert("uname")</script>' in hostile.os_info
    checks = {c.check_id: c for c in hostile.checks if c.policy_id == "test_hostile"}
    assert checks["1"].result == "passed"  # the output containing ANSI and <script> arrived intact
    assert checks["2"].result == "failed"
    report = audited["report"]
    assert report.returncode == 0, report.stderr
    html = next((audited["work"] / "report").rglob("dashboard.html")).read_text()
    assert "<script>" not in html  # hostnames, uname output and pack text are escaped
    assert "\x1b" not in html
    assert "&lt;script&gt;alert(&#39;host&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#34;uname&#34;)" in html
    assert "&lt;b&gt;never&lt;/b&gt;" in html  # failed check remediation, escaped
    assert "\x1b" not in audited["stdout"] and "deadbeef E 0 0" not in audited["stdout"]
    pages = list((audited["work"] / "report").rglob("hosts/*.html"))
    hostile_page = next(p for p in pages if "ep-hostile" in p.name).read_text()
    assert "<script>" not in hostile_page and "\x1b" not in hostile_page
    assert "&lt;b&gt;never&lt;/b&gt;" in hostile_page  # its failed check's remediation, escaped


def test_dashboard_audit_section(audited) -> None:
    data = json.loads(next((audited["work"] / "report").rglob("dashboard.json")).read_text())
    section = data["sections"]["audit"]
    rows = {h["code"]: h for h in section["hosts"]}
    assert rows["ep-run"]["protection"] == "protected"
    assert rows["ep-wrongkey"]["error"].startswith("host key")
    failed = {f["check_id"] for f in rows["ep-stopped"]["failed"]}
    assert "9101" in failed
    assert all(f["remediation"] for f in rows["ep-stopped"]["failed"] if f["check_id"] == "9101")
    # Each endpoint has its own page of results: every failed check with remediation, linked from the table.
    report_dir = next((audited["work"] / "report").rglob("dashboard.json")).parent
    page = (report_dir / rows["ep-stopped"]["page"]).read_text()
    assert "9101" in page and rows["ep-stopped"]["failed"][0]["remediation"].split("'")[0][:20] in page
    assert f'href="{rows["ep-stopped"]["page"]}"' in (report_dir / "dashboard.html").read_text()
    assert "pages" not in section  # the pages' content is in the hosts list already
    # Findings, not noise: a host with no product gets ONE protection finding naming what was looked
    # for; a host with ClamAV is not told that ESET, Sophos... are missing.
    none = [f for f in rows["ep-none"]["failed"] if "T2" in f["serves"]]
    assert len(none) == 1 and none[0]["check_id"] == "—" and "ClamAV" in none[0]["reason"]
    assert "ESET" in none[0]["reason"] and none[0]["remediation"]
    stopped = {f["title"] for f in rows["ep-stopped"]["failed"]}
    assert not any("ESET" in title or "Sophos" in title for title in stopped)
