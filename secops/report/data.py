"""The dashboard's data: one pydantic model that the HTML, JSON and CSV outputs all render.

Figures come from the run's stored grade rows (what was graded then); the lists of what to fix
are the records behind each not-yet-met numerator, so every figure traces to rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.errors import SecopsError
from secops.grade.engine import GradeCell
from secops.grade.sql import endpoint_credits, endpoint_max_age
from secops.i18n import _
from secops.inventory.tree import AgencyNode, find_agency, load_agencies, subtree
from secops.report.fixlist import FixItem, fix_count, target_fix_items
from secops.store.tables import GradeRow, MetaRow, RunRow
from secops.targets import TargetPolicy

SCHEMA_VERSION = 1
# Endpoint fix lists scale with the nation: the dashboard model keeps this many per target (what
# the HTML page shows); fix.csv and dashboard.json stream every one of them (report/export.py).
FIX_PREVIEW = 300


class TargetInfo(BaseModel):
    id: str
    key: str
    title: str
    label: str = ""  # short name in the report's language (the terminal's first column)
    entity: str
    comparison: str
    threshold: str
    fix: str | None = None


class AgencyGrades(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    depth: int
    cells: dict[str, GradeCell] = Field(description="target id -> grade of this agency's whole subtree")
    targets_met: int
    targets_not_met: int
    gap_total: int = Field(description="sum of gaps over targets (records to fix)")


class RunInfo(BaseModel):
    id: int
    kind: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.datetime | None
    closing: bool = Field(default=False, description="written as the run's last stage: status and finished_at are "
                                                     "those the run ends with once this report is written")


class Dashboard(BaseModel):
    schema_version: int = SCHEMA_VERSION
    generated_at: dt.datetime
    lang: str
    synthetic: bool = Field(description="true when the database holds the synthetic sample province")
    plan: str | None
    run: RunInfo
    scope: AgencyGrades
    targets: list[TargetInfo]
    agencies: list[AgencyGrades] = Field(description="the scope's subtree, parents before children")
    ranking: list[AgencyGrades] = Field(description="the scope's direct units, most targets missed first")
    fix: list[FixItem] = Field(description="records to fix, most urgent first; endpoints: the first FIX_PREVIEW "
                                           "per target in memory, every one in the written exports")
    fix_counts: dict[str, int] = Field(description="target id -> number of records to fix")
    sections: dict[str, Any] = Field(default_factory=dict, description="stage-specific sections")
    kind_labels: dict[str, str] = Field(default_factory=dict, description="agency kind -> label (agency_kinds.yaml)")
    kind_groups: list[dict[str, Any]] = Field(default_factory=list, description="kinds present, in display order")
    predecessors: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="agency code -> the agencies it was formed from (merges, splits)")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="the province's zone: times shown to people")
    stages: list[dict[str, str]] = Field(default_factory=list,
                                         description="a job run's stages and their state when the report was written")


def latest_grade_run(session: Session) -> RunRow:
    run = session.scalars(select(RunRow).where(RunRow.id.in_(select(GradeRow.run_id)))
                          .order_by(RunRow.id.desc()).limit(1)).first()
    if run is None:
        raise SecopsError(_("no graded run in this database yet: run `secops grade` first"))
    return run


def scope_tree(session: Session, run: RunRow, agency_code: str | None
               ) -> tuple[dict[int, AgencyNode], list[tuple[AgencyNode, int]], dict[str, dict[str, GradeCell]]]:
    """Agencies active at the run's as-of date, the scope's subtree shown, and the run's cells."""
    as_of = run.as_of or run.started_at
    all_agencies = load_agencies(session, as_of.date())
    # The scope is today's province (or the agency asked for), also for runs graded before a merge.
    root = find_agency(all_agencies, agency_code or find_agency(load_agencies(session), None).code)
    tree = subtree(all_agencies, root)
    # The run's cells of the subtree's agencies only (an agency's dashboard reads its own rows, not
    # the province's); the whole run's when the subtree is every agency.
    rows = select(GradeRow).where(GradeRow.run_id == run.id)
    if len(tree) < len(all_agencies):
        rows = rows.where(GradeRow.agency_code.in_(sorted({node.code for node, _ in tree})))
    cells: dict[str, dict[str, GradeCell]] = {}
    for row in session.scalars(rows):
        cells.setdefault(row.agency_code, {})[row.target_id] = GradeCell.model_validate(row, from_attributes=True)
    graded = bool(cells) or session.scalar(select(GradeRow.id).where(GradeRow.run_id == run.id).limit(1)) is not None
    if graded:  # agencies formed after this run (a later merge or split) had no grades then: not shown
        tree = [(node, depth) for node, depth in tree if depth == 0 or node.code in cells]
    return all_agencies, tree, cells


