"""`secops schedule ...`, `secops daemon`, `secops runs ...`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

import typer
from rich.table import Table
from rich.text import Text

from secops.cliutil import console, fail, state, user_errors
from secops.errors import SecopsError
from secops.i18n import _, doc, status_text
from secops.localtime import as_local, province_zone, zone_label
from secops.models import RunStatus
from secops.schedule.config import load_schedule_config
from secops.schedule.daemon import Daemon
from secops.schedule.history import RunInfo, list_runs, show_run
from secops.schedule.jobs import load_jobs
from secops.schedule.retention import prune
from secops.schedule.runner import run_schedule
from secops.schedule.schedules import add_schedule, list_schedules, remove_schedule
from secops.termtable import Listing, fitted_table, format_option, output_format, wide_option
from secops.textsafe import printable

schedule_app = typer.Typer(help=_("Named schedules that `secops daemon` runs (cron or fixed interval)."),
                           no_args_is_help=True)
runs_app = typer.Typer(help=_("History of runs (manual and scheduled)."), no_args_is_help=True)


def _when(value: dt.datetime | None, *, zone_named: bool = False) -> str:
    """A stored time (UTC) in the province's zone (policies/locale.yaml); `zone_named`: with its name."""
    if value is None:
        return "—"
    local = as_local(value, province_zone())
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} ({zone_label(local)})" if zone_named else text


def _zone_heading(label: str) -> str:
    """A column of local times says which zone: "started (UTC+07:00)"."""
    return f"{label} ({zone_label(dt.datetime.now(province_zone())).split()[0]})"


@schedule_app.command("add")
@user_errors
@doc(_("Add a schedule (the running daemon picks it up within its poll interval)."))
def add_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help=_("name of the schedule")),
    cron: str | None = typer.Option(None, "--cron", help=_('"min hour day month weekday", or 6 fields with seconds first')),
    every: int | None = typer.Option(None, "--every", min=1, help=_("run every SECONDS instead of a cron")),
    job: str = typer.Option("nightly", "--job", help=_("job from policies/jobs.yaml")),
    agency: str | None = typer.Option(None, "--agency", help=_("limit the run (and its reports) to this agency")),
    lang: str | None = typer.Option(None, "--lang", help=_("report language: vi or en [default: settings]")),
    replace: bool = typer.Option(False, "--replace", help=_("overwrite a schedule of that name")),
) -> None:
    if lang is not None and lang not in ("vi", "en"):
        raise fail(_("--lang must be vi or en"))
    app_state = state(ctx)
    jobs = load_jobs(app_state.settings.policies)
    add_schedule(app_state.db(), jobs, name, job=job, cron=cron, every_seconds=every, agency_code=agency,
                 options={"lang": lang} if lang else {}, replace=replace)
    when = _("cron {cron}").format(cron=cron) if cron else _("every {n}s").format(n=every)
    console.print(_("schedule {name} added: job {job}, {when}").format(name=name, job=job, when=when),
                  highlight=False, markup=False)


@schedule_app.command("list")
@user_errors
@doc(_("List schedules with their next and last run."))
def list_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=_("print JSON (--format json)")),
                 fmt: str = format_option(), wide: bool = wide_option()) -> None:
    fmt = output_format(fmt, as_json)
    rows = list_schedules(state(ctx).db())
    # At 80 columns the name never truncates; the agency and last run drop (in --format json/csv).
    listing = Listing(["name", "when", "job", "agency", "next run", "last run"], keys=["name"],
                      optional=["agency", "last run"],
                      headings=[_("name"), _("when"), _("job"), _("agency"), _zone_heading(_("next run")), _("last run")])
    for r in rows:
        last = f"#{r.last_run_id} {status_text(r.last_status or '')}" if r.last_run_id else "—"
        listing.add((r.name, r.when, r.job, r.agency_code or "—", _when(r.next_run), last), r.model_dump(mode="json"))
    listing.print(console, fmt, wide,
                  empty=_("no schedules; add one with `secops schedule add NAME --cron ... --job nightly`"))


