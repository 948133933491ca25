"""Endpoint protection as the 2026 rules see it: is the product centrally managed, and does it
report to the national malware-response platform? Facts come from a console export (CSV/YAML);
a blank cell means "not known" and is stored as NULL, never as "no". All rows or none.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.errors import InputRowsError, RowError, SecopsError
from secops.i18n import _, validation_reason
from secops.requirements.tables import ProtectionManagementRow
from secops.store.tables import EndpointRow
from secops.textio import csv_records
from secops.yamlsafe import load_yaml

COLUMNS = ("endpoint", "centrally_managed", "reports_national", "console", "observed_at")
YES, NO = {"yes", "true", "1", "có", "co"}, {"no", "false", "0", "không", "khong"}


class ManagementFact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    endpoint: str = Field(min_length=1, max_length=64, description="endpoint code")
    centrally_managed: bool | None = None
    reports_national: bool | None = None
    console: str | None = Field(default=None, max_length=200)
    observed_at: dt.datetime

    @field_validator("centrally_managed", "reports_national", mode="before")
    @classmethod
    def _tristate(cls, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if not text:
            return None
        if text in YES:
            return True
        if text in NO:
            return False
        raise ValueError(_("use yes / no, or leave blank when not known"))

    @field_validator("observed_at", mode="before")
    @classmethod
    def _when(cls, value: Any) -> Any:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time(12, 0))
        if isinstance(value, str) and len(value.strip()) == 10:
            value = value.strip() + "T12:00:00"
        return value

    @field_validator("observed_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _rows(path: Path) -> list[tuple[int, Any]]:
    if path.suffix.lower() == ".csv":
        return list(csv_records(path, COLUMNS))
    data = load_yaml(path)  # bounded: size, nesting, aliases (secops/yamlsafe.py)
    if not isinstance(data, list):
        raise SecopsError(_("{path}: expected a list of endpoints").format(path=path))
    return list(enumerate(data, start=1))


def import_management(session: Session, path: Path, source: str = "import") -> int:
    errors: list[RowError] = []
    good: list[tuple[int, ManagementFact]] = []
    codes = {code: endpoint_id for code, endpoint_id in session.execute(select(EndpointRow.code, EndpointRow.id))}
    for number, raw in _rows(path):
        if not isinstance(raw, dict):
            errors.append(RowError(str(path), number, "(row)", _("expected a mapping")))
            continue
        try:
            fact = ManagementFact.model_validate(raw)
        except ValidationError as exc:
            errors += [RowError(str(path), number, ".".join(str(p) for p in e["loc"]) or "(row)",
                                validation_reason(e)) for e in exc.errors()]
            continue
        if fact.endpoint not in codes:
            errors.append(RowError(str(path), number, "endpoint", _("no endpoint {endpoint} in the inventory").format(
                                                                      endpoint=repr(fact.endpoint))))
            continue
        good.append((codes[fact.endpoint], fact))
    if errors:
        raise InputRowsError(errors)
    session.add_all([ProtectionManagementRow(endpoint_id=eid, observed_at=f.observed_at, source=source,
                                             centrally_managed=f.centrally_managed,
                                             reports_national=f.reports_national, console=f.console)
                     for eid, f in good])
    return len(good)
