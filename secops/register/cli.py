"""`secops inventory export` (the register as files) and `secops report annual` (Form 08)."""

from __future__ import annotations

from pathlib import Path

import typer

from secops.cliutil import console, fail, state, user_errors
from secops.inventory.tree import find_agency, load_agencies, subtree
from secops.register.export import register_records, write_register


@user_errors
def export_command(
    ctx: typer.Context,
    out: Path = typer.Option(Path("secops-register"), "--out", help="folder to write"),
    fmt: str = typer.Option("csv", "--format", help="csv (systems.csv + assessments.csv) or yaml (register.yaml)"),
    agency: str | None = typer.Option(None, "--agency", help="only this agency and its sub-units"),
) -> None:
    """Export the level-dossier register (systems and assessments) in the import format."""
    if fmt not in ("csv", "yaml"):
        raise fail("--format must be csv or yaml")
    with state(ctx).db().session() as session:
        agencies = load_agencies(session)
        ids = {node.id for node, _ in subtree(agencies, find_agency(agencies, agency))} if agency else None
        records = register_records(session, ids)
    for path in write_register(records, out, fmt):
        console.print(f"wrote {path}", highlight=False, markup=False)


@user_errors
def annual_command(
    ctx: typer.Context,
    year: int = typer.Option(..., "--year", min=2000, max=2100, help="report year (data 15/12 of the year before to 14/12)"),
    owner: str | None = typer.Option(None, "--owner",
                                     help="one owner (agency code) and its sub-units [default: the province]"),
    strict: bool = typer.Option(False, "--strict", help="write nothing while any consistency rule is broken"),
    fmt: str = typer.Option("xlsx,csv,html", "--format", help="comma-separated: xlsx, csv, html"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en: messages and the HTML page's glosses"),
    out: Path | None = typer.Option(None, "--out", help="folder to write [default: the --output folder]"),
) -> None:
    """Write the annual report (Form 08, Decree 331/2026) after checking its consistency rules."""
    from secops.cliutil import EXIT_USAGE, err_console
    from secops.register.annual import annual_report, parse_formats, violation_lines
    from secops.templating import translator

    if lang not in ("vi", "en"):
        raise fail("--lang must be vi or en")
    app_state = state(ctx)
    result = annual_report(app_state.db(), app_state.settings, year, out or app_state.settings.output, owner=owner,
                           strict=strict, formats=parse_formats(fmt), lang=lang)
    t = translator(app_state.settings.reports, lang)
    for line in violation_lines(result, app_state.settings.reports, lang):
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if result.violations:
        err_console.print(t("annual_violations", n=len(result.violations), year=year), style="yellow")
    else:
        console.print(t("annual_ok", year=year))
    if result.refused:
        err_console.print(t("annual_strict_refused"), style="red")
        raise typer.Exit(EXIT_USAGE)
    for path in result.files:
        console.print(f"wrote {path}", highlight=False, markup=False)


report_app = typer.Typer(help="Write reports: the gap dashboard of a graded run, or `annual` (Form 08).",
                         no_args_is_help=False)
report_app.command("annual")(annual_command)


def _report_group() -> typer.Typer:
    """`secops report` keeps writing the dashboard; `secops report annual` is the Form 08 report."""
    from secops.report.cli import report_command

    report_app.callback(invoke_without_command=True)(report_command)
    return report_app
