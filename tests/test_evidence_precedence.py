"""An attempt that could not look at an endpoint never erases what was observed of it.

Five endpoints, each reported "protected" by a console export observed an hour ago
(`secops evidence import`), each audited over real OpenSSH servers in a way that fails:
    ws-01  127.0.6.1  sshd whose host key is not the one in known_hosts       -> host key
    ws-02  127.0.6.2  sshd that does not accept the scope's key               -> auth
    ws-03  127.0.6.3  sshd whose `uname` hangs past the host's time (3 s)       -> timeout
    ws-04  127.0.6.4  nothing listening                                       -> unreachable
    ws-05  127.0.6.5  in an agency no audit scope covers                      -> no credentials
By hand: T2 is 5 of 5 from the console rows; it stays 5 of 5 after the failed audit, whichever
comes first, and the dashboard shows each failure beside the console evidence that stands.

Then the precedence rule (policies/targets.yaml, evidence_precedence): an audit counts as 6 hours
newer than it is, so a console row 1 hour newer does not replace it and one 7 hours newer does.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from audit_helpers import Host, SshLab, keygen
from sqlalchemy import select

from secops.collect.tables import AuditHostRow
from secops.grade.record import grade_store
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, GradeRow
from secops.targets import load_targets

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
KINDS = {"ws-01": "host key", "ws-02": "auth", "ws-03": "timeout", "ws-04": "unreachable", "ws-05": "no credentials"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("preclab")
    sleep = shutil.which("sleep") or "/bin/sleep"
    hosts = [Host("hk", "127.0.6.1"), Host("auth", "127.0.6.2"),
             Host("slow", "127.0.6.3", files={"/usr/bin/uname": f"#!/bin/sh\nexec {sleep} 60\n".encode()})]
    lab = SshLab(base, hosts)
    lab.start()
    yield lab
    lab.stop()


def _inventory(db: Database) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        lab = AgencyRow(code="LAB", name="Sở Thử", kind="department", parent_id=prov.id)
        other = AgencyRow(code="OTHER", name="Sở khác", kind="department", parent_id=prov.id)
        s.add_all([lab, other])
        s.flush()
        for i in range(1, 6):
            s.add(EndpointRow(code=f"ws-0{i}", hostname=f"ws-0{i}.lab", ips=[f"127.0.6.{i}"], os_family="linux",
                              role="workstation", agency_id=(other if i == 5 else lab).id))


def _config(lab: SshLab, work: Path) -> Path:
    """Scopes for LAB only; the host key of ws-02 and ws-03 trusted, an impostor's for ws-01."""
    known_hosts = work / "known_hosts"
    lines = []
    for name in ("auth", "slow"):
        pub = lab.hosts[name].host_key.with_suffix(".pub").read_text().split()  # type: ignore[union-attr]
        lines.append(f"[{lab.hosts[name].address}]:{lab.port} {pub[0]} {pub[1]}")
    impostor = keygen(work / "impostor").with_suffix(".pub").read_text().split()
    lines.append(f"[127.0.6.1]:{lab.port} {impostor[0]} {impostor[1]}")
    known_hosts.write_text("\n".join(lines) + "\n")
    stranger = keygen(work / "stranger")  # a key no server accepts
    config = work / "audit.yaml"
    common = {"username": "root", "port": lab.port, "connect_timeout": 3, "host_timeout": 3, "command_timeout": 2}
    config.write_text(json.dumps({"concurrency": 5, "known_hosts": str(known_hosts), "scopes": [
        {"name": "auth", "hosts": ["127.0.6.2"], "key_files": [str(stranger)], **common},
        {"name": "lab", "agencies": ["LAB"], "key_files": [str(lab.client_key)], **common}]}))
    return config


def _console_export(path: Path, observed: dt.datetime) -> Path:
    # A time without a zone in an export is the province's local time (policies/locale.yaml).
    local = observed.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d %H:%M:%S")
    rows = [f"ws-0{i}.lab,127.0.6.{i},Kaspersky Endpoint Security 12,Protected,{local}" for i in range(1, 6)]
    path.write_text("Computer Name,IP Address,Product,Protection Status,Last Update\n" + "\n".join(rows) + "\n")
    return path


