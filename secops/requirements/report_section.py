"""Dashboard section "requirements": plan deployment per system from its checklist, overdue
activities per agency, the province's most common unmet requirements, and how endpoint protection
stands under the 2026 rules (centrally managed, reporting to the national platform) beside T2.

One detail page per system (pages/requirements_system.html.j2) lists every item of its checklist.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from secops.config import Settings
from secops.errors import SecopsError
from secops.report.data import Dashboard
from secops.requirements.catalogue import in_force
from secops.requirements.checklist import Entry, checklist
from secops.requirements.rollup import deployment
from secops.requirements.tables import ProtectionManagementRow
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, SystemRow

MAX_OVERDUE_PER_AGENCY = 30
TOP_UNMET = 10


def _entry(e: Entry, lang: str) -> dict[str, Any]:
    return {"item": e.item.id, "group": getattr(e.group.name, lang, e.group.name.vi), "clause": e.clause,
            "text": getattr(e.item.text, lang, e.item.text.vi), "status": e.status, "source": e.source,
            "evidence": e.evidence or "", "run_id": e.run_id, "detail": e.detail,
            "evidence_date": e.evidence_date.isoformat() if e.evidence_date else None,
            "due": e.due.isoformat() if e.due else None, "every": e.interval_months,
            "minimum": e.minimum_months, "milestone": e.milestone.isoformat() if e.milestone else None,
            "unit": e.responsible_unit or ""}


def _page_path(code: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", code)[:80].lstrip("._-") or "system"
    return f"systems/{slug}.html"


def _direct_unit(parents: dict[int, int | None], scope_id: int, agency_id: int) -> int | None:
    """The scope's direct unit that contains an agency (the scope itself for its own rows)."""
    node: int | None = agency_id
    for _ in range(64):  # bounded: a malformed tree cannot loop forever
        if node is None:
            return None
        parent = parents.get(node)
        if node == scope_id or parent == scope_id:
            return node
        node = parent
    return None


def _newest(session: Session, table: Any, managed: Any, national: Any, as_of: dt.datetime,
            *where: Any) -> dict[int, tuple[dt.datetime, bool | None, bool | None]]:
    newest = (select(table.endpoint_id, func.max(table.observed_at).label("at"))
              .where(table.observed_at <= as_of, *where).group_by(table.endpoint_id).subquery())
    rows = session.execute(select(table.endpoint_id, table.observed_at, managed, national)
                           .join(newest, (newest.c.endpoint_id == table.endpoint_id)
                                 & (newest.c.at == table.observed_at)).where(*where))
    return {e: (at, m, n) for e, at, m, n in rows}


def management_facts(session: Session, as_of: dt.datetime) -> dict[int, tuple[bool | None, bool | None]]:
    """Endpoint -> (centrally managed, reports nationally), from the newest fact up to as_of.

    Facts come from protection_management (issue 11 imports, sample) and, once issue 15's console
    import is merged, from the same columns on protection_evidence: the newer observation wins.
    """
    facts = _newest(session, ProtectionManagementRow, ProtectionManagementRow.centrally_managed,
                    ProtectionManagementRow.reports_national, as_of)
    managed = getattr(EvidenceRow, "centrally_managed", None)
    national = getattr(EvidenceRow, "reports_to_national_platform", None)
    if managed is not None and national is not None:
        known = (managed.is_not(None)) | (national.is_not(None))
        for endpoint_id, fact in _newest(session, EvidenceRow, managed, national, as_of, known).items():
            if endpoint_id not in facts or facts[endpoint_id][0] < fact[0]:
                facts[endpoint_id] = fact
    return {e: (m, n) for e, (_, m, n) in facts.items()}


