"""Grade every agency (its whole subtree) against every target.

Counts are made per agency for its own records, then rolled up commune -> district -> province
by summing numerators and denominators; percentages are never averaged.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel

from secops.inventory.tree import AgencyNode
from secops.targets import Target, TargetPolicy

GradeStatus = Literal["met", "not_met", "not_applicable"]


class GradeCell(BaseModel):
    target_id: str
    agency_code: str
    numerator: int
    denominator: int
    unknown: int = 0
    value: float | None
    threshold: str
    comparison: str
    status: GradeStatus
    gap: int | None  # how many more records must meet the target; None when not applicable


class Counts(BaseModel):
    numerator: int = 0
    denominator: int = 0
    unknown: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(numerator=self.numerator + other.numerator, denominator=self.denominator + other.denominator,
                      unknown=self.unknown + other.unknown)


def meets(numerator: int, denominator: int, threshold: Decimal, comparison: str) -> bool:
    ratio, limit = Fraction(numerator, denominator), Fraction(threshold)
    return ratio > limit if comparison == ">" else ratio >= limit


def gap_count(numerator: int, denominator: int, threshold: Decimal, comparison: str) -> int | None:
    """Smallest n with (numerator + n) / denominator meeting the threshold; None if impossible."""
    limit = Fraction(threshold) * denominator
    needed = math.floor(limit) + 1 if comparison == ">" else math.ceil(limit)
    if needed > denominator:
        return None
    return max(0, needed - numerator)


def cell(target: Target, agency_code: str, counts: Counts) -> GradeCell:
    common = dict(target_id=target.id, agency_code=agency_code, numerator=counts.numerator,
                  denominator=counts.denominator, unknown=counts.unknown,
                  threshold=str(target.threshold), comparison=target.comparison)
    if counts.denominator == 0:
        return GradeCell(**common, value=None, status="not_applicable", gap=None)
    ok = meets(counts.numerator, counts.denominator, target.threshold, target.comparison)
    gap = 0 if ok else gap_count(counts.numerator, counts.denominator, target.threshold, target.comparison)
    return GradeCell(**common, value=counts.numerator / counts.denominator,
                     status="met" if ok else "not_met", gap=gap)


def depth_order(agencies: dict[int, AgencyNode]) -> list[AgencyNode]:
    """Agencies deepest first, so each child is summed before its parent."""
    def depth(node: AgencyNode) -> int:
        steps, current = 0, node
        while current.parent_id is not None and steps <= len(agencies):
            current, steps = agencies[current.parent_id], steps + 1
        return steps
    return sorted(agencies.values(), key=lambda n: (-depth(n), n.code))


def subtree_counts(own: dict[int, Counts], agencies: dict[int, AgencyNode]) -> dict[int, Counts]:
    total = {agency_id: Counts() + own.get(agency_id, Counts()) for agency_id in agencies}
    for node in depth_order(agencies):
        if node.parent_id is not None:
            total[node.parent_id] = total[node.parent_id] + total[node.id]
    return total


def cells_from_counts(policy: TargetPolicy, own: dict[str, dict[int, Counts]],
                      agencies: dict[int, AgencyNode]) -> list[GradeCell]:
    """One cell per target and agency, ordered by target then agency code (deterministic)."""
    cells: list[GradeCell] = []
    order = sorted(agencies, key=lambda i: agencies[i].code)
    for target in policy.targets:
        totals = subtree_counts(own.get(target.id, {}), agencies)
        cells.extend(cell(target, agencies[agency_id].code, totals[agency_id]) for agency_id in order)
    return cells
