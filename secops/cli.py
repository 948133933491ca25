"""The `secops` command: one sub-command per pipeline stage."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from secops import __version__, faults, interrupts
from secops.cliutil import AppState, console, state, user_errors
from secops.config import Settings
from secops.store.db import safe_url
from secops.inventory.cli import app as inventory_app
from secops.grade.cli import grade_command
from secops.register.cli import _report_group as report_group
from secops.demo import demo_command
from secops.discover.cli import app as discover_app
from secops.collect.cli import audit_command, checks_app, evidence_app, hosts_app
from secops.schedule.cli import daemon_command, runs_app, schedule_app
from secops.remote.cli import scanner_command, scanners_command
from secops.evaluate.waivers_cli import waivers_app
from secops.requirements.cli import app as requirements_app

app = typer.Typer(
    name="secops",
    help="Agentless information-security compliance scanner for level-based security programmes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"secops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Optional[str] = typer.Option(None, "--db", envvar="SECOPS_DB",
                                     help="SQLAlchemy URL or SQLite file path [default: user data dir]"),
    policies: Optional[Path] = typer.Option(None, "--policies", envvar="SECOPS_POLICIES",
                                            help="policies folder; files missing there fall back to the bundled ones"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", envvar="SECOPS_OUTPUT",
                                          help="folder for reports [default: ./secops-reports]"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
    debug: bool = typer.Option(False, "--debug", help="show a Python traceback for unexpected errors"),
) -> None:
    if debug:
        os.environ[faults.DEBUG_ENV] = "1"
    interrupts.install()  # SIGTERM/SIGHUP stop a command the way Ctrl-C does
    overrides = {k: v for k, v in {"db": db, "policies": policies, "output": output}.items() if v is not None}
    ctx.obj = AppState(Settings.model_validate(overrides))


@app.command("init")
@user_errors
def init(ctx: typer.Context) -> None:
    """Create the database (or migrate it to the current schema)."""
    database = state(ctx).db()
    console.print(f"database ready: {safe_url(database.url)}", highlight=False, markup=False)


app.add_typer(inventory_app, name="inventory")
app.command("grade")(grade_command)
app.add_typer(report_group(), name="report")
app.command("demo")(demo_command)
app.add_typer(discover_app, name="discover")
app.command("audit")(audit_command)
app.add_typer(checks_app, name="checks")
app.add_typer(hosts_app, name="hosts")
app.add_typer(evidence_app, name="evidence")
app.add_typer(schedule_app, name="schedule")
app.add_typer(runs_app, name="runs")
app.add_typer(waivers_app, name="waivers")
app.add_typer(requirements_app, name="requirements")
app.command("daemon")(daemon_command)
app.command("scanner")(scanner_command)
app.command("scanners")(scanners_command)


def main() -> None:
    faults.run_cli(app)  # environment faults (database, disk) as `where: reason`, exit 2


if __name__ == "__main__":
    main()
