"""`secops inventory import|show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from sqlalchemy import func, select

from secops.cliutil import EXIT_USAGE, console, err_console, state, user_errors
from secops.errors import InputRowsError
from secops.grade.policy import load_levels
from secops.inventory.importer import import_files
from secops.inventory.readers import ENTITIES
from secops.store.tables import AgencyRow, EndpointRow, StaffRow, SystemRow

app = typer.Typer(help="Import and inspect the inventory (agencies, systems, endpoints, staff).",
                  no_args_is_help=True)


@app.command("import")
@user_errors
def import_command(
    ctx: typer.Context,
    files: List[Path] = typer.Argument(..., help="YAML or CSV files (CSV: one entity per file)"),
    kind: Optional[str] = typer.Option(None, "--kind", help=f"entity of CSV files: {', '.join(ENTITIES)}"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="import the good rows, report the rest"),
) -> None:
    """Validate every row, then write all of them in one transaction (or none on any error)."""
    if kind is not None and kind not in ENTITIES:
        raise typer.BadParameter(f"--kind must be one of {', '.join(ENTITIES)}")
    app_state = state(ctx)
    levels = load_levels(app_state.settings.policies)
    try:
        result = import_files(app_state.db(), files, levels, kind=kind, skip_invalid=skip_invalid)  # type: ignore[arg-type]
    except InputRowsError as exc:
        for error in exc.errors:
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"{len(exc.errors)} invalid row(s); nothing was imported "
                          "(fix them, or use --skip-invalid)", style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    table = Table("entity", "inserted", "updated", "unchanged", title="inventory import")
    for entity, tally in result.tallies.items():
        table.add_row(entity, str(tally.inserted), str(tally.updated), str(tally.unchanged))
    console.print(table)
    for line in result.skipped:
        err_console.print(f"skipped {line}", markup=False, highlight=False, soft_wrap=True)
    if result.skipped:
        err_console.print(f"{len(result.skipped)} row(s) skipped", style="yellow")


@app.command("show")
@user_errors
def show_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Counts of agencies, systems, endpoints and staff per agency kind."""
    with state(ctx).db().session() as session:
        counts: dict[str, dict[str, int]] = {}
        for label, table in (("agencies", AgencyRow), ("systems", SystemRow), ("endpoints", EndpointRow),
                             ("staff", StaffRow)):
            if table is AgencyRow:
                query = select(AgencyRow.kind, func.count()).group_by(AgencyRow.kind)
            else:
                query = (select(AgencyRow.kind, func.count()).select_from(table)
                         .join(AgencyRow, table.agency_id == AgencyRow.id).group_by(AgencyRow.kind))
            counts[label] = dict(session.execute(query).all())
    if as_json:
        console.print_json(json.dumps(counts))
        return
    kinds = ["province", "department", "district", "commune"]
    table = Table("", *kinds, "total", title="inventory")
    for label, per_kind in counts.items():
        table.add_row(label, *(str(per_kind.get(k, 0)) for k in kinds), str(sum(per_kind.values())))
    console.print(table)


@app.command("sample")
@user_errors
def sample_command(
    ctx: typer.Context,
    endpoints: int = typer.Option(10_000, "--endpoints", min=0, max=1_000_000, help="number of endpoints"),
    seed: int = typer.Option(85, "--seed", help="random seed (same seed and day -> same province)"),
) -> None:
    """Load the synthetic sample province (labelled synthetic in every report)."""
    import datetime as dt

    from secops.inventory.load_sample import load_sample

    tallies = load_sample(state(ctx).db(), dt.datetime.now(dt.timezone.utc), endpoints=endpoints, seed=seed)
    table = Table("entity", "inserted", "updated", "unchanged", title="synthetic sample province")
    for entity, tally in tallies.items():
        table.add_row(entity, str(tally.inserted), str(tally.updated), str(tally.unchanged))
    console.print(table)
