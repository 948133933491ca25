"""Automated checklist evidence on real hosts.

Loopback sshd lab (tests/audit_helpers.py), each host in its own mount and PID namespace:
    good  127.0.4.40  clamd + chronyd running, INACTIVE=30, TMOUT=900, faillock deny=5 with
                      pam_faillock, dpkg status touched today, logrotate monthly/rotate 12,
                      PASS_MAX_DAYS 60
    bad   127.0.4.41  nothing running, INACTIVE=-1, no TMOUT, faillock commented out, dpkg status
                      60 days old, logrotate weekly/rotate 4 (28 days: under even 1 month),
                      PASS_MAX_DAYS 99999
Every check of checks/level_requirements_linux.yml passes on good and fails on bad; the results
then flow to checklist items with a link to the audit run: a system of good only is met, a system
of good + bad is partly met. The local transport runs the same checks on this machine against
files written for the test (paths rewritten into a temporary root), and against real processes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from audit_helpers import Host, SshLab
from conftest import run_cli
from sqlalchemy import select

from secops.collect.audit import HostAudit, HostTarget, collect_and_evaluate
from secops.collect.local import LocalTransport
from secops.collect.tables import AuditHostRow
from secops.evaluate.sca_load import load_policy
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, SystemRow

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "checks" / "level_requirements_linux.yml"
SLEEP = Path(shutil.which("sleep") or "/bin/sleep")
CHECKS = [str(n) for n in range(9800, 9811)]
FILE_CHECKS = [c for c in CHECKS if c not in ("9800", "9805")]

pytestmark = pytest.mark.timeout(300)

GOOD_FILES: dict[str, bytes] = {
    "/etc/default/useradd": b"SHELL=/bin/sh\nINACTIVE=30\n",
    "/etc/profile.d/secops-tmout.sh": b"readonly TMOUT=900\nexport TMOUT\n",
    "/etc/security/faillock.conf": b"deny = 5\nunlock_time = 43200\n",
    "/etc/pam.d/common-auth": b"auth required pam_faillock.so preauth\nauth [success=1 default=ignore] pam_unix.so\n",
    "/var/lib/dpkg/status": b"Package: secops-test\nStatus: install ok installed\n",
    "/etc/logrotate.conf": b"monthly\nrotate 12\ncreate\n",
    "/etc/login.defs": b"PASS_MAX_DAYS\t60\nPASS_MIN_DAYS\t1\n",
}
BAD_FILES: dict[str, bytes] = {
    "/etc/default/useradd": b"SHELL=/bin/sh\nINACTIVE=-1\n",
    "/etc/profile": b"PATH=/usr/bin:/bin\n",
    "/etc/profile.d/secops-tmout.sh": b"# TMOUT=900 (not yet)\n",
    "/etc/security/faillock.conf": b"# deny = 3\n",
    "/etc/pam.d/common-auth": b"auth [success=1 default=ignore] pam_unix.so\n",
    "/var/lib/dpkg/status": b"Package: secops-test\nStatus: install ok installed\n",
    "/etc/logrotate.conf": b"weekly\nrotate 4\n",
    "/etc/login.defs": b"PASS_MAX_DAYS\t99999\n",
}
OLD = time.time() - 60 * 86400


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("reqlab")
    hosts = [
        Host("good", "127.0.4.40", files={**GOOD_FILES, "/usr/sbin/clamd": SLEEP, "/usr/sbin/chronyd": SLEEP},
             processes=["/usr/sbin/clamd 600", "/usr/sbin/chronyd 600"], extra_dirs=("/etc",)),
        Host("bad", "127.0.4.41", files=dict(BAD_FILES), mtimes={"/var/lib/dpkg/status": OLD},
             extra_dirs=("/etc",)),
    ]
    lab = SshLab(base, hosts)
    lab.start()
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def audited(lab: SshLab, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("reqaudit")
    db_path = work / "secops.db"
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        agency = AgencyRow(code="LAB", name="Sở Thử nghiệm", kind="department")
        s.add(agency)
        s.flush()
        for name, host in lab.hosts.items():
            s.add(EndpointRow(code=f"ep-{name}", hostname=f"{name}.lab", ips=[host.address], os_family="linux",
                              role="server", agency_id=agency.id))
        s.add(SystemRow(code="HT-GOOD", name="Hệ thống tốt", agency_id=agency.id, level=5, state="level_approved"))
        s.add(SystemRow(code="HT-MIXED", name="Hệ thống lẫn", agency_id=agency.id, level=3, state="level_approved"))
    db.dispose()
    checks = work / "checks"
    checks.mkdir()
    shutil.copy(PACK, checks / PACK.name)
    config = work / "audit.yaml"
    config.write_text(json.dumps({"concurrency": 2, "known_hosts": str(work / "known_hosts"), "scopes": [
        {"name": "lab", "agencies": ["LAB"], "username": "root", "port": lab.port, "key_files": [str(lab.client_key)],
         "trust_on_first_use": True, "connect_timeout": 5, "command_timeout": 20}]}))
    done = run_cli("audit", "--agency", "LAB", "--config", str(config), "--checks", str(checks), "--no-progress",
                   db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for code, endpoints in (("HT-GOOD", ["ep-good"]), ("HT-MIXED", ["ep-good", "ep-bad"])):
        linked = run_cli("requirements", "link", code, *endpoints, db=db_path)
        assert linked.returncode == 0, linked.stderr
    return db_path


def _results(db_path: Path) -> dict[str, dict[str, str]]:
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        hosts = s.scalars(select(AuditHostRow)).all()
        out = {h.endpoint_code or h.label: {c.check_id: c.result for c in h.checks
                                            if c.policy_id == "secops_level_linux"} for h in hosts}
        errors = {h.endpoint_code: h.message for h in hosts if h.status != "ok"}
    db.dispose()
    assert not errors, errors
    return out


def test_every_check_passes_on_good_and_fails_on_bad_over_ssh(audited):
    results = _results(audited)
    assert results["ep-good"] == {c: "passed" for c in CHECKS}
    assert results["ep-bad"] == {c: "failed" for c in CHECKS}


def _show(db_path: Path, system: str, as_of: str | None = None) -> dict:
    args = ["requirements", "show", system, "--json", *(["--as-of", as_of] if as_of else [])]
    done = run_cli(*args, db=db_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


AUTOMATED = ["R26-MALWARE-REALTIME", "R26-ACCOUNT-INACTIVE", "R26-CONFIG-SESSION-LOCK", "R26-CONFIG-LOGIN-LOCKOUT",
             "R26-VULN-PATCH-USER", "R26-LOG-TIMESYNC", "R26-LOG-RETENTION", "R26-ACCOUNT-ADMIN-PASSWORD-AGE",
             "R26-VULN-SCAN"]


def test_results_flow_to_checklist_items_with_the_run(audited):
    good = {i["item"]: i for i in _show(audited, "HT-GOOD")["items"]}
    mixed = {i["item"]: i for i in _show(audited, "HT-MIXED")["items"]}
    run_ids = {good[item]["run_id"] for item in AUTOMATED}
    assert len(run_ids) == 1 and None not in run_ids
    for item in AUTOMATED:
        assert good[item]["status"] == "met" and good[item]["source"] == "secops", good[item]
    for item in AUTOMATED[:-1]:
        assert mixed[item]["status"] == "partly_met", mixed[item]
        assert mixed[item]["detail"] == "1/2 hosts passed"
    assert mixed["R26-VULN-SCAN"]["status"] == "met"  # both hosts were audited: the scan itself was done
    # Level 5 retention is judged by the 12-month check, level 3 by the 3-month one.
    assert good["R26-LOG-RETENTION"]["clause"] == "7.8.2.1 a)" and mixed["R26-LOG-RETENTION"]["clause"] == "5.8.2.1 a)"
    # Nothing seen on the network: discovery never covered these hosts.
    assert good["R26-ASSET-ROGUE-DEVICE"]["status"] == "not_met"


def test_automated_evidence_expires(audited, tmp_path):
    """A month later the anti-malware evidence (max age 31 days) is overdue; the audit before it is not yet seen.
    A date in the future is refused, so the audits are moved 40 days into the past in a copy of the store."""
    aged = tmp_path / "aged.db"
    shutil.copy(audited, aged)
    db = Database(f"sqlite:///{aged}")
    with db.session() as session:
        for row in session.scalars(select(AuditHostRow)):
            row.started_at -= dt.timedelta(days=40)
            row.finished_at = row.finished_at - dt.timedelta(days=40) if row.finished_at else None
        for ev in session.scalars(select(EvidenceRow)):
            ev.observed_at -= dt.timedelta(days=40)
    db.dispose()
    good = {i["item"]: i for i in _show(aged, "HT-GOOD")["items"]}
    assert good["R26-MALWARE-REALTIME"]["status"] == "overdue"
    assert good["R26-VULN-PATCH-USER"]["status"] == "overdue"
    assert good["R26-VULN-SCAN"]["status"] == "met"  # level 5: quarterly
    earlier = (dt.date.today() - dt.timedelta(days=41)).isoformat()
    before = {i["item"]: i for i in _show(aged, "HT-GOOD", earlier)["items"]}
    assert before["R26-MALWARE-REALTIME"]["status"] == "not_met"


# --- local transport --------------------------------------------------------------------------

def _local_pack(tmp: Path, root: Path) -> Path:
    """The same pack with every file path moved under a test root (process checks unchanged)."""
    text = PACK.read_text(encoding="utf-8")
    for prefix in ("/etc/", "/var/lib/"):
        text = text.replace(f"'f:{prefix}", f"'f:{root}{prefix}").replace(f"'d:{prefix}", f"'d:{root}{prefix}")
        text = text.replace(f"find {prefix}", f"find {root}{prefix}")
    path = tmp / f"pack-{root.name}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _write_tree(root: Path, files: dict[str, bytes], old: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for name, content in files.items():
        target = root / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        if name in old:
            import os
            os.utime(target, (OLD, OLD))


def _local(pack: Path) -> dict[str, str]:
    audit = HostAudit(target=HostTarget(label="local", address="localhost", local=True), transport="local",
                      started_at=utcnow())
    collect_and_evaluate(LocalTransport(), audit.target, [load_policy(pack)], {}, command_timeout=20,
                         host_timeout=120, audit=audit)
    (result,) = audit.results
    return {c.check_id: c.result for c in result.checks}


def test_file_checks_pass_and_fail_on_the_local_transport(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    _write_tree(good, GOOD_FILES)
    _write_tree(bad, {**BAD_FILES}, old={"/var/lib/dpkg/status"})
    good_results, bad_results = _local(_local_pack(tmp_path, good)), _local(_local_pack(tmp_path, bad))
    assert {c: good_results[c] for c in FILE_CHECKS} == {c: "passed" for c in FILE_CHECKS}
    assert {c: bad_results[c] for c in FILE_CHECKS} == {c: "failed" for c in FILE_CHECKS}


def test_process_checks_pass_on_the_local_transport(tmp_path):
    stubs = []
    try:
        for name in ("clamd", "chronyd"):
            stub = tmp_path / name
            shutil.copy(SLEEP, stub)
            stubs.append(subprocess.Popen([str(stub), "60"]))
        results = _local(PACK)
    finally:
        for proc in stubs:
            proc.kill()
            proc.wait(timeout=10)
    assert results["9800"] == "passed" and results["9805"] == "passed"
    assert all(r in ("passed", "failed") for r in results.values()), results
