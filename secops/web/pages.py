"""The console's pages. Each handler validates with the command line's models and writes through
its stores (inventory import, evidence import, run requests, the annual report); who may call it
is in rules.py, checked before the handler runs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import func, select
from starlette.datastructures import FormData, UploadFile

from secops.errors import InputRowsError, SecopsError
from secops.i18n import _
from secops.localtime import local_today
from secops.web.context import COOKIE, OIDC_COOKIE, PRE_COOKIE, Console, Principal, new_pre_token, set_session_cookie
from secops.web.shared import SigninBusy

SYSTEM_FIELDS = ["name", "operator", "proposed_level", "level", "approval_status", "approval_decision",
                 "approval_date", "approved_by", "approval_body", "regulation_decision", "regulation_date",
                 "regulation_body", "expected_approval_date", "plan_deployment", "plan_deployed_date",
                 "expected_deployment_date", "last_inspection_date"]
STAFF_DATES = ["awareness_date", "informed_date", "training_date"]
SCHEDULE_FIELDS = ["name", "cron", "every", "job", "agency", "lang", "replace"]
STATEMENT_FIELDS = ["item", "status", "evidence", "evidence_date", "responsible_unit", "milestone", "note"]


def _console(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def _me(request: Request) -> Principal:
    return request.state.principal  # type: ignore[no-any-return]


class CsrfRefused(Exception):
    pass


async def checked_form(request: Request, *, pre: bool = False) -> FormData:
    """The posted form, once its CSRF token matches the session's (or, before sign-in, the
    double-submit cookie's). Every POST handler reads its form through here."""
    console = _console(request)
    form = await request.form(max_files=1, max_fields=60, max_part_size=64 * 1024)
    given = str(form.get("csrf") or "")
    if pre:
        expected = request.cookies.get(PRE_COOKIE) or ""
    else:
        principal = getattr(request.state, "principal", None)
        expected = principal.csrf if principal is not None else ""
    if not expected or not given or not secrets.compare_digest(given, expected):
        await form.close()
        raise CsrfRefused()
    del console
    return form


def _refused(request: Request) -> Response:
    return PlainTextResponse("CSRF token missing or wrong / mã chống giả mạo yêu cầu thiếu hoặc sai", status_code=403)


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


