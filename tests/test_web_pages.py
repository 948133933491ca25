"""Console pages beyond sign-in: the requirement checklist, the run queue the daemon takes, an
evidence upload refused with its file:row messages, an evidence import queued for the daemon, the
language switch."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secops.requirements.tables import RequirementStatusRow
from secops.schedule.requests import RunRequestRow, process_requests
from secops.store.tables import EvidenceRow, RunRow
from secops.web.app import create_app
from tests.web_helpers import ksc_export, make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SECOPS_UPLOAD_DIR", str(tmp_path / "uploads"))
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    secrets = make_users(state.db(), tmp_path)
    app = create_app(state.settings, state.db())
    yield state, app, secrets, tmp_path
    state.db().dispose()


def test_requirement_checklist_statement(world: Any) -> None:
    state, app, secrets, _ = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    page = client.get("/system/SYS1").text
    # The register's and the checklist's values in words (they were raw: "not_deployed", "not_met (none)").
    assert 'id="checklist"' in page and "Chưa triển khai" in page and "not_deployed" not in page
    assert "Chưa đáp ứng <small>(chưa có bằng chứng)</small>" in page and ">not_met <" not in page
    assert '<option value="partly_met">Đáp ứng một phần</option>' in page
    item = re.search(r'<option value="([^"]+)">', page[page.index("requirement-form"):]).group(1)  # type: ignore[union-attr]
    refused = client.post("/system/SYS1/requirement", data={"csrf": csrf, "item": item, "status": "not_met"})
    assert refused.status_code == 400 and "milestone" in refused.text  # the command line's own rule
    # ... said in the page's language (it was the server process's English whatever the page spoke)
    assert "cần có mốc khắc phục" in refused.text and "needs a remediation milestone" not in refused.text
    client.cookies.set("secops_lang", "en")
    english = client.post("/system/SYS1/requirement", data={"csrf": csrf, "item": item, "status": "not_met"})
    assert english.status_code == 400 and "needs a remediation milestone" in english.text
    client.cookies.set("secops_lang", "vi")
    done = client.post("/system/SYS1/requirement", data={"csrf": csrf, "item": item, "status": "met",
                                                        "evidence": "QĐ 12/2026"}, follow_redirects=False)
    assert done.status_code == 303
    page = client.get("/system/SYS1").text
    assert "QĐ 12/2026" in page and "requirement.record" in page and "Đáp ứng <small>(cán bộ kê khai)</small>" in page
    with state.db().session() as session:
        row = session.query(RequirementStatusRow).one()
        assert (row.item_id, row.status, row.source, row.recorded_by) == (item, "met", "console", "offa")
    # another agency's officer cannot record on this system
    other = TestClient(app)
    ocsrf = sign_in(other, state.db(), "offb", secrets)
    assert other.post("/system/SYS1/requirement", data={"csrf": ocsrf, "item": item, "status": "met"}).status_code == 404


def test_start_run_is_queued_and_the_daemon_runs_it(world: Any) -> None:
    state, app, secrets, _ = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "prov", secrets)
    with state.db().session() as session:
        runs_before = session.query(RunRow).count()
    assert client.post("/runs", data={"csrf": csrf, "what": "nightly-none"}).status_code == 400
    assert client.post("/runs", data={"csrf": csrf, "what": "grade"}, follow_redirects=False).status_code == 303
    with state.db().session() as session:
        request = session.query(RunRequestRow).one()
        assert (request.status, request.requested_by) == ("queued", "prov")
        assert session.query(RunRow).count() == runs_before  # nothing ran inside the request
    assert process_requests(state) == 1  # what `secops daemon` does on its next poll
    with state.db().session() as session:
        request = session.query(RunRequestRow).one()
        assert request.status == "done" and request.run_id is not None
        assert session.get(RunRow, request.run_id).kind == "grade"  # type: ignore[union-attr]
    assert "done" in client.get("/runs").text
    assert process_requests(state) == 0


def test_bad_export_is_refused_whole_with_its_rows(world: Any) -> None:
    state, app, secrets, folder = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    bad = folder / "bad.csv"
    bad.write_text("Name\tStatus\nws-01\tOK\n", encoding="utf-8")
    reply = client.post("/agency/S1/evidence", data={"csrf": csrf}, files={"file": ("bad.csv", bad.read_bytes())})
    assert reply.status_code == 400 and 'id="errors"' in reply.text
    with state.db().session() as session:
        assert session.query(EvidenceRow).count() == 0
    # a forged upload id (another user's, or a path) is refused
    forged = client.post("/agency/S1/evidence/confirm", data={"csrf": csrf, "upload_id": "../../etc/passwd"})
    assert forged.status_code == 400


def test_language_switch(world: Any) -> None:
    state, app, secrets, _ = world
    client = TestClient(app)
    sign_in(client, state.db(), "aud", secrets)
    assert "Chỉ tiêu" in client.get("/agency/P").text
    english = client.get("/agency/P?lang=en").text
    assert "Targets" in english and "Chỉ tiêu" not in english
    assert "Targets" in client.get("/agency/S1").text  # remembered


def test_staff_awareness_and_training(world: Any) -> None:
    from secops.store.tables import StaffRow
    from secops.users.tables import AuditRow

    state, app, secrets, _ = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    page = client.get("/agency/S1/staff").text
    assert "CB2" in page and "CB3" in page and "CB4" not in page
    future = client.post("/staff/CB2", data={"csrf": csrf, "back": "S1", "training_date": "2999-01-01"})
    assert future.status_code == 400 and "training_date" in future.text  # the import's own rule
    done = client.post("/staff/CB2", data={"csrf": csrf, "back": "S1", "training_date": "2026-11-02",
                                           "informed_date": "2026-10-01"}, follow_redirects=False)
    assert done.status_code == 303
    with state.db().session() as session:
        row = session.query(StaffRow).filter(StaffRow.code == "CB2").one()
        assert str(row.training_date) == "2026-11-02" and str(row.informed_date) == "2026-10-01"
        entry = session.query(AuditRow).filter(AuditRow.action == "staff.edit").one()
        assert entry.before == {"informed_date": None, "training_date": None}
        assert entry.after == {"informed_date": "2026-10-01", "training_date": "2026-11-02"}
    assert client.post("/staff/CB4", data={"csrf": csrf, "training_date": "2026-11-02"}).status_code == 404


def _figure(html: str, target: str) -> str:
    found = re.search(rf'id="target-{target}".*?class="fig">([^<]+)<', html, re.S)
    assert found, html[:500]
    return found.group(1)


def _preview(client: TestClient, csrf: str, export: Path) -> str:
    reply = client.post("/agency/S1/evidence", data={"csrf": csrf}, files={"file": ("ksc_devices.txt",
                                                                                    export.read_bytes())})
    assert reply.status_code == 200, reply.text
    assert re.search(r'id="matched">4<', reply.text) and re.search(r'id="outside">1<', reply.text)
    found = re.search(r'name="upload_id" value="([^"]+)"', reply.text)
    assert found
    return found.group(1)


def test_evidence_import_is_queued_and_the_daemon_imports_it(world: Any) -> None:
    from secops.users.tables import AuditRow

    state, app, secrets, folder = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    assert _figure(client.get("/agency/S1").text, "T2") == "0/4"
    export = ksc_export(folder / "ksc_devices.txt", [(f"ws-0{i}", f"127.0.5.{i}") for i in range(1, 5)]
                        + [("ws-11", "127.0.6.1")])
    upload_id = _preview(client, csrf, export)
    spooled = [p for p in (folder / "uploads").iterdir() if p.name.startswith(upload_id)]
    assert len(spooled) == 2 and all(stat.S_IMODE(os.lstat(p).st_mode) == 0o600 for p in spooled)
    assert stat.S_IMODE(os.stat(folder / "uploads").st_mode) == 0o700
    reply = client.post("/agency/S1/evidence/confirm", data={"csrf": csrf, "upload_id": upload_id, "exported_at": "",
                                                             "date_order": "", "file_name": "ksc_devices.txt"},
                        follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/imports/"), reply.text
    status_page = reply.headers["location"]
    with state.db().session() as session:
        request = session.query(RunRequestRow).one()
        assert (request.kind, request.status, request.agency_code, request.requested_by) == (
            "import", "queued", "S1", "offa")
        assert request.params["upload"] == upload_id and request.params["agencies"] == ["S1"]
        assert session.query(EvidenceRow).count() == 0  # nothing imported inside the request
        assert session.query(RunRow).filter(RunRow.kind == "import").count() == 0
        asked = session.query(AuditRow).filter(AuditRow.action == "evidence.import.request").one()
        assert asked.actor == "offa" and asked.after["request"] == request.id
    page = client.get(status_page).text
    assert 'data-status="queued"' in page and 'http-equiv="refresh"' in page
    # another agency's officer does not see it; the same id under another path is not a way in
    other = TestClient(app)
    sign_in(other, state.db(), "offb", secrets)
    assert other.get(status_page).status_code == 404

    assert process_requests(state) == 2  # the daemon's poll: the import, then the grade it queues
    with state.db().session() as session:
        request = session.get(RunRequestRow, request.id)
        assert request is not None and request.status == "done", request.error
        run = session.get(RunRow, request.run_id)
        assert run is not None and (run.kind, run.status, run.trigger) == ("import", "ok", "request")
        assert run.summary["imported"] == 4 and run.summary["outside_agency"] == 1 and run.summary["by"] == "offa"
        grade = session.get(RunRequestRow, request.params["grade_request"])
        assert grade is not None and grade.status == "done"
        assert session.query(EvidenceRow).count() == 4
        done = session.query(AuditRow).filter(AuditRow.action == "evidence.import").one()
        assert done.actor == "offa" and done.after["imported"] == 4 and done.after["run"] == run.id
    assert not [p for p in (folder / "uploads").iterdir() if p.name.startswith(upload_id)]  # spool emptied
    page = client.get(status_page).text
    assert 'data-status="done"' in page and re.search(r'id="imported"[^>]*>[^<]*4', page)
    assert 'http-equiv="refresh"' not in page
    assert _figure(client.get("/agency/S1").text, "T2") == "4/4"  # the figures changed
    assert status_page in client.get("/agency/S1/evidence").text  # listed with the agency's imports


def test_queued_import_refuses_a_spooled_link(world: Any) -> None:
    """Between confirm and the daemon, the spooled file replaced by a link: the daemon does not follow
    it; the request and its run fail with a message, nothing is imported, the audit log says so."""
    from secops.users.tables import AuditRow

    state, app, secrets, folder = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    export = ksc_export(folder / "ksc_devices.txt", [(f"ws-0{i}", f"127.0.5.{i}") for i in range(1, 5)]
                        + [("ws-11", "127.0.6.1")])
    upload_id = _preview(client, csrf, export)
    reply = client.post("/agency/S1/evidence/confirm", data={"csrf": csrf, "upload_id": upload_id},
                        follow_redirects=False)
    assert reply.status_code == 303
    data = next(p for p in (folder / "uploads").iterdir() if p.name.startswith(upload_id) and p.suffix == ".txt")
    data.unlink()
    data.symlink_to(export)
    assert process_requests(state) == 1  # failed: no grade request follows
    with state.db().session() as session:
        request = session.query(RunRequestRow).one()
        assert request.status == "failed" and "no longer in the spool" in (request.error or "")
        assert session.get(RunRow, request.run_id).status == "failed"  # type: ignore[union-attr]
        assert session.query(EvidenceRow).count() == 0
        entry = session.query(AuditRow).filter(AuditRow.action == "evidence.import").one()
        assert entry.after["status"] == "failed"
    page = client.get(reply.headers["location"]).text
    assert 'data-status="failed"' in page and 'id="errors"' in page and "spool" in page
    assert export.exists() and not data.exists() and not data.is_symlink()  # the link removed, its target kept


def test_unconfirmed_uploads_are_swept(world: Any) -> None:
    """A preview never confirmed does not stay in the spool: the daemon's poll removes spooled files
    older than a day (links removed, not followed); fresh ones stay."""
    import time

    from secops.evidence.spool import KEEP_SECONDS

    state, app, secrets, folder = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    export = ksc_export(folder / "ksc_devices.txt", [(f"ws-0{i}", f"127.0.5.{i}") for i in range(1, 5)]
                        + [("ws-11", "127.0.6.1")])
    old_id, new_id = _preview(client, csrf, export), _preview(client, csrf, export)
    spool = folder / "uploads"
    stale = time.time() - KEEP_SECONDS - 60
    for path in spool.iterdir():
        if path.name.startswith(old_id):
            os.utime(path, (stale, stale))
    link = spool / ("x" * 30 + ".txt")
    link.symlink_to(export)
    os.utime(link, (stale, stale), follow_symlinks=False)
    foreign = spool / "notes.txt"  # not a spool name: left alone
    foreign.write_text("kept")
    os.utime(foreign, (stale, stale))
    assert process_requests(state) == 0
    left = sorted(p.name for p in spool.iterdir())
    assert not [n for n in left if n.startswith(old_id)] and len([n for n in left if n.startswith(new_id)]) == 2
    assert not link.is_symlink() and export.exists() and foreign.exists()
