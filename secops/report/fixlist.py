"""The lists of records to fix, streamed from SQL page by page (never all records in memory).

For each target (by id), the records in its denominator that do not meet its numerator, most
urgent first: unprotected before degraded before unknown endpoints, higher-level systems first,
then by agency code and record code — the order report/data.py's reference sort gives.

Two forms of the same lists: `fix_items` yields FixItem models (the dashboard model, tests);
`target_fix_fields` yields plain tuples from the columns a fix item needs, found by an index seek
per endpoint, for `secops report`'s one pass writing fix.csv and dashboard.json (report/export.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, String, Text, case, cast, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from secops.grade.compile import compile_filter
from secops.grade.dated import UNKNOWN_STATE
from secops.grade.sources import Credits, has_distinct_on, protection_from, record_source
from secops.grade.sql import endpoint_credits, endpoint_max_age
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow
from secops.targets import Target, TargetPolicy

PAGE = 2000
PROTECTION_URGENCY = {"unprotected": 0, "degraded": 1, "unknown": 2}


class FixItem(BaseModel):
    """A record in a target's denominator that does not (yet) meet it."""

    target_id: str
    entity: str
    agency_code: str
    agency_name: str
    code: str
    label: str = Field(description="system name, endpoint hostname, or staff code")
    status: str = Field(description="lifecycle state, protection status, or missing record")
    reason: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


def _rank(entity: str, records: Any) -> ColumnElement[Any]:
    if entity == "endpoints":
        return case(*((records.c.protection == status, rank) for status, rank in PROTECTION_URGENCY.items()),
                    else_=3)
    if entity == "systems":
        return -func.coalesce(records.c.level, 0)
    return literal(0)


def _ordered(session: Session, column: ColumnElement[Any]) -> ColumnElement[Any]:
    # Python sorts strings by code point; PostgreSQL's default collation may not: ask for "C".
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def _item(target: Target, row: Any, as_of: dt.datetime, max_age: int | None) -> FixItem:
    entity = target.entity
    if entity == "systems":
        label, status, reason, detail = row.name, row.state or UNKNOWN_STATE, "", {"level": row.level}
    elif entity == "endpoints":
        prot = protection_from(row.evidence_status, row.product, row.evidence_source, row.observed_at,
                               row.evidence_detail, as_of, max_age)
        label, status, reason = row.hostname, row.protection, prot["protection_reason"]
        detail = {"ips": row.ips, "product": prot["product"], "source": prot["evidence_source"],
                  "observed_at": prot["observed_at"].isoformat() if prot["observed_at"] else None}
    else:
        label, status, reason, detail = row.code, "missing " + ", ".join(sorted(target.numerator)), "", {}
    return FixItem(target_id=target.id, entity=entity, agency_code=row.agency_code, agency_name=row.agency_name,
                   code=row.code, label=label, status=status, reason=reason, detail=detail)


def _to_fix(target: Target, records: Any, as_of: dt.datetime, agency_ids: Collection[int] | None) -> list[Any]:
    """WHERE clauses: in the target's denominator, not in its numerator (NULL-safe), in scope."""
    den = compile_filter(records.c, target.denominator, as_of)
    num = compile_filter(records.c, target.numerator, as_of)
    where = [den, case((num, 0), else_=1) == 1]
    if agency_ids is not None:
        where.append(records.c.agency_id.in_(sorted(agency_ids)))
    return where


def _fix_select(session: Session, target: Target, records: Any, columns: list[Any], as_of: dt.datetime,
                agency_ids: Collection[int] | None, limit: int | None = None, offset: int = 0) -> Select[Any]:
    agencies = AgencyRow.__table__
    return (select(*columns, agencies.c.code.label("agency_code"), agencies.c.name.label("agency_name"))
            .join(agencies, agencies.c.id == records.c.agency_id)
            .where(*_to_fix(target, records, as_of, agency_ids))
            .order_by(_rank(target.entity, records), _ordered(session, agencies.c.code),
                      _ordered(session, records.c.code))
            .limit(limit).offset(offset or None))


