"""The report stage: write the dashboard of the run into options.report_dir."""

from __future__ import annotations

from secops.report.publish import publish
from secops.stages import StageContext, StageOptions, StageResult


def run_stage(app_state: StageContext, run_id: int, options: StageOptions) -> StageResult:
    folder = options.report_dir or app_state.settings.output
    _, files = publish(app_state.db(), app_state.settings, folder, run_id=run_id, lang=options.lang,
                       agency_code=options.agency_code)
    return StageResult(stage="report", summary={"folder": str(folder), "files": sorted(files)})
