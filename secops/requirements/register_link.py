"""The checklist roll-up meets the level-dossier register.

- `apply_rollup` writes each system's roll-up (or its officer override) into the register's
  `plan_deployment`, which Form 08 column 10 and target T1 read. Only systems that have a
  checklist (an officer statement, an override or linked hosts) are touched: a register value
  typed by an officer for a system nobody has a checklist for stays as it is.
- `unmet_annex` lists, per system with a checklist, the requirements not (fully) met with their
  remediation milestone: the annex of the annual report. `write_annex` writes it as CSV
  (cells neutralised against spreadsheet formulas) next to the report.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.requirements.catalogue import in_force
from secops.requirements.checklist import checklist
from secops.requirements.rollup import deployment
from secops.requirements.tables import (
    PlanOverrideRow,
    RequirementStatusRow,
    SystemHostRow,
)
from secops.store.tables import SystemRow
from secops.textsafe import neutral_cell

ANNEX_COLUMNS = ("system", "system_name", "level", "item", "clause", "requirement", "status", "milestone",
                 "responsible_unit", "evidence")


@dataclass(frozen=True)
class Change:
    code: str
    old: str | None
    new: str


def with_checklist(session: Session) -> set[int]:
    """Ids of the systems whose register value `apply_rollup` sets."""
    ids: set[int] = set()
    for table in (RequirementStatusRow, PlanOverrideRow, SystemHostRow):
        ids |= set(session.scalars(select(table.system_id).distinct()))
    return ids


def _systems(session: Session, codes: set[str] | None) -> list[SystemRow]:
    query = select(SystemRow).where(SystemRow.level.is_not(None)).order_by(SystemRow.code)
    if codes is not None:
        query = query.where(SystemRow.code.in_(codes))
    return list(session.scalars(query))


def apply_rollup(session: Session, policies: Path, as_of: dt.datetime, codes: set[str] | None = None, *,
                 dry_run: bool = False) -> list[Change]:
    """Set the register's plan deployment from the checklists; returns what changed (or would)."""
    cat = in_force(policies, as_of.date())
    eligible = with_checklist(session)
    changes = []
    for system in _systems(session, codes):
        if system.id not in eligible:
            continue
        value = deployment(session, system.id, checklist(session, system, cat, as_of), as_of).value
        old = getattr(system, "plan_deployment", None)
        if old != value:
            changes.append(Change(system.code, old, value))
            if not dry_run:
                system.plan_deployment = value
    return changes


def unmet_annex(session: Session, policies: Path, as_of: dt.datetime, codes: set[str] | None = None,
                lang: str = "vi") -> list[dict[str, object]]:
    """Open requirements (not met, partly met, overdue) of systems that have a checklist, with milestones."""
    cat = in_force(policies, as_of.date())
    eligible = with_checklist(session)
    rows: list[dict[str, object]] = []
    for system in _systems(session, codes):
        if system.id not in eligible:  # nobody keeps a checklist for it: the register's typed value stands
            continue
        for e in checklist(session, system, cat, as_of):
            if e.open:
                rows.append({"system": system.code, "system_name": system.name, "level": system.level,
                             "item": e.item.id, "clause": e.clause, "requirement": getattr(e.item.text, lang),
                             "status": e.status, "milestone": e.milestone.isoformat() if e.milestone else "",
                             "responsible_unit": e.responsible_unit or "", "evidence": e.evidence or ""})
    return rows


# The Vietnamese annex speaks Vietnamese: headings, statuses and dd/mm/yyyy dates (English keeps the codes).
ANNEX_HEADINGS_VI = ("Mã hệ thống", "Tên hệ thống", "Cấp độ", "Mã yêu cầu", "Điều khoản", "Yêu cầu", "Tình trạng",
                     "Thời hạn khắc phục", "Đơn vị chịu trách nhiệm", "Minh chứng")
STATUS_VI = {"not_met": "Chưa đáp ứng", "partly_met": "Đáp ứng một phần", "overdue": "Quá hạn thực hiện lại",
             "met": "Đáp ứng", "not_applicable": "Không áp dụng"}


def _vi(row: dict[str, object]) -> dict[str, object]:
    milestone = str(row["milestone"])
    if milestone:
        milestone = dt.date.fromisoformat(milestone).strftime("%d/%m/%Y")
    return {**row, "status": STATUS_VI.get(str(row["status"]), row["status"]), "milestone": milestone}


def annex_csv(rows: list[dict[str, object]], lang: str = "en") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ANNEX_HEADINGS_VI if lang == "vi" else ANNEX_COLUMNS)
    for row in rows:
        shown = _vi(row) if lang == "vi" else row
        writer.writerow([neutral_cell(shown[c]) for c in ANNEX_COLUMNS])
    return out.getvalue().encode("utf-8-sig")  # BOM: spreadsheet programs then read Vietnamese correctly


def write_annex(session: Session, policies: Path, codes: set[str], period_end: dt.date, path: Path,
                lang: str = "vi") -> Path | None:
    """The annual report's annex of unmet requirements, judged at the end of the data period;
    None (no file) when no system of the report has an open requirement."""
    from secops.safeio import write_file

    as_of = dt.datetime.combine(period_end, dt.time(23, 59, 59), tzinfo=dt.UTC)
    rows = unmet_annex(session, policies, as_of, codes, lang)
    return write_file(path, annex_csv(rows, lang)) if rows else None
