"""What every handler of the console needs: settings, the database, the console policy, the
templates, who is asking (Principal) and the session cookie's name and flags. app.py, pages.py and
api.py all build on this module; it imports none of them."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from secops.config import Settings
from secops.store.db import Database
from secops.users.policy import ConsolePolicy, load_console_policy
from secops.web.shared import SharedState

COOKIE = "secops_session"
PRE_COOKIE = "secops_pre"  # double-submit token of the sign-in form (no session yet)
LANG_COOKIE = "secops_lang"
OIDC_COOKIE = "secops_oidc"  # single sign-on in progress: state, nonce, PKCE verifier, sealed (web/oidc.py)
LANGS = ("vi", "en")
CACHE_ENTRIES = 4096  # per-run models, page parts, JSON and counts kept per console process, least recently
# used dropped: room for every agency's warmed entries (web/warm.py: five each) and the pages read
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


@lru_cache(maxsize=1)
def _latest_run() -> Any:
    """SELECT max(run_id) FROM grades, built once (the statement, not its answer)."""
    from sqlalchemy import func

    from secops.store.tables import GradeRow

    return select(func.max(GradeRow.run_id))


@dataclass
class Principal:
    kind: str  # user | token
    name: str
    role: str
    agency: str | None  # scope root; None = the whole province
    session_token: str | None = None
    csrf: str = ""
    mfa_passed: bool = True
    mfa_enrolled: bool = False
    user_id: int | None = None
    token_id: int | None = None


class Console:
    """What every handler needs: settings, the database, the console policy, the templates."""

    def __init__(self, settings: Settings, db: Database | None = None, shared: SharedState | None = None):
        self.settings = settings
        self.shared = shared  # several workers: the rate limit and sign-in slots they share (web/shared.py)
        self.db = db or Database(settings.db_url)
        self.policy: ConsolePolicy = load_console_policy(settings.policies)
        self.templates: Path = settings.reports
        self._rate: dict[str, deque[float]] = {}
        self._rate_lock = threading.Lock()
        self._tree: tuple[float, dict[str, set[str]], dict[str, str]] | None = None
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._building: dict[tuple[Any, ...], threading.Lock] = {}
        self._cache_lock = threading.Lock()
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    # -- agency subtrees --------------------------------------------------------------------
    def subtree_codes(self, code: str) -> set[str]:
        """Codes of CODE and every unit under it (active agencies), cached for a few seconds."""
        now = time.monotonic()
        if self._tree is None or now - self._tree[0] > 5:
            from secops.inventory.tree import load_agencies

            with self.db.session() as session:
                agencies = load_agencies(session)
            children: dict[str, set[str]] = {}
            parent_code = {n.id: n.code for n in agencies.values()}
            for node in agencies.values():
                children.setdefault(node.code, set())
                if node.parent_id is not None and node.parent_id in parent_code:
                    children.setdefault(parent_code[node.parent_id], set()).add(node.code)
            root = next((n.code for n in agencies.values() if n.parent_id is None), "")
            self._tree = (now, children, {"root": root})
        children = self._tree[1]
        out, todo = set(), [code]
        while todo:
            current = todo.pop()
            if current in out or current not in children:
                continue
            out.add(current)
            todo.extend(children[current])
        return out

    def root_code(self) -> str:
        self.subtree_codes("")
        assert self._tree is not None
        return self._tree[2]["root"]

    def in_scope(self, principal: Principal, agency_code: str | None) -> bool:
        if agency_code is None:
            return False
        if principal.agency is None:
            return agency_code in self.subtree_codes(self.root_code()) or agency_code == self.root_code()
        return agency_code in self.subtree_codes(principal.agency)

    def system_agency(self, system_code: str) -> str | None:
        from secops.store.tables import AgencyRow, SystemRow

        with self.db.session() as session:
            return session.scalar(select(AgencyRow.code).join(SystemRow, SystemRow.agency_id == AgencyRow.id)
                                  .where(SystemRow.code == system_code))

    def staff_agency(self, staff_code: str) -> str | None:
        from secops.store.tables import AgencyRow, StaffRow

        with self.db.session() as session:
            return session.scalar(select(AgencyRow.code).join(StaffRow, StaffRow.agency_id == AgencyRow.id)
                                  .where(StaffRow.code == staff_code))

    def request_agency(self, request_id: str) -> str | None:
        """The agency of a queued evidence import (run request); None for another kind or no such id."""
        from secops.schedule.requests import RunRequestRow

        if not request_id.isdigit() or len(request_id) > 18:
            return None
        with self.db.session() as session:
            return session.scalar(select(RunRequestRow.agency_code).where(RunRequestRow.id == int(request_id),
                                                                         RunRequestRow.kind == "import"))

    # -- the dashboard model, per graded run -------------------------------------------------
    def dashboard(self, code: str, lang: str, *, summary_only: bool = False) -> Any:
        """`report/publish.dashboard_for` of the newest graded run (what `secops report` renders),
        built once per (run, agency, language) and kept while that run is the newest (a new grade run
        is seen at once: the run's id is read on every call; a graded run's figures never change).
        Concurrent requests for a model not built yet wait for one build instead of each building it."""
        from secops.report.publish import dashboard_for

        run_id = self.latest_run_id()
        return self.per_run((run_id, "dashboard", code, lang, summary_only), lambda: dashboard_for(
            self.db, self.settings, run_id, lang=lang, agency_code=code, summary_only=summary_only,
            with_sections=False))

    def latest_run_id(self) -> int:
        """The newest graded run's id, read on every call (a new grade run is seen at once): one
        indexed MAX over grades.run_id, no ORM session (what latest_grade_run selects, without the row)."""
        from secops.errors import SecopsError

        with self.db.engine.connect() as conn:
            run_id = conn.scalar(_latest_run())
        if run_id is None:
            raise SecopsError("no graded run in this database yet: run `secops grade` first")
        return int(run_id)

    def cached(self, key: tuple[Any, ...]) -> Any:
        """The value per_run keeps for `key` (built before, no expiry), or None: nothing is built."""
        with self._cache_lock:
            if key not in self._cache:
                return None
            self._cache.move_to_end(key)
            return self._cache[key]

    def per_run(self, key: tuple[Any, ...], build: Any) -> Any:
        """The value of `key` (its first item: the graded run it belongs to), built by `build()` once
        (a graded run's figures never change). At most CACHE_ENTRIES values; the least recently used
        goes first."""
        with self._cache_lock:
            if key in self._cache:  # a value built before (None too)
                self._cache.move_to_end(key)
                return self._cache[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per key; the others wait for it and take its value
            with self._cache_lock:
                if key in self._cache:
                    return self._cache[key]
            value = build()
            with self._cache_lock:
                self._cache[key] = value
                self._cache.move_to_end(key)
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
                self._building.pop(key, None)
        return value

    @asynccontextmanager
    async def signin_slots(self) -> AsyncIterator[None]:
        """argon2id verifications at once (64 MiB and a core each): sign-ins past signin_concurrency
        wait in the event loop, holding no worker thread, so page and API requests keep theirs.
        (One semaphore per event loop: uvicorn has one; each test client has its own.) Several
        workers also take one of the machine's signin_concurrency slots (web/shared.py), waited for
        at most signin_wait_seconds (then SigninBusy)."""
        loop = asyncio.get_running_loop()
        with self._cache_lock:
            slots = self._slots.get(loop)
            if slots is None:
                slots = self._slots[loop] = asyncio.Semaphore(self.policy.signin_concurrency)
        async with slots:
            if self.shared is None:
                yield
                return
            held = await self.shared.signin_slot(self.policy.signin_concurrency, self.policy.signin_wait_seconds)
            try:
                yield
            finally:
                self.shared.release(held)

    # -- API rate limit ---------------------------------------------------------------------
    def allow(self, key: str) -> bool:
        """At most api_rate_per_minute requests of KEY in any 60 seconds: counted in this process, or
        over every worker of `secops serve --workers N` (web/shared.py)."""
        if self.shared is not None:
            return self.shared.allow(key, self.policy.api_rate_per_minute)
        now = time.monotonic()
        with self._rate_lock:
            window = self._rate.setdefault(key, deque())
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.policy.api_rate_per_minute:
                return False
            window.append(now)
            return True

    # -- rendering --------------------------------------------------------------------------
    def t(self, lang: str) -> Any:
        from secops.templating import translator

        return translator(self.templates, lang)

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        from secops.templating import environment, pct

        lang = request.state.lang
        env = environment(self.templates)
        page = env.get_template(f"web/{template}").render(
            t=self.t(lang), lang=lang, pct=pct, me=getattr(request.state, "principal", None),
            path=request.url.path, local=self.local_time, **context)
        return HTMLResponse(page, status_code=status)

    def fragment(self, template: str, lang: str, **context: Any) -> Markup:
        """A part of a page that is the same for every reader (no user, no CSRF token, no path in its
        context), rendered by the same autoescaping environment, to be cached and put in pages as is."""
        from secops.templating import Shown, environment, pct

        return Shown(environment(self.templates).get_template(f"web/{template}").render(
            t=self.t(lang), lang=lang, pct=pct, local=self.local_time, **context))

    def local_time(self, when: dt.datetime | None) -> str:
        """Times shown to people: the province's zone, named (stored times are UTC)."""
        if when is None:
            return "-"
        zone = dt.timezone(dt.timedelta(hours=7), "ICT")
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(zone).strftime("%d/%m/%Y %H:%M ICT (UTC+7)")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)
