"""Waivers on real audit results (local transport): active, expired (the day it expires) and
out-of-scope waivers; the score, the CLI, the per-host page and the JSON export follow."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from secops.evaluate.engine import CheckResult, PolicyResult
from secops.evaluate.waivers import Waiver, WaiverScope, apply_waivers, load_waivers

ROOT = Path(__file__).resolve().parent.parent
PACK = """policy: {id: waiver_test, name: waiver test pack}
checks:
  - {id: 1, title: root is in passwd, condition: all, rules: ['f:/etc/passwd -> r:^root:']}
  - {id: 2, title: active waiver, condition: all, rules: ['f:/etc/passwd -> r:^nosuchuser_secops_a:']}
  - {id: 3, title: expires today, condition: all, rules: ['f:/etc/passwd -> r:^nosuchuser_secops_b:']}
  - {id: 4, title: other host only, condition: all, rules: ['f:/etc/passwd -> r:^nosuchuser_secops_c:']}
  - {id: 5, title: other agency only, condition: all, rules: ['f:/etc/passwd -> r:^nosuchuser_secops_d:']}
  - {id: 6, title: cannot tell, condition: all, rules: ['f:/nonexistent_secops_file -> r:x']}
"""


def _waivers(today: dt.date) -> str:
    tomorrow, in_30 = today + dt.timedelta(days=1), today + dt.timedelta(days=30)
    return f"""waivers:
  - {{check: "waiver_test:2", scope: {{agencies: [PROV]}}, reason: "accepted <b>risk</b>", approver: "CISO A",
     expires: {in_30}}}
  - {{check: "waiver_test:3", scope: {{hosts: ["*"]}}, reason: "ends today", approver: "CISO B", expires: {today}}}
  - {{check: "waiver_test:4", scope: {{hosts: [some-other-host]}}, reason: "not this host", approver: "CISO C",
     expires: {tomorrow}}}
  - {{check: "waiver_test:5", scope: {{agencies: [SO-KHAC]}}, reason: "not this agency", approver: "CISO D",
     expires: {tomorrow}}}
