"""Grading on a small hand-worked province (tests/fixtures/core): exact counts, statuses and gaps."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from secops.grade.engine import gap_count, meets
from secops.grade.record import grade_store
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.targets import load_targets

FIXTURES = Path(__file__).parent / "fixtures" / "core"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

# (target, agency) -> (numerator, denominator, unknown, status, gap), worked out by hand from the fixture.
EXPECTED = {
    ("T1", "P"): (3, 5, 0, "not_met", 1),     # ceil(0.70*5)=4 deployed needed
    ("T1", "S1"): (1, 3, 0, "not_met", 2),    # ceil(2.1)=3
    ("T1", "D1"): (2, 2, 0, "met", 0),        # district plus its commune C1
    ("T1", "C1"): (1, 1, 0, "met", 0),
    ("T1", "C2"): (0, 0, 0, "not_applicable", None),
    ("T2", "P"): (10, 16, 3, "not_met", 5),   # ceil(0.9*16)=15; unknown: stale E2, never-audited E4, future E6
    ("T2", "S1"): (1, 5, 2, "not_met", 4),    # degraded E3 and unprotected E5 are not unknown
    ("T2", "D1"): (9, 11, 1, "not_met", 1),
    ("T2", "C1"): (9, 10, 0, "met", 0),       # exactly 90% meets ">= 90%"
    ("T2", "C2"): (0, 0, 0, "not_applicable", None),
    ("T3", "P"): (2, 3, 0, "not_met", 1),     # 100% target
    ("T3", "S1"): (0, 1, 0, "not_met", 1),
    ("T3", "D1"): (1, 1, 0, "met", 0),
    ("T4", "P"): (12, 14, 0, "not_met", 1),   # floor(12.6)+1=13
    ("T4", "C1"): (9, 10, 0, "not_met", 1),   # exactly 90% does NOT meet "> 90%"
    ("T4", "D1"): (9, 10, 0, "not_met", 1),
    ("T4", "C2"): (0, 0, 0, "not_applicable", None),
    ("T5", "P"): (10, 14, 0, "not_met", 2),   # ceil(11.2)=12
    ("T5", "S1"): (1, 3, 0, "not_met", 2),
    ("T5", "C1"): (8, 10, 0, "met", 0),       # exactly 80% meets ">= 80%"
}


@pytest.fixture
def small_db(db):
    import_files(db, [FIXTURES / "small.yaml", FIXTURES / "endpoints.csv", FIXTURES / "staff.csv"],
                 load_levels(POLICIES), today=dt.date(2026, 11, 20))
    return db


def cells_by_key(cells):
    return {(c.target_id, c.agency_code): c for c in cells}


def test_hand_worked_fixture(small_db):
    cells = cells_by_key(grade_store(small_db, load_targets(POLICIES), AS_OF))
    assert len(cells) == 5 * 5
    for key, (num, den, unknown, status, gap) in EXPECTED.items():
        c = cells[key]
        assert (c.numerator, c.denominator, c.unknown, c.status, c.gap) == (num, den, unknown, status, gap), key
    assert cells[("T2", "C2")].value is None  # never "100%" for an empty denominator


def test_rollup_sums_counts_not_percentages(small_db):
    cells = cells_by_key(grade_store(small_db, load_targets(POLICIES), AS_OF))
    for target in ("T1", "T2", "T3", "T4", "T5"):
        province = cells[(target, "P")]
        children = [cells[(target, code)] for code in ("S1", "D1")]
        own_province = {"T3": 1, "T4": 1, "T5": 1}.get(target, 0)  # H0 sits directly in the province
        assert province.denominator == sum(c.denominator for c in children) + own_province


def test_stale_evidence_becomes_fresh_when_as_of_moves_back(small_db):
    # As of 2026-11-05, E2's evidence (2026-11-01) is 4 days old: protected; E1's (11-19) is in the future.
    cells = cells_by_key(grade_store(small_db, load_targets(POLICIES), dt.datetime(2026, 11, 5, tzinfo=dt.UTC)))
    s1 = cells[("T2", "S1")]
    assert (s1.numerator, s1.unknown) == (1, 4)  # E2 protected; E1, E3, E5 (all later) and E4 (none) unknown


def test_thresholds_come_from_policy_data(small_db, tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    data = yaml.safe_load((policies / "targets.yaml").read_text(encoding="utf-8"))
    for target in data["targets"]:
        if target["id"] == "T4":
            target["comparison"] = ">="  # the same 90% now meets the target
    (policies / "targets.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cells = cells_by_key(grade_store(small_db, load_targets(policies), AS_OF))
    assert cells[("T4", "C1")].status == "met"


@pytest.mark.parametrize("num,den,threshold,comparison,ok,gap", [
    (9, 10, "0.90", ">=", True, 0),
    (9, 10, "0.90", ">", False, 1),
    (0, 3, "1.00", ">=", False, 3),
    (7, 10, "0.70", ">=", True, 0),      # 0.7 as a float would be 0.69999...; Decimal/Fraction is exact
    (69, 100, "0.70", ">=", False, 1),
    (5, 5, "1.00", ">", False, None),    # strictly over 100% can never be met
    (1, 3, "0.3333", ">=", True, 0),
])
def test_meets_and_gap(num, den, threshold, comparison, ok, gap):
    assert meets(num, den, Decimal(threshold), comparison) is ok
    assert (0 if ok else gap_count(num, den, Decimal(threshold), comparison)) == gap
