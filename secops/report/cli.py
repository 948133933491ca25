"""`secops report`: the dashboard of a graded run (HTML, JSON, CSV); `secops report annual`: Form 08."""

from __future__ import annotations

from pathlib import Path

import typer

from secops.cliutil import EXIT_USAGE, console, err_console, fail, parse_formats, state, user_errors
from secops.errors import SecopsError
from secops.register.annual import annual_options, annual_report, sign_with, violation_lines
from secops.register.outputs import FORMATS as ANNUAL_FORMATS
from secops.register.sent import sent_listing
from secops.report.export import FORMATS
from secops.report.publish import publish
from secops.report.terminal import print_summary
from secops.templating import translator

report_app = typer.Typer(help="Write reports: the gap dashboard of a graded run, or `annual` (Form 08).",
                         no_args_is_help=False)


@report_app.callback(invoke_without_command=True)
@user_errors
def report_command(
    ctx: typer.Context,
    run: int | None = typer.Option(None, "--run", help="run id [default: the newest graded run]"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en"),
    agency: str | None = typer.Option(None, "--agency", help="report on this agency's subtree only"),
    fmt: str = typer.Option("html,json,csv", "--format", help="comma-separated: html, json, csv"),
    out: Path | None = typer.Option(None, "--out", help="folder to write [default: the --output folder]"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="list every file written (per-host pages too)"),
) -> None:
    """Write the gap dashboard and exports of a graded run."""
    if ctx.invoked_subcommand:  # `secops report annual ...`: that sub-command does the work
        return
    if lang not in ("vi", "en"):
        raise fail("--lang must be vi or en")
    app_state = state(ctx)
    folder = out or app_state.settings.output
    dashboard, files = publish(app_state.db(), app_state.settings, folder, run_id=run, lang=lang,
                               agency_code=agency, formats=parse_formats(fmt, FORMATS))
    print_summary(console, dashboard, app_state.settings.reports)
    print_written(list(files.values()), Path(folder), verbose)


def print_written(paths: list[Path], folder: Path, verbose: bool) -> None:
    """The files in the folder itself one per line; those in sub-folders (a page per host) counted
    per sub-folder, so the summary above stays on screen (-v lists them all)."""
    nested: dict[str, int] = {}
    for path in paths:
        try:
            parts = path.resolve().relative_to(folder.resolve()).parts
        except ValueError:
            parts = (path.name,)
        if len(parts) > 1 and not verbose:
            nested[parts[0]] = nested.get(parts[0], 0) + 1
        else:
            console.print(f"wrote {path}", highlight=False, markup=False)
    for sub, count in sorted(nested.items()):
        console.print(f"wrote {count} file(s) in {folder / sub} (-v lists them)", highlight=False, markup=False)


def _not_begun(policies: Path, year: int) -> None:
    """A report year whose data period has not begun has nothing to report (a typo: 2062 for 2026)."""
    from secops.inventory.regime import load_regimes, regime_on, report_year
    from secops.localtime import local_today

    today = local_today(policies)
    current = report_year(regime_on(load_regimes(policies), today), today)
    if year > current:
        raise SecopsError(f"--year {year} is in the future: its data period begins on 15/12/{year - 1}; "
                          f"the report being prepared now is {current}")


@report_app.command("annual")
@user_errors
def annual_command(
    ctx: typer.Context,
    year: int = typer.Option(..., "--year", min=2000, max=2100, help="report year (data 15/12 of the year before to 14/12)"),
    owner: str | None = typer.Option(None, "--owner", help="one system owner (agency code): its own systems, "
                                     "its section 2, its signer (default: the province summary)"),
    all_owners: bool = typer.Option(False, "--all-owners", help="one report per system owner, plus the province summary"),
    to: str = typer.Option("ministry", "--to", help="ministry (the owner's report) or owner (the cybersecurity "
                           "unit's internal report to the owner, due before 20/12)"),
    strict: bool = typer.Option(False, "--strict", help="write nothing while any consistency rule is broken"),
    fmt: str = typer.Option("xlsx,csv,html", "--format", help="comma-separated: xlsx, docx, pdf, csv, html"),
    lang: str = typer.Option("vi", "--lang", help="vi (default) or en: messages and the HTML page's glosses"),
    out: Path | None = typer.Option(None, "--out", help="folder to write [default: the --output folder]"),
    date: str | None = typer.Option(None, "--date", help="the document's date YYYY-MM-DD (default: left blank; "
                                    "today when signing)"),
    sign_pkcs12: Path | None = typer.Option(None, "--sign-pkcs12", help="sign the PDF with this PKCS#12 file"),
    sign_pkcs11: Path | None = typer.Option(None, "--sign-pkcs11", help="sign the PDF on a token: its PKCS#11 library"),
    key_label: str | None = typer.Option(None, "--key-label", help="label of the signing key (and its certificate)"),
    token_label: str | None = typer.Option(None, "--token-label",
                                           help="the token's label (default: the one initialised token)"),
    pin_file: Path | None = typer.Option(None, "--pin-file", help="read the PIN/passphrase from this file "
                                         "(default: ask); never stored"),
    record_sent: bool = typer.Option(False, "--record-sent", help="keep each report in the archive of what was sent "
                                     "(hashes, recipient, the register rows): see `secops report sent`"),
) -> None:
    """Write the annual report (Form 08, Decree 331/2026) after checking its consistency rules."""
    if lang not in ("vi", "en"):
        raise fail("--lang must be vi or en")
    app_state = state(ctx)
    _not_begun(app_state.settings.policies, year)
    options = annual_options(owner=owner, all_owners=all_owners, to=to, strict=strict,
                             formats=parse_formats(fmt, ANNUAL_FORMATS), lang=lang, date=date,
                             sign=sign_with(sign_pkcs12, sign_pkcs11, key_label, token_label), pin_file=pin_file,
                             record_sent=record_sent)
    result = annual_report(app_state.db(), app_state.settings, year, out or app_state.settings.output,
                           options=options)
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
    for sent_id in result.sent_ids:
        console.print(t("annual_recorded", id=sent_id), highlight=False, markup=False)


@report_app.command("sent")
@user_errors
def sent_command(
    ctx: typer.Context,
    year: int | None = typer.Option(None, "--year", min=2000, max=2100, help="only this report year"),
) -> None:
    """List the annual reports recorded as sent (--record-sent): when, to whom, the files' sha256."""
    app_state = state(ctx)
    lines = sent_listing(app_state.db(), app_state.settings.policies, year)
    for line in lines:  # tab-separated as it is (a terminal table would expand the tabs)
        typer.echo(line)
    if len(lines) == 1:
        console.print("Chưa có báo cáo nào được ghi nhận đã gửi (dùng --record-sent). / No report recorded as sent.")
