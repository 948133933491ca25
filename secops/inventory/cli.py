"""`secops inventory import|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from secops.cliutil import EXIT_USAGE, console, err_console, invalid_rows, state, user_errors
from secops.errors import InputRowsError
from secops.i18n import _, doc, language
from secops.inventory.importer import import_files
from secops.inventory.kinds import load_kinds
from secops.inventory.levels import load_levels
from secops.inventory.lifecycle_cli import remove_command, reorganise_command
from secops.inventory.readers import ENTITIES
from secops.inventory.regime import load_regimes
from secops.inventory.tree import find_agency, kind_order, load_agencies, subtree
from secops.localtime import local_today
from secops.store.tables import AgencyRow, EndpointRow, StaffRow, SystemRow
from secops.termtable import Listing, format_option, output_format, wide_option
from secops.textsafe import terminal_text

app = typer.Typer(help=_("Import and inspect the inventory (agencies, systems, endpoints, staff)."),
                  no_args_is_help=True)
app.command("remove")(remove_command)
app.command("reorganise")(reorganise_command)


@app.command("import", help=_("Validate every row, then write all of them in one transaction (or none on any error)."))
@user_errors
def import_command(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help=_("YAML or CSV files (CSV: one entity per file)")),
    kind: str | None = typer.Option(None, "--kind", help=_("entity of CSV files: {entities}").format(
        entities=", ".join(ENTITIES))),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help=_("import the good rows, report the rest")),
) -> None:
    if kind is not None and kind not in ENTITIES:
        raise typer.BadParameter(_("--kind must be one of {entities}").format(entities=", ".join(ENTITIES)))
    app_state = state(ctx)
    levels = load_levels(app_state.settings.policies)
    try:
        result = import_files(app_state.db(), files, levels, kind=kind, skip_invalid=skip_invalid,
                              regimes=load_regimes(app_state.settings.policies),
                              kinds=load_kinds(app_state.settings.policies),
                              today=local_today(app_state.settings.policies))
    except InputRowsError as exc:
        for error in exc.errors:
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        err_console.print(_("{summary}; nothing was imported (fix them, or use --skip-invalid)").format(
            summary=invalid_rows(exc)), style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    table = Table(_("entity"), _("inserted"), _("updated"), _("unchanged"), title=_("inventory import"))
    for entity, tally in result.tallies.items():
        table.add_row(_entity_names().get(entity, entity), str(tally.inserted), str(tally.updated), str(tally.unchanged))
    console.print(table)
    for line in result.skipped:
        err_console.print(_("skipped {row}").format(row=line), markup=False, highlight=False, soft_wrap=True)
    if result.skipped:
        err_console.print(_("{n} row(s) skipped").format(n=len(result.skipped)), style="yellow")


LIST_COLUMNS = {
    "agencies": ("code", "name", "kind"),
    "systems": ("code", "name", "level", "approval_status", "plan_deployment", "approval_decision"),
    "endpoints": ("code", "hostname", "ips", "os_family", "role", "last_seen"),
    "staff": ("code", "is_head", "awareness_date", "informed_date", "training_date"),
}
TABLES: dict[str, Any] = {"agencies": AgencyRow, "systems": SystemRow, "endpoints": EndpointRow, "staff": StaffRow}


def _count_by_kind(session: Session, ids: set[int]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for label, table in TABLES.items():
        agency_col = AgencyRow.id if table is AgencyRow else table.agency_id
        query = select(AgencyRow.kind, func.count()).select_from(table)
        if table is not AgencyRow:
            query = query.join(AgencyRow, table.agency_id == AgencyRow.id)
        query = query.where(agency_col.in_(ids), table.retired_at.is_(None)).group_by(AgencyRow.kind)
        counts[label] = dict(session.execute(query).all())
    return counts


def _rows(session: Session, entity: str, ids: set[int], limit: int) -> list[dict[str, object]]:
    table = TABLES[entity]
    if table is AgencyRow:
        # An agency's own row is the listed one; its "agency" column is the parent it sits under.
        parent = aliased(AgencyRow)
        query = select(AgencyRow, parent.code).select_from(AgencyRow) \
            .outerjoin(parent, AgencyRow.parent_id == parent.id) \
            .where(AgencyRow.id.in_(ids), AgencyRow.retired_at.is_(None)).order_by(AgencyRow.code).limit(limit)
    else:
        query = select(table, AgencyRow.code).join(AgencyRow, table.agency_id == AgencyRow.id) \
            .where(table.agency_id.in_(ids), table.retired_at.is_(None)).order_by(table.code).limit(limit)
    out = []
    for row, agency_code in session.execute(query):
        record = {col: getattr(row, col) for col in LIST_COLUMNS[entity]}
        out.append({**record, _owner_column(entity): agency_code})
    return out


def _owner_column(entity: str) -> str:
    return "parent" if entity == "agencies" else "agency"


def _machine(value: object) -> object:
    """A stored value for JSON and CSV: dates as ISO text, lists and numbers as they are."""
    if value is None or isinstance(value, (str, int, float, bool, list)):
        return value
    return str(value)


def _cell(value: object) -> str:
    """A stored value for the terminal: control characters and bidi marks made visible."""
    if value is None:
        return ""
    return terminal_text(", ".join(map(str, value)) if isinstance(value, list) else value)


def _headings() -> dict[str, str]:
    """The listing's column headings in the user's language (its JSON and CSV keep the names)."""
    return {"code": _("code"), "name": _("name"), "kind": _("kind"), "level": _("level"),
            "approval_status": _("approval status"), "plan_deployment": _("plan deployment"),
            "approval_decision": _("approval decision"), "hostname": _("hostname"), "ips": _("addresses"),
            "os_family": _("OS"), "role": _("role"), "last_seen": _("last seen"), "is_head": _("head of unit"),
            "awareness_date": _("made aware"), "informed_date": _("informed"), "training_date": _("trained"),
            "parent": _("parent"), "agency": _("agency")}


WORDED = {"approval_status", "plan_deployment", "role", "is_head"}  # columns whose values are words in a table


def _words() -> dict[object, str]:
    """Register values and flags as words in the table (JSON and CSV keep the values)."""
    return {"not_started": _("not started"), "drafting": _("drafting"), "sent_for_appraisal": _("sent for appraisal"),
            "appraised": _("appraised"), "approved": _("approved"), "not_deployed": _("not deployed"),
            "partly_deployed": _("partly deployed"), "fully_deployed": _("fully deployed"),
            "workstation": _("workstation"), "laptop": _("laptop"), "server": _("server"), True: _("yes"),
            False: _("no")}


def _entity_names() -> dict[str, str]:
    return {"agencies": _("agencies"), "systems": _("information systems"), "endpoints": _("endpoints"),
            "staff": _("staff")}


@app.command("show")
@user_errors
@doc(_("Counts of agencies, systems, endpoints and staff per agency kind, or a list of records."))
def show_command(
    ctx: typer.Context,
    agency: str | None = typer.Option(None, "--agency", help=_("only this agency and its sub-units")),
    entity: str | None = typer.Option(None, "--list", help=_("list records: agencies, systems, endpoints, staff")),
    limit: int = typer.Option(200, "--limit", min=1, help=_("at most this many listed records")),
    as_json: bool = typer.Option(False, "--json", help=_("machine-readable output (--format json)")),
    fmt: str = format_option(),
    wide: bool = wide_option(),
) -> None:
    fmt = output_format(fmt, as_json)
    if entity is not None and entity not in LIST_COLUMNS:
        raise typer.BadParameter(_("--list must be one of {entities}").format(entities=", ".join(LIST_COLUMNS)))
    app_state = state(ctx)
    with app_state.db().session() as session:
        agencies = load_agencies(session)
        ids = {node.id for node, _node in subtree(agencies, find_agency(agencies, agency))} if agencies else set()
        data = _rows(session, entity, ids, limit) if entity else _count_by_kind(session, ids)
    if entity:
        columns = [*LIST_COLUMNS[entity], _owner_column(entity)]
        headings = _headings()
        # At 80 columns the code never truncates (rows must stay apart); the others fold, and the
        # least needed drop (all of them are in --format json/csv).
        listing = Listing(columns, keys=["code"], headings=[headings.get(c, c) for c in columns],
                          title=_("{entity} (at most {limit})").format(entity=_entity_names()[entity], limit=limit),
                          optional=["mac", "last_seen", "approval_decision", "name"] if entity != "agencies" else [])
        words = _words()
        for record in data:
            shown = [words.get(v, v) if k in WORDED else v for k, v in record.items()]  # type: ignore[union-attr]
            listing.add([_cell(v) for v in shown], {k: _machine(v) for k, v in record.items()})  # type: ignore[union-attr]
        listing.print(console, fmt, wide)
    else:
        present = {k for per_kind in data.values() for k in per_kind}  # type: ignore[union-attr]
        kinds = sorted(present, key=lambda k: (kind_order().get(k, 99), k))
        policy, lang = load_kinds(app_state.settings.policies), language()
        listing = Listing(["", *kinds, "total"], fields=["entity", *kinds, "total"], keys=[""], title=_("inventory"),
                          headings=["", *(policy.label(k, lang) for k in kinds), _("total")])
        names = _entity_names()
        for label, per_kind in data.items():  # type: ignore[union-attr]
            counts = [per_kind.get(k, 0) for k in kinds]
            listing.add([names.get(label, label), *counts, sum(per_kind.values())],
                        {"entity": label, **dict(zip(kinds, counts, strict=True)), "total": sum(per_kind.values())})
        listing.print(console, fmt, wide, document=data)