def scope_ids(all_agencies: dict[int, AgencyNode], tree: list[tuple[AgencyNode, int]]) -> set[int] | None:
    """The agency ids whose records are listed; None when that is every active agency."""
    return None if len(tree) == len(all_agencies) else {node.id for node, _ in tree}


def build_dashboard(session: Session, policy: TargetPolicy, run: RunRow, lang: str,
                    agency_code: str | None = None, *, with_fix: bool = True) -> Dashboard:
    """The run's figures from its stored grade rows; the fix lists (unless with_fix is False, as
    for the terminal summary) from SQL over the store as of the run's as-of time."""
    as_of = run.as_of or run.started_at
    all_agencies, tree, cells = scope_tree(session, run, agency_code)
    parent_code = {n.id: n.code for n in all_agencies.values()}
    agencies = [_agency_grades(node, depth, parent_code.get(node.parent_id or -1), cells.get(node.code, {}))
                for node, depth in tree]
    in_scope = scope_ids(all_agencies, tree)
    fix: list[FixItem] = []
    fix_counts: dict[str, int] = {}
    if with_fix:
        max_age, credits = endpoint_max_age(policy), endpoint_credits(policy)
        for target in sorted(policy.targets, key=lambda t: t.id):
            limit = FIX_PREVIEW if target.entity == "endpoints" else None
            fix.extend(target_fix_items(session, target, as_of, max_age, in_scope, limit, credits))
            fix_counts[target.id] = fix_count(session, target, as_of, max_age, in_scope, credits)
    meta = dict(session.execute(select(MetaRow.key, MetaRow.value)).all())
    stages = _stages(session, run.id)
    ranking = sorted((a for a in agencies if a.depth == 1), key=lambda a: (-a.targets_not_met, -a.gap_total, a.code))
    return Dashboard(
        generated_at=dt.datetime.now(dt.UTC), lang=lang, synthetic=meta.get("synthetic") == "true",
        plan=policy.plan_in(lang),
        run=_run_info(run, as_of, stages),
        scope=agencies[0], agencies=agencies, ranking=ranking,
        targets=[TargetInfo(id=t.id, key=t.key, title=t.title.get(lang), label=t.label_in(lang), entity=t.entity,
                            comparison=t.comparison,
                            threshold=str(t.threshold), fix=t.fix.get(lang) if t.fix else None)
                 for t in policy.targets],
        fix=fix, fix_counts={t.id: fix_counts.get(t.id, 0) for t in policy.targets},
        stages=stages,
    )


GOOD_STAGES = ("ok", "partial")


def _run_info(run: RunRow, as_of: dt.datetime, stages: list[dict[str, str]]) -> RunInfo:
    """The run as the report describes it. A report written as the run's last stage (the run still
    `running`, every other stage finished, this one running) describes the run as it will end
    when the report is written: its stages' outcome, not "in progress"."""
    info = RunInfo(id=run.id, kind=run.kind, status=run.status, started_at=run.started_at,
                   finished_at=run.finished_at, as_of=as_of)
    if run.status != "running" or not stages:
        return info
    running = [s for s in stages if s["status"] == "running"]
    if [s["stage"] for s in running] != ["report"] or stages[-1]["status"] != "running":
        return info
    others = [s["status"] for s in stages[:-1]]
    status = "ok" if all(s == "ok" for s in others) else "partial" if any(s in GOOD_STAGES for s in others) \
        else "failed"
    return info.model_copy(update={"status": status, "finished_at": dt.datetime.now(dt.UTC), "closing": True})


def _stages(session: Session, run_id: int) -> list[dict[str, str]]:
    # Imported here: the schedule package builds on this one.
    from secops.runs.tables import RunStageRow

    rows = session.scalars(select(RunStageRow).where(RunStageRow.run_id == run_id).order_by(RunStageRow.position))
    return [{"stage": r.stage, "status": r.status} for r in rows]


def _agency_grades(node: AgencyNode, depth: int, parent: str | None, cells: dict[str, GradeCell]) -> AgencyGrades:
    return AgencyGrades(code=node.code, name=node.name, kind=node.kind, parent=parent, depth=depth, cells=cells,
                        targets_met=sum(1 for c in cells.values() if c.status == "met"),
                        targets_not_met=sum(1 for c in cells.values() if c.status == "not_met"),
                        gap_total=sum(c.gap or 0 for c in cells.values() if c.status == "not_met"))