def target_fix_items(session: Session, target: Target, as_of: dt.datetime, max_age: int | None,
                     agency_ids: Collection[int] | None = None, limit: int | None = None,
                     credits: Credits | None = None, offset: int = 0) -> Iterator[FixItem]:
    """The target's records to fix, most urgent first; `offset`/`limit`: one page of them (the
    console's fix list reads only the page it shows)."""
    records = record_source(target.entity, as_of, max_age, credits=credits)
    stmt = _fix_select(session, target, records, [records], as_of, agency_ids, limit, offset)
    for row in session.execute(stmt.execution_options(yield_per=PAGE)):
        yield _item(target, row, as_of, max_age)


# What a fix item is made of, in FixItem's field order after target_id and entity:
# agency_code, agency_name, code, label, status, reason, detail.
FixFields = tuple[str, str, str, str, str, str, dict[str, Any]]


def fix_item(target_id: str, entity: str, fields: FixFields) -> FixItem:
    """The FixItem of one target_fix_fields tuple (agency code and name, code, label, status, reason, detail)."""
    agency_code, agency_name, code, label, status, reason, detail = fields
    return FixItem(target_id=target_id, entity=entity, agency_code=agency_code, agency_name=agency_name, code=code,
                   label=label, status=status, reason=reason, detail=detail)
FIELD_COLUMNS = {"systems": ("code", "name", "state", "level"),
                 "endpoints": ("code", "hostname", "ips", "protection", "evidence_status", "product",
                               "evidence_source", "observed_at", "evidence_detail"),
                 "staff": ("code",)}


def target_fix_fields(session: Session, target: Target, as_of: dt.datetime, max_age: int | None,
                      agency_ids: Collection[int] | None = None, credits: Credits | None = None, *,
                      limit: int | None = None, offset: int = 0) -> Iterator[FixFields]:
    """target_fix_items as tuples (FixItem(target_id, entity, *fields) is the same item): only the
    columns needed, Core rows (no ORM), the newest evidence by index seek (record_source seek=True);
    `offset`/`limit`: one page of them (the console's pages past those it keeps)."""
    entity = target.entity
    if entity == "endpoints":
        raw = endpoint_fix_rows(session, target, as_of, max_age, agency_ids, credits, limit=limit, offset=offset)
        for row in raw.rows:
            yield raw.fields(row)
        return
    records = record_source(entity, as_of, max_age, seek=True, distinct_on=has_distinct_on(session), credits=credits)
    columns = [records.c[name] for name in FIELD_COLUMNS.get(entity, ("code",))]
    stmt = _fix_select(session, target, records, columns, as_of, agency_ids, limit, offset)
    rows = session.connection().execute(stmt.execution_options(yield_per=PAGE))
    if entity == "systems":
        for code, name, state, level, agency_code, agency_name in rows:
            yield agency_code, agency_name, code, name, state or UNKNOWN_STATE, "", {"level": level}
    else:
        status = "missing " + ", ".join(sorted(target.numerator))
        for code, agency_code, agency_name in rows:
            yield agency_code, agency_name, code, code, status, "", {}


# Fetched as the driver gives them (type_coerce to String: no SQLAlchemy result processing, which
# costs more per row than the rest of the query's Python): SQLite gives JSON text and date strings,
# PostgreSQL's driver a datetime and, cast in the query, the JSON text of ips. EndpointFixRows.ips
# and .seen turn them into values, once per row where they are needed.
RAW_COLUMNS = ("ips", "observed_at")
# Where the query casts ips to text (EndpointFixRows.of_driver then reads it as text): psycopg would
# decode every row's JSON (a second of a 1M report) for the export to write it again; the json
# column's own text takes the same fast path as SQLite's.
IPS_CAST_ON = ("postgresql",)


def _processor(column: Any, dialect: Any) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> Any:
    """ips cast to text on PostgreSQL, back to a list where the row is not taken as text."""
    return None if value is None else json.loads(value)


