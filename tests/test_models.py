"""Single-record invariants of the domain models."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from secops.models import Agency, Endpoint, InformationSystem, ProtectionEvidence, StaffMember


def test_mac_and_ips_are_normalised():
    e = Endpoint(code="E1", hostname="pc", ips="127.0.0.1; ::1", mac="aa-bb-cc-dd-ee-0f", owner="P")
    assert e.ips == ["127.0.0.1", "::1"] and e.mac == "AA:BB:CC:DD:EE:0F"


@pytest.mark.parametrize("hostname", ["bad\x1b[31mred", "nul\x00byte", ""])
def test_hostname_rejects_control_characters_and_empty(hostname):
    with pytest.raises(ValidationError):
        Endpoint(code="E1", hostname=hostname, owner="P")


def test_hostile_but_printable_hostname_is_kept_as_data():
    assert Endpoint(code="E1", hostname="<b>x</b>", owner="P").hostname == "<b>x</b>"


@pytest.mark.parametrize("fields,message", [
    ({"state": "plan_deployed", "approval_decision": "1/QĐ", "approval_date": dt.date(2025, 1, 1)},
     "requires an approved level"),
    ({"state": "level_approved", "level": 2}, "requires approval_decision and approval_date"),
    # Register (issue 8): `level` is the approved level; an unapproved dossier has a proposed one.
    ({"approval_status": "drafting", "level": 2}, "has no approved level; use proposed_level"),
    ({"state": "plan_deployed", "approval_status": "drafting"}, "contradicts approval_status"),
    ({"state": "dossier_submitted", "level": 2, "approval_decision": "9/QĐ"}, "cannot carry an approval decision"),
    ({"state": "level_approved", "level": 1, "approval_decision": "1", "approval_date": dt.date(2025, 1, 1),
      "plan_deployed_date": dt.date(2025, 2, 1)}, "plan_deployed_date given but plan_deployment is not fully_deployed"),
    ({"state": "plan_deployed", "level": 1, "approval_decision": "1", "approval_date": dt.date(2025, 3, 1),
      "plan_deployed_date": dt.date(2025, 2, 1)}, "before approval_date"),
    ({"state": "dossier_submitted", "level": 6}, "less than or equal to 5"),
])
def test_lifecycle_invariants(fields, message):
    with pytest.raises(ValidationError, match=message):
        InformationSystem(code="S", name="n", owner="P", **fields)


def test_future_dates_are_rejected():
    from secops.localtime import local_today

    tomorrow = local_today() + dt.timedelta(days=1)  # the province's tomorrow
    with pytest.raises(ValidationError, match="in the future"):
        StaffMember(code="C", agency="P", training_date=tomorrow)


def test_agency_parent_rules():
    with pytest.raises(ValidationError, match="needs a parent"):
        Agency(code="X", name="Xã", kind="commune")
    with pytest.raises(ValidationError, match="a province has no parent"):
        Agency(code="P", name="Tỉnh", kind="province", parent="Q")


def test_naive_evidence_time_is_the_provinces_local_time():
    """A time without a zone is read in the province's zone (policies/locale.yaml), not as UTC."""
    ev = ProtectionEvidence(status="protected", observed_at=dt.datetime(2026, 1, 1, 8, 0))
    assert ev.observed_at.utcoffset() == dt.timedelta(hours=7)
    assert ev.observed_at.astimezone(dt.UTC) == dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.UTC)
