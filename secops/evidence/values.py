"""Console cell values -> facts: dates (absolute, locale, relative), day counts, state words.

Dates follow the profile's formats; a date that two formats read differently (05/11/2026: 5 Nov
or 11 May) is refused, never guessed: the officer names the order with --date-order dmy|mdy.
Relative times ("5 minutes ago", "5 phút trước") are resolved against a reference time: the
file's export time when the officer gives it (--exported-at), else the import time; the import
summary states which.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from secops.errors import SecopsError
from secops.evidence.profiles import FieldSpec, Profile
from secops.i18n import _
from secops.localtime import province_zone

NEVER_WORDS = {"never", "không bao giờ", "chưa bao giờ", "chưa", "n/a", "-", "—"}
_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "giây": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60, "phút": 60,
    "hour": 3600, "hours": 3600, "giờ": 3600, "tiếng": 3600,
    "day": 86400, "days": 86400, "ngày": 86400,
    "week": 604800, "weeks": 604800, "tuần": 604800,
    "month": 2592000, "months": 2592000, "tháng": 2592000,  # 30 days: "months ago" is coarse anyway
}
_RELATIVE = re.compile(r"^(?:(?:about|khoảng)\s+)?(\d{1,6}|an?|one)\s+([^\W\d_]+)\s+(ago|trước)$", re.IGNORECASE)
_JUST_NOW = {"just now", "now", "vừa xong", "ngay bây giờ", "less than a minute ago"}
DateOrder = str  # "dmy" | "mdy" | ""


class ValueProblem(ValueError):
    """A cell that cannot be read; the message becomes `file:row: field: message`."""


def zone(profile: Profile) -> dt.tzinfo:
    if profile.timezone is None:  # the console's clock is the province's (policies/locale.yaml)
        return province_zone()
    try:
        return ZoneInfo(profile.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SecopsError(_("profile {name}: timezone: unknown zone {timezone}").format(
                              name=profile.name, timezone=repr(profile.timezone))) from exc


def _relative(text: str, reference: dt.datetime) -> dt.datetime | None:
    lowered = " ".join(text.lower().split())
    if lowered in _JUST_NOW:
        return reference
    match = _RELATIVE.match(lowered)
    if not match:
        return None
    amount = 1 if match.group(1) in ("a", "an", "one") else int(match.group(1))
    unit = _UNITS.get(match.group(2))
    if unit is None:
        raise ValueProblem(f"unknown time unit in {text!r}")
    return reference - dt.timedelta(seconds=amount * unit)


def _order_of(fmt: str) -> str:
    day, month = fmt.find("%d"), fmt.find("%m")
    if day < 0 or month < 0:
        return ""
    return "dmy" if day < month else "mdy"


def parse_when(text: str, profile: Profile, reference: dt.datetime, date_order: DateOrder = "",
               tz: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """A UTC datetime for a cell, None for an empty or "never" cell."""
    value = " ".join(text.split())
    if not value or value.lower() in NEVER_WORDS:
        return None
    relative = _relative(value, reference)
    if relative is not None:
        return relative
    try:
        parsed = dt.datetime.fromisoformat(value)  # ISO 8601 is never ambiguous: accepted everywhere
    except ValueError:
        parsed = _by_formats(value, tuple(profile.date_formats), tuple(profile.am_pm.items()), date_order)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


@functools.lru_cache(maxsize=4096)  # exports repeat the same times many times over
def _by_formats(original: str, date_formats: tuple[str, ...], am_pm: tuple[tuple[str, str], ...],
                date_order: DateOrder) -> dt.datetime:
    value = original
    for word, replacement in am_pm:
        value = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", replacement, value)
    formats = [f for f in date_formats if not date_order or _order_of(f) in ("", date_order)]
    readings: dict[dt.datetime, str] = {}
    for fmt in formats:
        try:
            readings.setdefault(dt.datetime.strptime(value, fmt), fmt)
        except ValueError:
            continue
    if not readings:
        raise ValueProblem(f"date {original!r} matches none of {', '.join(formats) or '(no formats)'}")
    if len(readings) > 1:
        options = " or ".join(d.strftime("%d %b %Y") for d in sorted(readings))
        raise ValueProblem(f"ambiguous date {original!r} ({options}): day/month order unknown; "
                           "pass --date-order dmy or --date-order mdy")
    return next(iter(readings))


def parse_days(text: str, spec: FieldSpec) -> int | None:
    """Whole days; None means "never" (Defender's 4294967295) or an empty cell."""
    value = text.strip()
    if not value or value in spec.never or value.lower() in NEVER_WORDS:
        return None
    try:
        days = int(float(value))
    except ValueError as exc:
        raise ValueProblem(f"{value!r} is not a number of days") from exc
    if days < 0:
        raise ValueProblem(f"{value!r} is negative")
    return days


def state_of(text: str, spec: FieldSpec) -> str | None:
    """The status a state word maps to (`ignore` included); None for an empty cell."""
    value = " ".join(text.split()).lower()
    if not value:
        return None
    if value not in spec.values:
        known = ", ".join(sorted(spec.values))
        raise ValueProblem(f"unknown status {text.strip()!r} (known: {known})")
    return spec.values[value]
