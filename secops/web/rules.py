"""Who may use each route: ONE table, one rule per route name, checked in one middleware (app.py).

A route without a rule is refused (500) and fails tests/test_web_authz.py, which walks the app's
own route table. A rule names the roles allowed and where the agency of the request is read
(a path parameter holding an agency code or a system code), so a user scoped to an agency subtree
gets 404 for anything outside it, whatever id or code is put in the URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from secops.users.tables import ROLES

TOKEN = "api-token"  # a bearer token: read-only API paths only


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str] = frozenset()
    public: bool = False  # no sign-in needed (sign-in page, style sheet, API description)
    half: bool = False  # a password-checked session still owing its second factor may use it
    api: bool = False  # JSON: 401 instead of the sign-in page; bearer tokens accepted
    agency: str | None = None  # path parameter holding an agency code
    system: str | None = None  # path parameter holding an information system code
    staff: str | None = None  # path parameter holding a staff member's code
    run_request: str | None = None  # path parameter holding a queued import's id (its agency decides)
    agency_query: str | None = None  # query parameter holding an agency code (default: the user's scope)
    province: bool = False  # only for users whose scope is the whole province


READ = frozenset(ROLES)
WRITE = frozenset({"province-officer", "agency-officer"})
PROVINCE = frozenset({"province-officer"})
AUDIT = frozenset({"province-officer", "auditor"})
API_READ = READ | {TOKEN}

RULES: dict[str, Rule] = {
    # sign-in
    "signin_form": Rule(public=True),
    "signin": Rule(public=True),
    "oidc_start": Rule(public=True),
    "oidc_callback": Rule(public=True),
    "mfa_form": Rule(roles=READ, half=True),
    "mfa": Rule(roles=READ, half=True),
    "signout": Rule(roles=READ, half=True),
    "style": Rule(public=True),
    "openapi": Rule(public=True, api=True),
    # pages
    "home": Rule(roles=READ),
    "agency": Rule(roles=READ, agency="code"),
    "system": Rule(roles=READ, system="code"),
    "system_save": Rule(roles=WRITE, system="code"),
    "requirement_save": Rule(roles=WRITE, system="code"),
    "staff": Rule(roles=READ, agency="code"),
    "staff_save": Rule(roles=WRITE, staff="code"),
    "evidence_form": Rule(roles=WRITE, agency="code"),
    "evidence_preview": Rule(roles=WRITE, agency="code"),
    "evidence_confirm": Rule(roles=WRITE, agency="code"),
    "evidence_request": Rule(roles=WRITE, run_request="request_id"),
    "annual": Rule(roles=READ, agency="code"),
    "annual_download": Rule(roles=READ, agency="code"),
    "waivers": Rule(roles=READ, agency="code"),
    "waiver_request": Rule(roles=WRITE, agency="code"),
    "waiver_decide": Rule(roles=PROVINCE, province=True),
    "runs": Rule(roles=READ - {"agency-officer"}, province=True),
    "run_start": Rule(roles=PROVINCE, province=True),
    "schedules": Rule(roles=READ - {"agency-officer"}, province=True),
    "schedule_save": Rule(roles=PROVINCE, province=True),
    "schedule_enable": Rule(roles=PROVINCE, province=True),
    "audit_log": Rule(roles=AUDIT, province=True),
    "audit_csv": Rule(roles=AUDIT, province=True),
    # API
    "api_grades": Rule(roles=API_READ, api=True, agency_query="agency"),
    "api_agency_grades": Rule(roles=API_READ, api=True, agency="code"),
    "api_trends": Rule(roles=API_READ, api=True, agency_query="agency"),
    "api_agency_trends": Rule(roles=API_READ, api=True, agency="code"),
    "api_register": Rule(roles=API_READ, api=True, agency_query="agency"),
    "api_fix_counts": Rule(roles=API_READ, api=True, agency_query="agency"),
    "metrics": Rule(roles=API_READ, api=True, agency_query="agency"),
}
