"""Trend points of an agency formed by a merge or split, before its effective date.

Grades recorded before a reorganisation belong to the former agencies and stay as recorded. So that
a leader sees continuity instead of a line starting from nothing, a point before the effective date
is the sum of the former agencies' recorded counts (plus the agency's own, when it existed then:
a province that absorbed another), marked `predecessors: true`. Counts are summed, never percentages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from secops.grade.engine import gap_count, meets
from secops.inventory.history import Predecessor, predecessors
from secops.store.tables import GradeRow, RunRow


@dataclass
class Lineage:
    scope: str
    links: list[Predecessor] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.links]

    @property
    def effective(self) -> dt.date | None:
        return min((p.effective_date for p in self.links), default=None)

    def point(self, run: RunRow, cells: dict[tuple[str, str], GradeRow], target: Any) -> dict[str, Any] | None:
        """The summed point of a run before the effective date; None when the recorded point applies."""
        as_of = run.as_of or run.started_at
        if self.effective is None or as_of.date() >= self.effective:
            return None
        rows = [row for code in self.codes if (row := cells.get((code, target.id))) is not None]
        if not rows:
            return None
        own = cells.get((self.scope, target.id))
        numerator = sum(r.numerator for r in rows) + (own.numerator if own else 0)
        denominator = sum(r.denominator for r in rows) + (own.denominator if own else 0)
        threshold, comparison = Decimal(str(target.threshold)), target.comparison
        if denominator == 0:
            return {"value": None, "status": "not_applicable", "numerator": 0, "denominator": 0, "gap": None,
                    "predecessors": True}
        ok = meets(numerator, denominator, threshold, comparison)
        return {"value": numerator / denominator, "status": "met" if ok else "not_met", "numerator": numerator,
                "denominator": denominator, "gap": 0 if ok else gap_count(numerator, denominator, threshold, comparison),
                "predecessors": True}

    def describe(self) -> dict[str, Any] | None:
        if not self.links:
            return None
        assert self.effective is not None
        return {"effective_date": self.effective.isoformat(),
                "agencies": [{"code": p.code, "name": p.name, "link": p.link} for p in self.links]}


def scope_lineage(session: Session, scope: str) -> Lineage:
    return Lineage(scope, predecessors(session, [scope]).get(scope, []))