def _t2(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        cell = s.scalars(select(GradeRow).where(GradeRow.target_id == "T2", GradeRow.agency_code == "PROV")
                         .order_by(GradeRow.id.desc())).first()
        assert cell is not None
        return cell.numerator, cell.denominator, cell.unknown


def _import(cli, db_path: Path, work: Path) -> None:
    export = _console_export(work / "ksc.csv", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    done = cli("evidence", "import", str(export), "--source", "Kaspersky Security Center", db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported 5" in done.stdout


def _audit(cli, db_path: Path, config: Path) -> None:
    done = cli("audit", "--config", str(config), "--no-progress", db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr


def _assert_standing_with_failures(db: Database, db_path: Path, work: Path, cli) -> None:
    with db.session() as s:
        kinds = {h.endpoint_code: h.error_kind for h in s.scalars(select(AuditHostRow))}
        assert kinds == KINDS  # every kind of attempt that could not look, recorded on its host
        evidence = s.scalars(select(EvidenceRow)).all()
        assert {e.source for e in evidence} == {"console"}  # none of the attempts became evidence
    assert _t2(db) == (5, 5, 0)
    out = work / "report"
    report = cli("report", "--lang", "en", env={"SECOPS_OUTPUT": str(out)}, db=db_path)
    assert report.returncode == 0, report.stderr
    data = json.loads(next(out.rglob("dashboard.json")).read_text())
    section = data["sections"]["audit"]
    rows = {h["code"]: h for h in section["hosts"]}
    for code, kind in KINDS.items():
        assert rows[code]["error"].startswith(kind + ":"), rows[code]["error"]
        standing = rows[code]["standing"]
        assert (standing["status"], standing["source"]) == ("protected", "console")
        assert standing["age_hours"] in (0, 1)
    assert section["precedence"]["credit_hours"] == {"audit": 6}
    html = next(out.rglob("dashboard.html")).read_text()
    assert html.count("Last attempt failed: ") == 5
    assert "Standing evidence: console export" in html and 'id="evidence-precedence"' in html


def test_console_then_failing_audit_keeps_the_console_evidence(lab: SshLab, tmp_path: Path, db: Database,
                                                              db_path: Path, cli) -> None:
    _inventory(db)
    config = _config(lab, tmp_path)
    _import(cli, db_path, tmp_path)
    assert _t2(db) == (5, 5, 0)
    _audit(cli, db_path, config)
    _assert_standing_with_failures(db, db_path, tmp_path, cli)


def test_failing_audit_then_console_import(lab: SshLab, tmp_path: Path, db: Database, db_path: Path, cli) -> None:
    _inventory(db)
    config = _config(lab, tmp_path)
    _audit(cli, db_path, config)
    assert _t2(db) == (0, 5, 5)
    _import(cli, db_path, tmp_path)  # observed an hour before the audit's attempts, still stands
    _assert_standing_with_failures(db, db_path, tmp_path, cli)


def _grade(db: Database, as_of: dt.datetime) -> tuple[int, int]:
    cell = next(c for c in grade_store(db, load_targets(POLICIES), as_of)
                if c.target_id == "T2" and c.agency_code == "PROV")
    return cell.numerator, cell.denominator


def _precedence_case(db: Database) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        for code in ("near", "far", "tie"):
            s.add(EndpointRow(code=code, hostname=f"{code}.lab", ips=[], os_family="linux", role="server",
                              agency_id=prov.id))
        s.flush()
        ids = {e.code: e.id for e in s.scalars(select(EndpointRow))}
        audited = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
        for code, later in (("near", dt.timedelta(hours=1)), ("far", dt.timedelta(hours=7)),
                            ("tie", dt.timedelta(0))):
            s.add(EvidenceRow(endpoint_id=ids[code], status="protected", source="audit", observed_at=audited,
                              detail="clamd running"))
            s.add(EvidenceRow(endpoint_id=ids[code], status="unprotected", source="console",
                              observed_at=audited + later, detail="console: not installed"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sources_at_similar_times_follow_the_policy(backend: str, db: Database, request) -> None:
    """near: the console row 1 h after the audit does not replace it (6 h credit); far: 7 h after,
    it does; tie: at the same time the audit stands. T2 = 2 of 3 (near and tie protected)."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        db = Database(url)
    _precedence_case(db)
    as_of = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert _grade(db, as_of) == (2, 3)
    from secops.grade.sql import endpoint_credits
    from secops.report.fixlist import fix_items

    with db.session() as s:
        items = list(fix_items(s, load_targets(POLICIES), as_of))
    fix = {i.code: i for i in items if i.target_id == "T2"}
    assert set(fix) == {"far"} and fix["far"].detail["source"] == "console"
    assert endpoint_credits(load_targets(POLICIES)) == {"audit": 360}
    if backend == "postgresql":
        db.dispose()
