"""The authorisation matrix, generated from the app's own route table: every route × every role ×
own agency / another agency / anonymous (and API tokens). A route without a rule fails here.

Agency A is S1 (a department), agency B is D1 (a district with communes C1, C2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secops.web.app import create_app
from secops.web.rules import RULES, TOKEN, Rule
from tests.web_helpers import USERS, csrf_of, make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(600)

OWN = {"agency": "S1", "system": "SYS1", "staff": "CB2"}
OTHER = {"agency": "D1", "system": "SYS4", "staff": "CB4"}  # B's: tampered codes in A's URLs
OTHER_DEEP = {"agency": "C1", "system": "SYS5", "staff": "CB5"}  # a unit under B
MISSING = {"agency": "NOPE", "system": "NOPE", "staff": "NOPE", "import": "999999"}
# agency of the user -> (inside its subtree, outside it)
SIDES = {None: ([OWN, OTHER, OTHER_DEEP], []), "S1": ([OWN], [OTHER, OTHER_DEEP]),
         "D1": ([OTHER, OTHER_DEEP], [OWN])}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("authz")
    state = make_province(f"sqlite:///{folder / 'secops.db'}", folder)
    secrets = make_users(state.db(), folder)
    app = create_app(state.settings, state.db())
    clients = {}
    for name, _, _ in USERS:
        client = TestClient(app)
        clients[name] = (client, sign_in(client, state.db(), name, secrets))
    from secops.evaluate.waiver_requests import request_waiver
    from secops.users.store import add_token

    with state.db().session() as session:
        request_waiver(session, "cis_debian12:1", "D1", "kept for the matrix", dt.date(2099, 1, 1), "test")
    from secops.schedule.jobs import load_jobs
    from secops.schedule.requests import queue_request
    from secops.schedule.schedules import add_schedule

    add_schedule(state.db(), load_jobs(state.settings.policies), "nightly-matrix", job="nightly", cron="0 2 * * *")

    for target in (OWN, OTHER, OTHER_DEEP):  # a queued evidence import of each side's agency
        target["import"] = str(queue_request(state.db(), "import", "test", agency=target["agency"], params={}))
    tokens = {"S1": add_token(state.db(), "ioc-a", "S1", actor="test"),
              None: add_token(state.db(), "ioc", None, actor="test")}
    yield state, app, clients, tokens
    state.db().dispose()


def routes(app: Any) -> list[tuple[str, str, str]]:
    """(name, method, path template) of every route the app serves, sign-out last."""
    out = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            out.append((route.name, method, route.path))
    return sorted(out, key=lambda r: r[0] == "signout")


def fill(path: str, rule: Rule, target: dict[str, str]) -> str:
    path = path.replace("{fmt}", "csv").replace("{id}", "1")  # waiver request 1 (the fixture's)
    path = path.replace("{name}", "nightly-matrix")  # the fixture's schedule
    if rule.agency:
        path = path.replace("{" + rule.agency + "}", target["agency"])
    if rule.system:
        path = path.replace("{" + rule.system + "}", target["system"])
    if rule.staff:
        path = path.replace("{" + rule.staff + "}", target["staff"])
    if rule.run_request:
        path = path.replace("{" + rule.run_request + "}", target["import"])
    if rule.agency_query:
        path += f"?{rule.agency_query}={target['agency']}"
    assert "{" not in path, f"the matrix cannot fill {path}: teach fill() the new parameter"
    return path


def call(client: TestClient, method: str, path: str, csrf: str | None, **kwargs: Any) -> Any:
    if method == "GET":
        return client.get(path, follow_redirects=False, **kwargs)
    return client.post(path, data={"csrf": csrf or ""}, follow_redirects=False, **kwargs)


def to_signin(reply: Any) -> bool:
    return reply.status_code == 303 and reply.headers["location"] == "/signin"


def test_every_route_has_a_rule(world: Any) -> None:
    _, app, _, _ = world
    missing = [name for name, _, _ in routes(app) if name not in RULES]
    assert not missing, f"routes without an authorisation rule in secops/web/rules.py: {missing}"
    assert len(routes(app)) >= 20


def test_a_route_without_a_rule_is_refused(world: Any) -> None:
    state, _, _, _ = world
    app = create_app(state.settings, state.db())

    @app.get("/forgotten", name="forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "data"}

    assert "forgotten" not in RULES
    reply = TestClient(app).get("/forgotten")
    assert reply.status_code == 500 and "secret" not in reply.text


@pytest.mark.parametrize("user", [u[0] for u in USERS])
def test_matrix_for_role(world: Any, user: str) -> None:
    _, app, clients, _ = world
    role, agency = next((r, a) for n, r, a in USERS if n == user)
    client, csrf = clients[user]
    problems = []
    for name, method, template in routes(app):
        rule = RULES[name]
        if rule.public:
            continue
        inside, outside_targets = SIDES[agency]
        targets = [("own", inside[0])]
        if rule.agency or rule.system or rule.staff or rule.run_request or rule.agency_query:
            targets = ([("own", t) for t in inside] + [("other", t) for t in outside_targets]
                       + [("missing", MISSING)])
        for label, target in targets:
            path = fill(template, rule, target)
            reply = call(client, method, path, csrf)
            code = reply.status_code
            allowed_role = role in rule.roles and not (rule.province and agency is not None)
            outside = label == "missing" or (agency is not None and label.startswith("other"))
            if not allowed_role:
                ok = code in (403, 404)
            elif outside:
                ok = code in (403, 404)
            elif name == "signout":
                ok = to_signin(reply) and reply.headers.get("set-cookie", "").startswith("secops_session=\"\"")
            elif rule.half and name == "mfa":
                ok = code in (303, 401)  # a code for a session that passed its factor is not accepted twice
            else:
                ok = code not in (401, 403, 404, 500) and not to_signin(reply)
            if not ok:
                problems.append(f"{method} {path}: {code} (role {role}, agency {agency}, {label})")
    assert not problems, "\n".join(problems)
    # the user signed out last: the session is over
    assert to_signin(client.get("/agency/S1", follow_redirects=False))


def test_matrix_anonymous(world: Any) -> None:
    _, app, _, _ = world
    anonymous = TestClient(app)
    page = anonymous.get("/signin")
    assert page.status_code == 200
    for name, method, template in routes(app):
        rule = RULES[name]
        for target in (OWN, OTHER):
            path = fill(template, rule, target)
            reply = call(anonymous, method, path, csrf_of(page.text))
            if rule.public:
                assert reply.status_code < 500, (method, path)
            elif rule.api:
                assert reply.status_code == 401, (method, path, reply.status_code)
            else:
                assert to_signin(reply), (method, path, reply.status_code)


@pytest.mark.parametrize("scope", ["S1", None])
def test_matrix_api_tokens(world: Any, scope: str | None) -> None:
    _, app, _, tokens = world
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {tokens[scope]}"}
    for name, method, template in routes(app):
        rule = RULES[name]
        if rule.public:
            continue
        for label, target in (("own", OWN), ("other", OTHER), ("other-deep", OTHER_DEEP)):
            path = fill(template, rule, target)
            reply = call(client, method, path, None, headers=headers)
            if TOKEN not in rule.roles:  # pages: a token is no sign-in
                assert to_signin(reply) or reply.status_code in (401, 403), (path, reply.status_code)
            elif scope == "S1" and label != "own":
                assert reply.status_code == 404, (path, reply.status_code)
            else:
                assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
    bad = client.get("/api/v1/grades", headers={"Authorization": "Bearer sco_not-a-token"})
    assert bad.status_code == 401
