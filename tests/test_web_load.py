"""What the console does so that it holds under load (bench/console_load.py measures it): argon2id
sign-ins bounded so they cannot take every worker thread (a real uvicorn on loopback); the
dashboard model built once per graded run and agency, also under concurrent first requests; the
endpoint list paged by keyset (an index range, no OFFSET)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from secops.web.app import create_app
from tests.web_helpers import PASSWORD, make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path) -> Any:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    secrets = make_users(state.db(), tmp_path)
    app = create_app(state.settings, state.db())
    yield state, app, secrets
    state.db().dispose()


@pytest.fixture
def served(world: Any) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 (in this process, so the test can watch inside)."""
    _, app, _ = world
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_signins_are_bounded_and_hold_no_worker_thread(world: Any, served: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import secops.users.store as store
    import secops.web.pages as pages

    _, app, _ = world
    limit = app.state.console.policy.signin_concurrency
    assert limit == 2  # policies/console.yaml
    lock = threading.Lock()
    seen = {"now": 0, "most": 0, "threads": 0, "most_threads": 0}
    real_check, real_signin = store._password_ok, pages._signin

    def counted_check(stored: str | None, password: str) -> bool:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            time.sleep(0.2)  # hold the slot as a slow argon2id would
            return bool(real_check(stored, password))
        finally:
            with lock:
                seen["now"] -= 1

    def counted_signin(*args: Any) -> Any:  # a sign-in on a worker thread
        with lock:
            seen["threads"] += 1
            seen["most_threads"] = max(seen["most_threads"], seen["threads"])
        try:
            return real_signin(*args)
        finally:
            with lock:
                seen["threads"] -= 1

    monkeypatch.setattr(store, "_password_ok", counted_check)
    monkeypatch.setattr(pages, "_signin", counted_signin)

    def one_signin(_: int) -> int:
        with httpx.Client(base_url=served, timeout=60) as client:
            page = client.get("/signin")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            reply = client.post("/signin", data={"csrf": csrf.group(1), "name": "leadp", "password": PASSWORD})
            return reply.status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        rush = [pool.submit(one_signin, i) for i in range(10)]
        # while the sign-ins queue, a page is served (the style sheet: a worker thread of its own)
        with httpx.Client(base_url=served, timeout=60) as reader:
            while not any(f.done() for f in rush) and seen["now"] == 0:
                time.sleep(0.01)
            assert reader.get("/static/console.css").status_code == 200
        codes = [f.result(timeout=120) for f in rush]
    assert codes == [303] * 10  # all signed in, in turn
    assert seen["most"] == limit and seen["most_threads"] <= limit, seen


def test_dashboard_built_once_per_graded_run(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    import secops.report.publish as publish
    from secops.grade.cli import run_grade

    state, app, _ = world
    console = app.state.console
    calls: list[tuple[int | None, str | None]] = []
    real = publish.dashboard_for

    def counted(db: Any, settings: Any, run_id: int | None = None, **kwargs: Any) -> Any:
        calls.append((run_id, kwargs.get("agency_code")))
        time.sleep(0.2)  # a slow build: the other requests arrive meanwhile
        return real(db, settings, run_id, **kwargs)

    monkeypatch.setattr(publish, "dashboard_for", counted)
    with ThreadPoolExecutor(max_workers=8) as pool:
        models = list(pool.map(lambda _: console.dashboard("S1", "vi"), range(8)))
    assert len(calls) == 1 and all(m is models[0] for m in models)  # one build, every request got it
    assert console.dashboard("S1", "vi") is models[0] and len(calls) == 1  # kept for the run, no expiry
    console.dashboard("D1", "vi")
    assert len(calls) == 2
    run_grade(state, dt.datetime.now(dt.UTC))  # a new graded run: seen at once
    fresh = console.dashboard("S1", "vi")
    assert len(calls) == 3 and fresh.run.id != models[0].run.id


def test_endpoints_paged_by_keyset(world: Any) -> None:
    state, app, secrets = world
    console = app.state.console
    console.policy = console.policy.model_copy(update={"page_size": 5})
    client = TestClient(app)
    sign_in(client, state.db(), "aud", secrets)

    def codes(html: str) -> list[str]:
        table = html[html.index('id="endpoints"'):]
        table = table[:table.index("</table>")]
        return re.findall(r"<tr><td>(ws-\d+)</td>", table)

    first = client.get("/agency/P").text
    assert codes(first) == ["ws-01", "ws-02", "ws-03", "ws-04", "ws-11"] and "(7)" in first
    following = re.search(r'id="ep-next" href="([^"]+)"', first)
    assert following and "after=ws-11" in following.group(1) and 'id="ep-first"' not in first
    second = client.get("/agency/P" + following.group(1).replace("&amp;", "&")).text
    assert codes(second) == ["ws-12", "ws-13"] and 'id="ep-next"' not in second and 'id="ep-first"' in second
    s1 = client.get("/agency/S1").text  # a subtree: its own endpoints only
    assert codes(s1) == ["ws-01", "ws-02", "ws-03", "ws-04"] and 'id="ep-next"' not in s1
    assert codes(client.get("/agency/D1?after=ws-11").text) == ["ws-12", "ws-13"]


def _fix_pages_match(state: Any, app: Any, secrets: Any) -> None:
    from secops.report.publish import dashboard_for

    console = app.state.console
    console.policy = console.policy.model_copy(update={"page_size": 5})
    client = TestClient(app)
    sign_in(client, state.db(), "aud", secrets)
    for code in ("P", "S1", "D1"):
        full = [(f.target_id, f.code) for f in dashboard_for(state.db(), state.settings, agency_code=code).fix]
        assert full, code
        pages = -(-len(full) // 5)
        seen = []
        for page in range(1, pages + 1):
            html = client.get(f"/agency/{code}?page={page}").text
            assert f"{page}/{pages}" in html
            table = html[html.index('id="fix"'):]
            table = table[:table.index("</table>")]
            rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]*</td><td>(?:<a [^>]+>)?([^<]+)<", table)
            seen.extend(rows)
        assert seen == full, code


def test_fix_list_pages_are_the_dashboards_list(world: Any) -> None:
    """The agency page's fix list, page by page, is the dashboard's own list in the same order: the
    first pages from the run's one pass over the province's lists (web/fixpages.fix_heads)."""
    state, app, secrets = world
    _fix_pages_match(state, app, secrets)


def test_fix_list_pages_past_those_kept_are_the_dashboards_list(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages past those kept per run are read on their own (OFFSET/LIMIT on the report's fast path
    in the one or two targets the page falls in): still the dashboard's list, page by page."""
    import secops.web.fixpages as fixpages

    monkeypatch.setattr(fixpages, "KEPT_ITEMS", 5)  # one page of 5
    state, app, secrets = world
    read: list[int] = []
    real = fixpages.fix_page_read

    def counted(console: Any, as_of: Any, codes: Any, counts: Any, page: int, size: int) -> Any:
        read.append(page)
        return real(console, as_of, codes, counts, page, size)

    monkeypatch.setattr(fixpages, "fix_page_read", counted)
    _fix_pages_match(state, app, secrets)
    assert read and 1 not in read  # page 1 kept; the later ones read on their own


@pytest.mark.parametrize("kept", [4, 1])
def test_fix_list_pages_on_postgresql(tmp_path: Path, kept: int, request: pytest.FixtureRequest,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on PostgreSQL (the fast path's DISTINCT ON there): the kept pages and the pages past
    them are the dashboard's list, page by page."""
    import secops.web.fixpages as fixpages

    monkeypatch.setattr(fixpages, "KEPT_ITEMS", kept * 5)  # pages of 5
    fresh = request.getfixturevalue("fresh_pg")()
    url = fresh.url
    fresh.dispose()
    state = make_province(url, tmp_path)
    secrets = make_users(state.db(), tmp_path)
    try:
        _fix_pages_match(state, create_app(state.settings, state.db()), secrets)
    finally:
        state.db().dispose()


def _statements(engine: Any) -> list[str]:
    """Every SQL statement the engine runs from now on (SQLAlchemy's cursor event)."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_warm_up_reads_each_targets_fix_list_once_for_every_agency(world: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Warming every agency's first fix list page is one ordered query per target over the province
    (the report's fast path), not a query per agency and target; the server-side OFFSET walk of
    target_fix_items (the dashboard model's path) is not used."""
    import secops.report.fixlist as fixlist
    import secops.web.warm as warm
    from secops.targets import load_targets

    state, app, _ = world
    console = app.state.console

    def refused(*_: Any, **__: Any) -> Any:
        raise AssertionError("the fix list read through target_fix_items")

    monkeypatch.setattr(fixlist, "target_fix_items", refused)
    seen = _statements(console.db.engine)
    _, count = warm.warm(console)
    assert count == 5
    fix_queries = [s for s in seen if "agency_name" in s]
    assert 0 < len(fix_queries) <= len(load_targets(state.settings.policies).targets), fix_queries


def test_endpoint_count_once_per_graded_run(world: Any) -> None:
    """The agency pages' endpoint count is one GROUP BY per graded run for every agency, not a COUNT
    over the endpoints per agency and view; a new graded run counts again."""
    import datetime as dt

    from secops.grade.cli import run_grade

    state, app, secrets = world
    console = app.state.console
    client = TestClient(app)
    seen = _statements(console.db.engine)
    sign_in(client, state.db(), "aud", secrets)
    totals = {code: re.findall(r"\((\d+)\)</h2>", client.get(f"/agency/{code}").text) for code in ("P", "S1", "D1")}
    client.get("/agency/P")
    counts = [s for s in seen if "count(" in s.lower() and "endpoints" in s.lower()]
    assert len(counts) == 1, counts
    assert "7" in totals["P"] and "4" in totals["S1"], totals
    run_grade(state, dt.datetime.now(dt.UTC))
    client.get("/agency/S1")
    assert len([s for s in seen if "count(" in s.lower() and "endpoints" in s.lower()]) == 2


def test_api_grades_serialised_once_per_run_with_etag(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The grades' JSON is built once per graded run and scope (not a model validation per read); the
    ETag names the run: If-None-Match gets 304 until the next graded run, and never past the guard
    (a revoked token is refused at once, 304 or not; another agency's scope stays 404)."""
    import datetime as dt

    import secops.web.api as api
    from secops.grade.cli import run_grade
    from secops.users.store import add_token, revoke_token, token_scope

    state, app, _ = world
    built: list[tuple[str, bool]] = []
    real = api._grades

    def counted(request: Any, code: str, only_scope: bool) -> Any:
        built.append((code, only_scope))
        return real(request, code, only_scope)

    monkeypatch.setattr(api, "_grades", counted)
    token = add_token(state.db(), "ioc", None, actor="test")
    s1_token = add_token(state.db(), "ioc-s1", "S1", actor="test")
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    first = client.get("/api/v1/grades", headers=headers)
    again = client.get("/api/v1/grades", headers=headers)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert first.headers["content-type"] == "application/json" and first.json()["scope"] == "P"
    assert built == [("P", False)]  # serialised once for the run
    etag = first.headers["etag"]
    assert etag == again.headers["etag"] and str(first.json()["run"]) in etag
    same = client.get("/api/v1/grades", headers={**headers, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    one = client.get("/api/v1/agencies/S1/grades", headers={**headers, "If-None-Match": etag})
    assert one.status_code == 200 and one.headers["etag"] != etag  # another scope: another tag
    s1 = {"Authorization": f"Bearer {s1_token}", "If-None-Match": one.headers["etag"]}
    assert client.get("/api/v1/agencies/S1/grades", headers=s1).status_code == 304
    assert client.get("/api/v1/agencies/D1/grades", headers=s1).status_code == 404
    run_grade(state, dt.datetime.now(dt.UTC))  # a new graded run: new figures, new tag, at once
    fresh = client.get("/api/v1/grades", headers={**headers, "If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert fresh.json()["run"] == first.json()["run"] + 1 and len(built) == 3
    found = token_scope(state.db(), token)
    assert found is not None
    revoke_token(state.db(), found[0], actor="test")
    assert client.get("/api/v1/grades", headers={**headers, "If-None-Match": fresh.headers["etag"]}).status_code == 401


def test_agency_figures_rendered_once_per_run_and_systems_paged(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The targets and units tables (the same for every reader) are rendered once per graded run,
    agency and language and put in each page as they are, still escaped; the reader's own parts (name,
    CSRF token) are not cached. The systems list is a keyset page like the endpoints."""
    import datetime as dt

    from secops.grade.cli import run_grade

    state, app, secrets = world
    console = app.state.console
    console.policy = console.policy.model_copy(update={"page_size": 3})
    rendered: list[str] = []  # the figures' renders
    fixes: list[str] = []  # the fix list pages' renders
    real = console.fragment

    def counted(template: str, lang: str, **context: Any) -> Any:
        if template == "agency_fix.html.j2":
            fixes.append(lang)
        else:
            rendered.append(f"{template}:{lang}:{context['d'].scope.code}")
        return real(template, lang, **context)

    monkeypatch.setattr(console, "fragment", counted)
    auditor, leader = TestClient(app), TestClient(app)
    csrf_a, csrf_l = sign_in(auditor, state.db(), "aud", secrets), sign_in(leader, state.db(), "leadp", secrets)
    first, second = auditor.get("/agency/P").text, leader.get("/agency/P").text
    assert rendered == ["agency_figures.html.j2:vi:P"] and fixes == ["vi"]  # once, for both readers
    assert 'id="fix"' in first and first[first.index('id="fix"'):].split("</table>")[0] == \
        second[second.index('id="fix"'):].split("</table>")[0]
    assert csrf_a in first and csrf_l in second and csrf_a not in second  # each reader's own form token
    for page in (first, second):
        assert 'id="targets"' in page and 'id="units"' in page and 'href="/agency/S1"' in page
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="units"' in auditor.get("/agency/P?lang=en").text and len(rendered) == 2  # per language
    auditor.get("/agency/P?lang=vi")
    run_grade(state, dt.datetime.now(dt.UTC))  # a new run: its figures, rendered again
    auditor.get("/agency/P")
    leader.get("/agency/P")
    assert rendered[2:] == ["agency_figures.html.j2:vi:P"]

    def systems(html: str) -> list[str]:
        table = html[html.index('id="systems"'):]
        return re.findall(r'<tr><td><a href="/system/([^"]+)">', table[:table.index("</table>")])

    page = auditor.get("/agency/P").text
    assert systems(page) == ["SYS1", "SYS3", "SYS4"] and 'id="sys-first"' not in page
    following = re.search(r'id="sys-next" href="([^"]+)"', page)
    assert following and "sys_after=SYS4" in following.group(1)
    rest = auditor.get("/agency/P" + following.group(1).replace("&amp;", "&")).text
    assert systems(rest) == ["SYS5"] and 'id="sys-next"' not in rest and 'id="sys-first"' in rest
    assert systems(auditor.get("/agency/S1").text) == ["SYS1", "SYS3"]


def test_caches_warmed_for_every_agency_and_each_new_run(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """After warming, the first reader of any agency's page or grades finds them built (nothing is
    built on the request); the background thread warms again when a new graded run appears. Every
    request still passes the guard: another agency's page stays 404 for a scoped user."""
    import datetime as dt

    import secops.report.publish as publish
    import secops.web.pages as pages
    import secops.web.warm as warm
    from secops.grade.cli import run_grade
    from secops.report.data import GradeCell
    from secops.users.store import add_token

    state, app, secrets = world
    console = app.state.console
    built: list[str] = []
    real_build = publish.dashboard_for

    def counted(db: Any, settings: Any, run_id: int | None = None, **kwargs: Any) -> Any:
        built.append(kwargs["agency_code"])
        return real_build(db, settings, run_id, **kwargs)

    cells = {"read": 0}
    real_cell = GradeCell.model_validate

    def cell(*args: Any, **kwargs: Any) -> Any:
        cells["read"] += 1
        return real_cell(*args, **kwargs)

    monkeypatch.setattr(publish, "dashboard_for", counted)
    monkeypatch.setattr(GradeCell, "model_validate", cell)
    console.dashboard("C1", "en")  # a commune's dashboard reads its own grade rows, not the province's
    targets = len(console.dashboard("C1", "en").targets)
    assert cells["read"] == targets, cells
    built.clear()
    run_id, count = warm.warm(console)
    assert count == 5  # P, S1, D1, C1, C2
    assert sorted(built) == ["C1", "C2", "D1", "P", "S1"]  # one model per agency: pages and API share it
    monkeypatch.undo()

    def refused(*_: Any, **__: Any) -> Any:
        raise AssertionError("built on a request after warming")

    monkeypatch.setattr(publish, "dashboard_for", refused)
    monkeypatch.setattr(pages, "_fix_page", refused)
    monkeypatch.setattr(console, "fragment", refused)
    client = TestClient(app)
    sign_in(client, state.db(), "aud", secrets)
    for code in ("P", "S1", "D1", "C1", "C2"):
        page = client.get(f"/agency/{code}")
        assert page.status_code == 200 and 'id="targets"' in page.text and 'id="fix"' in page.text, code
    headers = {"Authorization": f"Bearer {add_token(state.db(), 'ioc', None, actor='test')}"}
    assert client.get("/api/v1/grades", headers=headers).json()["run"] == run_id
    assert client.get("/api/v1/agencies/C2/grades", headers=headers).json()["agencies"][0]["code"] == "C2"
    scoped = TestClient(app)
    sign_in(scoped, state.db(), "leada", secrets)
    assert scoped.get("/agency/D1").status_code == 404 and scoped.get("/agency/S1").status_code == 200
    monkeypatch.undo()

    monkeypatch.setattr(warm, "POLL_SECONDS", 0.05)
    warmer = warm.Warmer(console)
    warmer.start()
    try:
        deadline = time.monotonic() + 60
        while warmer.warmed != run_id:
            assert time.monotonic() < deadline, "not warmed"
            time.sleep(0.05)
        run_grade(state, dt.datetime.now(dt.UTC))
        newest = console.latest_run_id()
        assert newest != run_id
        while warmer.warmed != newest:
            assert time.monotonic() < deadline, "the new run was not warmed"
            time.sleep(0.05)
    finally:
        warmer.stop()
    assert not warmer.thread.is_alive()


def test_api_reads_of_built_grades_take_no_thread_pool_hop(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An API read of grades already serialised for the run is answered in the event loop: neither
    the guard's decision (the token's one indexed read) nor the handler goes through the thread pool;
    the first read (nothing built yet) and the pages (session read and render) still do. The guard
    still refuses as before: no token 401, a revoked one 401, another agency's scope 404."""
    import anyio.to_thread

    from secops.users.store import add_token, revoke_token, token_scope

    state, app, secrets = world
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    token = add_token(state.db(), "ioc", None, actor="test")
    s1 = {"Authorization": f"Bearer {add_token(state.db(), 'ioc-s1', 'S1', actor='test')}"}
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(app)
    first = client.get("/api/v1/grades", headers=headers)
    assert first.status_code == 200 and hops  # built on this read: in the thread pool
    client.get("/api/v1/agencies/S1/grades", headers=headers)
    hops.clear()
    again = client.get("/api/v1/grades", headers=headers)
    one = client.get("/api/v1/agencies/S1/grades", headers=s1)
    assert again.content == first.content and one.json()["agencies"][0]["code"] == "S1"
    assert again.headers["content-security-policy"] and again.headers["x-frame-options"] == "DENY"
    assert again.headers["cache-control"] == "no-store"
    assert hops == []
    assert client.get("/api/v1/agencies/D1/grades", headers=s1).status_code == 404
    assert client.get("/api/v1/grades").status_code == 401
    found = token_scope(state.db(), token)
    assert found is not None
    revoke_token(state.db(), found[0], actor="test")
    assert client.get("/api/v1/grades", headers=headers).status_code == 401
    sign_in(client, state.db(), "aud", secrets)
    hops.clear()
    assert client.get("/agency/P").status_code == 200 and hops  # pages: the session and render in threads
