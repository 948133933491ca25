"""The host report: every check of a real Wazuh policy (CIS Debian 12, 207 checks) on one host,
with its status, the evidence that decided it, the policy's mappings, filterable without JavaScript;
dashboard.json and audit_checks.csv carry every result; `secops audit report HOST` the same.

The host's answers are canned (every file the policy reads says "PASS_MAX_DAYS 99999" and holds a
password line; commands print nothing; no process runs), evaluated by the engine as an audit would,
stored with record_host, graded and reported by the commands an officer runs. The page is then read
in Debian's headless Chromium at 1366 and 390 px: every result row is reachable, a failed check's
evidence is shown (redacted), and no cell of the fixed-width columns is narrower than its content.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.collect.audit import HostAudit, HostTarget
from secops.collect.record import record_host
from secops.collect.tables import CheckResultRow
from secops.evaluate.engine import PreparedPolicy
from secops.evaluate.facts import MISSING, OK, Facts, Item
from secops.evaluate.protection import ProtectionVerdict
from secops.evaluate.sca_load import load_policy
from secops.models import RunStatus
from secops.runs import finish_run, start_run
from secops.store.base import utcnow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow

ROOT = Path(__file__).resolve().parent.parent
CIS = ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "cis_debian12.yml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FILE_TEXT = b"# canned\nPASS_MAX_DAYS 99999\npassword = hunter2-secret\nroot:$6$salt$hashhashhash:19000:0:99999:7:::\n"

pytestmark = pytest.mark.timeout(300)

CHECKER = """<script>
(function () {
  var out = {rows: 0, hidden: [], narrow: [], evidence: '', width: document.documentElement.clientWidth,
             wide: document.documentElement.scrollWidth};
  var rows = document.querySelectorAll('tr.chk');
  out.rows = rows.length;
  for (var i = 0; i < rows.length; i++) {
    var r = rows[i].getBoundingClientRect();
    if (r.height === 0 || getComputedStyle(rows[i]).display === 'none') { out.hidden.push(rows[i].id); }
    var cells = rows[i].querySelectorAll('td.c-id, td.c-st, td.c-sev');
    for (var k = 0; k < cells.length; k++) {
      if (cells[k].scrollWidth > cells[k].clientWidth + 1) { out.narrow.push(rows[i].id + ':' + cells[k].className); }
    }
  }
  var failed = document.querySelectorAll('tr.st-failed pre');
  for (var f = 0; f < failed.length; f++) { out.evidence += failed[f].innerText + ' | '; }
  var pre = document.createElement('pre');
  pre.id = 'secops-checker';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _canned_facts(prepared: PreparedPolicy) -> Facts:
    facts = Facts()
    for round_needs in (prepared.round1(), prepared.gated_commands()):
        for request in round_needs:
            if request.kind == "file_read":
                facts.items[request] = Item(OK, FILE_TEXT)
            elif request.kind in ("command", "processes"):
                facts.items[request] = Item(OK, b"")
            else:
                facts.items[request] = Item(MISSING)
    return facts


def _audit_into(db: Database) -> int:
    policy = load_policy(CIS)
    prepared = PreparedPolicy.build(policy, "linux")
    facts = _canned_facts(prepared)
    prepared.applicable = True  # canned host: the policy's Debian requirement taken as met
    for request in prepared.round2(facts):
        facts.items.setdefault(request, Item(OK, FILE_TEXT) if request.kind == "file_read" else Item(MISSING))
    result = prepared.evaluate(facts, "linux")
    assert len(result.checks) > 200
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        endpoint = EndpointRow(code="srv-01", hostname="srv-01.lab", ips=["127.0.0.1"], os_family="linux",
                               role="server", agency_id=prov.id)
        s.add(endpoint)
        s.flush()
        endpoint_id = endpoint.id
    run_id = start_run(db, "audit")
    target = HostTarget(label="srv-01.lab", address="127.0.0.1", endpoint_id=endpoint_id, endpoint_code="srv-01",
                        agency_codes=("PROV",))
    audit = HostAudit(target=target, transport="ssh", started_at=utcnow(), finished_at=utcnow(), os_info="Debian 12",
                      results=[result], protection=ProtectionVerdict("protected", "ClamAV", "clamd running"))
    record_host(db, run_id, audit)
    finish_run(db, run_id, RunStatus.ok)
    return len(result.checks)


def _chromium(page: Path, width: int, work: Path) -> dict:  # type: ignore[type-arg]
    checked = work / f"checked-{width}.html"
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECKER + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="secops-chromium-") as profile:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",  # type: ignore[list-item]
                               "--disable-background-networking", "--disable-component-update", "--no-first-run",
                               f"--user-data-dir={profile}", f"--window-size={width},900", "--dump-dom",
                               checked.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="secops-checker">(.*?)</pre>', done.stdout, re.DOTALL)
    assert match, f"checker did not run: {done.stderr[-2000:]}"
    raw = match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(raw)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory):
    from conftest import run_cli

    work = tmp_path_factory.mktemp("hostreport")
    db_path = work / "secops.db"
    db = Database(f"sqlite:///{db_path}")
    total = _audit_into(db)
    graded = run_cli("grade", db=db_path)
    assert graded.returncode == 0, graded.stderr
    out = work / "report"
    done = run_cli("report", "--lang", "en", env={"SECOPS_OUTPUT": str(out)}, db=db_path)
    assert done.returncode == 0, done.stderr
    yield {"db": db, "db_path": db_path, "work": work, "out": out, "total": total}
    db.dispose()


