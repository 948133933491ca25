"""States dated by the event that reached them: what a system's register said as of a past time.

The store keeps a system's present register state, not its history. Two states carry the date
they were reached: `approved` (approval_date) and `fully_deployed` (plan_deployed_date). Grading
as of a time before that date must not count the state: the system was not yet
approved, or not yet fully deployed, then. Which earlier state it was in is not known, so the field
reads as NULL (it satisfies no value filter, like a date after the as-of time), except where the
earlier state follows: a system approved then but deployed later was `level_approved` in the
former lifecycle `state`. Facts of the approval itself (the approved `level`, `approved_by`) were
not true before it either. A state with no date keeps its present value: nothing says when it
was reached.

One table of rules, read by the SQL grader (`sources.py`) and the Python reference (`facts.py`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal, null, type_coerce

# Shown for a state the store cannot give as of the time (report: "state_unknown").
UNKNOWN_STATE = "unknown"

# Each event: the state column and value it reached, and the date column that says when.
EVENTS: dict[str, tuple[str, str, str]] = {
    "approved": ("approval_status", "approved", "approval_date"),
    "deployed": ("plan_deployment", "fully_deployed", "plan_deployed_date"),
}

# Per systems column, in order: (event that had not happened yet, the value then; None = NULL).
THEN: dict[str, list[tuple[str, str | None]]] = {
    "approval_status": [("approved", None)],
    "level": [("approved", None)],
    "approved_by": [("approved", None)],
    "plan_deployment": [("deployed", None)],
    "state": [("approved", None), ("deployed", "level_approved")],
}


def _later(record: dict[str, Any], event: str, day: dt.date) -> bool:
    column, value, date_column = EVENTS[event]
    reached = record.get(date_column)
    return record.get(column) == value and reached is not None and reached > day


def record_then(record: dict[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    """A system's record (present values, dates not yet nulled) as its register stood at as_of."""
    day = as_of.date()
    later = {event: _later(record, event, day) for event in EVENTS}
    out = dict(record)
    for column, rules in THEN.items():
        for event, value in rules:
            if column in out and later[event]:
                out[column] = value
                break
    return out


def column_then(table: Any, name: str, as_of: dt.datetime) -> ColumnElement[Any] | None:
    """The SQL of record_then for one column of the systems table, or None when it is not dated."""
    rules = THEN.get(name)
    if rules is None:
        return None
    day = as_of.date()
    whens = []
    for event, value in rules:
        column, reached, date_column = EVENTS[event]
        happened_later = and_(table.c[column] == reached, table.c[date_column].is_not(None),
                              table.c[date_column] > day)
        whens.append((happened_later, null() if value is None else literal(value)))
    return type_coerce(case(*whens, else_=table.c[name]), table.c[name].type)
