"""The console's ASGI app: FastAPI on Starlette, Jinja2 templates from reports/web/.

One middleware (guard) does for every request what the rules table (rules.py) says: who is
asking (session cookie or API token), whether that role may use the route, whether the agency or
system in the URL is inside the user's subtree, the idle lock and the second factor. Handlers
(pages.py, api.py) call the same functions as the command line and hold no rules of their own.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from secops.config import Settings
from secops.store.db import Database
from secops.users.policy import ConsolePolicy, load_console_policy
from secops.web.rules import RULES, TOKEN, Rule

COOKIE = "secops_session"
PRE_COOKIE = "secops_pre"  # double-submit token of the sign-in form (no session yet)
LANG_COOKIE = "secops_lang"
LANGS = ("vi", "en")
DASHBOARD_TTL = 30  # seconds a dashboard model is reused for the same graded run
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


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

    def __init__(self, settings: Settings, db: Database | None = None):
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.policy: ConsolePolicy = load_console_policy(settings.policies)
        self.templates: Path = settings.reports
        self._rate: dict[str, deque[float]] = {}
        self._rate_lock = threading.Lock()
        self._tree: tuple[float, dict[str, set[str]], dict[str, str]] | None = None
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()

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

    # -- the dashboard model, per graded run -------------------------------------------------
    def dashboard(self, code: str, lang: str, *, summary_only: bool = False) -> Any:
        """`report/publish.dashboard_for` of the newest graded run (what `secops report` renders),
        kept DASHBOARD_TTL seconds per (run, agency, language): a new grade run is seen at once,
        since the run's id is read on every call; its figures are the run's stored grades."""
        from secops.report.data import latest_grade_run
        from secops.report.publish import dashboard_for

        with self.db.session() as session:
            run_id = latest_grade_run(session).id
        key = (run_id, code, lang, summary_only)
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < DASHBOARD_TTL:
                return hit[1]
        value = dashboard_for(self.db, self.settings, run_id, lang=lang, agency_code=code, summary_only=summary_only,
                              with_sections=False)
        with self._cache_lock:
            if len(self._cache) >= 512:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    # -- API rate limit ---------------------------------------------------------------------
    def allow(self, key: str) -> bool:
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

    def local_time(self, when: dt.datetime | None) -> str:
        """Times shown to people: the province's zone, named (stored times are UTC)."""
        if when is None:
            return "-"
        zone = dt.timezone(dt.timedelta(hours=7), "ICT")
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(zone).strftime("%d/%m/%Y %H:%M ICT (UTC+7)")


def _route_for(app: FastAPI, scope: Any) -> tuple[Any, dict[str, Any]] | None:
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return route, child.get("path_params", {})
    return None


def _principal(console: Console, request: Request, rule: Rule) -> Principal | None:
    from secops.users.store import current, token_scope

    auth = request.headers.get("authorization", "")
    if rule.api and auth.lower().startswith("bearer "):
        found = token_scope(console.db, auth[7:].strip())
        if found is None:
            return None
        return Principal(kind="token", name=f"token:{found[0]}", role=TOKEN, agency=found[1], token_id=found[0])
    token = request.cookies.get(COOKIE)
    now = current(console.db, token, console.policy)
    if now is None:
        return None
    return Principal(kind="user", name=now.name, role=now.role, agency=now.agency, session_token=token, csrf=now.csrf,
                     mfa_passed=now.mfa_passed, mfa_enrolled=now.mfa_enrolled, user_id=now.user_id)


def _decide(console: Console, request: Request, rule: Rule, params: dict[str, Any]) -> Response | Principal | None:
    """The one authorisation decision: a response that refuses, or the principal (None = public)."""
    principal = _principal(console, request, rule)
    if rule.public:
        return principal
    if principal is None:
        if rule.api:
            return JSONResponse({"detail": "authentication required / cần đăng nhập"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/signin", status_code=303)
    if principal.kind == "user" and not principal.mfa_passed and console.policy.needs_mfa(principal.role) \
            and not rule.half:
        return RedirectResponse("/mfa", status_code=303)
    if principal.role not in rule.roles:
        return _refuse(request, rule, 403)
    if rule.province and principal.agency is not None:
        return _refuse(request, rule, 403)
    if rule.agency is not None and not console.in_scope(principal, str(params.get(rule.agency, ""))):
        return _refuse(request, rule, 404)
    if rule.system is not None:
        if not console.in_scope(principal, console.system_agency(str(params.get(rule.system, "")))):
            return _refuse(request, rule, 404)
    if rule.staff is not None:
        if not console.in_scope(principal, console.staff_agency(str(params.get(rule.staff, "")))):
            return _refuse(request, rule, 404)
    if rule.agency_query is not None:
        asked = request.query_params.get(rule.agency_query)
        if asked is not None and not console.in_scope(principal, asked):
            return _refuse(request, rule, 404)
    if rule.api and not console.allow(f"{principal.kind}:{principal.token_id or principal.user_id}"):
        return JSONResponse({"detail": "rate limit / vượt giới hạn truy vấn"}, status_code=429,
                            headers={"Retry-After": "60"})
    return principal


def _refuse(request: Request, rule: Rule, status: int) -> Response:
    text = {403: "forbidden / không có quyền", 404: "not found / không tìm thấy"}[status]
    if rule.api:
        return JSONResponse({"detail": text}, status_code=status)
    return PlainTextResponse(text, status_code=status)


def _headers(response: Response, request: Request) -> None:
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    h.setdefault("Cache-Control", "no-store")
    if request.url.scheme == "https":
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    from secops import __version__
    from secops.web import api, pages

    console = Console(settings, db)
    app = FastAPI(title="secops API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json",
                  description="Read-only figures of the province's information-security targets. "
                              "Send `Authorization: Bearer <token>` (`secops tokens add --agency CODE`).")
    app.state.console = console
    for route in app.router.routes:  # FastAPI's own route: named so the rules table can hold it
        if getattr(route, "path", "") == "/api/v1/openapi.json":
            route.name = "openapi"  # type: ignore[attr-defined]
    pages.register(app)
    api.register(app)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "vi"
        request.state.lang = lang if lang in LANGS else "vi"
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None:
                return PlainTextResponse("length required / thiếu độ dài", status_code=411)
            if not length.isdigit() or int(length) > console.policy.upload_max_bytes + 65536:
                return PlainTextResponse("too large / tệp quá lớn", status_code=413)
        found = _route_for(app, request.scope)
        if found is None:
            response: Response = await call_next(request)
        else:
            route, params = found
            rule = RULES.get(getattr(route, "name", ""))
            if rule is None:  # deny by default: a route nobody wrote a rule for
                response = PlainTextResponse("no authorisation rule for this route", status_code=500)
            else:
                decided = await run_in_threadpool(_decide, console, request, rule, params)
                if isinstance(decided, Response):
                    response = decided
                else:
                    request.state.principal = decided
                    response = await call_next(request)
        if "lang" in request.query_params and request.state.lang == request.query_params["lang"]:
            response.set_cookie(LANG_COOKIE, request.state.lang, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https", max_age=365 * 86400)
        _headers(response, request)
        return response

    return app


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)
