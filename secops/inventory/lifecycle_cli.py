"""`secops inventory remove` (retire records, history kept) and `secops inventory reorganise`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from secops.cliutil import EXIT_USAGE, console, err_console, state, user_errors
from secops.errors import InputRowsError, SecopsError
from secops.inventory.retire import TABLES, retire


def parse_day(value: str | None, option: str) -> dt.date:
    if not value:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise SecopsError(f"{option} {value!r}: use YYYY-MM-DD") from exc


@user_errors
def remove_command(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help=f"what to retire: {', '.join(TABLES)}"),
    code: str = typer.Argument(..., help="its code"),
    reason: str = typer.Option(..., "--reason", help="why (kept with the record)"),
    on: str | None = typer.Option(None, "--date", help="retired from this date on [default: today]"),
) -> None:
    """Retire a record (an agency with its sub-units and records): kept with its history, no longer graded."""
    if kind not in TABLES:
        raise SecopsError(f"KIND must be one of {', '.join(TABLES)}, not {kind!r}")
    day = parse_day(on, "--date")
    with state(ctx).db().session() as session:
        counts = retire(session, kind, code, reason, day)  # type: ignore[arg-type]
    if not counts:
        console.print(f"{kind} {code} was already retired; nothing changed", markup=False, highlight=False)
        return
    moved = ", ".join(f"{n} {entity}" for entity, n in counts.items() if n)
    console.print(f"retired from {day.isoformat()}: {moved}; grades recorded before stay as they were",
                  markup=False, highlight=False)


@user_errors
def reorganise_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="reorganisation file (.yaml for merges and splits, .csv for merges)"),
) -> None:
    """Merge or split agencies from a date: records move to the new agencies, the old ones are retired with
    their history and linked as predecessors. All or nothing; re-running the same file changes nothing."""
    from secops.inventory.kinds import load_kinds
    from secops.inventory.levels import load_levels
    from secops.inventory.reorg_file import read_plan
    from secops.inventory.reorganise import reorganise

    app_state = state(ctx)
    policies = app_state.settings.policies
    try:
        outcome = reorganise(app_state.db(), read_plan(file), load_levels(policies), load_kinds(policies))
    except InputRowsError as exc:
        for error in exc.errors:
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"{len(exc.errors)} problem(s); nothing was changed", style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    for tally_entity, tally in outcome.imported.items():
        console.print(f"imported {tally_entity}: {tally.inserted} new, {tally.updated} updated", markup=False)
    table = Table("row", "change", "from", "into", "effective", "moved", "status", title="reorganisation")
    for entry in outcome.entries:
        moved = "; ".join(f"{target}: " + ", ".join(f"{n} {entity}" for entity, n in counts.items() if n)
                          for target, counts in entry.moved.items() if any(counts.values())) or "—"
        status = entry.status + (f" (created {', '.join(entry.created)})" if entry.created else "")
        table.add_row(str(entry.row), entry.kind, Text(", ".join(entry.olds)), Text(", ".join(entry.targets)),
                      entry.effective_date.isoformat(), Text(moved), status)
    console.print(table)
    if not outcome.changed:
        console.print("already applied: nothing changed", markup=False)
    else:
        console.print("old agencies retired with their history; grades recorded before stay as they were",
                      markup=False)
