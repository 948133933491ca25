"""The requirements stage: each checklist's roll-up into the register, as `secops requirements
apply` does, inside a job (before `grade`, so T1 and Form 08 read the night's audits)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.errors import SecopsError
from secops.i18n import _
from secops.inventory.retire import active_subtree
from secops.requirements.register_link import apply_rollup
from secops.stages import StageContext, StageOptions, StageResult
from secops.store.tables import AgencyRow, RunRow, SystemRow

MAX_LISTED = 100  # changes named in the stage's summary; the count is always whole


def run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    db = app_state.db()
    with db.session() as session:
        run = session.get(RunRow, run_id)
        assert run is not None, f"run {run_id} vanished"
        as_of = run.as_of or run.started_at
    with db.session() as session:
        codes = _agency_systems(session, options.agency_code) if options.agency_code else None
        changes = apply_rollup(session, app_state.settings.policies, as_of, codes)
    listed = [f"{c.code}: {c.old} -> {c.new}" for c in changes[:MAX_LISTED]]
    return StageResult(stage="requirements", summary={"changed": len(changes), "changes": listed})


def _agency_systems(session: Session, agency_code: str) -> set[str]:
    root = session.scalar(select(AgencyRow.id).where(AgencyRow.code == agency_code))
    if root is None:
        raise SecopsError(_("agency {agency_code} is not in the inventory").format(
                              agency_code=repr(agency_code)))
    ids = active_subtree(session, root)
    return set(session.scalars(select(SystemRow.code).where(SystemRow.agency_id.in_(ids))))
