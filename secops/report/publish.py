"""Build the dashboard of a run and write it (HTML, JSON, CSV) into a folder."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import configure_mappers

from secops.config import Settings
from secops.errors import SecopsError
from secops.grade.sql import endpoint_credits, endpoint_max_age
from secops.i18n import _
from secops.localtime import load_locale
from secops.report.data import FIX_PREVIEW, Dashboard, build_dashboard, latest_grade_run, scope_ids, scope_tree
from secops.report.export import FORMATS, FixExports, write_report
from secops.report.fixlist import endpoint_fix_rows, target_fix_fields
from secops.report.lineage import add_lineage
from secops.report.sections import add_sections, load_providers
from secops.store.db import Database
from secops.store.tables import GradeRow, RunRow
from secops.targets import load_targets


def dashboard_for(db: Database, settings: Settings, run_id: int | None = None, lang: str = "vi",
                  agency_code: str | None = None, *, summary_only: bool = False, with_fix: bool = True,
                  with_sections: bool = True) -> Dashboard:
    """The run's dashboard; summary_only: its stored figures only (no fix lists, no sections);
    with_fix False: no fix lists (publish fills them in its one pass over the records);
    with_sections False: no sections (publish reads them beside that pass: section_reader)."""
    policy = load_targets(settings.policies)
    with db.session() as session:
        run = session.get(RunRow, run_id) if run_id is not None else latest_grade_run(session)
        if run is None:
            raise SecopsError(_("run {run_id} does not exist").format(run_id=run_id))
        if run_id is not None and session.scalar(select(GradeRow.id).where(GradeRow.run_id == run.id).limit(1)) is None:
            # A discovery or audit run, or a grade that failed: there are no figures to publish, and
            # the reports already written stay as they are.
            raise SecopsError(_("run {id} ({kind}, {status}) holds no grades, so it has no report; nothing was "
                                "written. `secops runs list` shows the graded runs; `secops report` publishes the "
                                "newest").format(id=run.id, kind=run.kind, status=run.status))
        dashboard = build_dashboard(session, policy, run, lang, agency_code,
                                    with_fix=with_fix and not summary_only)
        dashboard.timezone = load_locale(settings.policies).timezone
        add_lineage(session, dashboard, settings)
        if not summary_only and with_sections:
            add_sections(session, dashboard, settings)
    return dashboard


def section_reader(db: Database, settings: Settings, dashboard: Dashboard, pool: Executor
                   ) -> Callable[[], dict[str, Any]]:
    """The dashboard's sections read on the pool (a session of its own, on a copy of the dashboard
    as it is now: without fix lists, as dashboard_for gives them to the providers); the returned
    function waits for them. Their SQL (protection_2026's count over every endpoint) runs while
    publish's fix pass runs its own: SQLite and PostgreSQL drivers release the GIL in a query."""
    snapshot = dashboard.model_copy(deep=True)
    # Imports and ORM mapper configuration are not for two threads at once: both done here first.
    providers = load_providers()
    configure_mappers()

    def read() -> dict[str, Any]:
        with db.session() as session:
            add_sections(session, snapshot, settings, providers)
        return snapshot.sections

    return pool.submit(read).result


def fix_pass(db: Database, settings: Settings, dashboard: Dashboard, agency_code: str | None
             ) -> Callable[[FixExports], None]:
    """Every target's records to fix (targets in id order), one query each, into the exports;
    the exports keep the dashboard's preview (FIX_PREVIEW endpoints per target) and counts."""
    def run_pass(exports: FixExports) -> None:
        policy = load_targets(settings.policies)
        as_of = dashboard.run.as_of
        assert as_of is not None
        max_age, credits = endpoint_max_age(policy), endpoint_credits(policy)
        with db.session() as session:
            run = session.get(RunRow, dashboard.run.id)
            assert run is not None
            all_agencies, tree, _ = scope_tree(session, run, agency_code)
            in_scope = scope_ids(all_agencies, tree)
            for target in sorted(policy.targets, key=lambda t: t.id):
                if target.entity == "endpoints":
                    exports.add_endpoints(target.id, endpoint_fix_rows(session, target, as_of, max_age, in_scope,
                                                                           credits), FIX_PREVIEW)
                else:
                    exports.add_target(target.id, target.entity,
                                       target_fix_fields(session, target, as_of, max_age, in_scope, credits), None)
    return run_pass


def publish(db: Database, settings: Settings, folder: Path, *, run_id: int | None = None, lang: str = "vi",
            agency_code: str | None = None, formats: tuple[str, ...] = FORMATS) -> tuple[Dashboard, dict[str, Path]]:
    """The dashboard is built without fix lists and sections; one pass over the records to fix
    writes dashboard.json and fix.csv and gives it its preview and counts while a second thread
    reads the sections, then the HTML is rendered."""
    dashboard = dashboard_for(db, settings, run_id, lang, agency_code, with_fix=False, with_sections=False)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="secops-report-sections") as pool:
        sections = section_reader(db, settings, dashboard, pool)
        return dashboard, write_report(dashboard, folder, settings.reports, formats,
                                       fix_pass(db, settings, dashboard, agency_code), sections)
