"""Compile policy filters (the language of tests/reference_grader.py's matches) into SQLAlchemy Core expressions.

The filter language: `field: value` (equals), `field: [a, b]` (one of), `{not_null: true}`,
`{is_null: true}`, `{within_days: N}` (a date no older than N days before the as-of date).
Fields are columns of the record source (grade/sources.py) found by name, so a column that a
later migration adds can be named in policies/targets.yaml without touching this module.

NULL is handled as the Python reference does: a comparison with a NULL value is false, never
unknown, because every compiled condition is used inside CASE WHEN or WHERE (both treat a NULL
condition as false) and no condition is ever negated here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, Date, DateTime, and_, false, or_, true

Columns = Any  # a FromClause's .c collection


def date_kind(column: ColumnElement[Any]) -> str | None:
    kind = column.type
    impl = getattr(kind, "impl", kind)  # TypeDecorator (UTCDateTime) -> DateTime
    if isinstance(impl, DateTime) or isinstance(kind, DateTime):
        return "datetime"
    if isinstance(impl, Date) or isinstance(kind, Date):
        return "date"
    return None


def _within_days(column: ColumnElement[Any], days: int, as_of: dt.datetime) -> ColumnElement[bool]:
    # Reference: fails when (as_of.date() - value.date()).days > days, i.e. passes from this day on.
    first_day = as_of.date() - dt.timedelta(days=days)
    kind = date_kind(column)
    if kind == "date":
        return and_(column.is_not(None), column >= first_day)
    if kind == "datetime":
        start = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
        return and_(column.is_not(None), column >= start)
    return false()  # not a date: the reference never matches either


def condition(column: ColumnElement[Any], cond: Any, as_of: dt.datetime) -> ColumnElement[bool]:
    if isinstance(cond, dict):
        parts: list[ColumnElement[bool]] = []
        if cond.get("not_null"):
            parts.append(column.is_not(None))
        if cond.get("is_null"):
            parts.append(column.is_(None))
        if "within_days" in cond:
            parts.append(_within_days(column, int(cond["within_days"]), as_of))
        return and_(true(), *parts)
    if isinstance(cond, list):
        values = [v for v in cond if v is not None]
        member = column.in_(values) if values else false()
        return or_(member, column.is_(None)) if None in cond else member
    if cond is None:
        return column.is_(None)
    return cast("ColumnElement[bool]", column == cond)


def compile_filter(columns: Columns, flt: dict[str, Any] | None, as_of: dt.datetime) -> ColumnElement[bool]:
    """AND of every field's condition; an empty filter matches every record."""
    parts = []
    for field, cond in (flt or {}).items():
        column = columns.get(field)
        if column is None:
            raise KeyError(f"filter names {field!r}, which is not a column of the records graded")
        parts.append(condition(column, cond, as_of))
    return and_(true(), *parts)

