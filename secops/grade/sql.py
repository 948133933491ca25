"""Grade in the database: numerators, denominators and unknowns per agency by GROUP BY.

Each entity's records are read once: one aggregate query per entity carries three sums per
target (denominator, numerator, unknown) over the compiled filters. Only the counts per agency
come back to Python, where they are rolled up the agency tree by summing (grade/engine.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from secops.grade.compile import compile_filter
from secops.grade.engine import Counts, GradeCell, cells_from_counts
from secops.grade.sources import record_source
from secops.inventory.tree import load_agencies
from secops.targets import Target, TargetPolicy


def _sum_when(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _target_sums(target: Target, columns: Any, as_of: dt.datetime) -> list[ColumnElement[Any]]:
    den = compile_filter(columns, target.denominator, as_of)
    num = and_(den, compile_filter(columns, target.numerator, as_of))
    sums = [_sum_when(den), _sum_when(num)]
    if target.unknown:
        unknown = and_(den, compile_filter(columns, target.unknown, as_of))
        # CASE takes the first true branch: a record in the numerator is never also unknown.
        sums.append(func.coalesce(func.sum(case((num, 0), (unknown, 1), else_=0)), 0))
    else:
        sums.append(func.coalesce(func.sum(0), 0))
    return sums


def entity_counts(session: Session, entity: str, targets: list[Target], as_of: dt.datetime,
                  max_age_days: int | None) -> dict[str, dict[int, Counts]]:
    records = record_source(entity, as_of, max_age_days)
    sums = [s for t in targets for s in _target_sums(t, records.c, as_of)]
    stmt = select(records.c.agency_id, *sums).group_by(records.c.agency_id)
    own: dict[str, dict[int, Counts]] = {t.id: {} for t in targets}
    for row in session.execute(stmt):
        for i, target in enumerate(targets):
            den, num, unk = (int(v) for v in row[1 + 3 * i: 4 + 3 * i])
            own[target.id][row[0]] = Counts(numerator=num, denominator=den, unknown=unk)
    return own


def endpoint_max_age(policy: TargetPolicy) -> int | None:
    ages = [t.evidence_max_age_days for t in policy.targets if t.entity == "endpoints"]
    return min((a for a in ages if a is not None), default=None)


def grade_sql(session: Session, policy: TargetPolicy, as_of: dt.datetime) -> list[GradeCell]:
    """The same cells as grade.engine.grade(policy, load_facts(...)), counted by the database."""
    max_age = endpoint_max_age(policy)
    own: dict[str, dict[int, Counts]] = {}
    for entity in dict.fromkeys(t.entity for t in policy.targets):
        targets = [t for t in policy.targets if t.entity == entity]
        own.update(entity_counts(session, entity, targets, as_of, max_age))
    return cells_from_counts(policy, own, load_agencies(session, as_of.date()))