"""


def _inventory(db_path: Path) -> None:
    from secops.store.db import Database
    from secops.store.tables import AgencyRow, EndpointRow

    database = Database(f"sqlite:///{db_path}")
    try:
        with database.session() as s:
            prov = AgencyRow(code="PROV", name="Tỉnh Thử", kind="province")
            s.add(prov)
            s.flush()
            lab = AgencyRow(code="LAB", name="Sở Thử nghiệm", kind="department", parent_id=prov.id)
            s.add(lab)
            s.flush()
            s.add(EndpointRow(code="ep-local", hostname="local.lab", ips=["127.0.0.1"], os_family="linux",
                              role="server", agency_id=lab.id))
    finally:
        database.dispose()


def test_scopes_and_expiry_unit() -> None:
    today = dt.date(2026, 12, 1)
    result = PolicyResult(policy_id="p", name="p", applicable=True, checks=[
        CheckResult(policy_id="p", check_id=str(i), title="t", result="failed") for i in range(1, 5)])
    waivers = [
        Waiver(check="p:1", scope=WaiverScope(agencies=["SO-A"]), reason="r", approver="a", expires=dt.date(2027, 1, 1)),
        Waiver(check="p:2", scope=WaiverScope(systems=["HTTT-1"]), reason="r", approver="a", expires=dt.date(2027, 1, 1)),
        Waiver(check="p:3", scope=WaiverScope(systems=["HTTT-2"]), reason="r", approver="a", expires=dt.date(2027, 1, 1)),
        Waiver(check="p:4", scope=WaiverScope(hosts=["web1"]), reason="r", approver="a", expires=today),
    ]
    n = apply_waivers([result], waivers, {"web1", "10.0.0.1"}, {"SO-A", "UBND-TINH"},  # not scanned
                      {"HTTT-1": "UBND-TINH", "HTTT-2": "SO-B"}, today)
    assert n == 2 and [c.result for c in result.checks] == ["waived", "waived", "failed", "failed"]
    assert result.count("failed") == 2 and result.count("waived") == 2  # waived is not failed, and not passed
    assert result.score == 0.0 and result.summary()["waived"] == 2
    assert waivers[3].days_left(today) == 0 and not waivers[3].active(today)


def test_bad_waiver_file_names_the_entry(tmp_path: Path) -> None:
    from secops.errors import SecopsError

    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n  - {check: nocolon, scope: {hosts: [a]}, reason: r, approver: a, expires: 2027-01-01}\n")
    with pytest.raises(SecopsError, match=r"waivers.yaml: waivers.0.check"):
        load_waivers(path)


def test_waivers_on_a_real_local_audit(cli, tmp_path: Path, db_path: Path) -> None:
    from secops.localtime import local_today

    today = local_today()  # the province's date: a waiver ends on the province's calendar
    checks, policies, out = tmp_path / "checks", tmp_path / "policies", tmp_path / "report"
    checks.mkdir()
    shutil.copytree(ROOT / "policies", policies)
    (checks / "waiver_test.yml").write_text(PACK)
    (policies / "waivers.yaml").write_text(_waivers(today))
    env = {"SECOPS_POLICIES": str(policies)}
    _inventory(db_path)
    listed = cli("waivers", "list", db=db_path, env=env)
    assert listed.returncode == 0 and "expired" in listed.stdout and "30" in listed.stdout

    done = cli("audit", "--local", "--endpoint", "ep-local", "--checks", str(checks), "--no-progress", db=db_path,
               env=env)
    assert done.returncode == 0, done.stderr
    assert "waived" in done.stdout

    from secops.collect.tables import AuditHostRow
    from secops.store.db import Database

    database = Database(f"sqlite:///{db_path}")
    try:
        with database.session() as session:
            host = session.query(AuditHostRow).one()
            results = {c.check_id: (c.result, c.reason or "") for c in host.checks}
            summary = next(p for p in host.policies if p["policy"] == "waiver_test")
            run_id = host.run_id
    finally:
        database.dispose()
    assert results["1"][0] == "passed"
    assert results["2"] == ("waived", f"waived until {today + dt.timedelta(days=30)} (approved by CISO A): "
                                      "accepted <b>risk</b>")
    assert results["3"][0] == "failed"  # counts again the day the waiver expires
    assert results["4"][0] == "failed" and results["5"][0] == "failed"  # out of scope
    assert summary["waived"] == 1 and summary["failed"] == 3 and summary["score"] == pytest.approx(1 / 4)

    report = cli("report", "--run", str(run_id), "--lang", "en", "--out", str(out), db=db_path, env=env)
    assert report.returncode == 0, report.stderr
    page = next((out / "hosts").glob("*.html")).read_text()
    assert "Waived: 1" in page and "accepted &lt;b&gt;risk&lt;/b&gt;" in page and "<b>risk</b>" not in page
    assert "Wazuh 4.x" in page
    dashboard = (out / "dashboard.html").read_text()
    assert "Waivers (accepted failing checks): 4" in dashboard and "expired" in dashboard
    exported = json.loads((out / "dashboard.json").read_text())["sections"]["audit"]
    assert [w["days_left"] for w in exported["waivers"]] == [30, 0, 1, 1]
    assert exported["hosts"][0]["waived"][0]["check_id"] == "2"
    assert exported["hosts"][0]["not_applicable"][0]["reason"] == "file /nonexistent_secops_file does not exist"
    assert "file /nonexistent_secops_file does not exist" in page
    rows = (out / "audit_checks.csv").read_text().splitlines()
    assert rows[0].startswith("host,code,address,agency,policy_id,dialect,section,check_id,result")
    waived_rows = [r for r in rows if ",waived," in r]
    assert len(waived_rows) == 1 and ",2,waived," in waived_rows[0] and "CISO A" in waived_rows[0], waived_rows
    assert ",waiver_test,4," in waived_rows[0]
    assert any(",not_applicable," in r and "does not exist" in r for r in rows)
    assert {p["policy"]: p["dialect"] for p in exported["hosts"][0]["policies"]}["waiver_test"] == "4"
