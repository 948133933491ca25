"""The records that targets are graded on, as SQL: one subquery per entity, as of a time.

Mirrors tests/reference_grader.py (the reference) column for column: every column of the entity's table,
with dates after the as-of time read as NULL (what was not yet true then), and for endpoints the
protection derived from the newest evidence at or before the as-of time (a window function, the
same on SQLite and PostgreSQL), `unknown` when there is none or it is older than the max age.
A system's dated states (approved, fully deployed) not yet reached at the as-of time read as
they stood then (grade/dated.py). Records retired on or before the as-of day, or whose agency is,
do not count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, Table, case, func, null, or_, select, true, type_coerce

from secops.grade.compile import date_kind
from secops.grade.dated import column_then
from secops.models import ProtectionStatus
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, StaffRow, SystemRow

TABLES: dict[str, Any] = {"systems": SystemRow.__table__, "endpoints": EndpointRow.__table__,
                          "staff": StaffRow.__table__}


def known_then(column: ColumnElement[Any], as_of: dt.datetime) -> ColumnElement[Any]:
    kind = date_kind(column)
    if kind is None:
        return column
    bound: dt.date = as_of if kind == "datetime" else as_of.date()
    return type_coerce(case((column > bound, null()), else_=column), column.type)


def newest_evidence(as_of: dt.datetime) -> Subquery:
    """Per endpoint, its newest evidence observed at or before as_of (ties: the highest id)."""
    ev = EvidenceRow.__table__
    rank = func.row_number().over(partition_by=ev.c.endpoint_id, order_by=(ev.c.observed_at.desc(), ev.c.id.desc()))
    ranked = (select(ev.c.endpoint_id, ev.c.status, ev.c.product, ev.c.source, ev.c.observed_at, ev.c.detail,
                     rank.label("rn"))
              .where(ev.c.observed_at <= as_of).subquery("ranked"))
    return (select(ranked.c.endpoint_id, ranked.c.status, ranked.c.product, ranked.c.source,
                   ranked.c.observed_at, ranked.c.detail)
            .where(ranked.c.rn == 1).subquery("newest"))


def newest_id(table: Table, endpoints: Any, as_of: dt.datetime) -> ColumnElement[Any]:
    """The id of an endpoint's newest row of `table` (endpoint_id, observed_at, id) at or before
    as_of, ties to the highest id: a correlated subquery, one index seek per endpoint."""
    row = table.alias("candidate")
    return (select(row.c.id).where(row.c.endpoint_id == endpoints.c.id, row.c.observed_at <= as_of)
            .order_by(row.c.observed_at.desc(), row.c.id.desc()).limit(1).correlate(endpoints).scalar_subquery())


def has_distinct_on(session: Any) -> bool:
    """Whether the session's database takes join_newest's DISTINCT ON form (PostgreSQL)."""
    return bool(session.get_bind().dialect.name == "postgresql")


def join_newest(endpoints: Any, table: Any, as_of: dt.datetime, name: str, columns: Sequence[str], *,
                distinct_on: bool) -> tuple[Any, Any]:
    """`endpoints` LEFT JOIN each endpoint's newest row of `table` (endpoint_id, observed_at, id)
    at or before as_of, ties to the highest id; returns (the join, the joined row's columns: id,
    endpoint_id, observed_at and `columns`; DISTINCT ON sorts only those).

    distinct_on (PostgreSQL): `DISTINCT ON (endpoint_id)`, one ordered pass over the table, hash
    joined. PostgreSQL plans the portable form, `row.id = (correlated subquery)`, as a hash join
    that runs the subquery twice per endpoint: at 1M endpoints 5-6 s per query against ~1 s (a
    LATERAL seek per endpoint: 5.3 s). Elsewhere that portable form, one index seek per endpoint,
    is the fastest SQLite found (a window: 3.9 s against 1.8 s). Both choose the same row
    (tests/test_newest_join.py)."""
    if not distinct_on:
        row = table.alias(name)
        return endpoints.outerjoin(row, row.c.id == newest_id(table, endpoints, as_of)), row
    from sqlalchemy.dialects import postgresql  # 40 ms of imports that SQLite never needs

    keys = ("id", "endpoint_id", "observed_at")
    carried = [table.c[n] for n in (*keys, *(c for c in columns if c not in keys))]
    newest = (select(*carried).where(table.c.observed_at <= as_of).ext(postgresql.distinct_on(table.c.endpoint_id))
              .order_by(table.c.endpoint_id, table.c.observed_at.desc(), table.c.id.desc()).subquery(name))
    return endpoints.outerjoin(newest, newest.c.endpoint_id == endpoints.c.id), newest


def _active(table: Any, day: dt.date) -> ColumnElement[bool]:
    """Not retired on or before day (inventory/retire.py active_on); tables without retirement: all."""
    if "retired_at" not in table.c:
        return true()
    return or_(table.c.retired_at.is_(None), table.c.retired_at > day)


def _counted(stmt: Select[Any], table: Any, as_of: dt.datetime) -> Select[Any]:
    # A record counts when neither it nor its agency is retired on or before the as-of day.
    agencies = AgencyRow.__table__
    day = as_of.date()
    return stmt.join(agencies, agencies.c.id == table.c.agency_id).where(_active(table, day), _active(agencies, day))


def _then(entity: str, table: Table, column: Any, as_of: dt.datetime) -> ColumnElement[Any]:
    """A column as of the time: a date after it NULL, a dated state not yet reached (grade/dated.py)."""
    if entity == "systems" and (state := column_then(table, column.name, as_of)) is not None:
        return state
    return known_then(column, as_of)


EVIDENCE_COLUMNS = ("status", "product", "source", "detail")  # what record_source takes of the newest evidence


def record_source(entity: str, as_of: dt.datetime, max_age_days: int | None, *, seek: bool = False,
                  distinct_on: bool = False) -> Subquery:
    """seek: find each endpoint's newest evidence by join_newest (an index seek per endpoint, or
    with distinct_on PostgreSQL's DISTINCT ON) rather than the window; the same records (the
    report's fix lists use it: tests/test_report_fast.py)."""
    table: Table = TABLES[entity]
    columns: list[ColumnElement[Any]] = [_then(entity, table, c, as_of).label(c.name) for c in table.c]
    if entity != "endpoints":
        return _counted(select(*columns).select_from(table), table, as_of).subquery(entity)
    ev: Any
    if seek:
        joined, ev = join_newest(table, EvidenceRow.__table__, as_of, "newest", EVIDENCE_COLUMNS,
                                 distinct_on=distinct_on)
    else:
        ev = newest_evidence(as_of)
        joined = table.outerjoin(ev, ev.c.endpoint_id == table.c.id)
    whens: list[tuple[ColumnElement[bool], str]] = [(ev.c.endpoint_id.is_(None), ProtectionStatus.unknown.value)]
    if max_age_days is not None:
        whens.append((ev.c.observed_at < as_of - dt.timedelta(days=max_age_days), ProtectionStatus.unknown.value))
    protection = case(*whens, else_=ev.c.status)
    stmt = (select(*columns, protection.label("protection"), ev.c.status.label("evidence_status"),
                   ev.c.product.label("product"), ev.c.source.label("evidence_source"),
                   ev.c.observed_at.label("observed_at"), ev.c.detail.label("evidence_detail"))
            .select_from(joined))
    return _counted(stmt, table, as_of).subquery(entity)


def protection_from(status: str | None, product: str | None, source: str | None, observed_at: dt.datetime | None,
                    detail: str | None, as_of: dt.datetime, max_age_days: int | None) -> dict[str, Any]:
    """protection_of on plain values (the SQL grader fetches columns, not ORM rows)."""
    if status is None or observed_at is None:
        return {"protection": ProtectionStatus.unknown.value, "protection_reason": "no evidence",
                "product": None, "evidence_source": None, "observed_at": None}
    base = {"product": product, "evidence_source": source, "observed_at": observed_at, "protection": status,
            "protection_reason": detail or ""}
    if max_age_days is not None and as_of - observed_at > dt.timedelta(days=max_age_days):
        age = (as_of - observed_at).days
        base.update(protection=ProtectionStatus.unknown.value,
                    protection_reason=f"evidence too old: {age} days (max {max_age_days}), was {status}")
    return base
