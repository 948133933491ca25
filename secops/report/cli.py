"""`secops report`: write the dashboard of a graded run (HTML, JSON, CSV)."""

from __future__ import annotations

from pathlib import Path

import typer

from secops.cliutil import console, fail, state, user_errors
from secops.report.export import FORMATS
from secops.report.publish import publish
from secops.report.terminal import print_summary


def parse_formats(value: str) -> tuple[str, ...]:
    formats = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise fail(f"--format: unknown {', '.join(bad) or '(empty)'}; choose from {', '.join(FORMATS)}")
    return formats


@user_errors
def report_command(
    ctx: typer.Context,
    run: int | None = typer.Option(None, "--run", help="run id [default: the newest graded run]"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en"),
    agency: str | None = typer.Option(None, "--agency", help="report on this agency's subtree only"),
    fmt: str = typer.Option("html,json,csv", "--format", help="comma-separated: html, json, csv"),
    out: Path | None = typer.Option(None, "--out", help="folder to write [default: the --output folder]"),
) -> None:
    """Write the gap dashboard and exports of a graded run."""
    if ctx.invoked_subcommand:  # `secops report annual ...`: that sub-command does the work
        return
    if lang not in ("vi", "en"):
        raise fail("--lang must be vi or en")
    app_state = state(ctx)
    folder = out or app_state.settings.output
    dashboard, files = publish(app_state.db(), app_state.settings, folder, run_id=run, lang=lang,
                               agency_code=agency, formats=parse_formats(fmt))
    print_summary(console, dashboard, app_state.settings.reports)
    for path in files.values():
        console.print(f"wrote {path}", highlight=False, markup=False)
