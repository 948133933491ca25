"""`secops demo`: the main job on the embedded default, end to end, in one command.

Creates a SQLite database in the demo folder, loads the synthetic sample province, registers this
machine as one of its endpoints, then runs the pipeline as one run: discover (nmap, loopback only,
through a scope file that authorises nothing else), audit (this machine, locally), grade, report.
A stage that cannot run here (e.g. nmap missing) is recorded in the run, which ends `partial`;
the rest still runs.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
from pathlib import Path

import typer

from secops.cliutil import console, err_console, state, user_errors
from secops.i18n import _, doc, ngettext, status_text
from secops.inventory.upsert import upsert_endpoints
from secops.localtime import local_today
from secops.models import Endpoint, EndpointRole, OSFamily
from secops.register.annual import Options, current_year_report
from secops.report.publish import dashboard_for
from secops.report.terminal import print_summary
from secops.runs import finish_run, start_run
from secops.safeio import output_folder, write_file
from secops.sample.load import describe_sample, load_sample
from secops.sample.province import PROVINCE
from secops.schedule.jobs import StageStep, load_jobs
from secops.schedule.runner import StageOutcome, run_status, run_step
from secops.stages import StageContext, StageOptions
from secops.store.db import safe_url
from secops.textsafe import printable

LOCAL_ENDPOINT = "SAMPLE-LOCAL"
DEMO_SCOPE = f"""# Written by `secops demo`: the demo may scan this machine's loopback address and nothing else.
version: 1
agencies:
  {PROVINCE[0]}:
    authorised:
      - cidr: 127.0.0.1/32
        note: "this machine (demo)"
"""


def register_local_machine(app_state: StageContext) -> None:
    """The machine running the demo joins the sample as an endpoint, so discovery and audit match it."""
    os_family = OSFamily.linux if platform.system() == "Linux" else OSFamily.other
    hostname = socket.gethostname()[:255] or "localhost"
    local = Endpoint(code=LOCAL_ENDPOINT, hostname=hostname, ips=["127.0.0.1"], os_family=os_family,
                     role=EndpointRole.server, owner=PROVINCE[0])
    with app_state.db().session() as session:
        upsert_endpoints(session, [local])


def demo_stages(folder: Path, lang: str) -> list[tuple[str, StageOptions]]:
    scope = folder / "scope.yaml"
    write_file(scope, DEMO_SCOPE)
    agency = PROVINCE[0]
    return [
        ("discover", StageOptions(agency_code=agency, extra={"targets": ["127.0.0.1"], "profile": "standard",
                                                             "scope_file": str(scope)})),
        ("audit", StageOptions(agency_code=agency, extra={"local": True, "endpoint": LOCAL_ENDPOINT})),
        ("grade", StageOptions(agency_code=agency)),
        ("report", StageOptions(lang=lang, report_dir=folder / "reports")),
    ]


def run_demo_stages(app_state: StageContext, run_id: int, stages: list[tuple[str, StageOptions]]) -> list[StageOutcome]:
    """Each stage through the scheduler's step runner, so the demo run's stages are recorded like a job's."""
    jobs = load_jobs(app_state.settings.policies)
    done: dict[str, str] = {}
    outcomes = []
    for position, (name, options) in enumerate(stages):
        step = StageStep(stage=name, needs=["grade"] if name == "report" else [])
        outcome = run_step(app_state, run_id, position, step, jobs, done, options)
        done[name] = outcome.status
        outcomes.append(outcome)
        style = {"ok": "green", "partial": "yellow"}.get(outcome.status, "red")
        console.print(_("stage {name}: {status}").format(name=name, status=f"[{style}]{status_text(outcome.status)}[/]"))
        for error in outcome.errors:
            err_console.print(f"  {name}: {printable(error)}", markup=False, highlight=False)
    return outcomes


@doc(_("Run the whole pipeline on the synthetic sample province (SQLite, local targets only)."))
@user_errors
def demo_command(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("secops-demo"), "--dir", help=_("folder for the demo database and reports")),
    endpoints: int = typer.Option(10_000, "--endpoints", min=1, max=1_000_000, help=_("sample size")),
    seed: int = typer.Option(85, "--seed", help=_("seed of the sample's random choices")),
    lang: str = typer.Option("vi", "--lang", help=_("vi (default) or en")),
) -> None:
    app_state = state(ctx)
    output_folder(folder)  # the check every writer makes (safeio), before the database is made there
    app_state.may_create = True
    if app_state.settings.db is None:  # keep the sample out of the user's real database
        app_state.use_database(str((folder / "secops.db").resolve()))
    db = app_state.db()
    console.print(_("database: {url}").format(url=safe_url(db.url)), highlight=False, markup=False)
    load_sample(db, dt.datetime.now(dt.UTC), endpoints=endpoints, seed=seed)
    console.print(describe_sample(db), highlight=False, markup=False)
    register_local_machine(app_state)
    run_id = start_run(db, "job", job_name="demo", agency_code=PROVINCE[0])
    results = run_demo_stages(app_state, run_id, demo_stages(folder, lang))
    status = run_status([r.status for r in results])
    finish_run(db, run_id, status, summary={"stages": {r.stage: r.status for r in results}},
               errors=[f"{r.stage}: {e}" for r in results for e in r.errors],
               report_dir=str((folder / "reports").resolve()))
    print_summary(console, dashboard_for(db, app_state.settings, run_id, lang), app_state.settings.reports)
    console.print(_("run {id}: {status}").format(id=run_id, status=status_text(status.value)))
    for name in ("dashboard.html", "dashboard.json", "grades.csv", "fix.csv"):
        console.print(_("wrote {path}").format(path=(folder / "reports" / name).resolve()), highlight=False, markup=False)
    write_annual_reports(db, app_state.settings, folder / "reports", lang)


def write_annual_reports(db, settings, folder: Path, lang: str) -> None:  # type: ignore[no-untyped-def]
    """Form 08: the province summary (xlsx, docx, csv, html) in reports/, and one report per system
    owner (xlsx, docx: what an officer edits and signs) in reports/form08-owners/. No PDF here: WeasyPrint
    takes seconds per document and the sample has over a hundred owners (`secops report annual
    --format pdf` writes them)."""
    today = local_today(settings.policies)
    summary = current_year_report(db, settings, folder, today, lang,
                                  Options(formats=("xlsx", "docx", "csv", "html"), lang=lang))
    console.print(ngettext("annual report {year}: {n} consistency problem to fix",
                           "annual report {year}: {n} consistency problems to fix",
                           len(summary.violations)).format(year=summary.report.year, n=len(summary.violations)))
    for path in summary.files:
        console.print(_("wrote {path}").format(path=path.resolve()), highlight=False, markup=False)
    owners = current_year_report(db, settings, folder / "form08-owners", today, lang,
                                 Options(all_owners=True, summary=False, formats=("xlsx", "docx"), lang=lang))
    console.print(_("annual report {year}: {n} system owner(s), one report each, in {folder}").format(
        year=owners.report.year, n=len(owners.written), folder=(folder / "form08-owners").resolve()),
        highlight=False, markup=False)
