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

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from secops.config import Settings
from secops.errors import SecopsError
from secops.grade.sources import has_distinct_on, join_newest
from secops.report.data import Dashboard
from secops.requirements.catalogue import in_force
from secops.requirements.checklist import Entry, Prefetched, checklist
from secops.requirements.rollup import deployment, latest_overrides
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


def management_counts(session: Session, as_of: dt.datetime) -> list[tuple[int, int, int, int, int, int, int]]:
    """Per agency: endpoints, endpoints with a management fact, and how many are known centrally
    managed / managed, known reporting nationally / reporting, from each endpoint's newest fact up
    to as_of — counted in SQL, never an endpoint in Python.

    Facts come from protection_management (imports, sample) and, once console
    import is merged, from the same columns on protection_evidence: the newer observation wins
    (protection_management on equal times)."""
    endpoints = EndpointRow.__table__
    joined, pm = join_newest(endpoints, ProtectionManagementRow.__table__, as_of, "pm",
                             ("centrally_managed", "reports_national"), distinct_on=has_distinct_on(session))
    managed: Any = pm.c.centrally_managed
    national: Any = pm.c.reports_national
    has_fact: Any = pm.c.id.is_not(None)
    if "centrally_managed" in EvidenceRow.__table__.c and "reports_to_national_platform" in EvidenceRow.__table__.c:
        # Few evidence rows carry management facts: rank those (a window over them), no seek per endpoint.
        table = EvidenceRow.__table__
        rank = func.row_number().over(partition_by=table.c.endpoint_id,
                                      order_by=(table.c.observed_at.desc(), table.c.id.desc()))
        ranked = (select(table.c.endpoint_id, table.c.observed_at, table.c.centrally_managed,
                         table.c.reports_to_national_platform, rank.label("rn"))
                  .where(table.c.observed_at <= as_of, table.c.centrally_managed.is_not(None)
                         | table.c.reports_to_national_platform.is_not(None)).subquery("ranked"))
        ev = select(ranked).where(ranked.c.rn == 1).subquery("ev")
        joined = joined.outerjoin(ev, ev.c.endpoint_id == endpoints.c.id)
        newer = ev.c.endpoint_id.is_not(None) & (pm.c.id.is_(None) | (pm.c.observed_at < ev.c.observed_at))
        managed = case((newer, ev.c.centrally_managed), else_=managed)
        national = case((newer, ev.c.reports_to_national_platform), else_=national)
        has_fact = has_fact | ev.c.endpoint_id.is_not(None)
    facts = (select(endpoints.c.agency_id.label("agency_id"), case((has_fact, 1), else_=0).label("has_fact"),
                    managed.label("managed"), national.label("national"))
             .select_from(joined).subquery("facts"))

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    c = facts.c
    rows = session.execute(select(c.agency_id, func.count(), func.coalesce(func.sum(c.has_fact), 0),
                                  total(c.managed.is_not(None)), total(c.managed.is_(True)),
                                  total(c.national.is_not(None)), total(c.national.is_(True)))
                           .group_by(c.agency_id).order_by(c.agency_id))
    return [tuple(int(v) for v in row) for row in rows]  # type: ignore[misc]


TALLY_KEYS = ("endpoints", "managed_known", "managed", "national_known", "national")


def _protection_2026(session: Session, dashboard: Dashboard, as_of: dt.datetime) -> list[dict[str, Any]]:
    """Per direct unit: endpoints, and how many are known centrally managed / reporting nationally."""
    agencies = dict(session.execute(select(AgencyRow.code, AgencyRow.id)).all())
    parents = dict(session.execute(select(AgencyRow.id, AgencyRow.parent_id)).all())
    scope_id = agencies.get(dashboard.scope.code)
    if scope_id is None:
        return []
    counts = management_counts(session, as_of)
    if not any(with_fact for _, _, with_fact, *_ in counts):
        return []
    rows: dict[int, Counter[str]] = {}  # direct unit -> counts over its subtree
    for agency_id, n, _, managed_known, managed, national_known, national in counts:
        unit = _direct_unit(parents, scope_id, agency_id)
        if unit is None:
            continue
        tally = rows.setdefault(unit, Counter())
        for key, value in zip(TALLY_KEYS, (n, managed_known, managed, national_known, national), strict=True):
            tally[key] += value
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
    system_ids = [system.id for system, _, _ in systems]
    prefetched = Prefetched(session, system_ids, cat.standard.id, as_of)  # a few queries, not a few per item
    overrides = latest_overrides(session, system_ids, as_of)
    for system, agency_code, agency_name in systems:
        entries = checklist(session, system, cat, as_of, prefetched=prefetched)
        dep = deployment(session, system.id, entries, as_of, overrides)
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