def _protection_2026(session: Session, dashboard: Dashboard, as_of: dt.datetime) -> list[dict[str, Any]]:
    """Per direct unit: endpoints, and how many are known centrally managed / reporting nationally."""
    agencies = dict(session.execute(select(AgencyRow.code, AgencyRow.id)).all())
    parents = dict(session.execute(select(AgencyRow.id, AgencyRow.parent_id)).all())
    scope_id = agencies.get(dashboard.scope.code)
    if scope_id is None:
        return []
    mgmt = management_facts(session, as_of)
    if not mgmt:
        return []
    rows: dict[int, Counter[str]] = {}  # direct unit -> counts over its subtree
    for endpoint_id, agency_id in session.execute(select(EndpointRow.id, EndpointRow.agency_id)):
        unit = _direct_unit(parents, scope_id, agency_id)
        if unit is None:
            continue
        tally = rows.setdefault(unit, Counter())
        tally["endpoints"] += 1
        managed, national = mgmt.get(endpoint_id, (None, None))
        tally["managed_known"] += managed is not None
        tally["managed"] += bool(managed)
        tally["national_known"] += national is not None
        tally["national"] += bool(national)
    by_code = {a.code: a for a in [dashboard.scope, *dashboard.ranking]}
    code_of = {v: k for k, v in agencies.items()}
    out: list[dict[str, Any]] = []
    for unit, tally in rows.items():
        grades = by_code.get(code_of[unit])
        if grades is None or unit == scope_id:  # the scope's own endpoints count in its total only
            continue
        t2 = grades.cells.get("T2")
        out.append({"code": grades.code, "name": grades.name, "t2": t2.value if t2 else None, **tally})
    out.sort(key=lambda r: r["code"])
    if rows:  # the scope's total, summed (never averaged) over its units and its own endpoints
        total: Counter[str] = Counter(rows.get(scope_id, Counter()))
        for row in out:
            total.update({k: v for k, v in row.items() if isinstance(v, int)})
        t2 = dashboard.scope.cells.get("T2")
        out.insert(0, {"code": dashboard.scope.code, "name": dashboard.scope.name, "t2": t2.value if t2 else None,
                       **total})
    return out


def requirements_section(session: Session, dashboard: Dashboard, settings: Settings) -> dict[str, Any] | None:
    as_of = dashboard.run.as_of or dashboard.run.started_at
    try:
        cat = in_force(settings.policies, as_of.date())
    except SecopsError:
        return None
    in_scope = {a.code for a in dashboard.agencies}
    systems = session.execute(select(SystemRow, AgencyRow.code, AgencyRow.name)
                              .join(AgencyRow, SystemRow.agency_id == AgencyRow.id)
                              .where(SystemRow.level.is_not(None)).order_by(AgencyRow.code, SystemRow.code)).all()
    systems = [s for s in systems if s[1] in in_scope]
    if not systems:
        return None
    lang = dashboard.lang
    listed: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    overdue_by_agency: dict[str, dict[str, Any]] = {}
    unmet: Counter[str] = Counter()
    deployments: Counter[str] = Counter()
    for system, agency_code, agency_name in systems:
        entries = checklist(session, system, cat, as_of)
        dep = deployment(session, system.id, entries, as_of)
        deployments[dep.value] += 1
        counts = Counter(e.status for e in entries)
        unmet.update(e.item.id for e in entries if e.open)
        overdue = [e for e in entries if e.status == "overdue"]
        if overdue:
            bucket = overdue_by_agency.setdefault(agency_code, {"code": agency_code, "name": agency_name, "total": 0,
                                                                "items": []})
            bucket["total"] += len(overdue)
            bucket["items"] += [{"system": system.code, **_entry(e, lang)} for e in overdue]
        row = {"code": system.code, "name": system.name, "agency": agency_code, "level": system.level,
               "deployment": dep.value, "computed": dep.computed, "override_reason": dep.override_reason,
               "met": dep.met, "applicable": dep.applicable, "counts": dict(counts), "page": _page_path(system.code)}
        listed.append(row)
        pages.append({"path": row["page"], "template": "pages/requirements_system.html.j2",
                      "context": {**row, "agency_name": agency_name, "standard": cat.standard.id,
                                  "standard_title": getattr(cat.standard.title, lang, cat.standard.title.vi),
                                  "as_of": as_of.date().isoformat(),
                                  "items": [_entry(e, lang) for e in entries]}})
    for bucket in overdue_by_agency.values():
        bucket["items"] = sorted(bucket["items"], key=lambda i: (i["due"] or "", i["system"]))[:MAX_OVERDUE_PER_AGENCY]
    common = [{"item": item_id, "clause": cat.clause(cat.item(item_id), max(cat.item(item_id).from_level, 1)),
               "text": getattr(cat.item(item_id).text, lang, cat.item(item_id).text.vi), "systems": n}
              for item_id, n in unmet.most_common(TOP_UNMET)]
    return {"standard": cat.standard.id, "as_of": as_of.date().isoformat(), "total_systems": len(listed),
            "deployments": dict(deployments), "systems": listed, "pages": pages,
            "overdue": sorted(overdue_by_agency.values(), key=lambda b: (-b["total"], b["code"])),
            "common_unmet": common, "protection_2026": _protection_2026(session, dashboard, as_of)}
