"""The report writer as it was before issue 12's fast path (commit 7f6b433), frozen as the reference
that tests/test_report_fast.py compares the new one with, byte for byte.

Fix items are pydantic FixItem models from report/fixlist.py's `fix_items` (ROW_NUMBER() window
for the newest evidence), serialised one by one: pydantic's model_dump_json for dashboard.json,
csv.writer over _safe_cell-ed cells for fix.csv. The dashboard holds the preview fix lists and the
counts from build_dashboard's own queries (a second and third query per target).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from secops.collect.tables import AuditHostRow
from secops.config import Settings
from secops.report.audit_csv import audit_csv as _audit_csv
from secops.report.data import Dashboard, build_dashboard, latest_grade_run, scope_ids, scope_tree
from secops.report.export import FIX_COLUMNS, FORMATS, grades_csv, section_pages
from secops.report.fixlist import FixItem, fix_items
from secops.report.lineage import add_lineage
from secops.report.render import render_html, render_page
from secops.report.sections import add_sections
from secops.report.sections import audit as audit_report_section
from secops.report.sections.requirements import _direct_unit
from secops.requirements.tables import ProtectionManagementRow
from secops.safeio import ensure_folder, subfolder, write_file, writing_file
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, RunRow
from secops.targets import load_targets
from secops.textsafe import neutral_cell as _safe_cell


def _fix_row(item: FixItem) -> list[str]:
    return [_safe_cell(v) for v in (
        item.target_id, item.entity, item.agency_code, item.agency_name, item.code, item.label, item.status,
        item.reason, json.dumps(item.detail, ensure_ascii=False, default=str) if item.detail else "")]


FIX_SLOT = "__secops_fix_items__"


def _json_frame(d: Dashboard) -> tuple[str, str]:
    data = d.model_copy(update={"fix": [], "sections": {
        name: {k: v for k, v in section.items() if k != "pages"} if isinstance(section, dict) else section
        for name, section in d.sections.items()}}).model_dump(mode="json")
    data["fix"] = FIX_SLOT
    head, tail = json.dumps(data, indent=2, ensure_ascii=False).split(json.dumps(FIX_SLOT), 1)
    return head + "[", "\n  ]" + tail


def json_item(item: FixItem, first: bool) -> str:
    text = item.model_dump_json(indent=2)
    return ("" if first else ",") + "\n    " + text.replace("\n", "\n    ")


def _write_fix_exports(d: Dashboard, folder: Path, formats: tuple[str, ...], items: Iterable[FixItem]) -> list[str]:
    names = [n for n, f in (("dashboard.json", "json"), ("fix.csv", "csv")) if f in formats]
    if not names:
        return []
    with contextlib.ExitStack() as files:
        handles = {name: files.enter_context(writing_file(folder / name)) for name in names}
        json_out, csv_out = handles.get("dashboard.json"), handles.get("fix.csv")
        head, tail = _json_frame(d)
        writer = csv.writer(csv_out, lineterminator="\n") if csv_out else None
        if json_out:
            json_out.write(head)
        if writer:
            writer.writerow(FIX_COLUMNS)
        for n, item in enumerate(items):
            if json_out:
                json_out.write(json_item(item, n == 0))
            if writer:
                writer.writerow(_fix_row(item))
        if json_out:
            json_out.write(tail)
    return names


def write_outputs(d: Dashboard, folder: Path, templates: Path, formats: tuple[str, ...],
                  items: Iterable[FixItem]) -> dict[str, Path]:
    ensure_folder(folder)
    files: dict[str, str] = {}
    if "html" in formats:
        files["dashboard.html"] = render_html(d, templates)
    pages = section_pages(d)
    if "html" in formats:
        for page in pages:
            files[page["path"]] = render_page(d, templates, page["template"], page["context"])
    if "csv" in formats:
        files["grades.csv"] = grades_csv(d)
        if (audit := _audit_csv(d.sections.get("audit"))) is not None:
            files["audit_checks.csv"] = audit
    written: dict[str, Path] = {}
    for name, text in files.items():
        relative = Path(name)
        parent = subfolder(folder, relative.parent) if relative.parent != Path(".") else folder
        written[name] = write_file(parent / relative.name, text)
    for name in _write_fix_exports(d, folder, formats, items):
        written[name] = folder / name
    return written


# report/sections/requirements.py's protection_2026 before issue 12: every endpoint and its newest
# management fact loaded into dicts, tallied in Python.
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


def protection_2026(session: Session, dashboard: Dashboard, as_of: dt.datetime) -> list[dict[str, Any]]:
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



def newest_hosts(session: Session, dashboard: Dashboard) -> list[tuple[AuditHostRow, str | None]]:
    """report/sections/audit.py's _newest_hosts before issue 12: a map of every endpoint's agency."""
    as_of = dashboard.run.as_of or dashboard.run.started_at
    in_scope = {a.code for a in dashboard.agencies}
    agency_of = dict(session.execute(select(EndpointRow.id, AgencyRow.code)
                                     .join(AgencyRow, EndpointRow.agency_id == AgencyRow.id)).all())
    newest: dict[str, AuditHostRow] = {}
    for row in session.scalars(select(AuditHostRow).where(AuditHostRow.started_at <= as_of).order_by(AuditHostRow.id)):
        key = f"e{row.endpoint_id}" if row.endpoint_id is not None else f"a{row.address}"
        newest[key] = row
    out = []
    for row in newest.values():
        agency = agency_of.get(row.endpoint_id) if row.endpoint_id is not None else None
        if agency is None or agency in in_scope:
            out.append((row, agency))
    return out


def reference_dashboard(db: Database, settings: Settings, run_id: int, lang: str,
                        agency_code: str | None) -> Dashboard:
    """publish's dashboard before the fast path: preview and counts by their own queries."""
    policy = load_targets(settings.policies)
    with db.session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None
        dashboard = build_dashboard(session, policy, run, lang, agency_code)
        add_lineage(session, dashboard, settings)
        with mock.patch.object(audit_report_section, "_newest_hosts", newest_hosts):
            add_sections(session, dashboard, settings)
        if "requirements" in dashboard.sections:
            as_of = dashboard.run.as_of or dashboard.run.started_at
            dashboard.sections["requirements"]["protection_2026"] = protection_2026(session, dashboard, as_of)
    return dashboard


def reference_publish(db: Database, settings: Settings, folder: Path, dashboard: Dashboard,
                      agency_code: str | None, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """The old writer on a given dashboard, every record to fix streamed by the old fix_items."""
    policy = load_targets(settings.policies)
    assert dashboard.run.as_of is not None
    with db.session() as session:
        run = session.get(RunRow, dashboard.run.id) or latest_grade_run(session)
        all_agencies, tree, _ = scope_tree(session, run, agency_code)
        items = fix_items(session, policy, dashboard.run.as_of, scope_ids(all_agencies, tree))
        return write_outputs(dashboard, folder, settings.reports, formats, items)
