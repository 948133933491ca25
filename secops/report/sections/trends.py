"""Dashboard section `trends`: each target over the last N graded runs, and what changed since the
previous run (agencies that improved or slipped).

Values come from stored grade rows only, so the section of an old run shows history as it was up
to that run. Runs whose detail retention has pruned still count for the scope's own line when the
scope is the province (its rows are kept forever).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.config import Settings
from secops.report.data import Dashboard
from secops.report.sections.trend_lineage import scope_lineage
from secops.schedule.config import load_schedule_config
from secops.store.tables import GradeRow, RunRow


def _graded_runs(session: Session, codes: list[str], up_to: int, limit: int) -> list[RunRow]:
    runs = session.scalars(
        select(RunRow).where(RunRow.id <= up_to,
                             RunRow.id.in_(select(GradeRow.run_id).where(GradeRow.agency_code.in_(codes))))
        .order_by(RunRow.id.desc()).limit(limit)).all()
    return list(reversed(runs))


def _cells(session: Session, run_id: int) -> dict[tuple[str, str], GradeRow]:
    return {(g.agency_code, g.target_id): g for g in session.scalars(select(GradeRow).where(GradeRow.run_id == run_id))}


def _point(row: GradeRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"value": row.value, "status": row.status, "numerator": row.numerator, "denominator": row.denominator,
            "gap": row.gap}


def _change(agency: Any, target_id: str, before: GradeRow, after: GradeRow) -> dict[str, Any] | None:
    if before.value is None or after.value is None or before.value == after.value:
        return None
    return {"agency_code": agency.code, "agency_name": agency.name, "kind": agency.kind, "target_id": target_id,
            "before": _point(before), "after": _point(after), "delta": after.value - before.value,
            "became": after.status if after.status != before.status else None}


def _target_trend(target: Any, points: list[dict[str, Any] | None]) -> dict[str, Any]:
    """A target's points over the runs, with the move since the previous run."""
    current, previous = points[-1], (points[-2] if len(points) > 1 else None)
    delta = None
    if current and previous and current["value"] is not None and previous["value"] is not None:
        delta = current["value"] - previous["value"]
    return {"id": target.id, "title": target.title, "threshold": float(target.threshold),
            "comparison": target.comparison, "points": points, "delta": delta}


def _changes(dashboard: Dashboard, before: dict[tuple[str, str], GradeRow],
             after: dict[tuple[str, str], GradeRow]) -> list[dict[str, Any]]:
    """Every unit's move on every target between the two runs (both graded it)."""
    found = []
    for agency in dashboard.agencies[1:]:
        for target in dashboard.targets:
            key = (agency.code, target.id)
            if key in before and key in after and (change := _change(agency, target.id, before[key], after[key])):
                found.append(change)
    return found


def _order(change: dict[str, Any]) -> tuple[bool, float, str, str]:
    """A status change (met <-> not met) matters most, then the size of the move."""
    return (change["became"] is None, -abs(change["delta"]), change["agency_code"], change["target_id"])


def target_series(session: Session, dashboard: Dashboard, runs_wanted: int
                  ) -> tuple[list[RunRow], list[dict[str, Any]], dict[int, dict[tuple[str, str], GradeRow]], Any]:
    """The scope's points per target over its last `runs_wanted` graded runs up to the dashboard's run
    (a merged or split agency's earlier points summed from its predecessors): what the trends section
    draws and `/api/v1/.../trends` serves. (runs, targets, grade rows by run, lineage)."""
    scope = dashboard.scope.code
    lineage = scope_lineage(session, scope)
    runs = _graded_runs(session, [scope, *lineage.codes], dashboard.run.id, runs_wanted)
    by_run = {run.id: _cells(session, run.id) for run in runs}
    targets = [_target_trend(target, [lineage.point(run, by_run[run.id], target)
                                      or _point(by_run[run.id].get((scope, target.id))) for run in runs])
               for target in dashboard.targets] if runs else []
    return runs, targets, by_run, lineage


def trends_section(session: Session, dashboard: Dashboard, settings: Settings) -> dict[str, Any] | None:
    config = load_schedule_config(settings.policies).trends
    runs, targets, by_run, lineage = target_series(session, dashboard, config.runs)
    if len(runs) < 2:
        return None  # one run has no trend; the section appears from the second graded run on
    before, after = by_run[runs[-2].id], by_run[runs[-1].id]
    changes = _changes(dashboard, before, after)
    improved = sorted((c for c in changes if c["delta"] > 0), key=_order)
    slipped = sorted((c for c in changes if c["delta"] < 0), key=_order)
    compared = sum(1 for a in dashboard.agencies[1:] if any((a.code, t.id) in before for t in dashboard.targets))
    return {
        "runs": [{"id": r.id, "kind": r.kind, "status": r.status,
                  "as_of": (r.as_of or r.started_at).isoformat(timespec="minutes")} for r in runs],
        "targets": targets,
        "previous_run": runs[-2].id,
        "improved": improved[:config.max_changes], "improved_total": len(improved),
        "slipped": slipped[:config.max_changes], "slipped_total": len(slipped),
        "previous_detail": compared > 0 or len(dashboard.agencies) == 1,
        "predecessors": lineage.describe(),
    }