@schedule_app.command("remove")
@user_errors
@doc(_("Remove a schedule (its past runs stay in the history)."))
def remove_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    remove_schedule(state(ctx).db(), name)
    console.print(_("schedule {name} removed").format(name=name), highlight=False, markup=False)


@schedule_app.command("enable")
@doc(_("Enable a schedule (the running daemon adds its job within its poll interval)."))
@user_errors
def enable_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    _enabled(ctx, name, True)


@schedule_app.command("disable")
@doc(_("Disable a schedule: kept, but not run (the daemon drops its job within its poll interval)."))
@user_errors
def disable_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    _enabled(ctx, name, False)


def _enabled(ctx: typer.Context, name: str, enabled: bool) -> None:
    from secops.schedule.schedules import set_enabled

    set_enabled(state(ctx).db(), name, enabled)
    done = _("schedule {name} enabled") if enabled else _("schedule {name} disabled")
    console.print(done.format(name=name), highlight=False, markup=False)


@schedule_app.command("run")
@user_errors
@doc(_("Run a schedule's job now, in the foreground. Exit 0 if the run is ok, 1 otherwise."))
def run_command(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    outcome = run_schedule(state(ctx), name, trigger="manual")
    for stage in outcome.stages:
        console.print(f"  {stage.stage}: {status_text(stage.status)}", highlight=False, markup=False)
        for error in stage.errors:
            console.print(f"    {printable(error)}", highlight=False, markup=False)
    console.print(_("run {id}: {status}").format(id=outcome.run_id, status=status_text(outcome.status)),
                  highlight=False, markup=False)
    if outcome.report_dir:
        console.print(_("reports: {folder}").format(folder=outcome.report_dir), highlight=False, markup=False)
    if outcome.latest:
        console.print(_("latest: {folder}").format(folder=outcome.latest), highlight=False, markup=False)
    raise typer.Exit(0 if outcome.status == "ok" else 1)


@doc(_("Run the scheduler in the foreground until SIGTERM/SIGINT (for systemd)."))
@user_errors
def daemon_command(
    ctx: typer.Context,
    log_level: str = typer.Option("INFO", "--log-level", help=_("DEBUG, INFO, WARNING or ERROR")),
) -> None:
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise fail(_("--log-level must be DEBUG, INFO, WARNING or ERROR"))
    logging.basicConfig(stream=sys.stderr, level=level, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    app_state = state(ctx)
    config = load_schedule_config(app_state.settings.policies)
    load_jobs(app_state.settings.policies)  # a broken jobs.yaml stops the start, not the 2 a.m. run
    raise typer.Exit(Daemon(app_state, config).run())


@runs_app.command("list")
@user_errors
@doc(_("List runs, newest first."))
def runs_list_command(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=10_000),
    schedule: str | None = typer.Option(None, "--schedule", help=_("only runs of this schedule")),
    status: str | None = typer.Option(None, "--status", help=_("ok, partial, failed, interrupted or running")),
    as_json: bool = typer.Option(False, "--json", help=_("print JSON (--format json)")),
    fmt: str = format_option(),
    wide: bool = wide_option(),
) -> None:
    fmt = output_format(fmt, as_json)
    if status is not None and status not in {s.value for s in RunStatus}:
        raise SecopsError(_("--status {value}: choose from {allowed}").format(
            value=repr(status), allowed=", ".join(s.value for s in RunStatus)))
    runs = list_runs(state(ctx).db(), limit=limit, schedule=schedule, status=status)
    # At 80 columns: schedule, trigger and reports are left to `runs show` / --format json (secops.termtable).
    listing = Listing(["id", "kind", "schedule", "trigger", "started", "took", "status", "grades", "errors", "reports"],
                      keys=["id"], optional=["schedule", "trigger", "reports"],
                      headings=[_("id"), _("kind"), _("schedule"), _("trigger"), _zone_heading(_("started")), _("took"),
                                _("status"), _("grades"), _("errors"), _("reports")])
    for r in runs:
        took = f"{r.duration:.1f}s" if r.duration is not None else "—"
        listing.add((r.id, r.kind, r.job_name or "—", r.trigger, _when(r.started_at), took, status_text(r.status),
                     r.grade_rows,
                     len(r.errors), r.report_dir or "—"), r.model_dump(mode="json"))
    listing.print(console, fmt, wide)


@runs_app.command("show")
@user_errors
@doc(_("Show one run: times, status, counts, stages, errors and where its reports are."))
def runs_show_command(ctx: typer.Context, run_id: int = typer.Argument(...),
                      as_json: bool = typer.Option(False, "--json", help=_("print JSON"))) -> None:
    info = show_run(state(ctx).db(), run_id)
    if as_json:
        print(json.dumps(info.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    _print_run(info)


def _print_run(r: RunInfo) -> None:
    labels = [_("run"), _("status"), _("started"), _("finished"), _("agency"), _("process"), _("grades"), _("counts"),
              _("reports"), _("latest")]
    width = max(10, *(len(label) for label in labels))  # the values start in one column, whatever the language

    def line(label: str, value: object) -> None:
        console.print(Text(f"{label:<{width}} {value}"))

    schedule = ", " + _("schedule {name}").format(name=r.job_name) if r.job_name else ""
    line(_("run"), f"#{r.id} ({r.kind}, {r.trigger}{schedule})")
    line(_("status"), status_text(r.status))
    line(_("started"), _when(r.started_at, zone_named=True))
    line(_("finished"), _when(r.finished_at, zone_named=True) + (f" ({r.duration:.1f}s)" if r.duration is not None else ""))
    if r.agency_code:
        line(_("agency"), r.agency_code)
    line(_("process"), _("{pid} on {host}").format(pid=r.pid or "—", host=r.summary.get("host", "—")))
    pruned = " " + _("(detail pruned by retention)") if r.summary.get("detail_pruned") else ""
    line(_("grades"), _("{n} rows").format(n=r.grade_rows) + pruned)
    counts = {k: v for k, v in r.summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if counts:
        line(_("counts"), ", ".join(f"{k}={v}" for k, v in counts.items()))
    line(_("reports"), r.report_dir or r.summary.get("report_pruned") and _("pruned by retention") or "—")
    if r.summary.get("latest"):
        line(_("latest"), r.summary["latest"])
    if r.stages:
        console.print(_stages_table(r))
    for error in r.errors:
        console.print(Text(_("error: {error}").format(error=printable(error))))


def _stages_table(r: RunInfo) -> Table:
    table, _kept = fitted_table(console, ["#", "stage", "status", "took", "summary", "errors"], keys={"#", "stage"},
                                headings=["#", _("stage"), _("status"), _("took"), _("summary"), _("errors")])
    for s in r.stages:
        took = f"{(s.finished_at - s.started_at).total_seconds():.1f}s" if s.finished_at else "—"
        summary = ", ".join(f"{k}={v}" for k, v in s.summary.items() if not isinstance(v, (list, dict)))
        cells = (s.position + 1, s.stage, status_text(s.status), took, summary, "; ".join(map(str, s.errors)))
        table.add_row(*(Text(str(v)) for v in cells))
    return table


@runs_app.command("prune")
@user_errors
@doc(_("Apply the retention policy now (it also runs after every scheduled run)."))
def runs_prune_command(ctx: typer.Context,
                       keep: int | None = typer.Option(None, "--keep", min=2, help=_("runs whose detail to keep "
                                                          "[default: retention.keep_detail_runs]"))) -> None:
    app_state = state(ctx)
    config = load_schedule_config(app_state.settings.policies).retention
    if keep is not None:
        config = config.model_copy(update={"keep_detail_runs": keep})
    result = prune(app_state.db(), config, app_state.settings.output)
    deleted = ", ".join(_("{n} {table} rows").format(n=n, table=t) for t, n in result.rows.items()) \
        or _("nothing to delete")
    folders = "; " + _("{n} report folder(s)").format(n=len(result.folders)) if result.folders else ""
    console.print(_("pruned detail of {n} run(s): {deleted}").format(n=len(result.runs), deleted=deleted) + folders,
                  highlight=False, markup=False)
