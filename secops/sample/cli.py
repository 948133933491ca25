"""`secops inventory sample`: load the synthetic sample province."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from secops.cliutil import console, state, user_errors
from secops.i18n import _, doc
from secops.sample.load import load_sample


@doc(_("Load the synthetic sample province (labelled synthetic in every report)."))
@user_errors
def sample_command(
    ctx: typer.Context,
    endpoints: int = typer.Option(10_000, "--endpoints", min=0, max=1_000_000, help=_("number of endpoints")),
    seed: int = typer.Option(85, "--seed", help=_("random seed (same seed and day -> same province)")),
) -> None:
    tallies = load_sample(state(ctx).db(), dt.datetime.now(dt.UTC), endpoints=endpoints, seed=seed)
    table = Table(_("entity"), _("inserted"), _("updated"), _("unchanged"), title=_("synthetic sample province"))
    for entity, tally in tallies.items():
        table.add_row(entity, str(tally.inserted), str(tally.updated), str(tally.unchanged))
    console.print(table)
