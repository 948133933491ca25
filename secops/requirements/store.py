"""Write checklist statements: one from the CLI, many from a CSV/YAML file (all or nothing).

Every statement is a new row (history is kept); nothing is edited in place. A row names the
system and the item; the item must exist in the catalogue in force and apply at the system's level.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.errors import InputRowsError, RowError, SecopsError
from secops.i18n import _, validation_reason
from secops.localtime import day_or_text, future_reason
from secops.requirements.catalogue import Catalogue
from secops.requirements.checklist import NEEDS_MILESTONE, OFFICER_STATUSES
from secops.requirements.rollup import DEPLOYMENT
from secops.requirements.tables import (
    PlanOverrideRow,
    RequirementStatusRow,
    SystemHostRow,
)
from secops.store.base import utcnow
from secops.store.tables import EndpointRow, RunRow, SystemRow
from secops.textio import csv_records
from secops.yamlsafe import load_yaml

RUN_REF = re.compile(r"^run:(\d+)$")
COLUMNS = ("system", "item", "status", "evidence", "evidence_date", "responsible_unit", "milestone", "note")


def officer() -> str | None:
    try:
        return getpass.getuser()[:100]
    except (KeyError, OSError):
        return None


class Statement(BaseModel):
    """One officer statement, as typed on the command line or read from a file row."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    system: str = Field(min_length=1, max_length=64)
    item: str = Field(min_length=1, max_length=60)
    status: str
    evidence: str | None = Field(default=None, max_length=2000,
                                 description="document reference, or run:N for a secops run")
    evidence_date: dt.date | None = None
    responsible_unit: str | None = Field(default=None, max_length=200)
    milestone: dt.date | None = None
    note: str | None = Field(default=None, max_length=4000)

    @field_validator("evidence", "responsible_unit", "note", "evidence_date", "milestone", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return day_or_text(value) if info.field_name in ("evidence_date", "milestone") else value

    @field_validator("evidence_date")
    @classmethod
    def _not_future(cls, value: dt.date | None) -> dt.date | None:
        reason = future_reason(value, "the date done") if value else None
        if reason:
            raise ValueError(reason)
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in OFFICER_STATUSES:
            raise ValueError(_("must be one of {items} (overdue is computed, not set)").format(
                                 items=', '.join(OFFICER_STATUSES)))
        return value

    @model_validator(mode="after")
    def _milestone(self) -> Statement:
        if self.status in NEEDS_MILESTONE and self.milestone is None:
            raise ValueError(_("milestone: a {status} item needs a remediation milestone (YYYY-MM-DD)").format(
                                 status=self.status))
        return self

    @property
    def run_id(self) -> int | None:
        match = RUN_REF.match(self.evidence or "")
        return int(match.group(1)) if match else None


def _system(session: Session, code: str) -> SystemRow | None:
    return session.scalars(select(SystemRow).where(SystemRow.code == code)).first()


def find_system(session: Session, code: str) -> SystemRow:
    system = _system(session, code)
    if system is None:
        raise SecopsError(_("no information system {code}").format(code=repr(code)))
    return system


def _problems(session: Session, cat: Catalogue, st: Statement) -> list[tuple[str, str]]:
    """Field-level problems of a statement against the store and the catalogue."""
    system = _system(session, st.system)
    if system is None:
        return [("system", f"no information system {st.system!r}")]
    try:
        item = cat.item(st.item)
    except SecopsError:
        return [("item", f"no requirement {st.item!r} in {cat.standard.id}")]
    if system.level is None:
        return [("system", f"{st.system} has no level yet, so no checklist")]
    if not item.applies(system.level):
        return [("item", f"{st.item} applies from level {item.from_level}; {st.system} is level {system.level}")]
    if st.run_id is not None and session.get(RunRow, st.run_id) is None:
        return [("evidence", f"run {st.run_id} does not exist")]
    return []


def _row(session: Session, cat: Catalogue, st: Statement, source: str, at: dt.datetime | None) -> RequirementStatusRow:
    system = find_system(session, st.system)
    return RequirementStatusRow(system_id=system.id, standard=cat.standard.id, item_id=st.item, status=st.status,
                                evidence=st.evidence, evidence_date=st.evidence_date, run_id=st.run_id,
                                responsible_unit=st.responsible_unit, milestone=st.milestone, note=st.note,
                                source=source, recorded_by=officer(), recorded_at=at or utcnow())


def record(session: Session, cat: Catalogue, st: Statement, *, source: str = "cli",
           at: dt.datetime | None = None) -> RequirementStatusRow:
    problems = _problems(session, cat, st)
    if problems:
        raise SecopsError("; ".join(f"{field}: {reason}" for field, reason in problems))
    row = _row(session, cat, st, source, at)
    session.add(row)
    return row


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".csv":
        return list(csv_records(path, COLUMNS))
    data = load_yaml(path)  # bounded: size, nesting, aliases (secops/yamlsafe.py)
    rows = data.get("statuses") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise SecopsError(_("{path}: expected a list of statements (or a mapping with 'statuses:')").format(
                              path=path))
    return [(n, r if isinstance(r, dict) else {"__bad__": r}) for n, r in enumerate(rows, start=1)]


def import_file(session: Session, cat: Catalogue, path: Path) -> int:
    """Validate every row first; write all of them, or none (raises InputRowsError naming file:row)."""
    errors: list[RowError] = []
    good: list[Statement] = []
    for number, raw in _read_rows(path):
        if "__bad__" in raw:
            errors.append(RowError(str(path), number, "(row)", _("expected a mapping")))
            continue
        try:
            st = Statement.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "milestone"
                errors.append(RowError(str(path), number, field, validation_reason(err)))
            continue
        errors += [RowError(str(path), number, f, r) for f, r in _problems(session, cat, st)]
        good.append(st)
    if errors:
        raise InputRowsError(errors)
    now = utcnow()
    session.add_all([_row(session, cat, st, "import", now) for st in good])
    return len(good)


def link_hosts(session: Session, system_code: str, endpoint_codes: list[str]) -> int:
    system = find_system(session, system_code)
    added = 0
    for code in endpoint_codes:
        endpoint = session.scalars(select(EndpointRow).where(EndpointRow.code == code)).first()
        if endpoint is None:
            raise SecopsError(_("no endpoint {code}").format(code=repr(code)))
        if session.get(SystemHostRow, (system.id, endpoint.id)) is None:
            session.add(SystemHostRow(system_id=system.id, endpoint_id=endpoint.id))
            added += 1
    return added


def override(session: Session, system_code: str, value: str | None, reason: str,
             at: dt.datetime | None = None) -> PlanOverrideRow:
    if value is not None and value not in DEPLOYMENT:
        raise SecopsError(_("deployment must be one of {items}").format(items=', '.join(DEPLOYMENT)))
    if not reason.strip():
        raise SecopsError(_("an override needs a reason"))
    system = find_system(session, system_code)
    row = PlanOverrideRow(system_id=system.id, value=value, reason=reason.strip(), recorded_by=officer(),
                          recorded_at=at or utcnow())
    session.add(row)
    return row
