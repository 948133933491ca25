"""`secops evidence import FILE --profile NAME|auto` and `secops evidence profile new|list`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from secops import interrupts
from secops.cliutil import EXIT_USAGE, console, err_console, invalid_rows, state, user_errors
from secops.errors import InputRowsError, SecopsError
from secops.i18n import _, doc, status_text
from secops.models import RunStatus
from secops.runs import recorded, recorded_status
from secops.stages import StageOptions

evidence_app = typer.Typer(help=_("Protection evidence from other sources."), no_args_is_help=True)
profile_app = typer.Typer(help=_("Import profiles of protection consoles (policies/evidence_profiles/)."),
                          no_args_is_help=True)
evidence_app.add_typer(profile_app, name="profile")


def _when(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise SecopsError(_("--exported-at: {value} is not an ISO date/time (e.g. 2026-11-20T08:00+07:00)").format(
            value=repr(text))) from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


def _max_age(policies: Path) -> int | None:
    from secops.targets import load_targets

    ages = [t.evidence_max_age_days for t in load_targets(policies).targets
            if t.entity == "endpoints" and t.evidence_max_age_days is not None]
    return min(ages) if ages else None


@evidence_app.command("import")
@user_errors
@doc(_("Import console evidence matched to endpoints; print counts per status and per reason."))
def evidence_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=_("export of a protection console (CSV/TSV text, xlsx, SpreadsheetML)"))],
    profile: str = typer.Option("auto", "--profile", help=_("profile name (see `evidence profile list`), a profile "
                                ".yaml file, or auto: recognised by the file's headers")),
    source: str | None = typer.Option(None, "--source", help=_("console name stored with the rows "
                                         "[default: the profile's title]")),
    exported_at: str | None = typer.Option(None, "--exported-at", help=_("when the console wrote the file (ISO; "
                                              "no offset = UTC): relative times count from it [default: now]")),
    date_order: str | None = typer.Option(None, "--date-order", help=_("dmy or mdy, for dates like 05/11/2026")),
    encoding: str | None = typer.Option(None, "--encoding", help=_("text encoding when it is not Unicode, "
                                           "e.g. cp1258 [default: detected UTF-8/UTF-16]")),
    max_rows: int = typer.Option(200_000, "--max-rows", min=1, help=_("refuse files with more rows")),
    regrade: bool = typer.Option(True, "--regrade/--no-regrade", help=_("grade into the import run")),
) -> None:
    from secops.evidence.importer import ImportOptions

    if date_order not in (None, "dmy", "mdy"):
        raise SecopsError(_("--date-order: {value}: use dmy or mdy").format(value=repr(date_order)))
    app_state = state(ctx)
    options = ImportOptions(profile=profile, source=source, exported_at=_when(exported_at),
                            date_order=date_order or "", encoding=encoding, max_rows=max_rows,
                            max_age_days=_max_age(app_state.settings.policies))
    db = app_state.db()
    try:
        result, run_id = _import(app_state, db, file, source, options, regrade)
    except KeyboardInterrupt as exc:  # recorded by runs.recorded; said here as the store has it, exit 130
        found = recorded_status(db, "import")
        where = ("; " + _("run {id} is recorded as {status}").format(id=found[0], status=status_text(found[1]))
                 if found else "")
        err_console.print(_("evidence import {reason}").format(reason=interrupts.reason(exc)) + where,
                          markup=False, highlight=False)
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from exc
    unmatched = result.unmatched_count + result.conflicting
    _print_result(result, unmatched, run_id)


def _import(app_state: Any, db: Any, file: Path, source: str | None, options: Any, regrade: bool) -> tuple[Any, int]:
    from secops.evidence.importer import import_evidence
    from secops.stages import stage_function

    with recorded(db, "import") as run:
        run_id = run.id
        try:
            result = import_evidence(db, file, source, app_state.settings.policies, run_id=run_id, options=options)
        except InputRowsError as exc:
            for error in exc.errors:
                err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
            run.finish(RunStatus.failed, errors=[f"{exc.summary()}"])
            err_console.print(_("{summary}; nothing was imported").format(summary=invalid_rows(exc)), style="red")
            raise typer.Exit(EXIT_USAGE) from exc
        if regrade:
            try:
                stage_function("grade")(app_state, run_id, StageOptions())
            except Exception as exc:  # the evidence is stored; the run must not stay "running"
                run.finish(RunStatus.partial, errors=[f"evidence imported, regrade failed: {exc}"])
                raise
        summary = {"profile": result.profile, "imported": result.imported, "duplicates": result.duplicates,
                   "unmatched": result.unmatched_count, "conflicting": result.conflicting, "stale": result.stale,
                   "statuses": dict(result.statuses)}
        run.finish(RunStatus.ok, summary=summary)
    return result, run_id


def _print_result(result: Any, unmatched: int, run_id: int) -> None:
    for line in result.unmatched:
        err_console.print(_("unmatched {row}").format(row=line), markup=False, highlight=False, soft_wrap=True)
    if unmatched > len(result.unmatched):
        err_console.print(_("... and {n} more unmatched row(s)").format(n=unmatched - len(result.unmatched)),
                          highlight=False)

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    say(_("profile {name} ({title}), {chosen}; file read as {table}").format(
        name=result.profile, title=result.profile_title, chosen=result.chosen, table=result.table)
        + (_("; DRAFT profile: headers not yet confirmed by a real export") if result.draft else ""))
    reference = result.reference.isoformat(timespec="seconds") if result.reference else "-"
    say(_("relative times and rows without a time resolved against the {kind} {reference}").format(
        kind=result.reference_kind, reference=reference))
    say(_("per status: {counts}").format(counts=", ".join(
        f"{status_text(k)} {result.statuses.get(k, 0)}" for k in ("protected", "degraded", "unprotected", "unknown"))))
    say(_("per reason: matched {matched}, unmatched {unmatched}, conflicting {conflicting}, stale {stale}").format(
        matched=result.imported + result.duplicates, unmatched=result.unmatched_count,
        conflicting=result.conflicting, stale=result.stale))
    say(_("imported {imported} evidence row(s), {duplicates} already present, {unmatched} unmatched; run {id}").format(
        imported=result.imported, duplicates=result.duplicates, unmatched=unmatched, id=run_id))


@profile_app.command("list")
@user_errors
@doc(_("The shipped and site profiles, with the headers that `--profile auto` recognises."))
def profile_list(ctx: typer.Context) -> None:
    from secops.evidence.profiles import load_profiles

    for p in load_profiles(state(ctx).settings.policies):
        draft = " " + _("[draft]") if p.draft else ""
        recognise = ", ".join(p.recognise) or _("(fallback: header aliases)")
        console.print(_("{name}{draft}: {title} — {formats}; recognises {recognise}").format(
            name=p.name, draft=draft, title=p.title, formats=", ".join(p.formats), recognise=recognise),
                      markup=False, highlight=False, soft_wrap=True)


@profile_app.command("new")
@user_errors
@doc(_("Propose a profile from a sample file's headers, for the officer to confirm."))
def profile_new(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help=_("a sample export of the console"))],
    out: Annotated[Path | None, typer.Option("--out", help=_("where to write the proposal "
                                             "[default: FILE.profile.yaml]"))] = None,
    encoding: str | None = typer.Option(None, "--encoding", help=_("text encoding when it is not Unicode")),
) -> None:
    from secops.evidence.propose import propose, write_new

    text, notes = propose(file, state(ctx).settings.policies, encoding)
    target = out or file.with_name(file.stem + ".profile.yaml")
    write_new(target, text)
    for note in notes:
        console.print(_("note: {note}").format(note=note), markup=False, highlight=False, soft_wrap=True)
    console.print(_("wrote {target}: confirm it, then `secops evidence import FILE --profile {target}`").format(
        target=target),
                  markup=False, highlight=False, soft_wrap=True)
