"""The console's ASGI app: FastAPI on Starlette, Jinja2 templates from reports/web/.

One middleware (guard) does for every request what the rules table (rules.py) says: who is
asking (session cookie or API token), whether that role may use the route, whether the agency or
system in the URL is inside the user's subtree, the idle lock and the second factor. Handlers
(pages.py, api.py) call the same functions as the command line and hold no rules of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secops import i18n
from secops.config import Settings
from secops.store.db import Database
from secops.web.context import COOKIE, CSP, LANG_COOKIE, LANGS, Console, Principal
from secops.web.rules import RULES, TOKEN, Rule
from secops.web.shared import SharedState


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
    refusal = _scope_refusal(console, request, rule, params, principal)
    if refusal is not None:
        return _refuse(request, rule, refusal)
    if rule.api and not console.allow(f"{principal.kind}:{principal.token_id or principal.user_id}"):
        return JSONResponse({"detail": "rate limit / vượt giới hạn truy vấn"}, status_code=429,
                            headers={"Retry-After": "60"})
    return principal


def _scope_refusal(console: Console, request: Request, rule: Rule, params: dict[str, Any],
                   principal: Principal) -> int | None:
    """403 for a role (or an agency's account on a province-only route) the rule does not admit; 404 for an
    agency, system, staff record, queued import or agency query outside the principal's subtree (it does not
    exist for them)."""
    if principal.role not in rule.roles:
        return 403
    if rule.province and principal.agency is not None:
        return 403
    owners: list[str | None] = []
    if rule.agency is not None:
        owners.append(str(params.get(rule.agency, "")))
    if rule.system is not None:
        owners.append(console.system_agency(str(params.get(rule.system, ""))))
    if rule.staff is not None:
        owners.append(console.staff_agency(str(params.get(rule.staff, ""))))
    if rule.run_request is not None:
        owners.append(console.request_agency(str(params.get(rule.run_request, ""))))
    if rule.agency_query is not None and (asked := request.query_params.get(rule.agency_query)) is not None:
        owners.append(asked)
    return 404 if any(not console.in_scope(principal, owner) for owner in owners) else None


def _refuse(request: Request, rule: Rule, status: int) -> Response:
    text = {403: "forbidden / không có quyền", 404: "not found / không tìm thấy"}[status]
    if rule.api:
        return JSONResponse({"detail": text}, status_code=status)
    return PlainTextResponse(text, status_code=status)


def _headers(h: MutableHeaders, request: Request) -> None:
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


class Guard:
    """The guard as a plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which runs the app
    in a task of its own and passes the body through memory streams): the request's language, the
    size check of a POST, the rules table's decision before the handler (a refusal is answered here,
    the handler never runs), and the security headers and language cookie on every response,
    added to the response's start message. An API token's decision (one indexed read of the token,
    the rate limit) is made in the event loop; a session's (read and touch) in the thread pool."""

    def __init__(self, app: ASGIApp, app_routes: FastAPI, console: Console):
        self.app = app
        self.routes = app_routes
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "vi"
        request.state.lang = lang if lang in LANGS else "vi"
        token = i18n.speak(request.state.lang)  # messages raised while serving it speak the page's language
        try:
            refusal = await self._decision(request)
            if refusal is not None:
                _headers(refusal.headers, request)
                _lang_cookie(refusal, request)
                await refusal(scope, receive, send)
                return

            async def send_guarded(message: Message) -> None:
                if message["type"] == "http.response.start":
                    raw = message["headers"] = list(message.get("headers", []))
                    _headers(MutableHeaders(raw=raw), request)
                    cookie = Response()
                    _lang_cookie(cookie, request)
                    raw.extend((k, v) for k, v in cookie.raw_headers if k == b"set-cookie")
                await send(message)

            await self.app(scope, receive, send_guarded)
        finally:
            i18n.unspeak(token)

    async def _decision(self, request: Request) -> Response | None:
        """A response refusing the request, or None (then request.state.principal is who asks)."""
        console = self.console
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None:
                return PlainTextResponse("length required / thiếu độ dài", status_code=411)
            if not length.isdigit() or int(length) > console.policy.upload_max_bytes + 65536:
                return PlainTextResponse("too large / tệp quá lớn", status_code=413)
        found = _route_for(self.routes, request.scope)
        if found is None:
            return None  # the router's own 404 / 405
        route, params = found
        rule = RULES.get(getattr(route, "name", ""))
        if rule is None:  # deny by default: a route nobody wrote a rule for
            return PlainTextResponse("no authorisation rule for this route", status_code=500)
        if rule.api and request.headers.get("authorization", "").lower().startswith("bearer "):
            decided = _decide(console, request, rule, params)  # a token: one indexed read, no write
        else:
            decided = await run_in_threadpool(_decide, console, request, rule, params)
        if isinstance(decided, Response):
            return decided
        request.state.principal = decided
        return None


def _lang_cookie(response: Response, request: Request) -> None:
    if "lang" in request.query_params and request.state.lang == request.query_params["lang"]:
        response.set_cookie(LANG_COOKIE, request.state.lang, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", max_age=365 * 86400)


def worker_app() -> FastAPI:
    """The app of one worker of `secops serve --workers N` (uvicorn's factory, in each worker
    process): the settings and the shared state from the serve command's private folder."""
    import os
    from pathlib import Path

    from secops.web.shared import STATE_ENV, SharedState

    folder = Path(os.environ[STATE_ENV])
    settings = Settings.model_validate_json((folder / "settings.json").read_text(encoding="utf-8"))
    return create_app(settings, Database(settings.db_url, migrate=False), shared=SharedState(folder))


def create_app(settings: Settings, db: Database | None = None, shared: SharedState | None = None) -> FastAPI:
    from secops import __version__
    from secops.web import api, pages

    console = Console(settings, db, shared)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from secops.web.warm import Warmer

        warmer = Warmer(console) if console.policy.warm_caches else None
        if warmer is not None:
            warmer.start()
        try:
            yield
        finally:
            if warmer is not None:
                warmer.stop()

    app = FastAPI(title="secops API", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json",
                  description="Read-only figures of the province's information-security targets. "
                              "Send `Authorization: Bearer <token>` (`secops tokens add --agency CODE`).")
    app.state.console = console
    for route in app.router.routes:  # FastAPI's own route: named so the rules table can hold it
        if getattr(route, "path", "") == "/api/v1/openapi.json":
            route.name = "openapi"  # type: ignore[attr-defined]
    pages.register(app)
    api.register(app)

    app.add_middleware(Guard, app_routes=app, console=console)
    return app


