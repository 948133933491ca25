"""`secops serve --workers 2`: a real uvicorn with two worker processes on loopback. What is a
security promise holds across them, each request's worker known (its server-side socket found in
the worker's open files): the API rate limit per token counts both workers' requests, the sign-in
slots are the machine's (held by the test: both workers wait, then refuse 503), a session opened
on one worker is live on the other and ends on both at sign-out, and the lockout counts failures
made on either."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from secops.config import bundled
from secops.users.store import add_token
from tests.web_helpers import PASSWORD, _oldest_safe_step, make_province, make_users

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parent.parent
LIMIT = 10  # api_rate_per_minute of this test's policies


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from CLIENT_PORT (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if local.endswith(f":{server_port:04X}") and remote.endswith(f":{client_port:04X}"):
            return fields[9]
    return None


class Worker:
    """Which worker process served a client's (kept-alive) connection."""

    def __init__(self, workers: list[int], port: int):
        self.workers, self.port = workers, port

    def of(self, response: httpx.Response) -> int:
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        inode = _socket_inode(self.port, client_port)
        assert inode is not None
        for pid in self.workers:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        raise AssertionError("no worker holds the connection")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, Any, Worker, Path]]:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    make_users(state.db(), tmp_path)
    policies = tmp_path / "policies"
    shutil.copytree(bundled("policies"), policies)
    text = (policies / "console.yaml").read_text(encoding="utf-8")
    for old, new in (("api_rate_per_minute: 120", f"api_rate_per_minute: {LIMIT}"),
                     ("signin_wait_seconds: 60", "signin_wait_seconds: 1"), ("lockout_failures: 5", "lockout_failures: 4")):
        assert old in text
        text = text.replace(old, new)
    (policies / "console.yaml").write_text(text, encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    private = tmp_path / "tmp"
    private.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(private)}
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "secops", "--db", str(tmp_path / "secops.db"), "--policies",
                               str(policies), "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        workers: list[int] = []
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the console did not start: " + (tmp_path / "serve.log").read_text()
            workers = [pid for pid in _children(server.pid)
                       if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0 and len(workers) == 2 and \
                        (tmp_path / "serve.log").read_text().count("Application startup complete") >= 2:
                    break
            time.sleep(0.1)
        folders = list(private.glob("secops-console-*"))
        assert len(folders) == 1 and (folders[0].stat().st_mode & 0o777) == 0o700
        yield f"http://127.0.0.1:{port}", state, Worker(workers, port), folders[0]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()
        state.db().dispose()
    assert not list(private.glob("secops-console-*"))  # the private folder is removed at the end


def _clients(url: str, worker: Worker, headers: dict[str, str] | None = None) -> dict[int, httpx.Client]:
    """One kept-alive client per worker: new connections until both workers hold one (bounded)."""
    found: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    for _ in range(60):
        client = httpx.Client(base_url=url, headers=headers or {}, timeout=60,
                              limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        pid = worker.of(client.get("/static/console.css"))
        if pid in found:
            spare.append(client)
        else:
            found[pid] = client
        if len(found) == 2:
            break
    for client in spare:
        client.close()
    assert len(found) == 2, "the kernel never gave a connection to the second worker"
    return found


def _sign_in_form(client: httpx.Client) -> str:
    page = client.get("/signin")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_security_state_holds_across_two_workers(console: Any) -> None:
    url, state, worker, folder = console

    # the API rate limit per token: both workers' requests counted together
    token = add_token(state.db(), "ioc", None, actor="test")
    api = _clients(url, worker, {"Authorization": f"Bearer {token}"})
    served: list[tuple[int, int]] = []
    for number in range(LIMIT + 4):
        client = list(api.values())[number % 2]
        reply = client.get("/api/v1/grades")
        served.append((worker.of(reply), reply.status_code))
    assert [code for _, code in served] == [200] * LIMIT + [429] * 4, served
    assert {pid for pid, code in served if code == 200} == set(api)  # both workers answered within the limit
    for client in api.values():
        client.close()

    pages = _clients(url, worker)
    first, second = pages.values()

    # sign-in slots are the machine's: held here, a sign-in on either worker waits, then 503
    held = []
    for number in range(2):  # signin_concurrency: 2
        fd = os.open(folder / "signin" / f"slot-{number}", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.append(fd)
    try:
        for client in (first, second):
            csrf = _sign_in_form(client)
            started = time.monotonic()
            busy = client.post("/signin", data={"csrf": csrf, "name": "leadp", "password": PASSWORD})
            assert busy.status_code == 503 and time.monotonic() - started >= 1, busy.text
    finally:
        for fd in held:
            os.close(fd)

    # a session opened on one worker is the other's too, and sign-out ends it on both
    csrf = _sign_in_form(first)
    signed = first.post("/signin", data={"csrf": csrf, "name": "leadp", "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    cookie = first.cookies.get("secops_session")
    assert cookie
    second.cookies.set("secops_session", cookie)
    page = second.get("/agency/P")
    assert page.status_code == 200 and worker.of(page) != worker.of(first.get("/agency/P"))
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    assert second.post("/signout", data={"csrf": csrf.group(1)}).status_code == 303
    assert first.get("/agency/P").status_code == 303  # back to the sign-in page

    # the lockout counts failures made on either worker (lockout_failures: 4)
    for number in range(4):
        client = (first, second)[number % 2]
        wrong = client.post("/signin", data={"csrf": _sign_in_form(client), "name": "aud", "password": "wrong" * 3})
        assert wrong.status_code == 401
    right = first.post("/signin", data={"csrf": _sign_in_form(first), "name": "aud", "password": PASSWORD})
    assert right.status_code == 401, right.text  # locked: the right password refused too
    with state.db().session() as session:
        from secops.users.store import get_user

        assert get_user(session, "aud").locked_until is not None
    for client in (first, second):
        client.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_failures_all_count_and_one_code_passes_once(tmp_path: Path, backend: str,
                                                                request: pytest.FixtureRequest) -> None:
    """Sign-in failures arriving together (several workers, or threads of one) each count: no
    read-then-write loses one, no 'database is locked' error; a TOTP code posted twice at once is
    accepted once. SQLite and PostgreSQL."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import pyotp

    from secops.users.policy import ConsolePolicy
    from secops.users.store import add_user, check_password, enrolment_secret, get_user, start_enrolment, verify_totp
    from secops.users.tables import AuditRow

    url = f"sqlite:///{tmp_path / 'secops.db'}"
    if backend == "postgresql":
        fresh = request.getfixturevalue("fresh_pg")()
        url = fresh.url
        fresh.dispose()
    state = make_province(url, tmp_path)
    db = state.db()
    policy = ConsolePolicy(lockout_failures=6)
    add_user(db, "busy", "leader", None, PASSWORD, actor="test")
    start = threading.Barrier(6)

    def wrong(_: int) -> str:
        start.wait(timeout=30)
        return check_password(db, "busy", "not the password", policy).reason

    with ThreadPoolExecutor(max_workers=6) as pool:
        reasons = list(pool.map(wrong, range(6)))
    assert reasons == ["bad_credentials"] * 6
    with db.session() as session:
        row = get_user(session, "busy")
        assert row.locked_until is not None, "six failures at once must lock the account (lockout_failures 6)"
        assert session.query(AuditRow).filter(AuditRow.action == "user.locked").count() == 1
    assert check_password(db, "busy", PASSWORD, policy).reason == "locked"

    officer = add_user(db, "twice", "agency-officer", "S1", PASSWORD, actor="test")
    start_enrolment(db, officer.id, "secops")
    secret = enrolment_secret(db, officer.id)
    assert secret is not None
    totp = pyotp.TOTP(secret)
    first = _oldest_safe_step(totp)
    assert verify_totp(db, officer.id, totp.generate_otp(first), enrol=True)
    code = totp.generate_otp(first + 1)
    both = threading.Barrier(2)

    def post(_: int) -> bool:
        both.wait(timeout=30)
        return verify_totp(db, officer.id, code)

    with ThreadPoolExecutor(max_workers=2) as pool:
        accepted = list(pool.map(post, range(2)))
    assert sorted(accepted) == [False, True]
    db.dispose()
