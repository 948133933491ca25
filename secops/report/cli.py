"""`secops report`: the dashboard of a graded run (HTML, JSON, CSV); `secops report annual`: Form 08."""

from __future__ import annotations

from pathlib import Path

import typer

from secops.cliutil import EXIT_USAGE, console, err_console, fail, parse_formats, state, user_errors
from secops.errors import SecopsError
from secops.i18n import _, doc
from secops.register.annual import annual_options, annual_report, sign_with, violation_lines
from secops.register.outputs import FORMATS as ANNUAL_FORMATS
from secops.register.sent import sent_listing
from secops.report.export import FORMATS
from secops.report.publish import publish
from secops.report.terminal import print_summary
from secops.templating import translator

report_app = typer.Typer(help=_("Write reports: the gap dashboard of a graded run, or `annual` (Form 08)."),
                         no_args_is_help=False)


@report_app.callback(invoke_without_command=True)
@user_errors
@doc(_("Write the gap dashboard and exports of a graded run."))
def report_command(
    ctx: typer.Context,
    run: int | None = typer.Option(None, "--run", help=_("run id [default: the newest graded run]")),
    lang: str = typer.Option("vi", "--lang", help=_("vi (default) or en")),
    agency: str | None = typer.Option(None, "--agency", help=_("report on this agency's subtree only")),
    fmt: str = typer.Option("html,json,csv", "--format", help=_("comma-separated: html, json, csv")),
    out: Path | None = typer.Option(None, "--out", help=_("folder to write [default: the --output folder]")),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=_("list every file written (per-host pages too)")),
) -> None:
    if ctx.invoked_subcommand:  # `secops report annual ...`: that sub-command does the work
        return
    if lang not in ("vi", "en"):
        raise fail(_("--lang must be vi or en"))
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
            console.print(_("wrote {path}").format(path=path), highlight=False, markup=False)
    for sub, count in sorted(nested.items()):
        console.print(_("wrote {n} file(s) in {folder} (-v lists them)").format(n=count, folder=folder / sub),
                      highlight=False, markup=False)


def _not_begun(policies: Path, year: int) -> None:
    """A report year whose data period has not begun has nothing to report (a typo: 2062 for 2026)."""
    from secops.inventory.regime import load_regimes, regime_on, report_year
    from secops.localtime import local_today

    today = local_today(policies)
    current = report_year(regime_on(load_regimes(policies), today), today)
    if year > current:
        raise SecopsError(_("--year {year} is in the future: its data period begins on 15/12/{previous}; "
                            "the report being prepared now is {current}").format(year=year, previous=year - 1,
                                                                                  current=current))


@report_app.command("annual", help=_("Write the annual report (Form 08, Decree 331/2026) after checking its "
                                    "consistency rules."))
@user_errors
def annual_command(
    ctx: typer.Context,
    year: int = typer.Option(..., "--year", min=2000, max=2100,
                             help=_("report year (data 15/12 of the year before to 14/12)")),
    owner: str | None = typer.Option(None, "--owner", help=_("one system owner (agency code): its own systems, "
                                     "its section 2, its signer (default: the province summary)")),
    all_owners: bool = typer.Option(False, "--all-owners",
                                    help=_("one report per system owner, plus the province summary")),
    to: str = typer.Option("ministry", "--to", help=_("ministry (the owner's report) or owner (the cybersecurity "
                           "unit's internal report to the owner, due before 20/12)")),
    strict: bool = typer.Option(False, "--strict", help=_("write nothing while any consistency rule is broken")),
    fmt: str = typer.Option("xlsx,csv,html", "--format", help=_("comma-separated: xlsx, docx, pdf, csv, html")),
    lang: str = typer.Option("vi", "--lang", help=_("vi (default) or en: messages and the HTML page's glosses")),
    out: Path | None = typer.Option(None, "--out", help=_("folder to write [default: the --output folder]")),
    date: str | None = typer.Option(None, "--date", help=_("the document's date YYYY-MM-DD (default: left blank; "
                                    "today when signing)")),
    sign_pkcs12: Path | None = typer.Option(None, "--sign-pkcs12", help=_("sign the PDF with this PKCS#12 file")),
    sign_pkcs11: Path | None = typer.Option(None, "--sign-pkcs11",
                                            help=_("sign the PDF on a token: its PKCS#11 library")),
    key_label: str | None = typer.Option(None, "--key-label",
                                         help=_("label of the signing key (and its certificate)")),
    token_label: str | None = typer.Option(None, "--token-label",
                                           help=_("the token's label (default: the one initialised token)")),
    pin_file: Path | None = typer.Option(None, "--pin-file", help=_("read the PIN/passphrase from this file "
                                         "(default: ask); never stored")),
    record_sent: bool = typer.Option(False, "--record-sent", help=_("keep each report in the archive of what was "
                                     "sent (hashes, recipient, the register rows): see `secops report sent`")),
) -> None:
    if lang not in ("vi", "en"):
        raise fail(_("--lang must be vi or en"))
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
        console.print(_("wrote {path}").format(path=path), highlight=False, markup=False)
    for sent_id in result.sent_ids:
        console.print(t("annual_recorded", id=sent_id), highlight=False, markup=False)


@report_app.command("sent", help=_("List the annual reports recorded as sent (--record-sent): when, to whom, "
                                  "the files' sha256."))
@user_errors
def sent_command(
    ctx: typer.Context,
    year: int | None = typer.Option(None, "--year", min=2000, max=2100, help=_("only this report year")),
) -> None:
    app_state = state(ctx)
    lines = sent_listing(app_state.db(), app_state.settings.policies, year)
    for line in lines:  # tab-separated as it is (a terminal table would expand the tabs)
        typer.echo(line)
    if len(lines) == 1:
        console.print(_("No report recorded as sent (use --record-sent)."))
