"""Schedules in the console: a province officer lists, adds, edits, enables and disables them with
`secops schedule add`'s own validation and messages; every change in the audit log with before and
after; CSRF; other roles read or are refused; a disabled schedule is not a job of the daemon."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi.testclient import TestClient

from secops.schedule.config import load_schedule_config
from secops.schedule.daemon import Daemon
from secops.schedule.jobs import load_jobs
from secops.schedule.schedules import add_schedule
from secops.schedule.tables import ScheduleRow
from secops.users.tables import AuditRow
from secops.web.app import create_app
from tests.web_helpers import make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path) -> Any:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    secrets = make_users(state.db(), tmp_path)
    add_schedule(state.db(), load_jobs(state.settings.policies), "nightly-p", job="nightly", cron="0 2 * * *")
    app = create_app(state.settings, state.db())
    yield state, app, secrets, tmp_path
    state.db().dispose()


def _row(state: Any, name: str) -> ScheduleRow | None:
    with state.db().session() as session:
        return session.query(ScheduleRow).filter(ScheduleRow.name == name).first()


def _audit(state: Any, action: str) -> list[AuditRow]:
    with state.db().session() as session:
        return list(session.query(AuditRow).filter(AuditRow.action == action).order_by(AuditRow.id))


def _cli_message(cli: Any, state: Any, *args: str) -> str:
    """What `secops schedule add` says for the same input (its last stderr line, exit 2), in the
    console's default language (Vietnamese): the same refusal in the same words."""
    db_file = state.settings.db_url.removeprefix("sqlite:///")
    done = cli("schedule", "add", *args, db=Path(db_file), env={"SECOPS_LANG": "vi"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    return done.stderr.strip().splitlines()[-1].removeprefix("error: ").removeprefix("lỗi: ").strip()


def test_province_officer_adds_edits_and_toggles(world: Any, cli: Any) -> None:
    state, app, secrets, _ = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "prov", secrets)
    page = client.get("/schedules").text
    assert 'id="schedule-nightly-p"' in page and "cron 0 2 * * *" in page and 'id="schedule-form"' in page

    added = client.post("/schedules", data={"csrf": csrf, "name": "weekly-s1", "cron": "30 3 * * 1",
                                            "job": "nightly", "agency": "S1", "lang": "en"}, follow_redirects=False)
    assert added.status_code == 303, added.text
    row = _row(state, "weekly-s1")
    assert row is not None and (row.cron, row.agency_code, row.options, row.enabled) == ("30 3 * * 1", "S1",
                                                                                         {"lang": "en"}, True)
    entry = _audit(state, "schedule.add")[-1]
    assert entry.actor == "prov" and entry.before is None
    assert entry.after == {"when": "cron 30 3 * * 1", "job": "nightly", "agency": "S1", "options": {"lang": "en"},
                           "enabled": True}

    # the command line's refusals, word for word, and nothing written
    for args, form in ((["bad-cron", "--cron", "61 2 * * *"], {"name": "bad-cron", "cron": "61 2 * * *"}),
                       (["bad-agency", "--cron", "0 1 * * *", "--agency", "NOPE"],
                        {"name": "bad-agency", "cron": "0 1 * * *", "agency": "NOPE"}),
                       (["both", "--cron", "0 1 * * *", "--every", "60"],
                        {"name": "both", "cron": "0 1 * * *", "every": "60"}),
                       (["weekly-s1", "--cron", "0 1 * * *"], {"name": "weekly-s1", "cron": "0 1 * * *"}),
                       (["bad-job", "--cron", "0 1 * * *", "--job", "nope"],
                        {"name": "bad-job", "cron": "0 1 * * *", "job": "nope"})):
        expected = _cli_message(cli, state, *args)
        refused = client.post("/schedules", data={"csrf": csrf, "job": "nightly", **form})
        assert refused.status_code == 400 and 'id="errors"' in refused.text
        assert expected in html.unescape(refused.text), (expected, refused.text[-1500:])
    assert _row(state, "bad-cron") is None and _row(state, "bad-agency") is None and _row(state, "both") is None
    assert _row(state, "weekly-s1").cron == "30 3 * * 1"  # type: ignore[union-attr]

    # edit: the form filled with the schedule, the name kept; before and after in the audit log
    form = client.get("/schedules?edit=weekly-s1").text
    assert 'value="weekly-s1" required readonly' in form and 'value="30 3 * * 1"' in form
    edited = client.post("/schedules", data={"csrf": csrf, "name": "weekly-s1", "every": "3600", "job": "nightly",
                                             "agency": "S1", "replace": "1"}, follow_redirects=False)
    assert edited.status_code == 303, edited.text
    row = _row(state, "weekly-s1")
    assert row is not None and (row.cron, row.every_seconds, row.options) == (None, 3600, {})
    entry = _audit(state, "schedule.edit")[-1]
    assert entry.before["when"] == "cron 30 3 * * 1" and entry.after["when"] == "every 3600s"
    assert entry.before["options"] == {"lang": "en"} and entry.after["options"] == {}

    # disable, then enable: kept, audited, and the daemon's jobs follow
    off = client.post("/schedules/weekly-s1/enabled", data={"csrf": csrf, "enabled": "0"}, follow_redirects=False)
    assert off.status_code == 303 and _row(state, "weekly-s1").enabled is False  # type: ignore[union-attr]
    entry = _audit(state, "schedule.disable")[-1]
    assert (entry.before["enabled"], entry.after["enabled"], entry.actor) == (True, False, "prov")
    assert 'data-enabled="0"' in client.get("/schedules").text
    daemon = Daemon(state, load_schedule_config(state.settings.policies))
    scheduler = BackgroundScheduler()
    scheduler.start(paused=True)
    try:
        daemon.sync_jobs(scheduler)
        assert {j.id for j in scheduler.get_jobs()} == {"nightly-p"}
        assert client.post("/schedules/weekly-s1/enabled", data={"csrf": csrf, "enabled": "1"},
                           follow_redirects=False).status_code == 303
        assert _audit(state, "schedule.enable")[-1].after["enabled"] is True
        daemon.sync_jobs(scheduler)
        assert {j.id for j in scheduler.get_jobs()} == {"nightly-p", "weekly-s1"}
    finally:
        scheduler.shutdown(wait=False)
        daemon.db.dispose()
    assert client.post("/schedules/weekly-s1/enabled", data={"csrf": csrf, "enabled": "maybe"}).status_code == 400
    assert client.post("/schedules/none-such/enabled", data={"csrf": csrf, "enabled": "0"}).status_code == 404


def test_csrf_missing_or_wrong_changes_nothing(world: Any) -> None:
    state, app, secrets, _ = world
    client = TestClient(app)
    sign_in(client, state.db(), "prov", secrets)
    audit_before = len(_audit(state, "schedule.add")) + len(_audit(state, "schedule.disable"))
    for data in ({}, {"csrf": "forged"}):
        assert client.post("/schedules", data={**data, "name": "x1", "cron": "0 1 * * *"}).status_code == 403
        assert client.post("/schedules/nightly-p/enabled", data={**data, "enabled": "0"}).status_code == 403
    assert _row(state, "x1") is None and _row(state, "nightly-p").enabled is True  # type: ignore[union-attr]
    assert len(_audit(state, "schedule.add")) + len(_audit(state, "schedule.disable")) == audit_before


@pytest.mark.parametrize("user, reads", [("aud", True), ("leadp", True), ("leada", False), ("offa", False),
                                         ("offb", False)])
def test_other_roles_read_or_are_refused(world: Any, user: str, reads: bool) -> None:
    state, app, secrets, _ = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), user, secrets)
    page = client.get("/schedules", follow_redirects=False)
    if reads:  # province-wide readers: the list, no form, no buttons
        assert page.status_code == 200 and 'id="schedule-nightly-p"' in page.text
        assert 'id="schedule-form"' not in page.text and "toggle-nightly-p" not in page.text
    else:
        assert page.status_code == 403
    assert client.post("/schedules", data={"csrf": csrf, "name": "x2", "cron": "0 1 * * *"}).status_code == 403
    assert client.post("/schedules/nightly-p/enabled", data={"csrf": csrf, "enabled": "0"}).status_code == 403
    assert _row(state, "x2") is None and _row(state, "nightly-p").enabled is True  # type: ignore[union-attr]


def test_anonymous_goes_to_sign_in(world: Any) -> None:
    _, app, _, _ = world
    client = TestClient(app)
    for reply in (client.get("/schedules", follow_redirects=False),
                  client.post("/schedules", data={"name": "x"}, follow_redirects=False)):
        assert reply.status_code == 303 and reply.headers["location"] == "/signin"


def test_cli_enable_disable(world: Any, cli: Any) -> None:
    import json

    state, _, _, _ = world
    db_file = Path(state.settings.db_url.removeprefix("sqlite:///"))
    done = cli("schedule", "disable", "nightly-p", db=db_file)
    assert done.returncode == 0 and "disabled" in done.stdout, done.stderr
    listed = json.loads(cli("schedule", "list", "--json", db=db_file).stdout)
    assert [(s["name"], s["enabled"]) for s in listed] == [("nightly-p", False)]
    assert cli("schedule", "enable", "nightly-p", db=db_file).returncode == 0
    assert _row(state, "nightly-p").enabled is True  # type: ignore[union-attr]
    missing = cli("schedule", "enable", "none-such", db=db_file)
    assert missing.returncode == 2 and "no schedule named 'none-such'" in missing.stderr
