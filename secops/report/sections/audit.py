"""Dashboard section "audit": each audited endpoint's newest result, every check result on it.

Hosts with problems come first (errors, unprotected, degraded, most failed checks); at most
MAX_HOSTS hosts are listed (the page and dashboard.json say how many more). Per listed host every
check result is carried (passed, failed, not applicable with its reason, waived, error), with the
evidence that decided it, the policy's compliance mappings, rationale and remediation: nothing cut.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.collect.findings import Words, check_dict, host_findings, pack_facts
from secops.collect.tables import AuditHostRow, CheckResultRow
from secops.config import Settings
from secops.errors import SecopsError
from secops.grade.sources import newest_evidence, protection_from
from secops.grade.sql import endpoint_credits, endpoint_max_age
from secops.report.data import Dashboard
from secops.store.tables import AgencyRow, EndpointRow
from secops.targets import EvidencePrecedence, load_targets
from secops.templating import messages

# The reason a transport gives for rules it cannot evaluate (secops.collect.smb.NEEDS_COMMANDS).
TRANSPORT_LIMIT = "needs a command transport"
MAX_HOSTS = 300
_ORDER = {"unknown": 0, "unprotected": 1, "degraded": 2, "protected": 3}


def _newest_hosts(session: Session, dashboard: Dashboard) -> list[tuple[AuditHostRow, str | None]]:
    as_of = dashboard.run.as_of or dashboard.run.started_at
    in_scope = {a.code for a in dashboard.agencies}
    newest: dict[str, AuditHostRow] = {}
    for row in session.scalars(select(AuditHostRow).where(AuditHostRow.started_at <= as_of).order_by(AuditHostRow.id)):
        key = f"e{row.endpoint_id}" if row.endpoint_id is not None else f"a{row.address}"
        newest[key] = row
    # The agencies of the audited endpoints only (not a map of every endpoint: a million at national scale).
    audited = sorted({row.endpoint_id for row in newest.values() if row.endpoint_id is not None})
    agency_of: dict[int, str] = {}
    for start in range(0, len(audited), 500):
        agency_of.update((endpoint_id, code) for endpoint_id, code in session.execute(
            select(EndpointRow.id, AgencyRow.code).join(AgencyRow, EndpointRow.agency_id == AgencyRow.id)
            .where(EndpointRow.id.in_(audited[start:start + 500]))))
    # A host audited by address only belongs to no agency: it is the province's, never a unit's.
    whole = dashboard.scope.parent is None
    out = []
    for row in newest.values():
        agency = agency_of.get(row.endpoint_id) if row.endpoint_id is not None else None
        if (agency is None and whole) or (agency is not None and agency in in_scope):
            out.append((row, agency))
    return out


# What each host's two counts count (dashboard.json carries this beside them).
MEASURES = {"failed_results": "check results 'failed' on the host, over all its policies",
            "findings_to_fix": "the failed and error results an officer must act on, less the checks of protection "
                               "products not installed (one finding stands for them when none is installed)"}
STATUSES = ("failed", "error", "not_applicable", "waived", "passed")  # the host page's filter order


def _id_key(check_id: str) -> tuple[int, str]:
    return (int(check_id), "") if check_id.isdigit() else (1 << 62, check_id)


def all_results(session: Session, host_id: int, words: Words | None = None) -> list[dict[str, Any]]:
    """Every check result of a host, by policy, section and check id (the host page's order)."""
    rows = [check_dict(c, words) for c in
            session.scalars(select(CheckResultRow).where(CheckResultRow.host_id == host_id))]
    return sorted(rows, key=lambda c: (c["policy_id"], _id_key(c["section"] or "x"), _id_key(c["check_id"])))


def standing_evidence(session: Session, endpoint_ids: list[int], as_of: Any, settings: Settings
                      ) -> tuple[dict[int, dict[str, Any]], EvidencePrecedence | None]:
    """Per endpoint, the evidence that stands as of the run (the grader's rule: newest with the
    sources' credits, too old -> unknown) and the precedence rule itself, to show beside an audit
    attempt: an attempt that failed never replaces it (collect/record.py observed)."""
    try:
        policy = load_targets(settings.policies)
    except SecopsError:  # the report still renders without the standing evidence
        return {}, None
    credits, max_age = endpoint_credits(policy), endpoint_max_age(policy)
    precedence = next((t.evidence_precedence for t in policy.targets
                       if t.entity == "endpoints" and t.evidence_precedence is not None), None)
    newest = newest_evidence(as_of, credits)
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(endpoint_ids), 500):
        for row in session.execute(select(newest).where(newest.c.endpoint_id.in_(endpoint_ids[start:start + 500]))):
            seen = row.observed_at if row.observed_at.tzinfo else row.observed_at.replace(tzinfo=as_of.tzinfo)
            prot = protection_from(row.status, row.product, row.source, seen, row.detail, as_of, max_age)
            out[row.endpoint_id] = {"status": prot["protection"], "source": row.source, "product": row.product,
                                    "reason": prot["protection_reason"], "observed_at": seen.isoformat(timespec="minutes"),
                                    "age_hours": max(0, int((as_of - seen).total_seconds() // 3600))}
    return out, precedence


def _reaches(session: Session, waiver: Any, dashboard: Dashboard,
             hosts: list[tuple[AuditHostRow, str | None]]) -> bool:
    from secops.store.tables import SystemRow

    codes = {a.code for a in dashboard.agencies}
    above, parent = set(), dashboard.scope.parent
    for _ in range(64):  # the chain above the scope (bounded: the tree is a few levels deep)
        if parent is None:
            break
        above.add(parent)
        parent = session.scalar(select(AgencyRow.code).where(
            AgencyRow.id == select(AgencyRow.parent_id).where(AgencyRow.code == parent).scalar_subquery()))
    scope = waiver.scope
    if set(scope.agencies) & (codes | above) or "*" in scope.hosts:
        return True
    names = {str(v) for row, _ in hosts for v in (row.endpoint_code, row.label, row.address) if v}
    if set(scope.hosts) & names:
        return True
    if scope.systems:
        owned = session.scalars(select(SystemRow.code).join(AgencyRow, SystemRow.agency_id == AgencyRow.id)
                                .where(SystemRow.code.in_(scope.systems), AgencyRow.code.in_(codes)))
        return next(iter(owned), None) is not None
    return False


def _page_path(index: int, row: AuditHostRow) -> str:
    # The endpoint code or address may come from the network: only safe characters reach a file name.
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", row.endpoint_code or row.address)[:80].lstrip("._-") or "host"
    return f"hosts/{index:04d}-{slug}.html"


def audit_section(session: Session, dashboard: Dashboard, settings: Settings) -> dict[str, Any] | None:
    hosts = _newest_hosts(session, dashboard)
    if not hosts:
        return None
    counts: dict[str, int] = {}
    for row, _ in hosts:
        counts[row.protection] = counts.get(row.protection, 0) + 1
    listed: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    (products, words), text = pack_facts(Path(settings.checks), dashboard.lang), messages(settings.reports, dashboard.lang)
    chosen = sorted(hosts, key=_rank)[:MAX_HOSTS]
    as_of = dashboard.run.as_of or dashboard.run.started_at
    standing, precedence = standing_evidence(
        session, sorted({row.endpoint_id for row, _ in chosen if row.endpoint_id is not None}), as_of, settings)
    for index, (row, agency) in enumerate(chosen, start=1):
        results = all_results(session, row.id, words)
        listed.append(_host_entry(session, index, row, agency, results, products, text, standing, words,
                                  dashboard.lang))
        # One page per endpoint: every check with its status, evidence and mappings, filterable.
        by_transport = [c for c in results if c["result"] == "not_applicable" and TRANSPORT_LIMIT in c["reason"]]
        pages.append({"path": listed[-1]["page"], "template": "pages/audit_host.html.j2",
                      "context": {**listed[-1], "transport_na": by_transport, "groups": _groups(results)}})
    return {"total_hosts": len(hosts), "counts": counts, "hosts": listed, "measures": MEASURES,
            "more": max(0, len(hosts) - MAX_HOSTS),
            "max_hosts": MAX_HOSTS,  # the one bound: hosts listed; every result of a listed host is carried
            "pages": pages, "waivers": _waivers(session, settings, dashboard, hosts),
            "precedence": None if precedence is None else {
                "credit_hours": {k: v for k, v in sorted(precedence.credit_hours.items()) if v},
                "why": precedence.why.model_dump() if precedence.why is not None else None}}


def _rank(item: tuple[AuditHostRow, str | None]) -> tuple[Any, ...]:
    """Hosts that failed to answer first, then the least protected, then the most failed checks."""
    row = item[0]
    failed = sum(p.get("failed", 0) for p in row.policies or [])
    return (row.status == "ok", _ORDER.get(row.protection, 9), -failed, row.label)


def _host_entry(session: Session, index: int, row: AuditHostRow, agency: str | None, results: list[dict[str, Any]],
                products: dict[tuple[str, str], tuple[str, str]], text: dict[str, str],
                standing: dict[int, dict[str, Any]], words: Words, lang: str) -> dict[str, Any]:
    """One audited host as the dashboard, dashboard.json and audit_checks.csv show it."""
    failed = host_findings(session, row.id, products, text, words, lang)
    return {
        "code": row.endpoint_code, "label": row.label, "address": row.address, "agency": agency,
        "run_id": row.run_id, "finished_at": row.finished_at.isoformat(timespec="minutes"),
        "transport": row.transport, "protection": row.protection, "product": row.product,
        "detail": row.protection_detail or "", "os_info": row.os_info or "",
        "error": f"{row.error_kind}: {row.message}" if row.status != "ok" else None,
        # what the endpoint's protection stands on (any source): a failed attempt leaves it as it was
        "standing": standing.get(row.endpoint_id) if row.endpoint_id is not None else None,
        # packs for another OS (the Windows pack on a Linux host) are noise here
        "policies": [p for p in row.policies or []
                     if p.get("applicable") or not str(p.get("reason", "")).startswith("policy applies to")],
        # Two counts, each named where it is shown (secops/collect/findings.py): the findings to fix
        # listed in "failed", and the check results failed over all policies (as `secops audit` prints).
        "failed": failed, "findings_to_fix": len(failed),
        "failed_results": sum(1 for c in results if c["result"] == "failed"), "page": _page_path(index, row),
        "waived": [c for c in results if c["result"] == "waived"],
        "not_applicable": [c for c in results if c["result"] == "not_applicable"],
        "result_counts": {status: sum(1 for c in results if c["result"] == status) for status in STATUSES},
        "results_total": len(results),
        "results": results,  # every check result on the host: dashboard.json and audit_checks.csv
    }


def _groups(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results grouped by policy, then section, in all_results' order."""
    groups: list[dict[str, Any]] = []
    for check in results:
        if not groups or (groups[-1]["policy_id"], groups[-1]["section"]) != (check["policy_id"], check["section"]):
            groups.append({"policy_id": check["policy_id"], "section": check["section"], "checks": [],
                           "counts": dict.fromkeys(STATUSES, 0)})
        groups[-1]["checks"].append(check)
        groups[-1]["counts"][check["result"]] = groups[-1]["counts"].get(check["result"], 0) + 1
    return groups


def _waivers(session: Session, settings: Settings, dashboard: Dashboard,
             hosts: list[tuple[AuditHostRow, str | None]]) -> list[dict[str, Any]]:
    """The waivers that reach the report's scope, with the days left as of today (negative: expired).
    A unit's report lists those for its agencies (or one above it), its systems and its audited hosts;
    the province's lists every one."""

    from secops.evaluate.waivers import load_waivers, waivers_path
    from secops.localtime import local_today

    today = local_today(settings.policies)
    try:
        waivers = load_waivers(waivers_path(settings.policies))
    except SecopsError:  # the report still renders; `secops waivers list` shows the file's problem
        return []
    if dashboard.scope.parent is not None:
        waivers = [w for w in waivers if _reaches(session, w, dashboard, hosts)]
    return [{"check": w.check, "scope": {k: v for k, v in w.scope.model_dump().items() if v}, "reason": w.reason,
             "approver": w.approver, "expires": w.expires.isoformat(), "days_left": w.days_left(today),
             "active": w.active(today)} for w in waivers]
