"""`secops inventory sample`: load the synthetic sample province."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from secops.cliutil import console, state, user_errors
from secops.sample.load import load_sample


@user_errors
def sample_command(
    ctx: typer.Context,
    endpoints: int = typer.Option(10_000, "--endpoints", min=0, max=1_000_000, help="number of endpoints"),
    seed: int = typer.Option(85, "--seed", help="random seed (same seed and day -> same province)"),
) -> None:
    """Load the synthetic sample province (labelled synthetic in every report)."""
    tallies = load_sample(state(ctx).db(), dt.datetime.now(dt.UTC), endpoints=endpoints, seed=seed)
    table = Table("entity", "inserted", "updated", "unchanged", title="synthetic sample province")
    for entity, tally in tallies.items():
        table.add_row(entity, str(tally.inserted), str(tally.updated), str(tally.unchanged))
    console.print(table)
