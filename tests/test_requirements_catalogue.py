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

# Worked by hand from policies/requirements/tcvn14423_2026.yaml: how many items each level lists
# (each level lists its own: no level inherits another's), and items that start or stop at a level.
COUNTS_14423 = {1: 112, 2: 131, 3: 160, 4: 187, 5: 196}
ONLY_FROM = {  # item -> the levels it applies at
    "R26-RISK-PROCESS": [1, 2, 3, 4, 5], "R26-LOG-RETENTION": [2, 3, 4, 5], "R26-NET-ZONES": [2, 3, 4, 5],
    "R26-SW-OUTSOURCED": [2], "R26-LOG-SIEM": [3, 4, 5], "R26-PENTEST": [3, 4, 5], "R26-MON-TUNING": [3, 4, 5],
    "R26-ACCOUNT-PAM": [4, 5], "R26-HW-DISCOVERY-SCAN": [4, 5], "R26-MON-247": [4, 5], "R26-DEV-SBOM": [4, 5],
    "R26-HW-WIPE-VERIFY": [5], "R26-NET-ZERO-TRUST": [5],
    # level-1 items the summary's level-2 checklist has no row for: not level-2 items
    "R26-VULN-PLAN": [1, 3, 4, 5], "R26-NET-DEVICE-LOGIN": [1, 3, 4, 5],
}
COUNTS_11930 = {1: 9, 2: 15, 3: 16, 4: 16, 5: 16}


def test_catalogues_validate_and_are_ordered_by_date():
    cats = load_all(POLICIES)
    assert [c.standard.id for c in cats] == ["TCVN-11930-2017", "TCVN-14423-2026"]


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_applicable_items_per_level_match_the_hand_worked_table(level):
    cat = by_id(POLICIES, "TCVN-14423-2026")
    applicable = {i.id for i in cat.applicable(level)}
    assert len(applicable) == COUNTS_14423[level]
    assert {i for i, levels in ONLY_FROM.items() if level in levels} == applicable & set(ONLY_FROM)
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
    assert [cat.clause(scan, lvl) for lvl in (1, 3, 5)] == ["3.7.2.1 b)", "5.7.2.1 b)", "7.7.2.1 b)"]
    ir = cat.item("R26-IR-PLAN")  # "g.": the group's number, which shifts (3.15, 4.15, 5.16, 6.17, 7.17)
    assert [cat.clause(ir, lvl) for lvl in (2, 3, 4)] == ["4.15.2.2 a)", "5.16.2.2 a)", "6.17.2.2 a)"]
    # A clause checked only at level 1 is moved to the other levels' chapters, marked to verify.
    assert scan.clause_checked(3) and not scan.clause_checked(4)
    unauthorised = cat.item("R26-SW-EXCEPTIONS")
    assert cat.clause(unauthorised, 4) == "6.3.2.4 b)" and not unauthorised.clause_checked(4)
    old = by_id(POLICIES, "TCVN-11930-2017")  # chapters 5-9, as Circular 12/2022's appendices cite them
    assert [old.clause(old.item("R17-POLICY"), lvl) for lvl in (1, 5)] == ["5.1.1", "9.1.1"]


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
                if ref.startswith(("run:", "evidence:")):
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
