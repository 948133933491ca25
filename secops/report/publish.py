"""Build the dashboard of a run and write it (HTML, JSON, CSV) into a folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from secops.config import Settings
from secops.grade.policy import load_targets
from secops.report.data import Dashboard, FixItem, build_dashboard, latest_grade_run, scope_ids, scope_tree
from secops.report.export import FORMATS, write_outputs
from secops.report.fixlist import fix_items
from secops.report.lineage import add_lineage
from secops.report.sections import add_sections
from secops.store.db import Database
from secops.store.tables import RunRow


def dashboard_for(db: Database, settings: Settings, run_id: int | None = None, lang: str = "vi",
                  agency_code: str | None = None, *, summary_only: bool = False) -> Dashboard:
    """The run's dashboard; summary_only: its stored figures only (no fix lists, no sections)."""
    policy = load_targets(settings.policies)
    with db.session() as session:
        run = session.get(RunRow, run_id) if run_id is not None else latest_grade_run(session)
        if run is None:
            from secops.errors import SecopsError
            raise SecopsError(f"run {run_id} does not exist")
        dashboard = build_dashboard(session, policy, run, lang, agency_code, with_fix=not summary_only)
        add_lineage(session, dashboard, settings)
        if not summary_only:
            add_sections(session, dashboard, settings)
    return dashboard


def fix_stream(db: Database, settings: Settings, dashboard: Dashboard, agency_code: str | None
               ) -> Callable[[], Iterator[FixItem]]:
    """Every record to fix in the dashboard's scope, streamed from SQL (a new session per pass)."""
    def stream() -> Iterator[FixItem]:
        policy = load_targets(settings.policies)
        assert dashboard.run.as_of is not None
        with db.session() as session:
            run = session.get(RunRow, dashboard.run.id)
            assert run is not None
            all_agencies, tree, _ = scope_tree(session, run, agency_code)
            yield from fix_items(session, policy, dashboard.run.as_of, scope_ids(all_agencies, tree))
    return stream


def publish(db: Database, settings: Settings, folder: Path, *, run_id: int | None = None, lang: str = "vi",
            agency_code: str | None = None, formats: tuple[str, ...] = FORMATS) -> tuple[Dashboard, dict[str, Path]]:
    dashboard = dashboard_for(db, settings, run_id, lang, agency_code)
    return dashboard, write_outputs(dashboard, folder, settings.reports, formats,
                                    fix_stream(db, settings, dashboard, agency_code))
