"""Retention: keep the detail of the last N runs, summaries forever.

Kept forever: every run row and its stage rows, and the grades of the top-level agencies (the
province) and of the run's own agency, so the province's trend never loses history.
Dropped for runs older than the N most recent finished ones ("detail"):
- grade rows of every other agency;
- rows of any table that declares itself detail, i.e. has a `run_id` column and
  `info={"retention": "detail"}` in its table arguments (per-host discovery or audit results):
  a stage opts in with one line, without touching this module.
Dated report folders beyond `keep_report_folders` are deleted too, when that is set.
Protection evidence is never deleted here: grading needs the newest evidence of every endpoint.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Table, delete, select

from secops.models import RunStatus
from secops.schedule.config import RetentionConfig
from secops.store.db import Database
from secops.store.metadata import metadata
from secops.store.tables import AgencyRow, GradeRow, RunRow

log = logging.getLogger("secops.schedule")
DETAIL = "detail"
_RUN_FOLDER = re.compile(r"^\d{4}-\d\d-\d\dT\d{4}Z-run\d+$")


class PruneResult(BaseModel):
    runs: list[int] = []
    rows: dict[str, int] = {}
    folders: list[str] = []


def detail_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if t.info.get("retention") == DETAIL and "run_id" in t.c]


def prune(db: Database, config: RetentionConfig, output: Path | None = None) -> PruneResult:
    result = PruneResult()
    with db.session() as session:
        finished = session.scalars(select(RunRow).where(RunRow.status != RunStatus.running.value)
                                   .order_by(RunRow.id.desc())).all()
        roots = set(session.scalars(select(AgencyRow.code).where(AgencyRow.parent_id.is_(None))))
        for run in finished[config.keep_detail_runs:]:
            if (run.summary or {}).get("detail_pruned"):
                continue
            keep = roots | ({run.agency_code} if run.agency_code else set())
            deleted = session.execute(delete(GradeRow).where(GradeRow.run_id == run.id,
                                                             GradeRow.agency_code.not_in(keep))).rowcount  # type: ignore[attr-defined]
            result.rows["grades"] = result.rows.get("grades", 0) + deleted
            for table in detail_tables():
                count = session.execute(delete(table).where(table.c.run_id == run.id)).rowcount  # type: ignore[attr-defined]
                result.rows[table.name] = result.rows.get(table.name, 0) + count
            run.summary = {**(run.summary or {}), "detail_pruned": True}
            result.runs.append(run.id)
        doomed = _old_folders(finished, config, output)
    for folder in doomed:  # after the commit: a folder is only removed once the database agrees
        shutil.rmtree(folder, ignore_errors=True)
        result.folders.append(str(folder))
    if result.runs or result.folders:
        log.info("retention: pruned detail of runs %s, %d report folders", result.runs, len(result.folders))
    return result


def _old_folders(finished: Sequence[RunRow], config: RetentionConfig, output: Path | None) -> list[Path]:
    if config.keep_report_folders is None or output is None:
        return []
    root = output.resolve()
    with_folders = [r for r in finished if r.report_dir]
    doomed = []
    for run in with_folders[config.keep_report_folders:]:
        folder = Path(run.report_dir).resolve()  # type: ignore[arg-type]
        # Only ever delete what a job run created: <output>[/<agency>]/runs/<stamp>-run<id>.
        if folder.is_relative_to(root) and folder.parent.name == "runs" and _RUN_FOLDER.match(folder.name) \
                and folder.name.endswith(f"-run{run.id}"):
            doomed.append(folder)
            run.summary = {**(run.summary or {}), "report_pruned": run.report_dir}
            run.report_dir = None
    return doomed
