"""The `secops` command: one sub-command per pipeline stage.

Sub-commands are registered with `lazy_command(name, "module:attribute")`: their modules (and
the heavy libraries they use) are imported only when that command runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from secops import __version__, clickwords, faults, i18n, interrupts
from secops.cliutil import AppState, console, state, user_errors
from secops.i18n import _
from secops.lazycli import LazyGroup, lazy_command

# The terminal's language before any help text below (or in a command's module) is translated.
i18n.set_language(i18n.argv_language(sys.argv[1:]))
clickwords.install()  # typer's and Click's own words ("Usage:", "Options", its errors) too

app = typer.Typer(
    name="secops",
    help=_("Agentless information-security compliance scanner for level-based security programmes."),
    cls=LazyGroup,
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
@user_errors
def root(
    ctx: typer.Context,
    db: str | None = typer.Option(None, "--db", envvar="SECOPS_DB",
                                     help=_("SQLAlchemy URL or SQLite file path [default: user data dir]")),
    policies: Path | None = typer.Option(None, "--policies", envvar="SECOPS_POLICIES",
                                            help=_("policies folder; files missing there fall back to the bundled ones")),
    output: Path | None = typer.Option(None, "--output", "-o", envvar="SECOPS_OUTPUT",
                                          help=_("folder for reports [default: ./secops-reports]")),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help=_("print the version")),
    debug: bool = typer.Option(False, "--debug", help=_("show a Python traceback for unexpected errors")),
    lang: str | None = typer.Option(None, "--lang", help=_("vi or en: the terminal's language, as SECOPS_LANG "
                                                         "[default: SECOPS_LANG, then the locale]")),
) -> None:
    from secops.config import load_settings

    if lang is not None and lang not in i18n.LANGUAGES:
        raise typer.BadParameter(_("--lang must be vi or en"))

    if debug:
        os.environ[faults.DEBUG_ENV] = "1"
    interrupts.install()  # SIGTERM/SIGHUP stop a command the way Ctrl-C does
    overrides = {k: v for k, v in {"db": db, "policies": policies, "output": output, "lang": lang}.items()
                 if v is not None}
    ctx.obj = AppState(load_settings(overrides), may_create=False)


@app.command("init", help=_("Create the database (or migrate it to the current schema)."))
@user_errors
def init(ctx: typer.Context) -> None:
    from secops.store.db import safe_url

    app_state = state(ctx)
    app_state.may_create = True
    database = app_state.db()
    console.print(_("database ready: {url}").format(url=safe_url(database.url)), highlight=False, markup=False)


lazy_command("inventory", "secops.inventory.cli:app")
lazy_command("inventory sample", "secops.sample.cli:sample_command")
lazy_command("inventory export", "secops.register.cli:export_command")
lazy_command("grade", "secops.grade.cli:grade_command")
lazy_command("report", "secops.report.cli:report_app")
lazy_command("demo", "secops.demo:demo_command")
lazy_command("discover", "secops.discover.cli:app")
lazy_command("audit", "secops.collect.cli:audit_app")
lazy_command("audit report", "secops.report.audit_cli:audit_report_command")
lazy_command("checks", "secops.evaluate.cli:checks_app")
lazy_command("hosts", "secops.collect.cli:hosts_app")
lazy_command("evidence", "secops.evidence.cli:evidence_app")
lazy_command("schedule", "secops.schedule.cli:schedule_app")
lazy_command("runs", "secops.schedule.cli:runs_app")
lazy_command("waivers", "secops.evaluate.waivers_cli:waivers_app")
lazy_command("requirements", "secops.requirements.cli:app")
lazy_command("daemon", "secops.schedule.cli:daemon_command")
lazy_command("scanner", "secops.remote.cli:scanner_app")
lazy_command("scanners", "secops.remote.cli:scanners_app")
lazy_command("serve", "secops.web.cli:serve_command")
lazy_command("users", "secops.users.cli:users_app")
lazy_command("tokens", "secops.users.cli:tokens_app")


def main() -> None:
    # secops uses no pydantic plugins; looking for them scans every installed package's metadata
    # (importlib.metadata, ~25 ms of each command's start). A value the user set is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    faults.run_cli(app)  # environment faults (database, disk) as `where: reason`, exit 2


if __name__ == "__main__":
    main()
