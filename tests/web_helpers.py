"""A small province, console accounts of every role and a signed-in client for the console tests.

Province P: department S1 (agency A of the tests) and district D1 with communes C1, C2 (agency B).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import pyotp
import yaml

from secops.cliutil import AppState
from secops.config import Settings
from secops.store.db import Database

PASSWORD = "correct horse battery staple"
AGENCIES = [{"code": "P", "name": "Tỉnh Thử Nghiệm", "kind": "province"},
            {"code": "S1", "name": "Sở Thử Nghiệm <script>alert(1)</script>", "kind": "department", "parent": "P"},
            {"code": "D1", "name": "Huyện Thử Nghiệm", "kind": "district", "parent": "P"},
            {"code": "C1", "name": "Xã Một", "kind": "commune", "parent": "D1"},
            {"code": "C2", "name": "Xã Hai", "kind": "commune", "parent": "D1"}]
SYSTEMS = [{"code": "SYS1", "name": "Cổng thông tin", "owner": "S1", "level": 2, "state": "plan_deployed",
            "approval_decision": "12/QĐ-STN", "approval_date": "2025-03-01", "approved_by": "owner",
            "plan_deployed_date": "2025-04-01"},
           {"code": "SYS3", "name": "Kế toán", "owner": "S1", "state": "unclassified"},
           {"code": "SYS4", "name": "Một cửa huyện", "owner": "D1", "level": 1, "state": "plan_deployed",
            "approval_decision": "5/QĐ-UBND", "approval_date": "2024-01-10", "plan_deployed_date": "2024-02-01"},
           {"code": "SYS5", "name": "Một cửa xã", "owner": "C1", "level": 1, "state": "unclassified"}]
ENDPOINTS = ([{"code": f"ws-0{i}", "hostname": f"ws-0{i}", "ips": [f"127.0.5.{i}"], "os_family": "windows",
               "role": "workstation", "owner": "S1"} for i in range(1, 5)]
             + [{"code": f"ws-1{i}", "hostname": f"ws-1{i}", "ips": [f"127.0.6.{i}"], "os_family": "windows",
                 "role": "workstation", "owner": "C1"} for i in range(1, 4)])
STAFF = [{"code": "CB1", "agency": "P", "is_head": True}, {"code": "CB2", "agency": "S1"},
         {"code": "CB3", "agency": "S1", "is_head": True}, {"code": "CB4", "agency": "D1"},
         {"code": "CB5", "agency": "C1"}]

# name, role, agency
USERS = [("prov", "province-officer", None), ("offa", "agency-officer", "S1"), ("offb", "agency-officer", "D1"),
         ("leada", "leader", "S1"), ("leadp", "leader", None), ("aud", "auditor", None)]

KSC_HEADER = ["Name", "Group", "Status", "Status description", "Connection IP address", "Real-time protection",
              "Anti-virus databases last updated", "Last connected to Administration Server",
              "Network Agent is installed", "Network Agent is running", "Operating system"]


def ksc_export(path: Path, hosts: list[tuple[str, str]]) -> Path:
    """A Kaspersky Security Center 'Devices' export (tab-separated, as KSC writes it) with fresh dates."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stamp = f"{now.month}/{now.day}/{now.year} {now.hour % 12 or 12}:{now.minute:02d}:00 {'AM' if now.hour < 12 else 'PM'}"
    lines = ["\t".join(KSC_HEADER)]
    for name, ip in hosts:
        lines.append("\t".join([name, "Sở", "OK", "", ip, "Running", stamp, "5 minutes ago", "Yes", "Yes",
                                "Microsoft Windows 10 Pro"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_province(db_url: str, folder: Path) -> AppState:
    from secops.config import bundled
    from secops.grade.cli import run_grade
    from secops.inventory.importer import import_files
    from secops.inventory.kinds import load_kinds
    from secops.inventory.levels import load_levels
    from secops.inventory.regime import load_regimes

    policies = bundled("policies")
    inventory = folder / "province.yaml"
    inventory.write_text(yaml.safe_dump({"agencies": AGENCIES, "systems": SYSTEMS, "endpoints": ENDPOINTS,
                                         "staff": STAFF}, allow_unicode=True), encoding="utf-8")
    state = AppState(Settings(db=db_url, output=folder / "reports"))
    import_files(state.db(), [inventory], load_levels(policies), regimes=load_regimes(policies),
                 kinds=load_kinds(policies))
    run_grade(state, dt.datetime.now(dt.UTC))
    return state


def make_users(db: Database, folder: Path) -> dict[str, str]:
    """Every role's account; officers enrolled in TOTP. Returns name -> TOTP secret (officers)."""
    from secops.users.store import add_user, enrolment_secret, start_enrolment, verify_totp

    secrets: dict[str, str] = {}
    for name, role, agency in USERS:
        row = add_user(db, name, role, agency, PASSWORD, actor="test")
        if role.endswith("officer"):
            start_enrolment(db, row.id, "secops")
            secret = enrolment_secret(db, row.id)
            assert secret is not None
            totp = pyotp.TOTP(secret)
            assert verify_totp(db, row.id, totp.generate_otp(_oldest_safe_step(totp)), enrol=True)
            secrets[name] = secret
    return secrets


# The server accepts the steps now-1, now and now+1. The previous step stops being accepted at the
# next step boundary, so a code of it is used only while the boundary is further off than a loaded
# machine takes between making the code and the server checking it.
SAFE_SECONDS = 10


def _oldest_safe_step(totp: pyotp.TOTP, now: dt.datetime | None = None) -> int:
    when = now or dt.datetime.now(dt.UTC)
    step = totp.timecode(when)
    seconds_left = totp.interval - when.timestamp() % totp.interval
    return step - 1 if seconds_left > SAFE_SECONDS else step


def next_code(db: Database, name: str, secret: str) -> str:
    """A TOTP code the server has not accepted yet (a later step than the last used), waiting for
    the clock when the window is used up (bounded)."""
    from secops.users.store import get_user

    totp = pyotp.TOTP(secret)
    deadline = time.monotonic() + 95
    while True:
        with db.session() as session:
            last = get_user(session, name).totp_last_step
        now = totp.timecode(dt.datetime.now(dt.UTC))
        step = max(_oldest_safe_step(totp), (last or 0) + 1)
        if step <= now + 1:
            return str(totp.generate_otp(step))
        assert time.monotonic() < deadline, "no TOTP step free"
        time.sleep(0.5)


def csrf_of(html: str, action: str | None = None) -> str:
    """The CSRF token of the page's form posting to ACTION (default: the first form)."""
    if action is not None:
        html = html[html.index(f'action="{action}"'):]
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: Any, db: Database, name: str, secrets: dict[str, str]) -> str:
    """Sign in through the pages (password, then TOTP for officers); returns the CSRF token."""
    page = client.get("/signin")
    reply = client.post("/signin", data={"csrf": csrf_of(page.text, "/signin"), "name": name, "password": PASSWORD},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text
    if name in secrets:
        assert reply.headers["location"] == "/mfa"
        page = client.get("/mfa")
        reply = client.post("/mfa", data={"csrf": csrf_of(page.text, "/mfa"), "code": next_code(db, name, secrets[name])},
                            follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/", reply.text
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200, home.text
    return csrf_of(home.text)
