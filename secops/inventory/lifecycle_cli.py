"""`secops inventory remove` (retire records, history kept) and `secops inventory reorganise`."""

from __future__ import annotations

import datetime as dt
from typing import Optional

import typer

from secops.cliutil import console, state, user_errors
from secops.errors import SecopsError
from secops.inventory.retire import TABLES, retire


def parse_day(value: str | None, option: str) -> dt.date:
    if not value:
        return dt.datetime.now(dt.timezone.utc).date()
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
    on: Optional[str] = typer.Option(None, "--date", help="retired from this date on [default: today]"),
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
