"""Import inventory files: read, validate everything, then write all-or-nothing in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.config import bundled
from secops.errors import InputRowsError, RowError
from secops.inventory.kinds import KindPolicy, load_kinds
from secops.inventory.levels import LevelPolicy
from secops.inventory.readers import EntityName, RawRow, read_file
from secops.inventory.regime import Regime
from secops.inventory.upsert import (
    Tally,
    upsert_agencies,
    upsert_assessments,
    upsert_endpoints,
    upsert_staff,
    upsert_systems,
)
from secops.inventory.validate import validate
from secops.localtime import local_today
from secops.models import Assessment, AssessmentKind, InformationSystem
from secops.store.bulk import analyze_tables, bulk_load
from secops.store.db import Database
from secops.store.tables import AgencyRow, AssessmentRow, EndpointRow, EvidenceRow, StaffRow, SystemRow


class ImportResult(BaseModel):
    tallies: dict[str, Tally] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list, description="file:row: field: reason of rows not imported")


def known_agencies(session: Session) -> dict[str, tuple[str, str | None]]:
    """Active agencies: a retired one can no longer own records or parent new ones."""
    rows = session.execute(select(AgencyRow.id, AgencyRow.code, AgencyRow.kind, AgencyRow.parent_id)
                           .where(AgencyRow.retired_at.is_(None))).all()
    code_of = {r.id: r.code for r in rows}
    return {r.code: (r.kind, code_of.get(r.parent_id)) for r in rows}


def retired_agencies(session: Session) -> dict[str, str]:
    rows = session.execute(select(AgencyRow.code, AgencyRow.retired_at, AgencyRow.retired_reason)
                           .where(AgencyRow.retired_at.is_not(None)))
    return {code: f"since {day}: {reason or 'no reason given'}" for code, day, reason in rows}


# The assessor of an assessment known only from a system's last_inspection_date (as migration 0005 words it).
INSPECTION_ASSESSOR = "(không rõ - từ last_inspection_date / unknown, from last_inspection_date)"


def inspections_as_assessments(session: Session, systems: Sequence[InformationSystem],
                               given: Sequence[Assessment]) -> list[Assessment]:
    """A system row's last_inspection_date is a periodic assessment of that day (Form 08 counts
    assessments, not the field). Added only where neither the file nor the database has one of
    that system, kind and day, so a recorded assessor is never replaced."""
    wanted = {(s.code, s.last_inspection_date) for s in systems if s.last_inspection_date}
    if not wanted:
        return []
    have = {(a.system, a.date) for a in given if a.kind == AssessmentKind.periodic}
    have |= {(code, day) for code, day in session.execute(
        select(SystemRow.code, AssessmentRow.date).join(SystemRow, AssessmentRow.system_id == SystemRow.id)
        .where(SystemRow.code.in_({code for code, _ in wanted}),
               AssessmentRow.kind == AssessmentKind.periodic.value))}
    return [Assessment(system=code, kind=AssessmentKind.periodic, date=day, assessor=INSPECTION_ASSESSOR)
            for code, day in sorted(wanted - have)]


def write_models(session: Session, rows: dict[str, list[BaseModel]], run_id: int | None = None) -> dict[str, Tally]:
    return {
        "agencies": upsert_agencies(session, rows.get("agencies", [])),  # type: ignore[arg-type]
        "systems": upsert_systems(session, rows.get("systems", [])),  # type: ignore[arg-type]
        "endpoints": upsert_endpoints(session, rows.get("endpoints", []), run_id),  # type: ignore[arg-type]
        "staff": upsert_staff(session, rows.get("staff", [])),  # type: ignore[arg-type]
        "assessments": upsert_assessments(session, rows.get("assessments", [])),  # type: ignore[arg-type]
    }


# An import that writes at least this many rows of a table ANALYZEs it (PostgreSQL's autovacuum
# analyses a table only after changes to a tenth of it, and a minute later at the earliest).
ANALYZE_ROWS = 10_000
TABLES_OF = {"agencies": (AgencyRow,), "systems": (SystemRow,), "endpoints": (EndpointRow, EvidenceRow),
             "staff": (StaffRow,), "assessments": (AssessmentRow,)}


def import_files(db: Database, paths: Sequence[Path], levels: LevelPolicy, *, kind: EntityName | None = None,
                 skip_invalid: bool = False, today: dt.date | None = None,
                 regimes: list[Regime] | None = None, kinds: KindPolicy | None = None) -> ImportResult:
    raw: list[RawRow] = []
    for path in paths:
        raw.extend(read_file(path, kind))
    return import_raw(db, raw, levels, skip_invalid=skip_invalid, today=today, regimes=regimes, kinds=kinds)


def import_raw(db: Database, raw: list[RawRow], levels: LevelPolicy, *, skip_invalid: bool = False,
               today: dt.date | None = None, regimes: list[Regime] | None = None, kinds: KindPolicy | None = None,
               in_transaction: Callable[[Session], None] | None = None) -> ImportResult:
    """Rows already read (from files, or a console form as one row): validated and written as a
    file import is. in_transaction runs after the write, before the commit (e.g. an audit entry)."""
    with db.session() as session, bulk_load(session):  # one transaction: a failure or crash writes nothing
        checked = validate(raw, known_agencies(session), levels, today or local_today(),
                           set(session.scalars(select(SystemRow.code))), regimes,
                           kinds=kinds or load_kinds(bundled("policies")), retired=retired_agencies(session))
        if checked.errors and not skip_invalid:
            raise InputRowsError(checked.errors)
        models = {entity: [m for _, m in pairs] for entity, pairs in checked.rows.items()}
        session.flush()
        models["assessments"] = [*models.get("assessments", []),
                                 *inspections_as_assessments(session, models.get("systems", []),  # type: ignore[arg-type]
                                                             models.get("assessments", []))]  # type: ignore[arg-type]
        tallies = write_models(session, models)
        analyze_tables(session, [table for entity, tally in tallies.items()
                                 if tally.inserted + tally.updated >= ANALYZE_ROWS for table in TABLES_OF.get(entity, ())])
        if in_transaction is not None:
            in_transaction(session)
    return ImportResult(tallies=tallies, skipped=[str(e) for e in checked.errors])


__all__ = ["ImportResult", "RowError", "import_files", "import_raw", "write_models"]
