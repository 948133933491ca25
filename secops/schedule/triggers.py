"""Cron expressions and fixed intervals as APScheduler triggers.

Cron takes the standard 5 fields (minute hour day month weekday) or 6 with seconds first
(second minute hour day month weekday). Weekday numbers follow crontab (0 or 7 = Sunday):
APScheduler 3 numbers Monday as 0, so numeric weekdays are rewritten as day names here.
"""

from __future__ import annotations

import datetime as dt
import re

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from secops.errors import SecopsError
from secops.i18n import _

DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_NUMERIC_DOW = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")


def _weekday_item(item: str) -> str:
    match = _NUMERIC_DOW.match(item)
    if not match:
        return item  # names (mon-fri), or something APScheduler will judge
    base, step = match.group(1), int(match.group(2) or 1)
    if base == "*":
        if step == 1:
            return "*"
        first, last = 0, 6
    elif "-" in base:
        first, last = (int(p) for p in base.split("-"))
    else:
        first = last = int(base)
    if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last) or step < 1:
        raise ValueError(_("weekday {item}: use 0-7 (0 and 7 are Sunday) or names").format(item=repr(item)))
    if match.group(2) is None and first == last:
        return DAY_NAMES[first]
    return ",".join(dict.fromkeys(DAY_NAMES[d] for d in range(first, last + 1, step)))


def crontab_weekday(field: str) -> str:
    return ",".join(_weekday_item(item) for item in field.split(","))


def cron_trigger(expr: str, timezone: str | None = None) -> CronTrigger:
    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise SecopsError(_("--cron {expr}: expected 5 fields (minute hour day month weekday) or 6 with seconds "
                            "first").format(expr=repr(expr)))
    second, minute, hour, day, month, weekday = fields
    try:
        trigger = CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                              day_of_week=crontab_weekday(weekday), timezone=timezone)
    except (ValueError, LookupError) as exc:
        raise SecopsError(f"--cron {expr!r}: {exc}") from exc
    # 30 February, 31 April...: a valid-looking expression that would silently never run.
    if trigger.get_next_fire_time(None, dt.datetime.now(trigger.timezone)) is None:
        raise SecopsError(_("--cron {expr}: this date never occurs (e.g. 30 February), so the job would never "
                            "run").format(expr=repr(expr)))
    return trigger


def make_trigger(cron: str | None, every_seconds: int | None, timezone: str | None = None) -> BaseTrigger:
    if (cron is None) == (every_seconds is None):
        raise SecopsError(_("give exactly one of --cron or --every"))
    if cron is not None:
        return cron_trigger(cron, timezone)
    assert every_seconds is not None
    if every_seconds < 1:
        raise SecopsError(_("--every {seconds}: must be at least 1 second").format(seconds=every_seconds))
    return IntervalTrigger(seconds=every_seconds, timezone=timezone)


def describe(cron: str | None, every_seconds: int | None) -> str:
    """The schedule as the user wrote it; also the fingerprint the daemon compares on sync."""
    return f"cron {cron}" if cron is not None else f"every {every_seconds}s"
