"""`secops inventory export`: the inventory and the level-dossier register as files in the import format."""

from __future__ import annotations

from pathlib import Path

import typer

from secops.cliutil import console, fail, state, user_errors
from secops.i18n import _, doc
from secops.inventory.tree import find_agency, load_agencies, subtree
from secops.register.export import inventory_records, register_records, write_register


@doc(_("Export the inventory (agencies, systems, endpoints, staff) and the register's assessments in the import "
       "format."))
@user_errors
def export_command(
    ctx: typer.Context,
    out: Path = typer.Option(Path("secops-register"), "--out", help=_("folder to write")),
    fmt: str = typer.Option("csv", "--format", help=_("csv (agencies, systems, endpoints, staff, assessments .csv) "
                                                      "or yaml (register.yaml)")),
    agency: str | None = typer.Option(None, "--agency", help=_("only this agency and its sub-units")),
) -> None:
    if fmt not in ("csv", "yaml"):
        raise fail(_("--format must be csv or yaml"))
    with state(ctx).db().session() as session:
        agencies = load_agencies(session)
        ids = {node.id for node, _ in subtree(agencies, find_agency(agencies, agency))} if agency else None
        records = {**inventory_records(session, ids), **register_records(session, ids)}
    for path in write_register(records, out, fmt):
        console.print(_("wrote {path}").format(path=path), highlight=False, markup=False)
