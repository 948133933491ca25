"""`secops inventory export` (the register as files) and `secops report annual` (Form 08)."""

from __future__ import annotations

from pathlib import Path

import typer

from secops.cliutil import console, fail, state, user_errors
from secops.grade.facts import load_agencies
from secops.inventory.tree import find_agency, subtree
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
    token_label: str | None = typer.Option(None, "--token-label", help="the token's label (default: the one initialised token)"),
    pin_file: Path | None = typer.Option(None, "--pin-file", help="read the PIN/passphrase from this file "
                                         "(default: ask); never stored"),
    record_sent: bool = typer.Option(False, "--record-sent", help="keep each report in the archive of what was sent "
                                     "(hashes, recipient, the register rows): see `secops report sent`"),
) -> None:
    """Write the annual report (Form 08, Decree 331/2026) after checking its consistency rules."""
    import dataclasses
    import datetime as dt

    from secops.cliutil import EXIT_USAGE, err_console
    from secops.register.annual import Options, annual_report, parse_formats, violation_lines
    from secops.register.signing import SignWith, read_pin
    from secops.report.render import translator

    if lang not in ("vi", "en"):
        raise fail("--lang must be vi or en")
    try:
        issued_on = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise fail(f"--date {date!r}: expected YYYY-MM-DD") from None
    sign = None
    if sign_pkcs12 or sign_pkcs11:
        sign = SignWith(pkcs12=sign_pkcs12, pkcs11_lib=sign_pkcs11, key_label=key_label, token_label=token_label)
    options = Options(owner=owner, all_owners=all_owners, to=to, strict=strict, formats=parse_formats(fmt),  # type: ignore[arg-type]
                      lang=lang, issued_on=issued_on, sign=sign, record_sent=record_sent)
    if sign is not None:
        options = dataclasses.replace(options, pin=read_pin(pin_file))
    app_state = state(ctx)
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


@user_errors
def sent_command(
    ctx: typer.Context,
    year: int | None = typer.Option(None, "--year", min=2000, max=2100, help="only this report year"),
) -> None:
    """List the annual reports recorded as sent (--record-sent): when, to whom, the files' sha256."""
    from secops.register.issuers import load_issuers
    from secops.register.sent import SENT_HEADINGS, sent_lines, sent_reports, zone

    app_state = state(ctx)
    rows = sent_reports(app_state.db(), year)
    typer.echo("\t".join(SENT_HEADINGS))  # tab-separated, as it is (a terminal table would expand the tabs)
    for line in sent_lines(rows, zone(load_issuers(app_state.settings.policies).timezone)):
        typer.echo("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in line))
    if not rows:
        console.print("Chưa có báo cáo nào được ghi nhận đã gửi (dùng --record-sent). / No report recorded as sent.")


report_app = typer.Typer(help="Write reports: the gap dashboard of a graded run, or `annual` (Form 08).",
                         no_args_is_help=False)
report_app.command("annual")(annual_command)
report_app.command("sent")(sent_command)


def _report_group() -> typer.Typer:
    """`secops report` keeps writing the dashboard; `secops report annual` is the Form 08 report."""
    from secops.report.cli import report_command

    report_app.callback(invoke_without_command=True)(report_command)
    return report_app
