"""The catalogue's level-1 checklist against a hand-checked table of TCVN 14423:2026 level 1.

tests/fixtures/requirements/tcvn14423_level1.csv holds, row by row, the standard's level-1
requirements as the public summary's level-1 checklist lists them (docs/03-yeu-cau-theo-cap-do/
checklist-cap-1.md: 111 rows in 15 groups, 3.1-3.15, citing 42 distinct clauses), with the clause and
the frequency typed by hand from that table; the restore test, part of row 3.11.2.1 a), is its own
row (112). The checklist a system of level 1 gets must be exactly that table, in that order.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from secops.requirements.catalogue import by_id, load_catalogue
from secops.requirements.checklist import checklist
from secops.store.db import Database
from secops.store.tables import AgencyRow, SystemRow

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "requirements" / "tcvn14423_level1.csv"
AS_OF = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _table() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_fixture_is_the_summary_table():
    rows = _table()
    assert len(rows) == 112  # 111 rows of the summary + the restore test split out of 3.11.2.1 a)
    assert len({r["clause"].split(" ")[0] for r in rows}) == 42
    groups = sorted({".".join(r["clause"].split(" ")[0].split(".")[:2]) for r in rows},
                    key=lambda g: int(g.split(".")[1]))
    assert groups == [f"3.{n}" for n in range(1, 16)]


def test_level1_checklist_equals_the_hand_checked_table(db: Database):
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    with db.session() as s:
        agency = AgencyRow(code="S", name="Sở", kind="department")
        s.add(agency)
        s.flush()
        system = SystemRow(code="HT1", name="Hệ thống cấp 1", agency_id=agency.id, level=1, state="level_approved")
        s.add(system)
        s.flush()
        entries = checklist(s, system, cat, AS_OF)
    got = [(e.clause, e.item.id, e.item.text.vi, str(e.interval_months or "")) for e in entries]
    want = [(r["clause"], r["item"], r["title"], r["frequency_months"]) for r in _table()]
    for n, (g, w) in enumerate(zip(got, want, strict=False), start=1):
        assert g == w, f"row {n}"
    assert len(got) == len(want)
    assert all(e.clause_checked for e in entries)  # every level-1 clause was checked against the source
    assert len({e.group.id for e in entries}) == 15  # monitoring, secure development, pentest start at 3


def test_eighteen_groups_and_no_inheritance_between_levels():
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    assert len(cat.groups) == 18
    names = {g.id for g in cat.groups}
    assert {"information_assets", "hardware_assets", "software_assets"} <= names
    # Outsourced software is a level-2 item of x.3 only; from level 3 it belongs to secure development.
    assert [lvl for lvl in range(1, 6) if cat.item("R26-SW-OUTSOURCED").applies(lvl)] == [2]
    assert all(i.levels for i in cat.all_items())  # every item lists its own levels


@pytest.mark.parametrize(("item", "clauses"), [
    ("R26-NET-VPN", {1: "3.12.2.5"}),
    ("R26-BACKUP-RESTORE-TEST", {1: "3.11.2.1 a)", 4: "6.11.2.5", 5: "7.11.2.5"}),
    ("R26-PENTEST-INTERNAL", {3: "5.18.2.1 b)", 4: "6.18.2.5 a)", 5: "7.18.2.5 a)"}),
    ("R26-IR-DRILL", {3: "5.16.1", 4: "6.17.2.6", 5: "7.17.2.6"}),
    ("R26-PEOPLE-AWARENESS", {1: "3.13.2.2 b)", 3: "5.14.2.2 d)", 4: "6.14.2.2 e)"}),
    # letters that move at level 2 (the summary's level-2 checklist)
    ("R26-IR-CONTACT", {1: "3.15.2.1 b)", 2: "4.15.2.1 c)"}),
    ("R26-NET-INBOUND", {1: "3.12.2.4 c)", 2: "4.12.2.4 b)"}),
    ("R26-CONFIG-REVIEW", {1: "3.5.2.1 c)", 2: "4.5.2.1 d)"}),
    ("R26-INFO-REQUESTS", {1: "3.4.2.1 b)", 2: "4.4.2.1 c)"}),
])

def test_corrected_clause_numbers(item, clauses):
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    assert {lvl: cat.clause(cat.item(item), lvl) for lvl in clauses} == clauses


def test_levels_1_and_2_are_checked_row_by_row_and_the_rest_marked_to_verify():
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    assert all(i.clause_checked(2) for i in cat.applicable(2))
    contact = cat.item("R26-IR-CONTACT")  # level 3 takes level 2's letter under level 3's group number
    assert cat.clause(contact, 3) == "5.16.2.1 c)" and not contact.clause_checked(3)


# Every timed activity of the summary's matrix (section 2.1) with its frequency per level, in months.
TIMED = {
    "R26-RISK-REVIEW": {1: 12, 2: 12, 3: 12, 4: 12, 5: 6},
    "R26-RISK-REASSESS": {3: 12, 4: 6, 5: 6},
    "R26-RISK-CONTROL-EFFECTIVENESS": {3: 12, 4: 6, 5: 6},
    "R26-ASSET-HW-INVENTORY": {1: 12, 2: 12, 3: 12, 4: 12, 5: 6},
    "R26-ASSET-ROGUE-DEVICE": {1: 12, 2: 12, 3: 6, 4: 3, 5: 1},
    "R26-HW-DISCOVERY-SCAN": {4: 3, 5: 1},
    "R26-HW-DHCP-LOG": {3: 6, 4: 3, 5: 1},
    "R26-ASSET-SW-INVENTORY": {1: 12, 2: 12, 3: 12, 4: 12, 5: 6},
    "R26-SW-WHITELIST-REVIEW": {3: 12, 4: 12, 5: 6},
    "R26-SW-EOL-REVIEW": {4: 12, 5: 6},
    "R26-ASSET-SW-UNAUTHORISED": {1: 12, 2: 12, 3: 12, 4: 6, 5: 1},
    "R26-INFO-PERMISSION-CHECK": {1: 12, 2: 12, 3: 6, 4: 3, 5: 1},
    "R26-INFO-PROCESS-REVIEW": {1: 12, 2: 12, 3: 12, 4: 12, 5: 6},
    "R26-INFO-LIST-UPDATE": {1: 12, 2: 12, 3: 12, 4: 12, 5: 6},
    "R26-INFO-ACCESS-LOG-REVIEW": {4: 3, 5: 1},
    "R26-ACCOUNT-REVIEW": {1: 12, 2: 12, 3: 6, 4: 3, 5: 1},
    "R26-ACCESS-PROVISIONING-REVIEW": {4: 12, 5: 6},
    "R26-ACCOUNT-ADMIN-PASSWORD-AGE": {1: 2, 2: 2, 3: 2, 4: 2, 5: 2},
    "R26-VULN-SCAN": {1: 12, 2: 12, 3: 6, 4: 6, 5: 3},
    "R26-VULN-SCAN-CRITICAL": {4: 3, 5: 1},
    "R26-VULN-PATCH-USER": {1: 1, 2: 1, 3: 1, 4: 1, 5: 1},
    "R26-LOG-REVIEW": {1: 12, 2: 12, 3: 6, 4: 1, 5: 1},
    "R26-MON-TUNING": {3: 6, 4: 3, 5: 1},
    "R26-BACKUP-RESTORE-TEST": {4: 6, 5: 3},
    "R26-NET-DIAGRAM": {1: 12, 2: 12, 3: 12, 4: 6, 5: 3},
    "R26-PEOPLE-AWARENESS": {1: 12, 2: 12, 3: 12, 4: 12, 5: 12},
    "R26-PEOPLE-ROLE-TRAINING": {4: 12, 5: 12},
    "R26-SUPPLIER-LIST": {1: 12, 2: 12, 3: 12, 4: 12, 5: 12},
    "R26-IR-REPORTING-UPDATE": {1: 12, 2: 12, 3: 12, 4: 12, 5: 12},
    "R26-IR-RESPONSE-UPDATE": {1: 12, 2: 12, 3: 12, 4: 12, 5: 12},
    "R26-IR-DRILL": {4: 12, 5: 12},
    "R26-IR-THRESHOLDS": {4: 12, 5: 6},
    "R26-DEV-SBOM": {4: 3, 5: 1},
    "R26-DEV-TRAINING": {4: 12, 5: 12},
    "R26-PENTEST": {4: 12, 5: 6},
    "R26-PENTEST-INTERNAL": {4: 12, 5: 6},
}


def test_every_timed_activity_has_its_frequency():
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    assert {i: cat.item(i).frequency_months for i in TIMED} == TIMED


def test_evidence_secops_gathers_is_said_per_item():
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    assert cat.item("R26-HW-DISCOVERY-SCAN").evidence_sources == ["discovery scans"]
    assert cat.item("R26-VULN-SCAN-CRITICAL").evidence_sources == ["audit runs"]
    assert cat.item("R26-MALWARE-INSTALLED").evidence_sources == ["protection status (audit or console export)"]
    assert cat.item("R26-ACCOUNT-ADMIN-PASSWORD-AGE").evidence_sources == ["audit checks"]
    assert cat.item("R26-NET-VPN").evidence_sources == []  # the officer's documents


def test_a_level_outside_an_items_levels_is_refused(tmp_path):
    text = (ROOT / "policies" / "requirements" / "tcvn14423_2026.yaml").read_text(encoding="utf-8")
    bad = text.replace("{id: R26-SW-OUTSOURCED, levels: [2], clause: {2: \"4.3.2.3\"},",
                       "{id: R26-SW-OUTSOURCED, levels: [2], clause: {3: \"5.3.2.3\"},")
    assert bad != text
    path = tmp_path / "cat.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(Exception, match="clause given for a level where the item does not apply"):
        load_catalogue(path)
