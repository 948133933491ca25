"""Waivers in the console: an agency requests, the province approves (into the waiver file, as
`secops waivers add` writes it) or rejects, with a reason; each step in the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from secops.config import Settings
from secops.evaluate.waivers import load_waivers
from secops.users.tables import AuditRow
from secops.web.app import create_app
from tests.web_helpers import make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(300)


def test_request_approve_reject(tmp_path: Path) -> None:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    secrets = make_users(state.db(), tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    app = create_app(Settings(db=state.settings.db, policies=policies, output=tmp_path / "out"), state.db())
    officer, province, other = TestClient(app), TestClient(app), TestClient(app)
    csrf = sign_in(officer, state.db(), "offa", secrets)
    bad = officer.post("/agency/S1/waivers", data={"csrf": csrf, "check": "no-colon", "reason": "x",
                                                  "expires": "2099-01-01"})
    assert bad.status_code == 400 and "policy_id:check_id" in bad.text
    past = officer.post("/agency/S1/waivers", data={"csrf": csrf, "check": "cis:1", "reason": "x",
                                                   "expires": "2001-01-01"})
    assert past.status_code == 400 and "passed" in past.text
    for check in ("cis_debian12:33147", "cis_debian12:1"):
        done = officer.post("/agency/S1/waivers", data={"csrf": csrf, "check": check, "reason": "firewall upstream",
                                                       "expires": "2099-03-31"}, follow_redirects=False)
        assert done.status_code == 303
    assert officer.post("/waivers/1", data={"csrf": csrf, "decision": "approve", "reason": "ok"}).status_code == 403
    sign_in(other, state.db(), "offb", secrets)
    assert other.get("/agency/S1/waivers").status_code == 404
    pcsrf = sign_in(province, state.db(), "prov", secrets)
    page = province.get("/agency/S1/waivers").text
    assert "cis_debian12:33147" in page and 'action="/waivers/1"' in page
    assert province.post("/waivers/1", data={"csrf": pcsrf, "decision": "approve", "reason": ""}).status_code == 400
    done = province.post("/waivers/1", data={"csrf": pcsrf, "decision": "approve", "reason": "ticket 12",
                                            "expires": "2098-12-31"}, follow_redirects=False)
    assert done.status_code == 303
    done = province.post("/waivers/2", data={"csrf": pcsrf, "decision": "reject", "reason": "fix it instead"},
                         follow_redirects=False)
    assert done.status_code == 303
    again = province.post("/waivers/2", data={"csrf": pcsrf, "decision": "approve", "reason": "x"})
    assert again.status_code == 400 and "already rejected" in again.text
    waivers = load_waivers(policies / "waivers.yaml")
    assert [(w.check, w.scope.agencies, w.approver, w.expires.isoformat()) for w in waivers] == [
        ("cis_debian12:33147", ["S1"], "prov", "2098-12-31")]
    assert "ticket 12" in waivers[0].reason
    page = officer.get("/agency/S1/waivers").text
    assert "fix it instead" in page and "31/12/2098" in page
    with state.db().session() as session:
        actions = [a.action for a in session.query(AuditRow).filter(AuditRow.target.like("waiver-request:%"))
                   .order_by(AuditRow.id)]
    assert actions == ["waiver.request", "waiver.request", "waiver.approve", "waiver.reject"]

