"""Build the dashboard of a run and write it (HTML, JSON, CSV) into a folder."""

from __future__ import annotations

from pathlib import Path

from secops.config import Settings
from secops.grade.policy import load_targets
from secops.report.data import Dashboard, build_dashboard, latest_grade_run
from secops.report.export import FORMATS, write_outputs
from secops.report.lineage import add_lineage
from secops.report.sections import add_sections
from secops.store.db import Database
from secops.store.tables import RunRow


def dashboard_for(db: Database, settings: Settings, run_id: int | None = None, lang: str = "vi",
                  agency_code: str | None = None) -> Dashboard:
    policy = load_targets(settings.policies)
    with db.session() as session:
        run = session.get(RunRow, run_id) if run_id is not None else latest_grade_run(session)
        if run is None:
            from secops.errors import SecopsError
            raise SecopsError(f"run {run_id} does not exist")
        dashboard = build_dashboard(session, policy, run, lang, agency_code)
        add_lineage(session, dashboard, settings)
        add_sections(session, dashboard, settings)
    return dashboard


def publish(db: Database, settings: Settings, folder: Path, *, run_id: int | None = None, lang: str = "vi",
            agency_code: str | None = None, formats: tuple[str, ...] = FORMATS) -> tuple[Dashboard, dict[str, Path]]:
    dashboard = dashboard_for(db, settings, run_id, lang, agency_code)
    return dashboard, write_outputs(dashboard, folder, settings.reports, formats)