def test_every_result_is_stored_with_evidence_and_mappings(reported) -> None:
    with reported["db"].session() as s:
        rows = s.scalars(select(CheckResultRow)).all()
    assert len(rows) == reported["total"]
    results = {r.result for r in rows}
    assert {"passed", "failed", "not_applicable"} <= results
    failed = [r for r in rows if r.result == "failed" and r.evidence and "PASS_MAX_DAYS 99999" in r.evidence]
    assert failed, "a failed check shows the line the file held"
    assert all("hunter2" not in (r.evidence or "") and "$6$salt" not in (r.evidence or "") for r in rows)
    assert any(r.compliance and "cis" in r.compliance for r in rows)
    assert all(r.severity is None for r in rows)  # CIS Debian 12 gives no severity: none is made up
    assert all(not r.evidence for r in rows if r.result == "passed")


def test_csv_and_json_carry_every_result(reported) -> None:
    out, total = reported["out"], reported["total"]
    data = json.loads(next(out.rglob("dashboard.json")).read_text())
    host = data["sections"]["audit"]["hosts"][0]
    assert host["results_total"] == total and len(host["results"]) == total
    assert len(host["failed"]) == host["result_counts"]["failed"] + host["result_counts"]["error"]
    rows = list(csv.DictReader(io.StringIO(next(out.rglob("audit_checks.csv")).read_text())))
    assert len(rows) == total  # one row per result, nothing cut
    assert len({(r["policy_id"], r["check_id"]) for r in rows}) == total
    assert any("cis:" in r["compliance"] for r in rows)
    assert any("PASS_MAX_DAYS 99999" in r["evidence"] for r in rows if r["result"] == "failed")


def test_terminal_report_prints_every_result(reported) -> None:
    from conftest import run_cli

    done = run_cli("audit", "report", "srv-01", db=reported["db_path"])
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if re.match(r"^\S+:\d+\s", line)]
    assert len(lines) == reported["total"]
    assert "PASS_MAX_DAYS 99999" in done.stdout and "hunter2" not in done.stdout
    missing = run_cli("audit", "report", "nope", db=reported["db_path"])
    assert missing.returncode == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize("width", [1366, 390])
def test_host_page_in_chromium(reported, width: int, tmp_path: Path) -> None:
    assert CHROMIUM, "chromium is installed by scripts/install-test-deps.sh"
    page = next(p for p in reported["out"].rglob("hosts/*.html") if "srv-01" in p.name)
    html = page.read_text()
    assert "<script" not in html  # the page runs no script; filters are CSS (:target)
    assert html.count('<section id="host">') == 1 and html.count('<section id="results">') == 1
    assert 'href="#st-failed"' in html and 'id="st-failed"' in html
    seen = _chromium(page, width, tmp_path)
    assert seen["rows"] == reported["total"] and seen["hidden"] == []
    assert seen["narrow"] == [], seen["narrow"][:5]
    assert seen["wide"] <= seen["width"] + 1  # no sideways scrolling at this width
    assert "PASS_MAX_DAYS 99999" in seen["evidence"] and "hunter2" not in seen["evidence"]
