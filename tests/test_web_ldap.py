"""Sign-in by LDAP bind against a real OpenLDAP (Debian's slapd on a loopback port): a user in the
required group signs in, one outside it does not, nor a wrong password or an injected name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from secops.config import Settings
from secops.users.tables import AuditRow, UserRow
from secops.web.app import create_app
from tests.ldap_server import SUFFIX, LdapServer
from tests.web_helpers import csrf_of, make_province

pytestmark = pytest.mark.timeout(300)

DIRECTORY = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: secops
o: So Thu Nghiem

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: uid=lan,ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: lan
cn: Nguyen Thi Lan
sn: Nguyen
userPassword: lan-directory-password

dn: uid=minh,ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: minh
cn: Tran Van Minh
sn: Tran
userPassword: minh-directory-password

dn: cn=secops-leaders,ou=groups,{SUFFIX}
objectClass: groupOfNames
cn: secops-leaders
member: uid=lan,ou=people,{SUFFIX}
"""


@pytest.fixture(scope="module")
def directory() -> Iterator[LdapServer]:
    server = LdapServer()
    try:
        server.start()
        server.add(DIRECTORY)
        yield server
    finally:
        server.stop()


@pytest.fixture
def app(directory: LdapServer, tmp_path: Path) -> Iterator[Any]:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "console.yaml").write_text(yaml.safe_dump({"ldap": {
        "url": directory.url, "user_dn": f"uid={{name}},ou=people,{SUFFIX}",
        "group_dn": f"cn=secops-leaders,ou=groups,{SUFFIX}", "role": "leader", "agency": "S1"}}))
    settings = Settings(db=state.settings.db, policies=policies, output=tmp_path / "out")
    yield create_app(settings, state.db()), state.db()
    state.db().dispose()


def attempt(app: Any, name: str, password: str) -> Any:
    client = TestClient(app)
    page = client.get("/signin")
    reply = client.post("/signin", data={"csrf": csrf_of(page.text, "/signin"), "name": name, "password": password},
                        follow_redirects=False)
    return client, reply


def test_member_of_the_group_signs_in(app: Any) -> None:
    console, db = app
    client, reply = attempt(console, "lan", "lan-directory-password")
    assert reply.status_code == 303 and reply.headers["location"] == "/"
    assert client.get("/agency/S1").status_code == 200
    assert client.get("/agency/D1", follow_redirects=False).status_code == 404  # the policy's agency scope
    with db.session() as session:
        user = session.query(UserRow).filter(UserRow.name == "lan").one()
        assert (user.source, user.role, user.agency_code, user.password_hash) == ("ldap", "leader", "S1", None)
        assert session.query(AuditRow).filter(AuditRow.action == "user.add", AuditRow.actor == "ldap").count() == 1
    # the directory, not secops, knows the password: a wrong one is refused
    assert attempt(console, "lan", "lan-directory-passwor")[1].status_code == 401


def test_outside_the_group_wrong_password_or_injection_refused(app: Any) -> None:
    console, db = app
    assert attempt(console, "minh", "minh-directory-password")[1].status_code == 401  # not in the group
    assert attempt(console, "nobody", "whatever-password")[1].status_code == 401
    assert attempt(console, "lan", "")[1].status_code == 401  # an empty password is no bind
    assert attempt(console, "*", "lan-directory-password")[1].status_code == 401
    assert attempt(console, "lan,ou=people", "lan-directory-password")[1].status_code == 401
    with db.session() as session:
        assert session.query(UserRow).filter(UserRow.source == "ldap").count() == 0
