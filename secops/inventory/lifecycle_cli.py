"""`secops inventory remove` (retire records, history kept) and `secops inventory reorganise`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from secops.cliutil import EXIT_USAGE, console, err_console, state, user_errors
from secops.errors import InputRowsError, SecopsError
from secops.i18n import _, doc
from secops.inventory.retire import TABLES, retire


def parse_day(value: str | None, option: str) -> dt.date:
    if not value:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise SecopsError(_("{option} {value}: use YYYY-MM-DD").format(option=option, value=repr(value))) from exc


@doc(_("Retire a record (an agency with its sub-units and records): kept with its history, no longer graded."))
@user_errors
def remove_command(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help=_("what to retire: {kinds}").format(kinds=", ".join(TABLES))),
    code: str = typer.Argument(..., help=_("its code")),
    reason: str = typer.Option(..., "--reason", help=_("why (kept with the record)")),
    on: str | None = typer.Option(None, "--date", help=_("retired from this date on [default: today]")),
) -> None:
    if kind not in TABLES:
        raise SecopsError(_("KIND must be one of {kinds}, not {value}").format(kinds=", ".join(TABLES), value=repr(kind)))
    day = parse_day(on, "--date")
    with state(ctx).db().session() as session:
        counts = retire(session, kind, code, reason, day)  # type: ignore[arg-type]
    if not counts:
        console.print(_("{kind} {code} was already retired; nothing changed").format(kind=kind, code=code),
                      markup=False, highlight=False)
        return
    moved = ", ".join(f"{n} {entity}" for entity, n in counts.items() if n)
    console.print(_("retired from {day}: {moved}; grades recorded before stay as they were").format(
        day=day.isoformat(), moved=moved), markup=False, highlight=False)


@doc(_("Merge or split agencies from a date: records move to the new agencies, the old ones are retired with "
       "their history and linked as predecessors. All or nothing; re-running the same file changes nothing."))
@user_errors
def reorganise_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help=_("reorganisation file (.yaml for merges and splits, .csv for merges)")),
) -> None:
    from secops.inventory.kinds import load_kinds
    from secops.inventory.levels import load_levels
    from secops.inventory.reorg_file import read_plan
    from secops.inventory.reorganise import reorganise
    from secops.localtime import local_today

    app_state = state(ctx)
    policies = app_state.settings.policies
    try:
        today = local_today(policies)  # the province's date, for `today` in the file and the future check
        outcome = reorganise(app_state.db(), read_plan(file, today), load_levels(policies), load_kinds(policies),
                             today=today)
    except InputRowsError as exc:
        for error in exc.errors:
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        err_console.print(_("{n} problem(s); nothing was changed").format(n=len(exc.errors)), style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    for tally_entity, tally in outcome.imported.items():
        console.print(_("imported {entity}: {inserted} new, {updated} updated").format(
            entity=tally_entity, inserted=tally.inserted, updated=tally.updated), markup=False)
    table = Table(_("row"), _("change"), _("from"), _("into"), _("effective"), _("moved"), _("status"),
                  title=_("reorganisation"))
    words = {"systems": _("systems"), "endpoints": _("endpoints"), "staff": _("staff"), "agencies": _("agencies"),
             "applied": _("applied"), "unchanged": _("unchanged"), "merge": _("merge"), "split": _("split")}
    for entry in outcome.entries:
        moved = "; ".join(f"{target}: " + ", ".join(f"{n} {words.get(entity, entity)}" for entity, n in counts.items()
                                                     if n)
                          for target, counts in entry.moved.items() if any(counts.values())) or "—"
        status = words.get(entry.status, entry.status)
        if entry.created:
            status += " " + _("(created {codes})").format(codes=", ".join(entry.created))
        table.add_row(str(entry.row), words.get(entry.kind, entry.kind), Text(", ".join(entry.olds)),
                      Text(", ".join(entry.targets)),
                      entry.effective_date.isoformat(), Text(moved), status)
    console.print(table)
    if not outcome.changed:
        console.print(_("already applied: nothing changed"), markup=False)
    else:
        console.print(_("old agencies retired with their history; grades recorded before stay as they were"),
                      markup=False)
