"""Requirement catalogues: validation, applicable items per level (hand-worked), clause numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from secops.errors import SecopsError
from secops.evaluate.sca_load import load_packs
from secops.requirements.catalogue import by_id, in_force, load_all, load_catalogue

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

# Worked by hand from policies/requirements/tcvn14423_2026.yaml: the items each level adds.
NEW_AT_14423 = {
    1: {"R26-RISK-PROCESS", "R26-ASSET-HW-INVENTORY", "R26-ASSET-ROGUE-DEVICE", "R26-ASSET-SW-INVENTORY",
        "R26-ASSET-SW-UNAUTHORISED", "R26-CONFIG-BASELINE", "R26-CONFIG-SESSION-LOCK", "R26-CONFIG-LOGIN-LOCKOUT",
        "R26-ACCOUNT-INACTIVE", "R26-ACCOUNT-MFA", "R26-ACCOUNT-REVIEW", "R26-VULN-SCAN", "R26-VULN-PATCH-USER",
        "R26-LOG-TIMESYNC", "R26-LOG-REVIEW", "R26-WEB-MAIL-FILTER", "R26-MALWARE-REALTIME", "R26-BACKUP-POLICY",
        "R26-BACKUP-RESTORE-TEST", "R26-NET-DIAGRAM", "R26-NET-PERIMETER", "R26-PEOPLE-AWARENESS",
        "R26-SUPPLIER-LIST", "R26-IR-PLAN"},
    2: {"R26-LOG-RETENTION", "R26-NET-ZONES"},
    3: {"R26-RISK-REASSESS", "R26-VULN-PATCH-SERVER", "R26-LOG-SIEM", "R26-MALWARE-EDR", "R26-MON-TUNING",
        "R26-IR-DRILL", "R26-DEV-SDLC", "R26-PENTEST"},
    4: {"R26-ACCOUNT-PAM", "R26-MALWARE-CENTRAL", "R26-MON-247", "R26-PEOPLE-ROLE-TRAINING", "R26-DEV-SBOM"},
    5: set(),
}
COUNTS_14423 = {1: 24, 2: 26, 3: 34, 4: 39, 5: 39}
COUNTS_11930 = {1: 9, 2: 15, 3: 16, 4: 16, 5: 16}


def test_catalogues_validate_and_are_ordered_by_date():
    cats = load_all(POLICIES)
    assert [c.standard.id for c in cats] == ["TCVN-11930-2017", "TCVN-14423-2026"]


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_applicable_items_per_level_match_the_hand_worked_table(level):
    cat = by_id(POLICIES, "TCVN-14423-2026")
    expected = set().union(*(NEW_AT_14423[n] for n in range(1, level + 1)))
    assert {i.id for i in cat.applicable(level)} == expected
    assert len(expected) == COUNTS_14423[level]
    old = by_id(POLICIES, "TCVN-11930-2017")
    assert len(old.applicable(level)) == COUNTS_11930[level]


def test_frequencies_and_minimums_from_the_standard():
    cat = by_id(POLICIES, "TCVN-14423-2026")
    rogue = cat.item("R26-ASSET-ROGUE-DEVICE")
    assert rogue.frequency_months == {1: 12, 2: 12, 3: 6, 4: 3, 5: 1}
    assert cat.item("R26-VULN-SCAN").frequency_months == {1: 12, 2: 12, 3: 6, 4: 6, 5: 3}
    retention = cat.item("R26-LOG-RETENTION")
    assert retention.minimum_months == {2: 1, 3: 3, 4: 6, 5: 12}
    assert retention.checks_for(3) == ["secops_level_linux:9807", "secops_level_windows:9904"]
    assert not retention.applies(1)


def test_clause_numbers_follow_the_level_chapter():
    cat = by_id(POLICIES, "TCVN-14423-2026")
    scan = cat.item("R26-VULN-SCAN")
    assert [cat.clause(scan, lvl) for lvl in (1, 3, 5)] == ["3.7.2.1", "5.7.2.1", "7.7.2.1"]
    ir = cat.item("R26-IR-PLAN")
    assert [cat.clause(ir, lvl) for lvl in (2, 3, 4)] == ["4.15", "5.16", "6.17"]


def test_standard_in_force_by_date():
    assert in_force(POLICIES, dt.date(2026, 8, 18)).standard.id == "TCVN-11930-2017"
    assert in_force(POLICIES, dt.date(2026, 8, 19)).standard.id == "TCVN-14423-2026"


def test_every_automated_check_exists_and_serves_its_item():
    packs = {}
    for policy in load_packs(ROOT / "checks"):
        packs[policy.id] = {str(c.id): c for c in policy.checks}
    for cat in load_all(POLICIES):
        for item in cat.all_items():
            refs = item.automated + [r for rs in item.automated_by_level.values() for r in rs]
            for ref in refs:
                if ref.startswith("run:"):
                    continue
                policy_id, check_id = ref.split(":")
                check = packs[policy_id][check_id]
                assert item.id in check.secops.serves, (item.id, ref)


def test_bad_catalogue_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (POLICIES / "requirements" / "tcvn14423_2026.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("frequency_months: {1: 12, 2: 12, 3: 6, 4: 3, 5: 1}",
                                "frequency_months: {1: 12, 2: 12, 3: 6, 4: 3, 6: 1}"), encoding="utf-8")
    with pytest.raises(SecopsError) as err:
        load_catalogue(bad)
    assert str(bad) in str(err.value) and "frequency_months" in str(err.value)
