"""Evaluate a policy filter (field -> condition) against one flat record."""

from __future__ import annotations

import datetime as dt
from typing import Any


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def condition_holds(value: Any, cond: Any, as_of: dt.date) -> bool:
    if isinstance(cond, dict):
        if cond.get("not_null") and value is None:
            return False
        if cond.get("is_null") and value is not None:
            return False
        if "within_days" in cond:
            day = _as_date(value)
            if day is None or (as_of - day).days > int(cond["within_days"]):
                return False
        return True
    if isinstance(cond, list):
        return value in cond
    return value == cond


def matches(record: dict[str, Any], flt: dict[str, Any] | None, as_of: dt.date) -> bool:
    return all(condition_holds(record.get(field), cond, as_of) for field, cond in (flt or {}).items())
