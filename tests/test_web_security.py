"""The console's security behaviour: CSRF, session rotation, sign-out and disable, lockout and its
expiry, the idle lock, TOTP replay, the append-only audit log, headers and cookies, escaping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from secops.users.tables import AuditLogIsAppendOnly, AuditRow, SessionRow, UserRow
from secops.web.app import COOKIE, create_app
from secops.web.rules import RULES
from tests.web_helpers import PASSWORD, csrf_of, make_province, make_users, next_code, sign_in

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path) -> Any:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    secrets = make_users(state.db(), tmp_path)
    app = create_app(state.settings, state.db())
    yield state, app, secrets
    state.db().dispose()


def signin_post(client: TestClient, name: str, password: str) -> Any:
    page = client.get("/signin")
    return client.post("/signin", data={"csrf": csrf_of(page.text, "/signin"), "name": name, "password": password},
                       follow_redirects=False)


def test_csrf_missing_or_wrong_is_refused_on_every_form(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "prov", secrets)
    posts = [(r.name, r.path) for r in app.routes if "POST" in (getattr(r, "methods", None) or set())
             and not RULES[r.name].public]
    assert {"system_save", "requirement_save", "staff_save", "evidence_preview", "evidence_confirm", "run_start",
            "waiver_request", "waiver_decide", "signout", "mfa"} <= {n for n, _ in posts}
    from secops.evaluate.waiver_requests import request_waiver

    with state.db().session() as session:
        request_waiver(session, "cis_debian12:1", "S1", "for the CSRF test", dt.date(2099, 1, 1), "test")
    for name, path in posts:
        rule = RULES[name]
        code = "SYS1" if rule.system else "CB2" if rule.staff else "S1"
        path = path.replace("{code}", code).replace("{id}", "1")
        for data in ({}, {"csrf": "wrong" + csrf[5:]}, {"csrf": ""}):
            reply = client.post(path, data={**data, "name": "changed"}, follow_redirects=False)
            assert reply.status_code == 403, (name, data, reply.status_code)
    assert client.get("/system/SYS1").text.count("Cổng thông tin") >= 1  # nothing was changed
    # the sign-in form: its double-submit token is checked too
    anonymous = TestClient(app)
    anonymous.get("/signin")
    reply = anonymous.post("/signin", data={"csrf": "forged", "name": "prov", "password": PASSWORD},
                           follow_redirects=False)
    assert reply.status_code == 403


def test_session_id_changes_at_sign_in_and_second_factor(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    client.cookies.set(COOKIE, "planted-by-an-attacker")
    first = signin_post(client, "offa", PASSWORD)
    after_password = first.cookies.get(COOKIE)
    assert after_password and after_password != "planted-by-an-attacker"
    page = client.get("/mfa")
    code = next_code(state.db(), "offa", secrets["offa"])
    reply = client.post("/mfa", data={"csrf": csrf_of(page.text, "/mfa"), "code": code}, follow_redirects=False)
    after_mfa = reply.cookies.get(COOKIE)
    assert after_mfa and after_mfa != after_password
    # the half-signed-in id is over
    stale = TestClient(app)
    stale.cookies.set(COOKIE, after_password)
    assert stale.get("/agency/S1", follow_redirects=False).headers["location"] == "/signin"
    assert client.get("/agency/S1").status_code == 200
    # signing in again in the same browser gives a new id and ends the one before
    again = signin_post(client, "offa", PASSWORD)
    assert again.cookies.get(COOKIE) not in (after_mfa, None)
    old = TestClient(app)
    old.cookies.set(COOKIE, after_mfa)
    assert old.get("/agency/S1", follow_redirects=False).headers["location"] == "/signin"


def test_sign_out_and_disable_end_sessions(world: Any, cli: Any, tmp_path: Path) -> None:
    state, app, secrets = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "leada", secrets)
    token = client.cookies.get(COOKIE)
    assert client.post("/signout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    replay = TestClient(app)
    replay.cookies.set(COOKIE, token)
    assert replay.get("/agency/S1", follow_redirects=False).headers["location"] == "/signin"
    # a user disabled by the command line loses its open session at once
    other = TestClient(app)
    sign_in(other, state.db(), "offa", secrets)
    assert other.get("/agency/S1").status_code == 200
    done = cli("users", "disable", "offa", db=Path(state.settings.db_url.removeprefix("sqlite:///")))
    assert done.returncode == 0, done.stderr
    assert other.get("/agency/S1", follow_redirects=False).headers["location"] == "/signin"
    assert signin_post(TestClient(app), "offa", PASSWORD).status_code == 401
    with state.db().session() as session:
        ended = session.query(SessionRow).all()
        assert {"signed out", "user disabled"} <= {row.ended_reason for row in ended}


def test_lockout_after_failures_and_its_expiry(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    limit = app.state.console.policy.lockout_failures
    for _ in range(limit):
        assert signin_post(client, "leadp", "wrong password!!").status_code == 401
    locked = signin_post(client, "leadp", PASSWORD)
    assert locked.status_code == 401, "the right password must not open a locked account"
    with state.db().session() as session:
        until = session.query(UserRow).filter(UserRow.name == "leadp").one().locked_until
        assert until is not None
        # the lockout's time passes (lockout_minutes in policies/console.yaml)
        session.execute(update(UserRow).where(UserRow.name == "leadp")
                        .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert signin_post(client, "leadp", PASSWORD).status_code == 303
    with state.db().session() as session:
        assert session.query(AuditRow).filter(AuditRow.action == "user.locked").count() == 1


def test_idle_session_is_locked(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    sign_in(client, state.db(), "aud", secrets)
    idle = app.state.console.policy.idle_minutes
    with state.db().session() as session:
        session.execute(update(SessionRow).where(SessionRow.ended_at.is_(None))
                        .values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=idle, seconds=5)))
    assert client.get("/agency/S1", follow_redirects=False).headers["location"] == "/signin"
    with state.db().session() as session:
        assert "idle" in {row.ended_reason for row in session.query(SessionRow).all()}


def test_totp_code_cannot_be_replayed(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    signin_post(client, "offb", PASSWORD)
    code = next_code(state.db(), "offb", secrets["offb"])
    page = client.get("/mfa")
    assert client.post("/mfa", data={"csrf": csrf_of(page.text, "/mfa"), "code": code},
                       follow_redirects=False).headers["location"] == "/"
    thief = TestClient(app)  # knows the password and saw the code
    signin_post(thief, "offb", PASSWORD)
    page = thief.get("/mfa")
    reply = thief.post("/mfa", data={"csrf": csrf_of(page.text, "/mfa"), "code": code}, follow_redirects=False)
    assert reply.status_code == 401
    assert thief.get("/agency/D1", follow_redirects=False).headers["location"] == "/mfa"


def test_officer_enrols_totp_at_first_sign_in(world: Any) -> None:
    state, app, _ = world
    from secops.users.store import add_user

    add_user(state.db(), "newofficer", "agency-officer", "S1", PASSWORD, actor="test")
    client = TestClient(app)
    assert signin_post(client, "newofficer", PASSWORD).headers["location"] == "/mfa"
    page = client.get("/mfa")
    secret = page.text.split('id="secret">')[1].split("<")[0]
    assert client.get("/agency/S1", follow_redirects=False).headers["location"] == "/mfa"
    code = pyotp.TOTP(secret).now()
    reply = client.post("/mfa", data={"csrf": csrf_of(page.text, "/mfa"), "code": code}, follow_redirects=False)
    assert reply.headers["location"] == "/"
    assert client.get("/agency/S1").status_code == 200
    with state.db().session() as session:
        row = session.query(UserRow).filter(UserRow.name == "newofficer").one()
        assert row.totp_enrolled and secret not in (row.totp_secret or "")  # the seed is stored sealed


def test_audit_log_keeps_before_and_after_and_cannot_be_edited(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    form = client.get("/system/SYS3").text
    values = {f: (form.split(f'name="{f}" value="')[1].split('"')[0]) for f in ("name", "operator")}
    reply = client.post("/system/SYS3", data={"csrf": csrf, **values, "operator": "Trung tâm CNTT",
                                              "approval_status": "drafting", "proposed_level": "2"},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text
    with state.db().session() as session:
        entry = session.query(AuditRow).filter(AuditRow.action == "system.edit").one()
        assert entry.actor == "offa" and entry.target == "system:SYS3" and entry.agency_code == "S1"
        assert entry.before == {"operator": None, "approval_status": "not_started", "proposed_level": None}
        assert entry.after == {"operator": "Trung tâm CNTT", "approval_status": "drafting", "proposed_level": 2}
    page = client.get("/system/SYS3").text
    assert "Trung tâm CNTT" in page and "not_started" in page  # the history shows before and after
    # the database refuses changes to the log from any client, the ORM too
    with state.db().engine.connect() as conn:
        for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
    with pytest.raises(AuditLogIsAppendOnly), state.db().session() as session:
        session.query(AuditRow).first().actor = "x"  # type: ignore[union-attr]
        session.flush()
    # and no route of the app writes to it other than by appending (no audit route takes a POST)
    assert all("POST" not in (getattr(r, "methods", None) or set()) for r in app.routes if r.name.startswith("audit"))
    auditor = TestClient(app)
    sign_in(auditor, state.db(), "aud", secrets)
    export = auditor.get("/audit.csv")
    assert export.status_code == 200 and "system.edit" in export.text and "Trung tâm CNTT" in export.text


def test_headers_cookies_and_escaping(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/signin")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in page.text
    reply = signin_post(client, "leada", PASSWORD)
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Secure" in cookie
    assert "Strict-Transport-Security" in reply.headers or "strict-transport-security" in reply.headers
    plain = TestClient(app)
    assert "Secure" not in signin_post(plain, "leadp", PASSWORD).headers["set-cookie"]  # no TLS: no Secure flag
    body = client.get("/agency/S1").text
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_uploads_over_the_limit_are_refused_before_reading(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    csrf = sign_in(client, state.db(), "offa", secrets)
    big = b"x" * (app.state.console.policy.upload_max_bytes + 70_000)
    reply = client.post("/agency/S1/evidence", data={"csrf": csrf}, files={"file": ("big.csv", big)})
    assert reply.status_code == 413


def test_wrong_totp_codes_count_towards_the_lockout(world: Any) -> None:
    state, app, secrets = world
    client = TestClient(app)
    signin_post(client, "offa", PASSWORD)
    limit = app.state.console.policy.lockout_failures
    for attempt in range(limit):
        page = client.get("/mfa", follow_redirects=False)
        assert page.status_code == 200, attempt
        reply = client.post("/mfa", data={"csrf": csrf_of(page.text, "/mfa"), "code": "000000"}, follow_redirects=False)
        assert reply.status_code == (303 if attempt == limit - 1 else 401)
    assert client.get("/agency/S1", follow_redirects=False).headers["location"] == "/signin"  # session ended
    assert signin_post(TestClient(app), "offa", PASSWORD).status_code == 401  # and the account is locked