@dataclass(frozen=True)
class EndpointFixRows:
    """An endpoint target's records to fix as driver rows, in the columns of FIELD_COLUMNS["endpoints"]
    then agency code and name, with what turns a row into the fix item's fields."""

    rows: Iterable[tuple[Any, ...]]
    ips: Callable[[Any], Any]  # the ips column's result processor (JSON text -> list on SQLite)
    seen: Callable[[Any], Any]  # observed_at's (date string -> aware datetime on SQLite)
    as_of: dt.datetime
    max_age: int | None
    sqlite: bool = False  # values come as SQLite's driver gives them (text for JSON and dates)
    ips_text: bool = False  # ips come as JSON text (SQLite; PostgreSQL, cast in the query)

    @classmethod
    def of_driver(cls, rows: Iterable[tuple[Any, ...]], dialect: Any, as_of: dt.datetime,
                  max_age: int | None) -> EndpointFixRows:
        """Rows of endpoint_fix_rows' query on this dialect, with the processors its values need."""
        cast_ips = dialect.name in IPS_CAST_ON
        ips = _json_text if cast_ips else _processor(EndpointRow.__table__.c.ips, dialect)
        return cls(rows, ips, _processor(EvidenceRow.__table__.c.observed_at, dialect), as_of, max_age,
                   dialect.name == "sqlite", cast_ips or dialect.name == "sqlite")

    def fields(self, row: tuple[Any, ...]) -> FixFields:
        """The fix item's fields of one row: what target_fix_fields yielded before the raw rows
        (SQLAlchemy-processed values through protection_from); the reference for export's fast path."""
        (code, hostname, ips, protection, ev_status, product, ev_source, observed_at, ev_detail,
         agency_code, agency_name) = row
        prot = protection_from(ev_status, product, ev_source, self.seen(observed_at), ev_detail, self.as_of,
                               self.max_age)
        seen = prot["observed_at"]
        return (agency_code, agency_name, code, hostname, protection, prot["protection_reason"],
                {"ips": self.ips(ips), "product": prot["product"], "source": prot["evidence_source"],
                 "observed_at": seen.isoformat() if seen else None})


def endpoint_fix_rows(session: Session, target: Target, as_of: dt.datetime, max_age: int | None,
                      agency_ids: Collection[int] | None = None, credits: Credits | None = None, *,
                      limit: int | None = None, offset: int = 0) -> EndpointFixRows:
    """An endpoint target's records to fix, one ordered query (the newest evidence by index seek)."""
    records = record_source("endpoints", as_of, max_age, seek=True, distinct_on=has_distinct_on(session),
                            credits=credits)
    dialect = session.get_bind().dialect
    columns = [_raw(records.c[name], name, dialect.name) for name in FIELD_COLUMNS["endpoints"]]
    stmt = _fix_select(session, target, records, columns, as_of, agency_ids, limit, offset)
    return EndpointFixRows.of_driver(session.connection().execute(stmt.execution_options(yield_per=PAGE)),
                                     dialect, as_of, max_age)


def _raw(column: Any, name: str, dialect: str) -> Any:
    if name == "ips" and dialect in IPS_CAST_ON:
        return cast(column, Text)
    return type_coerce(column, String) if name in RAW_COLUMNS else column


def fix_count(session: Session, target: Target, as_of: dt.datetime, max_age: int | None,
              agency_ids: Collection[int] | None = None, credits: Credits | None = None) -> int:
    records = record_source(target.entity, as_of, max_age, credits=credits)
    stmt = select(func.count()).select_from(records).where(*_to_fix(target, records, as_of, agency_ids))
    return int(session.scalar(stmt) or 0)


def fix_items(session: Session, policy: TargetPolicy, as_of: dt.datetime,
              agency_ids: Collection[int] | None = None) -> Iterator[FixItem]:
    """Every target's list, targets in id order; agency_ids None means every agency."""
    max_age, credits = endpoint_max_age(policy), endpoint_credits(policy)
    for target in sorted(policy.targets, key=lambda t: t.id):
        yield from target_fix_items(session, target, as_of, max_age, agency_ids, credits=credits)
