"""Console pages beyond sign-in: the requirement checklist, the run queue the daemon takes, an
evidence upload refused with its file:row messages, the language switch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secops.requirements.tables import RequirementStatusRow
from secops.schedule.requests import RunRequestRow, process_requests
from secops.store.tables import EvidenceRow, RunRow
from secops.web.app import create_app
from tests.web_helpers import make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path) -> Any:
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
    assert 'id="checklist"' in page and "not_deployed" in page
    item = re.search(r'<option value="([^"]+)">', page[page.index("requirement-form"):]).group(1)  # type: ignore[union-attr]
    refused = client.post("/system/SYS1/requirement", data={"csrf": csrf, "item": item, "status": "not_met"})
    assert refused.status_code == 400 and "milestone" in refused.text  # the command line's own rule
    done = client.post("/system/SYS1/requirement", data={"csrf": csrf, "item": item, "status": "met",
                                                        "evidence": "QĐ 12/2026"}, follow_redirects=False)
    assert done.status_code == 303
    page = client.get("/system/SYS1").text
    assert "QĐ 12/2026" in page and "requirement.record" in page
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
