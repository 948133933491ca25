"""Console cell values: relative times (English and Vietnamese), locale dates, ambiguity, day counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from secops.evidence.profiles import load_profile
from secops.evidence.values import ValueProblem, parse_days, parse_when, state_of, zone

POLICIES = Path(__file__).resolve().parent.parent / "policies"
REF = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
KSC = load_profile(POLICIES, "kaspersky_ksc_devices")
DEFENDER = load_profile(POLICIES, "microsoft_defender_mpcomputerstatus")


@pytest.mark.parametrize("text,delta", [
    ("5 minutes ago", dt.timedelta(minutes=5)), ("1 hour ago", dt.timedelta(hours=1)),
    ("an hour ago", dt.timedelta(hours=1)), ("3 days ago", dt.timedelta(days=3)),
    ("2 weeks ago", dt.timedelta(days=14)), ("Just now", dt.timedelta(0)),
    ("5 phút trước", dt.timedelta(minutes=5)), ("2 ngày trước", dt.timedelta(days=2)),
    ("khoảng 3 giờ trước", dt.timedelta(hours=3)),
])
def test_relative_times_count_back_from_the_reference(text: str, delta: dt.timedelta) -> None:
    assert parse_when(text, KSC, REF) == REF - delta


def test_locale_dates_and_zone() -> None:
    tz = zone(KSC)
    # KSC's console clock is UTC+7: 7:10 local is 00:10 UTC.
    assert parse_when("11/20/2026 7:10:00 AM", KSC, REF, tz=tz) == dt.datetime(2026, 11, 20, 0, 10, tzinfo=dt.UTC)
    assert parse_when("20/11/2026 3:30:00 CH", DEFENDER, REF, tz=zone(DEFENDER)) == \
        dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.UTC)
    assert parse_when("2026-11-20T01:30:00Z", KSC, REF) == dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.UTC)
    assert parse_when("", KSC, REF) is None and parse_when("Never", KSC, REF) is None


def test_day_month_ambiguity_is_refused_unless_ordered() -> None:
    with pytest.raises(ValueProblem, match=r"ambiguous date '05/11/2026 8:00:00 AM' \(11 May 2026 or 05 Nov 2026\)"):
        parse_when("05/11/2026 8:00:00 AM", DEFENDER, REF)
    assert parse_when("05/11/2026 8:00:00 AM", DEFENDER, REF, "dmy").month == 11
    assert parse_when("05/11/2026 8:00:00 AM", DEFENDER, REF, "mdy").month == 5
    with pytest.raises(ValueProblem, match="matches none of"):
        parse_when("hôm qua", DEFENDER, REF)
    with pytest.raises(ValueProblem, match="unknown time unit"):
        parse_when("3 fortnights ago", DEFENDER, REF)


def test_days_and_states() -> None:
    spec = DEFENDER.fields["full_scan_age"]
    assert parse_days("4294967295", spec) is None and parse_days("3", spec) == 3
    with pytest.raises(ValueProblem, match="not a number of days"):
        parse_days("lots", spec)
    realtime = KSC.fields["realtime"]
    assert state_of(" Not  installed ", realtime) == "unprotected" and state_of("", realtime) is None
    with pytest.raises(ValueProblem, match=r"unknown status 'Sleeping' \(known: failed, no license"):
        state_of("Sleeping", realtime)


def test_shipped_profiles_load_and_a_bad_site_profile_names_file_and_key(tmp_path: Path) -> None:
    from secops.errors import SecopsError
    from secops.evidence.profiles import load_profiles

    names = {p.name for p in load_profiles(POLICIES)}
    assert {"kaspersky_ksc_devices", "kaspersky_ksc_report", "microsoft_defender_mpcomputerstatus",
            "microsoft_intune_antivirus", "microsoft_defender_endpoint_devices", "eset_protect_computers",
            "user_mapped"} <= names
    site = tmp_path / "evidence_profiles"
    site.mkdir()
    (site / "kaspersky_ksc_devices.yaml").write_text(
        "version: 1\ntitle: x\nfields:\n  hostname: {columns: [Name]}\n  s: {columns: [S], kind: state}\n",
        encoding="utf-8")
    with pytest.raises(SecopsError, match=r"kaspersky_ksc_devices.yaml: fields.s: a state field needs"):
        load_profiles(tmp_path)
