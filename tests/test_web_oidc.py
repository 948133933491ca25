"""OpenID Connect sign-in against a real provider on loopback (tests/oidc_provider.py) and a real
uvicorn: a mapped user signs in (account made, role and agency from the mapping, a new session); a
user outside the mapping is refused; the state, the nonce, the audience and the signature are
checked; a callback is used once; a local account of the same name is not taken over."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from secops.config import bundled
from secops.users.tables import AuditRow, SessionRow, UserRow
from secops.web.app import create_app
from tests.oidc_provider import Provider
from tests.web_helpers import make_province, make_users

pytestmark = pytest.mark.timeout(300)
CLIENT_ID, CLIENT_SECRET = "secops-console", "s3cret-for-the-test-only"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    provider = Provider(CLIENT_ID, CLIENT_SECRET)
    issuer = provider.start()
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    make_users(state.db(), tmp_path)
    secret = tmp_path / "oidc-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    secret.chmod(0o600)
    policies = tmp_path / "policies"
    policies.mkdir()
    console_yaml = yaml.safe_load((bundled("policies") / "console.yaml").read_text(encoding="utf-8"))
    console_yaml["oidc"] = {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_file": str(secret),
                            "mappings": [{"group": "secops-leaders", "role": "leader"},
                                         {"group": "so-thu-nghiem", "claims": {"department": "S1"},
                                          "role": "agency-officer", "agency": "S1"}]}
    (policies / "console.yaml").write_text(yaml.safe_dump(console_yaml), encoding="utf-8")
    app = create_app(state.settings.model_copy(update={"policies": policies}), state.db())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    provider.redirect_uris.add(f"{base}/oidc/callback")
    try:
        yield {"state": state, "provider": provider, "base": base}
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        provider.stop()
        state.db().dispose()


def _to_provider(browser: httpx.Client) -> httpx.Response:
    """The console's /oidc/start: a redirect to the provider's authorisation endpoint."""
    start = browser.get("/oidc/start")
    assert start.status_code == 302, start.text
    return start


def _at_provider(browser: httpx.Client, start: httpx.Response) -> str:
    """The provider signs the user in and sends the browser back: the callback URL."""
    at = httpx.get(start.headers["location"], follow_redirects=False)
    assert at.status_code == 302, at.text
    return str(at.headers["location"])


def _audit(state: Any, action: str) -> list[AuditRow]:
    with state.db().session() as session:
        return list(session.query(AuditRow).filter(AuditRow.action == action).order_by(AuditRow.id))


def test_mapped_user_signs_in(world: dict[str, Any]) -> None:
    state, provider, base = world["state"], world["provider"], world["base"]
    provider.user = {"preferred_username": "Lan.Nguyen", "groups": ["staff", "secops-leaders"]}
    with httpx.Client(base_url=base) as browser:
        assert 'id="sso"' in browser.get("/signin").text
        start = _to_provider(browser)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["location"]).query))
        assert query["client_id"] == CLIENT_ID and query["code_challenge_method"] == "S256"
        assert query["state"] and query["nonce"] and query["redirect_uri"] == f"{base}/oidc/callback"
        cookie = start.headers["set-cookie"]
        assert "secops_oidc=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert query["nonce"] not in cookie and query["state"] not in cookie  # sealed
        callback = _at_provider(browser, start)
        back = browser.get(callback)
        assert back.status_code == 303 and back.headers["location"] == "/", back.text
        assert browser.cookies.get("secops_session")
        home = browser.get("/agency/P")
        assert home.status_code == 200 and "lan.nguyen" in home.text
        # the callback again (a replay): no sign-in in progress any more
        again = browser.get(callback)
        assert again.status_code == 403 and 'id="error"' in again.text
    with state.db().session() as session:
        user = session.query(UserRow).filter(UserRow.name == "lan.nguyen").one()
        assert (user.source, user.role, user.agency_code, user.password_hash) == ("oidc", "leader", None, None)
        assert session.query(SessionRow).filter(SessionRow.user_id == user.id).count() == 1
    assert _audit(state, "user.sso-signin")[-1].actor == "Lan.Nguyen"
    assert CLIENT_SECRET not in str([(a.before, a.after) for a in _audit(state, "user.sso-refused")])


def test_officer_mapping_then_totp(world: dict[str, Any]) -> None:
    state, provider, base = world["state"], world["provider"], world["base"]
    provider.user = {"preferred_username": "hoa", "groups": ["so-thu-nghiem"], "department": "S1"}
    with httpx.Client(base_url=base) as browser:
        back = browser.get(_at_provider(browser, _to_provider(browser)))
        assert back.status_code == 303 and back.headers["location"] == "/mfa"  # officers: TOTP after SSO too
    with state.db().session() as session:
        user = session.query(UserRow).filter(UserRow.name == "hoa").one()
        assert (user.role, user.agency_code) == ("agency-officer", "S1")


@pytest.mark.parametrize("who", [{"preferred_username": "outsider", "groups": ["staff"]},
                                 {"preferred_username": "almost", "groups": ["so-thu-nghiem"], "department": "D1"},
                                 {"groups": ["secops-leaders"]}])
def test_user_outside_the_mapping_is_refused(world: dict[str, Any], who: dict[str, Any]) -> None:
    state, provider, base = world["state"], world["provider"], world["base"]
    provider.user = who
    with httpx.Client(base_url=base) as browser:
        back = browser.get(_at_provider(browser, _to_provider(browser)))
        assert back.status_code == 403 and 'id="error"' in back.text and "secops_session" not in browser.cookies
        assert browser.get("/agency/P").headers.get("location") == "/signin"
    with state.db().session() as session:
        assert session.query(UserRow).filter(UserRow.source == "oidc").count() == 0
    assert _audit(state, "user.sso-refused")


@pytest.mark.parametrize("tamper", ["state", "no-cookie", "nonce", "audience", "signature"])
def test_state_nonce_audience_signature_checked(world: dict[str, Any], tamper: str) -> None:
    state, provider, base = world["state"], world["provider"], world["base"]
    provider.user = {"preferred_username": "lan", "groups": ["secops-leaders"]}
    provider.wrong_nonce = tamper == "nonce"
    provider.wrong_audience = tamper == "audience"
    provider.unpublished_key = tamper == "signature"
    with httpx.Client(base_url=base) as browser:
        callback = _at_provider(browser, _to_provider(browser))
        if tamper == "state":
            parts = urllib.parse.urlsplit(callback)
            query = dict(urllib.parse.parse_qsl(parts.query))
            callback = parts._replace(query=urllib.parse.urlencode({**query, "state": "forged"})).geturl()
        if tamper == "no-cookie":  # a callback this browser did not start (login CSRF)
            browser.cookies.clear()
        requests_before = provider.token_requests
        back = browser.get(callback)
        assert back.status_code == 403, back.text
        assert "secops_session" not in browser.cookies
        if tamper in ("state", "no-cookie"):
            assert provider.token_requests == requests_before  # refused before the code is spent
    reasons = [a.after["reason"] for a in _audit(state, "user.sso-refused")]
    expected = {"state": "state does not match", "no-cookie": "no sign-in in progress", "nonce": "nonce",
                "audience": "aud", "signature": "signature"}[tamper]
    assert any(expected in r for r in reasons), reasons
    with state.db().session() as session:
        assert session.query(UserRow).filter(UserRow.name == "lan").count() == 0


def test_local_account_not_taken_over(world: dict[str, Any]) -> None:
    state, provider, base = world["state"], world["provider"], world["base"]
    provider.user = {"preferred_username": "prov", "groups": ["secops-leaders"]}  # a local province officer
    with httpx.Client(base_url=base) as browser:
        back = browser.get(_at_provider(browser, _to_provider(browser)))
        assert back.status_code == 403
    with state.db().session() as session:
        user = session.query(UserRow).filter(UserRow.name == "prov").one()
        assert (user.source, user.role) == ("local", "province-officer")
    # recorded in the language of the page that refused it (Vietnamese unless the reader chose English)
    assert "là tài khoản local" in _audit(state, "user.sso-refused")[-1].after["reason"]


def test_bad_oidc_settings_are_refused(tmp_path: Path) -> None:
    from secops.errors import SecopsError
    from secops.users.policy import load_console_policy

    base = yaml.safe_load((bundled("policies") / "console.yaml").read_text(encoding="utf-8"))
    for oidc, message in (({"issuer": "http://sso.example.gov.vn", "client_id": "c", "client_secret_file": "/x",
                            "mappings": [{"group": "g", "role": "leader"}]}, "must be an https URL"),
                          ({"issuer": "https://sso.example.gov.vn", "client_id": "c", "client_secret_file": "/x",
                            "mappings": [{"group": "g", "role": "boss"}]}, "roles are"),
                          ({"issuer": "https://sso.example.gov.vn", "client_id": "c", "client_secret_file": "/x",
                            "mappings": [{"role": "leader"}]}, "give a group or claims")):
        (tmp_path / "console.yaml").write_text(yaml.safe_dump({**base, "oidc": oidc}), encoding="utf-8")
        with pytest.raises(SecopsError, match=message):
            load_console_policy(tmp_path)
