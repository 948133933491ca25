"""The province's clock: the zone local times are read and shown in, and the rule for the future.

Stored times are UTC. A time a person types or a console exports without a zone is local to the
province (policies/locale.yaml, Asia/Ho_Chi_Minh by default); a time shown to a person is local,
with the zone named. Nothing observed, met or graded can lie in the future beyond a small allowance
for clocks that run fast (clock_skew_minutes).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from secops.config import bundled, policy_path
from secops.errors import SecopsError
from secops.i18n import _
from secops.policyfile import Strict, load_model

PROVINCE_ZONE = "Asia/Ho_Chi_Minh"


class LocalePolicy(Strict):
    version: int = 1
    timezone: str = Field(default=PROVINCE_ZONE, description="IANA zone of the province")
    clock_skew_minutes: int = Field(default=10, ge=0, le=24 * 60)

    @field_validator("timezone")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(_("unknown time zone {value} (an IANA name such as {province_zone})").format(
                                 value=repr(value), province_zone=PROVINCE_ZONE)) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def skew(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.clock_skew_minutes)


@lru_cache(maxsize=8)
def load_locale(policies: Path | None = None) -> LocalePolicy:
    path = policy_path(Path(policies) if policies else bundled("policies"), "locale.yaml")
    return load_model(path, LocalePolicy) if path.exists() else LocalePolicy()


def province_zone(policies: Path | None = None) -> ZoneInfo:
    return load_locale(policies).zone


def local_today(policies: Path | None = None) -> dt.date:
    return dt.datetime.now(province_zone(policies)).date()


def as_local(when: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A stored time (naive = UTC) in the province's zone."""
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(zone)


def zone_label(when: dt.datetime) -> str:
    """The zone named as people read it: "UTC+07:00 Asia/Ho_Chi_Minh"."""
    offset = when.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    name = getattr(when.tzinfo, "key", None)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}" + (f" {name}" if name else "")


def shown(when: dt.datetime | None, zone: ZoneInfo, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A stored time as a person reads it: local, with the zone named."""
    if when is None:
        return ""
    local = as_local(when, zone)
    return f"{local.strftime(fmt)} ({zone_label(local)})"


def future_reason(when: dt.datetime | dt.date, what: str, policies: Path | None = None,
                  now: dt.datetime | None = None) -> str | None:
    """Why `when` is refused as lying in the future (None when it is not): a date after the
    province's today, or a time beyond now plus the clock-skew allowance."""
    locale = load_locale(policies)
    now = now or dt.datetime.now(dt.UTC)
    if isinstance(when, dt.datetime):
        aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        if aware > now + locale.skew:
            return (_("{what} {shown} is in the future (now {shown2}; clocks may differ by {clock_skew_minutes} "
                      "minutes at most)").format(
                        what=what, shown=shown(aware, locale.zone), shown2=shown(now, locale.zone),
                        clock_skew_minutes=locale.clock_skew_minutes))
        return None
    today = as_local(now, locale.zone).date()
    if when > today:
        return _("{what} {when:%d/%m/%Y} is in the future (today is {today:%d/%m/%Y} in {timezone})").format(
                   what=what, when=when, today=today, timezone=locale.timezone)
    return None


def refuse_future(when: dt.datetime | dt.date, what: str, policies: Path | None = None) -> None:
    reason = future_reason(when, what, policies)
    if reason:
        raise SecopsError(reason)


DAY_FORMATS = "YYYY-MM-DD or DD/MM/YYYY"


def day_or_text(value: object) -> object:
    """A date typed the Vietnamese way (DD/MM/YYYY: the day always first, so never ambiguous here) as
    a date; anything else unchanged, for the model's own parsing and message."""
    if isinstance(value, str) and "/" in value:
        try:
            return dt.datetime.strptime(value.strip(), "%d/%m/%Y").date()
        except ValueError:
            raise ValueError(_("{value} is not a date: use {day_formats}").format(
                                 value=repr(value), day_formats=DAY_FORMATS)) from None
    return value
