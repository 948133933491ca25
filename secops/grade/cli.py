"""`secops grade`: grade the store against the policy targets and record the result as a run."""

from __future__ import annotations

import datetime as dt

import typer

from secops import interrupts
from secops.cliutil import EXIT_TARGETS_NOT_MET, console, err_console, fail, parse_as_of, state, user_errors
from secops.grade.engine import GradeCell
from secops.grade.stage import run_stage
from secops.i18n import _, doc, status_text
from secops.inventory.tree import find_agency, load_agencies
from secops.report.publish import dashboard_for
from secops.report.terminal import print_summary
from secops.runs import recorded, recorded_status
from secops.stages import StageContext, StageOptions


def exit_code(cells: list[GradeCell], fail_on_gap: bool, fail_under: float | None) -> int:
    applicable = [c for c in cells if c.status != "not_applicable"]
    if fail_on_gap and any(c.status == "not_met" for c in applicable):
        return EXIT_TARGETS_NOT_MET
    if fail_under is not None and any((c.value or 0) * 100 < fail_under for c in applicable):
        return EXIT_TARGETS_NOT_MET
    return 0


def run_grade(app_state: StageContext, as_of: dt.datetime, *, trigger: str = "manual", job_name: str | None = None,
              agency: str | None = None) -> int:
    """Grade and record; returns the run id. Used by the CLI, the demo and scheduled jobs.
    Whatever refuses the grading (no province, an unknown --agency) is the run's failure, recorded."""
    # A stop leaves no grade row (the grades are one transaction); the run says it was interrupted.
    with recorded(app_state.db(), "grade", failure="grading failed", trigger=trigger, job_name=job_name,
                  as_of=as_of) as run:
        if agency is not None:
            with app_state.db().session() as session:
                find_agency(load_agencies(session), agency)
        run_stage(app_state, run.id, StageOptions(agency_code=agency))
    return run.id


def _recorded(app_state: StageContext) -> str:
    """What the store says of the run a stop ended (a stop can also come after it was recorded ok)."""
    try:
        found = recorded_status(app_state.db(), "grade")
    except Exception as exc:  # the stop's message must still be printed
        return _("the run's state could not be read ({error})").format(error=type(exc).__name__)
    if found is None:
        return _("no run was recorded")
    return _("run {id} is recorded as {status}").format(id=found[0], status=status_text(found[1]))


@doc(_("Grade every agency against every target; record the grades as a new run."))
@user_errors
def grade_command(
    ctx: typer.Context,
    as_of: str | None = typer.Option(None, "--as-of", help=_("grade as of this date (evidence age) [default: now]")),
    agency: str | None = typer.Option(None, "--agency", help=_("show and gate on this agency's subtree")),
    lang: str = typer.Option("vi", "--lang", help=_("vi or en (target titles)")),
    fail_on_gap: bool = typer.Option(False, "--fail-on-gap", help=_("exit 1 if any target is not met")),
    fail_under: float | None = typer.Option(None, "--fail-under", min=0, max=100,
                                               help=_("exit 1 if any target's value is below this percent")),
) -> None:
    if lang not in ("vi", "en"):
        raise fail(_("--lang must be vi or en"))
    app_state = state(ctx)
    try:
        run_id = run_grade(app_state, parse_as_of(as_of), agency=agency)
    except KeyboardInterrupt as exc:
        said = _("grade {reason}; {recorded}").format(reason=interrupts.reason(exc), recorded=_recorded(app_state))
        err_console.print(said, markup=False, highlight=False)
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from exc
    # The summary reads the grade rows just stored: the data is not read a second time.
    dashboard = dashboard_for(app_state.db(), app_state.settings, run_id, lang, agency, summary_only=True)
    print_summary(console, dashboard, app_state.settings.reports)
    console.print(_("recorded as run {id}; `secops report --run {id}` writes the dashboard").format(id=run_id))
    raise typer.Exit(exit_code(list(dashboard.scope.cells.values()), fail_on_gap, fail_under))