def register(app: FastAPI) -> None:
    app.add_exception_handler(CsrfRefused, lambda request, exc: _refused(request))

    @app.get("/static/console.css", name="style", include_in_schema=False)
    def style(request: Request) -> Response:
        css = (_console(request).templates / "web" / "console.css").read_text(encoding="utf-8")
        return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    # -- sign-in ------------------------------------------------------------------------------
    @app.get("/signin", name="signin_form", include_in_schema=False)
    def signin_form(request: Request) -> Response:
        token = new_pre_token()
        response = _console(request).render(request, "signin.html.j2", pre=token, error=None,
                                            sso=_console(request).policy.oidc)
        response.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.post("/signin", name="signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = await checked_form(request, pre=True)
        name, password = str(form.get("name") or "")[:100], str(form.get("password") or "")[:1000]
        try:
            async with _console(request).signin_slots():
                return await _run(request, _signin, request, name, password)
        except SigninBusy:
            return PlainTextResponse("too many sign-ins at once, try again / quá nhiều lượt đăng nhập cùng lúc, "
                                     "hãy thử lại", status_code=503, headers={"Retry-After": "5"})

    @app.get("/oidc/start", name="oidc_start", include_in_schema=False)
    def oidc_start(request: Request) -> Response:
        return _oidc_start(request)

    @app.get("/oidc/callback", name="oidc_callback", include_in_schema=False)
    def oidc_callback(request: Request, state: str = "", code: str = "") -> Response:
        return _oidc_callback(request, state[:200], code[:2000])

    @app.get("/mfa", name="mfa_form", include_in_schema=False)
    def mfa_form(request: Request) -> Response:
        from secops.users.store import enrolment_secret, start_enrolment

        console, me = _console(request), _me(request)
        if me.mfa_passed or not console.policy.needs_mfa(me.role):
            return RedirectResponse("/", status_code=303)
        uri = secret = None
        if not me.mfa_enrolled:
            assert me.user_id is not None
            secret = enrolment_secret(console.db, me.user_id)
            if secret is None:
                start_enrolment(console.db, me.user_id, console.policy.totp_issuer)
                secret = enrolment_secret(console.db, me.user_id)
            import pyotp

            uri = pyotp.TOTP(secret or "").provisioning_uri(name=me.name, issuer_name=console.policy.totp_issuer)
        return console.render(request, "mfa.html.j2", secret=secret, uri=uri, error=None)

    @app.post("/mfa", name="mfa", include_in_schema=False)
    async def mfa(request: Request) -> Response:
        form = await checked_form(request)
        return await _run(request, _mfa, request, str(form.get("code") or "")[:10])

    @app.post("/signout", name="signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        from secops.users.store import close_session

        await checked_form(request)
        me = _me(request)
        if me.session_token:
            await _run(request, close_session, _console(request).db, me.session_token)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- reading ------------------------------------------------------------------------------
    @app.get("/", name="home", include_in_schema=False)
    def home(request: Request) -> Response:
        console, me = _console(request), _me(request)
        return RedirectResponse(f"/agency/{me.agency or console.root_code()}", status_code=303)

    @app.get("/agency/{code}", name="agency", include_in_schema=False)
    def agency(request: Request, code: str, page: int = 1, after: str = "", sys_after: str = "") -> Response:
        return _agency_page(request, code, max(page, 1), after[:64], sys_after[:64])

    @app.get("/system/{code}", name="system", include_in_schema=False)
    def system(request: Request, code: str) -> Response:
        return _system_page(request, code, None, None)

    @app.post("/system/{code}", name="system_save", include_in_schema=False)
    async def system_save(request: Request, code: str) -> Response:
        form = await checked_form(request)
        values = {k: str(form.get(k) or "").strip() for k in SYSTEM_FIELDS}
        return await _run(request, _system_save, request, code, values)

    @app.post("/system/{code}/requirement", name="requirement_save", include_in_schema=False)
    async def requirement_save(request: Request, code: str) -> Response:
        form = await checked_form(request)
        values = {k: str(form.get(k) or "").strip()[:4000] for k in STATEMENT_FIELDS}
        return await _run(request, _requirement_save, request, code, values)

    @app.get("/agency/{code}/staff", name="staff", include_in_schema=False)
    def staff(request: Request, code: str, page: int = 1) -> Response:
        return _staff_page(request, code, max(page, 1), [])

    @app.post("/staff/{code}", name="staff_save", include_in_schema=False)
    async def staff_save(request: Request, code: str) -> Response:
        form = await checked_form(request)
        values = {k: str(form.get(k) or "").strip()[:40] for k in STAFF_DATES}
        return await _run(request, _staff_save, request, code, values, str(form.get("back") or ""))

    @app.get("/agency/{code}/evidence", name="evidence_form", include_in_schema=False)
    def evidence_form(request: Request, code: str) -> Response:
        return _console(request).render(request, "evidence.html.j2", code=code, preview=None, errors=[],
                                        upload_id=None, exported_at="", date_order="", file_name="",
                                        imports=_recent_imports(_console(request), code))

    @app.post("/agency/{code}/evidence", name="evidence_preview", include_in_schema=False)
    async def evidence_preview(request: Request, code: str) -> Response:
        form = await checked_form(request)
        upload = form.get("file")
        options = {"exported_at": str(form.get("exported_at") or "").strip(),
                   "date_order": str(form.get("date_order") or "").strip()}
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _console(request).render(request, "evidence.html.j2", 400, code=code, preview=None,
                                            errors=["no file chosen / chưa chọn tệp"], upload_id=None, imports=[],
                                            file_name="", **options)
        upload_id = await _spool(request, code, upload)
        options["file_name"] = (upload.filename or "")[:200]
        await form.close()
        return await _run(request, _evidence_preview, request, code, upload_id, options)

    @app.post("/agency/{code}/evidence/confirm", name="evidence_confirm", include_in_schema=False)
    async def evidence_confirm(request: Request, code: str) -> Response:
        form = await checked_form(request)
        options = {"exported_at": str(form.get("exported_at") or "").strip(),
                   "date_order": str(form.get("date_order") or "").strip(),
                   "file": str(form.get("file_name") or "").strip()[:200]}
        return await _run(request, _evidence_queue, request, code, str(form.get("upload_id") or ""), options)

    @app.get("/imports/{request_id}", name="evidence_request", include_in_schema=False)
    def evidence_request(request: Request, request_id: int) -> Response:
        return _evidence_request_page(request, request_id)

    @app.get("/agency/{code}/annual", name="annual", include_in_schema=False)
    def annual(request: Request, code: str) -> Response:
        result, year, lines = _annual(request, code, "html", keep=False)
        return _console(request).render(request, "annual.html.j2", code=code, year=year, violations=lines,
                                        section1=result.report.section1, rows=len(result.report.rows))

    @app.get("/agency/{code}/annual/form08.{fmt}", name="annual_download", include_in_schema=False)
    def annual_download(request: Request, code: str, fmt: str) -> Response:
        if fmt not in ("xlsx", "csv", "html"):
            return PlainTextResponse("format: xlsx, csv or html", status_code=404)
        _, year, data = _annual(request, code, fmt, keep=True)
        media = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}[fmt]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", code)
        return Response(data, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="form08-{year}-{safe}.{fmt}"'})

    @app.get("/agency/{code}/waivers", name="waivers", include_in_schema=False)
    def waivers(request: Request, code: str) -> Response:
        return _waivers_page(request, code, [])

    @app.post("/agency/{code}/waivers", name="waiver_request", include_in_schema=False)
    async def waiver_request(request: Request, code: str) -> Response:
        form = await checked_form(request)
        values = {k: str(form.get(k) or "").strip()[:2000] for k in ("check", "reason", "expires")}
        return await _run(request, _waiver_request, request, code, values)

    @app.post("/waivers/{id}", name="waiver_decide", include_in_schema=False)
    async def waiver_decide(request: Request, id: int) -> Response:
        form = await checked_form(request)
        values = {k: str(form.get(k) or "").strip()[:2000] for k in ("decision", "reason", "expires")}
        return await _run(request, _waiver_decide, request, id, values)

    @app.get("/runs", name="runs", include_in_schema=False)
    def runs(request: Request) -> Response:
        return _runs_page(request, None)

    @app.post("/runs", name="run_start", include_in_schema=False)
    async def run_start(request: Request) -> Response:
        form = await checked_form(request)
        return await _run(request, _run_start, request, str(form.get("what") or ""))

    @app.get("/schedules", name="schedules", include_in_schema=False)
    def schedules(request: Request, edit: str | None = None) -> Response:
        return _schedules_page(request, edit, [], None)

    @app.post("/schedules", name="schedule_save", include_in_schema=False)
    async def schedule_save(request: Request) -> Response:
        form = await checked_form(request)
        values = {k: str(form.get(k) or "").strip()[:200] for k in SCHEDULE_FIELDS}
        return await _run(request, _schedule_save, request, values)

    @app.post("/schedules/{name}/enabled", name="schedule_enable", include_in_schema=False)
    async def schedule_enable(request: Request, name: str) -> Response:
        form = await checked_form(request)
        return await _run(request, _schedule_enable, request, name, str(form.get("enabled") or ""))

    @app.get("/audit", name="audit_log", include_in_schema=False)
    def audit_log(request: Request, page: int = 1) -> Response:
        from secops.users.tables import AuditRow

        console = _console(request)
        size = console.policy.page_size
        page = max(page, 1)
        with console.db.session() as session:
            total = session.scalar(select(func.count()).select_from(AuditRow)) or 0
            rows = list(session.scalars(select(AuditRow).order_by(AuditRow.id.desc())
                                        .offset((page - 1) * size).limit(size)))
        return console.render(request, "audit.html.j2", rows=rows, page=page, pages=max(1, -(-total // size)),
                              total=total)

    @app.get("/audit.csv", name="audit_csv", include_in_schema=False)
    def audit_csv(request: Request) -> Response:
        return StreamingResponse(_audit_rows(_console(request)), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="secops-audit.csv"'})


async def _run(request: Request, function: Any, *args: Any) -> Response:
    """A handler's blocking work (database, files) on the thread pool, off the event loop."""
    from starlette.concurrency import run_in_threadpool

    response: Response = await run_in_threadpool(function, *args)
    return response


# -- sign-in ------------------------------------------------------------------------------------
def _signin(request: Request, name: str, password: str) -> Response:
    from secops.users.store import add_user, check_password, open_session

    console = _console(request)
    policy = console.policy
    ldap_ok: bool | None = None
    if policy.ldap is not None:
        from secops.users.store import get_user

        with console.db.session() as session:
            try:
                source: str | None = get_user(session, name).source
            except SecopsError:
                source = None
        if source in (None, "ldap"):
            from secops.web.ldapauth import ldap_bind

            ldap_ok = ldap_bind(policy.ldap, name, password)
            if source is None and ldap_ok:  # first sign-in of a directory user: its account, audited
                try:
                    add_user(console.db, name, policy.ldap.role, policy.ldap.agency, None, actor="ldap", source="ldap")
                except SecopsError:
                    ldap_ok = False
    result = check_password(console.db, name, password, policy, remote=_remote(request), ldap_ok=ldap_ok)
    if not result.ok or result.user_id is None:
        token = new_pre_token()
        refused = console.render(request, "signin.html.j2", 401, pre=token, error=result.reason, sso=policy.oidc)
        refused.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return refused
    with console.db.session() as session:
        from secops.users.tables import UserRow

        role = session.get(UserRow, result.user_id).role  # type: ignore[union-attr]
    needs = policy.needs_mfa(role)
    # A new session id at every sign-in; a session this browser had before ends (no fixation).
    token, _ = open_session(console.db, result.user_id, previous=request.cookies.get(COOKIE), mfa_passed=not needs)
    response = RedirectResponse("/mfa" if needs else "/", status_code=303)
    set_session_cookie(response, request, token)
    response.delete_cookie(PRE_COOKIE)
    return response


def _sso_refused(request: Request, status: int, reason: str) -> Response:
    import logging

    from secops.users.store import audit

    console = _console(request)
    logging.getLogger("secops.web").warning("single sign-on refused: %s", reason)
    with console.db.session() as session:
        audit(session, "oidc", "user.sso-refused", "oidc", after={"reason": reason[:500]}, remote=_remote(request))
    token = new_pre_token()
    page = console.render(request, "signin.html.j2", status, pre=token, error="sso", sso=console.policy.oidc)
    page.set_cookie(PRE_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    page.delete_cookie(OIDC_COOKIE, path="/oidc/")
    return page


def _oidc_start(request: Request) -> Response:
    """To the provider's sign-in, with state, nonce and PKCE kept in a sealed cookie (web/oidc.py)."""
    from secops.web import oidc

    settings = _console(request).policy.oidc
    if settings is None:
        return PlainTextResponse("not found / không tìm thấy", status_code=404)
    redirect_uri = settings.redirect_uri or str(request.url_for("oidc_callback"))
    try:
        url, sealed = oidc.start(settings, redirect_uri)
    except Exception as exc:  # the provider cannot be reached or its discovery document is wrong
        return _sso_refused(request, 502, f"{type(exc).__name__}: {exc}")
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(OIDC_COOKIE, sealed, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        path="/oidc/", max_age=oidc.STATE_SECONDS)
    return response


def _oidc_callback(request: Request, state: str, code: str) -> Response:
    """Back from the provider: the verified, mapped user gets a new session (TOTP after it for the
    roles that need it, as for a password)."""
    from secops.users.store import audit, oidc_account, open_session
    from secops.web import oidc

    console = _console(request)
    settings = console.policy.oidc
    if settings is None:
        return PlainTextResponse("not found / không tìm thấy", status_code=404)
    try:
        name, mapping = oidc.finish(settings, request.cookies.get(OIDC_COOKIE), state, code)
        user_id = oidc_account(console.db, name, mapping.role, mapping.agency)
    except SecopsError as exc:
        return _sso_refused(request, 403, str(exc))
    needs = console.policy.needs_mfa(mapping.role)
    token, _ = open_session(console.db, user_id, previous=request.cookies.get(COOKIE), mfa_passed=not needs)
    with console.db.session() as session:
        audit(session, name, "user.sso-signin", f"user:{name.strip().lower()}", agency=mapping.agency,
              after={"role": mapping.role, "agency": mapping.agency, "issuer": settings.issuer},
              remote=_remote(request))
    response = RedirectResponse("/mfa" if needs else "/", status_code=303)
    set_session_cookie(response, request, token)
    response.delete_cookie(OIDC_COOKIE, path="/oidc/")
    return response


def _mfa(request: Request, code: str) -> Response:
    from secops.users.store import pass_mfa, verify_totp

    console, me = _console(request), _me(request)
    assert me.user_id is not None and me.session_token is not None
    if not verify_totp(console.db, me.user_id, code, enrol=not me.mfa_enrolled, actor=me.name):
        from secops.users.store import second_factor_failed

        if second_factor_failed(console.db, me.user_id, console.policy, remote=_remote(request)):
            response = RedirectResponse("/signin", status_code=303)
            response.delete_cookie(COOKIE, path="/")
            return response
        return console.render(request, "mfa.html.j2", 401, secret=None, uri=None, error="bad_code")
    token, _ = pass_mfa(console.db, me.session_token)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, token)
    return response


# -- agency and system ----------------------------------------------------------------------------
def _agency_page(request: Request, code: str, page: int, after: str, sys_after: str = "") -> Response:
    """Targets and units from the run's dashboard model (built once per graded run; their tables
    rendered once per run, agency and language), the fix list a page of that model's list, systems
    and endpoints keyset pages (`sys_after` / `after` the last code shown: an index range, never an
    OFFSET over the province) and the endpoints' count once per graded run (endpoint_total)."""
    from secops.store.tables import AgencyRow, EndpointRow, SystemRow

    console = _console(request)
    try:  # the run's stored figures only: the fix list is read a page at a time (_fix_page)
        dashboard = console.dashboard(code, request.state.lang, summary_only=True)
    except SecopsError as exc:
        return console.render(request, "message.html.j2", 200, message=str(exc))
    size = console.policy.page_size
    codes = console.subtree_codes(code)
    whole = code == console.root_code()  # every active agency: no agency filter (the code index alone)
    counts = fix_counts(dashboard)
    lang = request.state.lang
    fix = agency_fix(console, dashboard, code, page, lang)
    with console.db.session() as session:
        ids = select(AgencyRow.id).where(AgencyRow.code.in_(codes))
        systems = session.execute(select(SystemRow.code, SystemRow.name, SystemRow.level, SystemRow.approval_status,
                                         SystemRow.plan_deployment, AgencyRow.code)
                                  .join(AgencyRow, SystemRow.agency_id == AgencyRow.id)
                                  .where(SystemRow.agency_id.in_(ids), SystemRow.retired_at.is_(None),
                                         *([SystemRow.code > sys_after] if sys_after else []))
                                  .order_by(SystemRow.code).limit(size + 1)).all()
        where = [EndpointRow.retired_at.is_(None)] + ([] if whole else [EndpointRow.agency_id.in_(ids)])
        endpoints = session.execute(select(EndpointRow.code, EndpointRow.hostname, EndpointRow.ips, AgencyRow.code)
                                    .join(AgencyRow, EndpointRow.agency_id == AgencyRow.id)
                                    .where(*where, *([EndpointRow.code > after] if after else []))
                                    .order_by(EndpointRow.code).limit(size + 1)).all()
    ep_total = endpoint_total(console, dashboard.run.id, code)
    more, more_systems = len(endpoints) > size, len(systems) > size
    endpoints, systems = endpoints[:size], systems[:size]
    figures = agency_figures(console, dashboard, code, lang)
    return console.render(request, "agency.html.j2", d=dashboard, code=code, systems=systems, endpoints=endpoints,
                          figures=figures, fix=fix, page=page, pages=max(1, -(-sum(counts.values()) // size)),
                          after=after, next_after=endpoints[-1][0] if more else None, ep_total=ep_total,
                          sys_after=sys_after, sys_next=systems[-1][0] if more_systems else None)


def endpoint_total(console: Console, run_id: int, code: str) -> int:
    """CODE's active endpoints (its subtree's; the province: all), counted once per graded run for
    every agency at once (one GROUP BY over the endpoints), not a COUNT per agency and view."""
    counts: dict[str, int] = console.per_run((run_id, "endpoint-counts"), lambda: _endpoint_counts(console))
    if code == console.root_code():
        return sum(counts.values())
    return sum(counts.get(unit, 0) for unit in console.subtree_codes(code))


def _endpoint_counts(console: Console) -> dict[str, int]:
    """Active endpoints per agency code (an endpoint of an agency no longer listed counts for the
    province only: its key is the agency's id)."""
    from secops.store.tables import AgencyRow, EndpointRow

    with console.db.session() as session:
        codes = dict(session.execute(select(AgencyRow.id, AgencyRow.code)).all())
        rows = session.execute(select(EndpointRow.agency_id, func.count()).where(EndpointRow.retired_at.is_(None))
                               .group_by(EndpointRow.agency_id)).all()
    return {codes.get(agency_id, f"#{agency_id}"): int(count) for agency_id, count in rows}


def fix_counts(dashboard: Any) -> dict[str, int]:
    """Each target's fix list length in the scope: its stored denominator - numerator."""
    return {t.id: max(0, c.denominator - c.numerator) for t in dashboard.targets
            if (c := dashboard.scope.cells.get(t.id)) is not None}


def agency_figures(console: Console, dashboard: Any, code: str, lang: str) -> Any:
    """The targets and units tables of CODE's page, rendered once per graded run and language."""
    return console.per_run((dashboard.run.id, "figures", code, lang),
                           lambda: console.fragment("agency_figures.html.j2", lang, d=dashboard))


def agency_fix(console: Console, dashboard: Any, code: str, page: int, lang: str) -> Any:
    """Page PAGE of CODE's fix list table, read and rendered once per graded run, page and language:
    the first pages from the run's one pass over the province's lists (web/fixpages.fix_heads), a
    later page read on its own."""
    return console.per_run((dashboard.run.id, "fix", code, page, console.policy.page_size, lang), lambda: console.fragment(
        "agency_fix.html.j2", lang, fix=_fix_page(console, dashboard, code, page)))


def _fix_page(console: Console, dashboard: Any, code: str, page: int) -> list[Any]:
    from secops.web.fixpages import fix_heads, fix_page_read

    size = console.policy.page_size
    held = fix_heads(console, dashboard.run.id, dashboard.run.as_of, size).page(code, page, size)
    if held is not None:
        return held
    codes = None if code == console.root_code() else console.subtree_codes(code)
    return fix_page_read(console, dashboard.run.as_of, codes, fix_counts(dashboard), page, size)


def _system_record(console: Console, code: str) -> dict[str, Any] | None:
    from secops.register.export import register_records
    from secops.store.tables import SystemRow

    with console.db.session() as session:
        row = session.scalars(select(SystemRow).where(SystemRow.code == code)).first()
        if row is None:
            return None
        records = register_records(session, {row.agency_id})
    return next((r for r in records["systems"] if r["code"] == code), None)


def _system_page(request: Request, code: str, errors: list[str] | None, values: dict[str, str] | None,
                 status: int = 200, saved: bool = False, req_errors: list[str] | None = None) -> Response:
    from secops.users.tables import AuditRow

    console = _console(request)
    record = _system_record(console, code)
    if record is None:
        return PlainTextResponse("not found / không tìm thấy", status_code=404)
    shown = values or {k: "" if record.get(k) is None else (record[k].isoformat() if hasattr(record[k], "isoformat")
                                                             else str(record[k])) for k in SYSTEM_FIELDS}
    with console.db.session() as session:
        history = list(session.scalars(select(AuditRow).where(AuditRow.target.in_([f"system:{code}",
                                                                                   f"requirements:{code}"]))
                                       .order_by(AuditRow.id.desc()).limit(50)))
    entries, deployment, standard = _checklist(console, code)
    return console.render(request, "system.html.j2", status, code=code, record=record, values=shown,
                          fields=SYSTEM_FIELDS, errors=errors or [], history=history, saved=saved, entries=entries,
                          deployment=deployment, standard=standard, req_errors=req_errors or [])


def _checklist(console: Console, code: str) -> tuple[list[Any], Any, str]:
    """The system's level-requirements checklist as `secops requirements show` builds it."""
    from secops.requirements.catalogue import in_force
    from secops.requirements.checklist import checklist
    from secops.requirements.rollup import deployment
    from secops.requirements.store import find_system

    now = dt.datetime.now(dt.UTC)
    cat = in_force(console.settings.policies, local_today(console.settings.policies))
    with console.db.session() as session:
        row = find_system(session, code)
        entries = checklist(session, row, cat, now)
        dep = deployment(session, row.id, entries, now) if entries else None
    return entries, dep, cat.standard.id


def _requirement_save(request: Request, code: str, values: dict[str, str]) -> Response:
    from pydantic import ValidationError

    from secops.policyfile import format_validation
    from secops.requirements.catalogue import in_force
    from secops.requirements.store import Statement, record
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    cat = in_force(console.settings.policies, local_today(console.settings.policies))
    try:
        statement = Statement.model_validate({"system": code, **{k: v for k, v in values.items() if v}})
        with console.db.session() as session:
            row = record(session, cat, statement, source="console")
            row.recorded_by = me.name
            audit(session, me.name, "requirement.record", f"requirements:{code}", agency=console.system_agency(code),
                  after={"item": statement.item, "status": statement.status, "evidence": statement.evidence,
                         "milestone": statement.milestone}, remote=_remote(request))
    except ValidationError as exc:
        return _system_page(request, code, None, None, 400,
                            req_errors=format_validation(f"system {code}", exc).splitlines())
    except SecopsError as exc:
        return _system_page(request, code, None, None, 400, req_errors=[str(exc)])
    return RedirectResponse(f"/system/{code}", status_code=303)


def _system_save(request: Request, code: str, values: dict[str, str]) -> Response:
    from secops.inventory.importer import import_raw
    from secops.inventory.kinds import load_kinds
    from secops.inventory.levels import load_levels
    from secops.inventory.readers import RawRow
    from secops.inventory.regime import load_regimes
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    before = _system_record(console, code)
    if before is None:
        return PlainTextResponse("not found / không tìm thấy", status_code=404)
    data: dict[str, Any] = {k: v for k, v in values.items() if v}
    data.update(code=code, owner=before["owner"])  # the owner is not changed from this form
    raw = [RawRow("systems", f"system {code}", 1, data)]
    policies = console.settings.policies
    after_holder: dict[str, Any] = {}

    def record_change(session: Any) -> None:
        from secops.register.export import register_records
        from secops.store.tables import SystemRow

        row = session.scalars(select(SystemRow).where(SystemRow.code == code)).one()
        session.flush()
        after = next(r for r in register_records(session, {row.agency_id})["systems"] if r["code"] == code)
        after_holder["after"] = after
        changed_before = {k: before[k] for k in SYSTEM_FIELDS if before.get(k) != after.get(k)}
        changed_after = {k: after[k] for k in SYSTEM_FIELDS if before.get(k) != after.get(k)}
        if changed_after:
            audit(session, me.name, "system.edit", f"system:{code}", agency=before["owner"], before=changed_before,
                  after=changed_after, remote=_remote(request))

    try:
        import_raw(console.db, raw, load_levels(policies), regimes=load_regimes(policies), kinds=load_kinds(policies),
                   in_transaction=record_change, today=local_today(policies))
    except InputRowsError as exc:
        return _system_page(request, code, [str(e) for e in exc.errors], values, 400)
    except SecopsError as exc:
        return _system_page(request, code, [str(exc)], values, 400)
    return RedirectResponse(f"/system/{code}?saved=1", status_code=303)


# -- evidence upload ------------------------------------------------------------------------------
async def _spool(request: Request, code: str, upload: UploadFile) -> str:
    """The upload kept in the private spool folder (evidence/spool.py) under a random id bound to
    its user (the id's prefix) and agency (a marker), streamed in bounded chunks."""
    from secops.evidence import spool

    console, me = _console(request), _me(request)
    suffix = Path(upload.filename or "").suffix.lower()
    suffix = suffix if suffix in spool.SUFFIXES else ".txt"
    upload_id = f"{me.user_id}-{secrets.token_urlsafe(24)}"
    written = 0
    with spool.create(upload_id, suffix) as out:
        while chunk := await upload.read(1 << 16):
            written += len(chunk)
            if written > console.policy.upload_max_bytes:
                break
            out.write(chunk)
    if written > console.policy.upload_max_bytes:
        spool.discard(upload_id)
        raise SecopsError(_("the file is larger than upload_max_bytes (policies/console.yaml)"))
    spool.bind(upload_id, code)
    return upload_id


def _spooled(me: Principal, code: str, upload_id: str) -> Path | None:
    from secops.evidence import spool

    if not upload_id.startswith(f"{me.user_id}-"):
        return None
    return spool.find(upload_id, code)


GONE = "the upload is gone or not yours; upload it again / tệp tải lên không còn, hãy tải lại"


def _evidence_preview(request: Request, code: str, upload_id: str, options: dict[str, str]) -> Response:
    """The preview, within the request (bounded by upload_max_bytes and upload_max_rows): the import
    with dry_run, nothing written."""
    from secops.evidence.cli import _max_age, _when
    from secops.evidence.importer import ImportOptions, import_evidence
    from secops.store.tables import AgencyRow

    console, me = _console(request), _me(request)
    path = _spooled(me, code, upload_id)
    page: dict[str, Any] = {"code": code, "upload_id": upload_id, "imports": [], **options}
    if path is None:
        return console.render(request, "evidence.html.j2", 400, preview=None, errors=[GONE], **page)
    with console.db.session() as session:
        ids = set(session.scalars(select(AgencyRow.id).where(AgencyRow.code.in_(console.subtree_codes(code)))))
    try:
        if options["date_order"] not in ("", "dmy", "mdy"):
            raise SecopsError(_("date order {value}: dmy or mdy").format(value=repr(options['date_order'])))
        import_options = ImportOptions(profile="auto", exported_at=_when(options["exported_at"] or None),
                                       date_order=options["date_order"], max_rows=console.policy.upload_max_rows,
                                       max_age_days=_max_age(console.settings.policies), dry_run=True,
                                       agency_ids=ids)
        result = import_evidence(console.db, path, None, console.settings.policies, options=import_options)
    except InputRowsError as exc:
        return console.render(request, "evidence.html.j2", 400, preview=None, errors=[str(e) for e in exc.errors],
                              **page)
    except SecopsError as exc:
        return console.render(request, "evidence.html.j2", 400, preview=None, errors=[str(exc)], **page)
    return console.render(request, "evidence.html.j2", preview=result, errors=[], **page)


def _evidence_queue(request: Request, code: str, upload_id: str, options: dict[str, str]) -> Response:
    """The confirmed import, queued for the daemon (a run request carrying the spooled file's id and
    the options); the request and who asked are in the audit log with it. Nothing is imported here."""
    from secops.evidence.queued import import_params
    from secops.schedule.requests import queue_request
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    page: dict[str, Any] = {"code": code, "upload_id": upload_id, "imports": [], "file_name": options["file"],
                            "exported_at": options["exported_at"], "date_order": options["date_order"]}
    if _spooled(me, code, upload_id) is None:
        return console.render(request, "evidence.html.j2", 400, preview=None, errors=[GONE], **page)
    try:
        params = import_params(upload_id, code, console.subtree_codes(code), options["exported_at"],
                               options["date_order"], console.policy.upload_max_rows, me.name, options["file"])
    except SecopsError as exc:
        return console.render(request, "evidence.html.j2", 400, preview=None, errors=[str(exc)], **page)
    with console.db.session() as session:
        request_id = queue_request(console.db, "import", me.name, agency=code, params=params, session=session)
        audit(session, me.name, "evidence.import.request", f"agency:{code}", agency=code,
              after={"request": request_id, "file": params["file"], "exported_at": params["exported_at"],
                     "date_order": params["date_order"]}, remote=_remote(request))
    return RedirectResponse(f"/imports/{request_id}", status_code=303)


def _recent_imports(console: Console, code: str) -> list[Any]:
    from secops.schedule.requests import RunRequestRow

    with console.db.session() as session:
        return list(session.scalars(select(RunRequestRow).where(RunRequestRow.kind == "import",
                                                                RunRequestRow.agency_code == code)
                                    .order_by(RunRequestRow.id.desc()).limit(10)))


def _evidence_request_page(request: Request, request_id: int) -> Response:
    """A queued import's status (queued, started, done, failed) and, once done, its outcome: the
    run's counts and the grade request that follows it; its refusals when it failed."""
    from secops.schedule.requests import RunRequestRow
    from secops.store.tables import RunRow

    console = _console(request)
    with console.db.session() as session:
        row = session.get(RunRequestRow, request_id)
        if row is None or row.kind != "import":
            return PlainTextResponse("not found / không tìm thấy", status_code=404)
        run = session.get(RunRow, row.run_id) if row.run_id is not None else None
        grade_id = (row.params or {}).get("grade_request")
        grade = session.get(RunRequestRow, grade_id) if grade_id is not None else None
    return console.render(request, "evidence_request.html.j2", row=row, run=run, grade=grade,
                          summary=(run.summary or {}) if run is not None and row.status == "done" else None,
                          errors=(row.error or "").splitlines(), code=row.agency_code,
                          waiting=row.status in ("queued", "started") or (grade is not None and grade.status in
                                                                           ("queued", "started")))


# -- staff awareness and training ----------------------------------------------------------------
def _staff_page(request: Request, code: str, page: int, errors: list[str], status: int = 200) -> Response:
    from secops.store.tables import AgencyRow, StaffRow

    console = _console(request)
    size = console.policy.page_size
    with console.db.session() as session:
        ids = select(AgencyRow.id).where(AgencyRow.code.in_(console.subtree_codes(code)))
        where = (StaffRow.agency_id.in_(ids), StaffRow.retired_at.is_(None))
        total = session.scalar(select(func.count()).select_from(StaffRow).where(*where)) or 0
        rows = session.execute(select(StaffRow, AgencyRow.code).join(AgencyRow, StaffRow.agency_id == AgencyRow.id)
                               .where(*where).order_by(StaffRow.code).offset((page - 1) * size).limit(size)).all()
    return console.render(request, "staff.html.j2", status, code=code, rows=rows, page=page,
                          pages=max(1, -(-total // size)), total=total, errors=errors, dates=STAFF_DATES)


def _staff_save(request: Request, code: str, values: dict[str, str], back: str) -> Response:
    from secops.inventory.importer import import_raw
    from secops.inventory.kinds import load_kinds
    from secops.inventory.levels import load_levels
    from secops.inventory.readers import RawRow
    from secops.inventory.regime import load_regimes
    from secops.store.tables import AgencyRow, StaffRow
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    with console.db.session() as session:
        row, agency = session.execute(select(StaffRow, AgencyRow.code).join(AgencyRow, StaffRow.agency_id == AgencyRow.id)
                                      .where(StaffRow.code == code)).one()
        before = {"code": row.code, "agency": agency, "name": row.name, "is_head": row.is_head,
                  **{k: getattr(row, k) for k in STAFF_DATES}}
    data: dict[str, Any] = {k: v for k, v in before.items() if v is not None and k not in STAFF_DATES}
    data.update({k: v for k, v in values.items() if v})
    policies = console.settings.policies

    def record_change(session: Any) -> None:
        after_row = session.scalars(select(StaffRow).where(StaffRow.code == code)).one()
        session.flush()
        changed = [k for k in STAFF_DATES if getattr(after_row, k) != before[k]]
        if changed:
            audit(session, me.name, "staff.edit", f"staff:{code}", agency=agency,
                  before={k: before[k] for k in changed}, after={k: getattr(after_row, k) for k in changed},
                  remote=_remote(request))

    back_to = back if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", back or "") and console.in_scope(me, back) else agency
    try:
        import_raw(console.db, [RawRow("staff", f"staff {code}", 1, data)], load_levels(policies),
                   regimes=load_regimes(policies), kinds=load_kinds(policies), in_transaction=record_change,
                   today=local_today(policies))
    except InputRowsError as exc:
        return _staff_page(request, back_to, 1, [str(e) for e in exc.errors], 400)
    except SecopsError as exc:
        return _staff_page(request, back_to, 1, [str(exc)], 400)
    return RedirectResponse(f"/agency/{back_to}/staff", status_code=303)


# -- waivers ------------------------------------------------------------------------------------
def _waivers_page(request: Request, code: str, errors: list[str], status: int = 200) -> Response:
    from secops.evaluate.waiver_requests import requests_for
    from secops.evaluate.waivers import load_waivers, waivers_path

    console = _console(request)
    codes = console.subtree_codes(code)
    try:
        active = [w for w in load_waivers(waivers_path(console.settings.policies)) if set(w.scope.agencies) & codes]
    except SecopsError as exc:
        active, errors = [], [*errors, str(exc)]
    return console.render(request, "waivers.html.j2", status, code=code, requests=requests_for(console.db, codes),
                          active=active, errors=errors, today=local_today(console.settings.policies))


def _waiver_request(request: Request, code: str, values: dict[str, str]) -> Response:
    from secops.evaluate.waiver_requests import parse_date, request_waiver
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    try:
        with console.db.session() as session:
            row = request_waiver(session, values["check"], code, values["reason"], parse_date(values["expires"]),
                                 me.name, local_today(console.settings.policies))
            audit(session, me.name, "waiver.request", f"waiver-request:{row.id}", agency=code,
                  after={"check": row.check, "reason": row.reason, "expires": row.expires}, remote=_remote(request))
    except SecopsError as exc:
        return _waivers_page(request, code, [str(exc)], 400)
    return RedirectResponse(f"/agency/{code}/waivers", status_code=303)


def _waiver_decide(request: Request, request_id: int, values: dict[str, str]) -> Response:
    from secops.evaluate.waiver_requests import WaiverRequestRow, decide, parse_date
    from secops.evaluate.waivers import waivers_path
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    with console.db.session() as session:
        found = session.get(WaiverRequestRow, request_id)
        code = found.agency_code if found is not None else None
    if code is None:
        return PlainTextResponse("not found / không tìm thấy", status_code=404)
    try:
        if values["decision"] not in ("approve", "reject"):
            raise SecopsError(_("decision: approve or reject"))
        expires = parse_date(values["expires"]) if values["expires"] else None
        with console.db.session() as session:
            before = {"status": "pending"}
            row = decide(session, request_id, values["decision"] == "approve", me.name, values["reason"],
                         waivers_path(console.settings.policies), local_today(console.settings.policies), expires)
            audit(session, me.name, f"waiver.{values['decision']}", f"waiver-request:{row.id}", agency=code,
                  before=before, after={"status": row.status, "reason": row.decision_reason, "expires": row.expires,
                                        "check": row.check}, remote=_remote(request))
    except SecopsError as exc:
        return _waivers_page(request, code, [str(exc)], 400)
    return RedirectResponse(f"/agency/{code}/waivers", status_code=303)


# -- annual report, runs, audit log ---------------------------------------------------------------
def _annual(request: Request, code: str, fmt: str, keep: bool) -> tuple[Any, int, Any]:
    from secops.inventory.regime import load_regimes, regime_on, report_year
    from secops.register.annual import annual_report, violation_lines

    console = _console(request)
    lang = request.state.lang
    today = local_today(console.settings.policies)
    year = report_year(regime_on(load_regimes(console.settings.policies), today), today)
    with tempfile.TemporaryDirectory(prefix="secops-annual-") as folder:
        result = annual_report(console.db, console.settings, year, Path(folder), owner=code, formats=(fmt,), lang=lang)
        if not keep:
            return result, year, violation_lines(result, console.templates, lang)
        form = next(p for p in result.files if p.suffix == f".{fmt}" and "annex" not in p.name)
        return result, year, form.read_bytes()


def _runs_page(request: Request, message: str | None, status: int = 200) -> Response:
    from secops.schedule.requests import RunRequestRow
    from secops.schedule.tables import ScheduleRow
    from secops.store.tables import RunRow

    console = _console(request)
    with console.db.session() as session:
        runs = list(session.scalars(select(RunRow).order_by(RunRow.id.desc()).limit(50)))
        requests = list(session.scalars(select(RunRequestRow).order_by(RunRequestRow.id.desc()).limit(20)))
        schedules = list(session.scalars(select(ScheduleRow.name).order_by(ScheduleRow.name)))
    return console.render(request, "runs.html.j2", status, runs=runs, requests=requests, schedules=schedules,
                          message=message)


def _run_start(request: Request, what: str) -> Response:
    from secops.schedule.requests import queue_request
    from secops.schedule.tables import ScheduleRow
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    with console.db.session() as session:
        names = set(session.scalars(select(ScheduleRow.name)))
    if what != "grade" and what not in names:
        return _runs_page(request, f"unknown: {what!r}", 400)
    request_id = queue_request(console.db, "grade" if what == "grade" else "schedule", me.name,
                               None if what == "grade" else what)
    with console.db.session() as session:
        audit(session, me.name, "run.request", f"request:{request_id}", after={"what": what}, remote=_remote(request))
    return RedirectResponse("/runs", status_code=303)


# -- schedules ----------------------------------------------------------------------------------
def _schedules_page(request: Request, edit: str | None, errors: list[str], values: dict[str, str] | None,
                    status: int = 200) -> Response:
    """The schedules (when, job, agency, enabled, next and last run), a province officer's add/edit
    form (`?edit=NAME` fills it with that schedule) and enable/disable buttons."""
    from secops.schedule.jobs import load_jobs
    from secops.schedule.schedules import list_schedules

    console = _console(request)
    rows = list_schedules(console.db)
    try:
        jobs = sorted(load_jobs(console.settings.policies).jobs)
    except SecopsError as exc:
        jobs, errors = [], [*errors, str(exc)]
    if values is None:
        values = {k: "" for k in SCHEDULE_FIELDS}
        found = next((r for r in rows if r.name == edit), None)
        if found is not None:
            with console.db.session() as session:
                from secops.schedule.tables import ScheduleRow

                row = session.scalars(select(ScheduleRow).where(ScheduleRow.name == found.name)).one()
                values.update(name=row.name, cron=row.cron or "", every=str(row.every_seconds or ""), job=row.job,
                              agency=row.agency_code or "", lang=str((row.options or {}).get("lang") or ""),
                              replace="1")
    return console.render(request, "schedules.html.j2", status, rows=rows, jobs=jobs, values=values, errors=errors)


def _schedule_save(request: Request, values: dict[str, str]) -> Response:
    """Add or edit a schedule with `secops schedule add [--replace]`'s own validation and messages;
    the audit log gets the values before and after, in the same transaction."""
    from secops.schedule.jobs import load_jobs
    from secops.schedule.schedules import add_schedule, schedule_values
    from secops.schedule.tables import ScheduleRow
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    try:
        every: int | None = None
        if values["every"]:
            if not values["every"].isdigit():
                raise SecopsError(_("--every {value}: a whole number of seconds, at least 1").format(
                                      value=repr(values['every'])))
            every = int(values["every"])
        if values["lang"] not in ("", "vi", "en"):
            raise SecopsError(_("--lang must be vi or en"))
        jobs = load_jobs(console.settings.policies)
        with console.db.session() as session:
            found = session.scalars(select(ScheduleRow).where(ScheduleRow.name == values["name"])).first()
            before = schedule_values(found) if found is not None else None
            row = add_schedule(console.db, jobs, values["name"], job=values["job"] or "nightly",
                               cron=values["cron"] or None, every_seconds=every, agency_code=values["agency"] or None,
                               options={"lang": values["lang"]} if values["lang"] else {},
                               replace=values["replace"] == "1", session=session)
            audit(session, me.name, "schedule.edit" if before else "schedule.add", f"schedule:{row.name}",
                  agency=row.agency_code, before=before, after=schedule_values(row), remote=_remote(request))
    except SecopsError as exc:
        return _schedules_page(request, None, [str(exc)], values, 400)
    return RedirectResponse("/schedules", status_code=303)


def _schedule_enable(request: Request, name: str, enabled: str) -> Response:
    from secops.schedule.schedules import schedule_values, set_enabled
    from secops.schedule.tables import ScheduleRow
    from secops.users.store import audit

    console, me = _console(request), _me(request)
    if enabled not in ("0", "1"):
        return _schedules_page(request, None, ["enabled: 0 or 1"], None, 400)
    with console.db.session() as session:
        found = session.scalars(select(ScheduleRow).where(ScheduleRow.name == name)).first()
        if found is None:
            return PlainTextResponse("not found / không tìm thấy", status_code=404)
        before = schedule_values(found)
        row = set_enabled(console.db, name, enabled == "1", session=session)
        audit(session, me.name, "schedule.enable" if row.enabled else "schedule.disable", f"schedule:{name}",
              agency=row.agency_code, before=before, after=schedule_values(row), remote=_remote(request))
    return RedirectResponse("/schedules", status_code=303)


def _audit_rows(console: Console) -> Any:
    import json

    from secops.textsafe import neutral_cell
    from secops.users.tables import AuditRow

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "at_utc", "actor", "action", "target", "agency", "before", "after", "remote"])
    yield out.getvalue()
    last = 0
    while True:
        out.seek(0)
        out.truncate()
        with console.db.session() as session:
            rows = list(session.scalars(select(AuditRow).where(AuditRow.id > last).order_by(AuditRow.id).limit(1000)))
        if not rows:
            return
        for r in rows:
            writer.writerow([r.id, r.at.isoformat(), neutral_cell(r.actor), neutral_cell(r.action),
                             neutral_cell(r.target), neutral_cell(r.agency_code or ""),
                             neutral_cell(json.dumps(r.before, ensure_ascii=False) if r.before is not None else ""),
                             neutral_cell(json.dumps(r.after, ensure_ascii=False) if r.after is not None else ""),
                             neutral_cell(r.remote or "")])
        last = rows[-1].id
        yield out.getvalue()
