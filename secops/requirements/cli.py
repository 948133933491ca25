"""`secops requirements ...`: checklists of level requirements per information system."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from secops.cliutil import EXIT_USAGE, console, err_console, invalid_rows, parse_as_of, state, user_errors
from secops.errors import InputRowsError
from secops.i18n import _, doc, language
from secops.localtime import local_today
from secops.requirements import store
from secops.requirements.catalogue import by_id, in_force
from secops.requirements.checklist import checklist
from secops.requirements.register_link import with_checklist
from secops.requirements.rollup import deployment
from secops.termtable import Listing, format_option, output_format, wide_option

app = typer.Typer(help=_("Level requirements: catalogues, per-system checklists, evidence and plan deployment."),
                  no_args_is_help=True)

STANDARD_HELP = _("catalogue (standard id, e.g. TCVN-14423-2026) [default: the one in force on the date]")


def _catalogue(ctx: typer.Context, standard: str | None, on: dt.date | None = None):  # type: ignore[no-untyped-def]
    """The standard named, else the one in force ON (default: the province's today)."""
    policies = state(ctx).settings.policies
    return by_id(policies, standard) if standard else in_force(policies, on or local_today(policies))


@app.command("catalogue")
@user_errors
@doc(_("List the items that apply at a level, with clause, frequency and where secops gets evidence."))
def catalogue_command(ctx: typer.Context, level: Annotated[int, typer.Option("--level", min=1, max=5)],
                      standard: Annotated[str | None, typer.Option("--standard", help=STANDARD_HELP)] = None,
                      lang: Annotated[str, typer.Option("--lang", help=_("vi | en"))] = "vi",
                      fmt: Annotated[str, format_option(...)] = "table",
                      wide: Annotated[bool, wide_option(...)] = False) -> None:
    fmt = output_format(fmt)
    cat = _catalogue(ctx, standard)
    # At 80 columns the item id never truncates; where secops gets evidence drops (in --format json), the others fold.
    listing = Listing(["item", "clause", "requirement", "every (months)", "secops evidence"],
                      fields=["item", "clause", "requirement", "every_months", "evidence_from", "checks"],
                      keys=["item"], optional=["secops evidence"], title=cat.standard.id,
                      headings=[_("item"), _("clause"), _("requirement"), _("every (months)"), _("secops evidence")])
    for item in cat.applicable(level):
        freq = item.frequency_months.get(level)
        clause = cat.clause(item, level) + ("" if item.clause_checked(level) else " (cần đối chiếu / to verify)")
        sources = ", ".join(item.evidence_sources) or "hồ sơ của cán bộ / officer's documents"
        checks = item.checks_for(level)
        text = getattr(item.text, lang, item.text.vi)
        listing.add((item.id, clause, text, str(freq or ""), f"{sources}: {', '.join(checks)}" if checks else sources),
                    {"item": item.id, "clause": clause, "requirement": text, "every_months": freq,
                     "evidence_from": list(item.evidence_sources), "checks": list(checks)})
    listing.print(console, fmt, wide)


@app.command("set")
@user_errors
@doc(_("Record an officer's statement about one item (a new row; earlier ones stay as history)."))
def set_command(
    ctx: typer.Context,
    system: Annotated[str, typer.Argument(help=_("system code"))],
    item: Annotated[str, typer.Argument(help=_("requirement item id, e.g. R26-BACKUP-POLICY"))],
    status: Annotated[str, typer.Option("--status", help=_("met | partly_met | not_met | not_applicable"))],
    evidence: Annotated[str | None, typer.Option("--evidence", help=_("document reference, or run:N"))] = None,
    evidence_date: Annotated[str | None, typer.Option("--date", help=_("when the activity was done (YYYY-MM-DD)"))] = None,
    unit: Annotated[str | None, typer.Option("--unit", help=_("responsible unit"))] = None,
    milestone: Annotated[str | None, typer.Option("--milestone", help=_("remediation deadline (YYYY-MM-DD)"))] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    standard: Annotated[str | None, typer.Option("--standard", help=STANDARD_HELP)] = None,
) -> None:
    from pydantic import ValidationError

    from secops.errors import SecopsError
    from secops.policyfile import format_validation

    try:
        st = store.Statement.model_validate({
            "system": system, "item": item, "status": status, "evidence": evidence, "evidence_date": evidence_date,
            "responsible_unit": unit, "milestone": milestone, "note": note})
    except ValidationError as exc:
        raise SecopsError(format_validation("requirements set", exc)) from exc
    cat = _catalogue(ctx, standard)
    with state(ctx).db().session() as session:
        store.record(session, cat, st)
    console.print(_("{system} {item}: {status} recorded ({standard})").format(
        system=system, item=item, status=status, standard=cat.standard.id), markup=False, highlight=False)


@app.command("import")
@user_errors
@doc(_("Import statements: every row of every file is checked first; all are written, or none."))
def import_command(ctx: typer.Context, files: Annotated[list[Path], typer.Argument(help=_("CSV or YAML files"))],
                   standard: Annotated[str | None, typer.Option("--standard", help=STANDARD_HELP)] = None) -> None:
    cat = _catalogue(ctx, standard)
    total = 0
    try:
        with state(ctx).db().session() as session:
            for path in files:
                total += store.import_file(session, cat, path)
    except InputRowsError as exc:
        for error in exc.errors:
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        err_console.print(_("{summary}; nothing was imported").format(summary=invalid_rows(exc)), style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    console.print(_("{n} statement(s) imported ({standard})").format(n=total, standard=cat.standard.id),
                  markup=False, highlight=False)


@app.command("link")
@user_errors
@doc(_("Link endpoints to a system: their audits and discovery scans become the system's evidence."))
def link_command(ctx: typer.Context, system: Annotated[str, typer.Argument()],
                 endpoints: Annotated[list[str], typer.Argument(help=_("endpoint codes of the system"))]) -> None:
    with state(ctx).db().session() as session:
        added = store.link_hosts(session, system, endpoints)
    console.print(_("{n} endpoint(s) linked to {system}").format(n=added, system=system), markup=False, highlight=False)


@app.command("override")
@user_errors
@doc(_("Override the computed plan deployment of a system, with a recorded reason."))
def override_command(ctx: typer.Context, system: Annotated[str, typer.Argument()],
                     reason: Annotated[str, typer.Option("--reason", help=_("why (kept with the override)"))],
                     deployment_value: Annotated[str | None, typer.Option(
                         "--deployment", help=_("not_deployed | partly_deployed | fully_deployed"))] = None,
                     clear: Annotated[bool, typer.Option("--clear", help=_("go back to the computed value"))] = False,
                     ) -> None:
    from secops.errors import SecopsError

    if clear == (deployment_value is not None):
        raise SecopsError(_("give --deployment VALUE or --clear"))
    with state(ctx).db().session() as session:
        store.override(session, system, None if clear else deployment_value, reason)
    said = (_("{system}: plan deployment override cleared") if clear
            else _("{system}: plan deployment {value}")).format(system=system, value=_deployment(ctx, deployment_value))
    console.print(said, markup=False, highlight=False)


def _deployment(ctx: typer.Context, value: str | None) -> str:
    """A plan-deployment value as the terminal says it: the register's words (the report catalogue's
    req_* keys) in Vietnamese, the value itself in English (as `--json` and the register files give it)."""
    if not value or language() == "en":
        return value or "—"
    from secops.templating import translator

    return str(translator(state(ctx).settings.reports, language())(f"req_{value}"))


def _text(item: object, lang: str) -> str:
    text = getattr(item, "text", None)
    return str(getattr(text, lang, None) or getattr(text, "vi", "") or "")


@app.command("show")
@user_errors
@doc(_("Show a system's checklist: status, evidence, due date and milestone of each item."))
def show_command(ctx: typer.Context, system: Annotated[str, typer.Argument()],
                 as_of: Annotated[str | None, typer.Option("--as-of", help=_("judge as of this date"))] = None,
                 standard: Annotated[str | None, typer.Option("--standard", help=STANDARD_HELP)] = None,
                 as_json: Annotated[bool, typer.Option("--json", help=_("print JSON (--format json)"))] = False,
                 lang: Annotated[str, typer.Option("--lang", help=_("vi | en (requirement texts)"))] = "vi",
                 fmt: Annotated[str, format_option(...)] = "table",
                 wide: Annotated[bool, wide_option(...)] = False) -> None:
    fmt = output_format(fmt, as_json)
    when = parse_as_of(as_of, projection=True)  # only reads: a future date shows what will be due then
    cat = _catalogue(ctx, standard, when.date())
    with state(ctx).db().session() as session:
        row = store.find_system(session, system)
        entries = checklist(session, row, cat, when)
        dep = deployment(session, row.id, entries, when)
        level = row.level
        register_value = row.plan_deployment
        has_checklist = row.id in with_checklist(session)
    items = [{"item": e.item.id, "clause": e.clause, "clause_checked": e.clause_checked,
              "requirement": _text(e.item, lang), "evidence_from": e.item.evidence_sources,
              "status": e.status, "source": e.source,
              "evidence": e.evidence, "evidence_date": str(e.evidence_date) if e.evidence_date else None,
              "run_id": e.run_id, "due": str(e.due) if e.due else None,
              "milestone": str(e.milestone) if e.milestone else None,
              "responsible_unit": e.responsible_unit, "detail": e.detail} for e in entries]
    # At 80 columns the item id never truncates; clause, requirement, milestone and unit drop (all in --format json).
    listing = Listing(["item", "clause", "requirement", "status", "evidence", "due", "milestone", "unit"],
                      optional=["clause", "requirement", "milestone", "unit"],
                      title=_("{system} — level {level} — {standard}").format(system=system, level=level,
                                                                            standard=cat.standard.id),
                      keys=["item"], headings=[_("item"), _("clause"), _("requirement"), _("status"), _("evidence"),
                                               _("due"), _("milestone"), _("unit")])
    words = {"met": _("met"), "partly_met": _("partly met"), "not_met": _("not met"),
             "not_applicable": _("not applicable"), "overdue": _("overdue")}
    for e, record in zip(entries, items, strict=True):
        listing.add((e.item.id, e.clause, _text(e.item, lang), words.get(e.status, e.status),
                     " ".join(x for x in (e.evidence or "", e.detail) if x), str(e.due or ""),
                     str(e.milestone or ""), e.responsible_unit or ""), record)
    if fmt == "json":
        listing.print(console, fmt, document={
            "system": system, "level": level, "standard": cat.standard.id, "as_of": when.isoformat(),
            "deployment": dep.value, "computed_deployment": dep.computed, "override_reason": dep.override_reason,
            "register_deployment": register_value, "register_follows_checklist": has_checklist, "items": items})
        return
    if fmt == "csv":  # the items; the roll-up and the register's value are in --format json
        listing.print(console, fmt)
        return
    if level is None:
        console.print(_("{system} has no level yet: no checklist").format(system=system), markup=False, highlight=False)
        return
    listing.print(console, fmt, wide)
    extra = " " + _("(override: {reason})").format(reason=dep.override_reason) if dep.override_reason else ""
    console.print(_("checklist roll-up: {value} — {met}/{applicable} items met").format(
        value=_deployment(ctx, dep.value), met=dep.met, applicable=dep.applicable) + extra, markup=False, highlight=False)
    # Two sources, one winner: Form 08 (column 10) and target T1 read the register's value.
    if not has_checklist:
        why = _("it stays as typed: this system has no checklist statements yet, and `secops requirements apply` "
                "sets the register only for systems that have")
    elif register_value == dep.value:
        why = _("the same as the roll-up")
    else:
        why = _("`secops requirements apply` sets it to {value}").format(value=_deployment(ctx, dep.value))
    console.print(_("register (what Form 08 and target T1 count): {value} — {why}").format(
        value=_deployment(ctx, register_value), why=why), markup=False, highlight=False)


@app.command("apply")
@user_errors
@doc(_("Write each checklist's roll-up into the register's plan deployment (Form 08 column 10, T1)."))
def apply_command(ctx: typer.Context,
                  systems: Annotated[list[str] | None, typer.Argument(help=_("system codes [default: all]"))] = None,
                  as_of: Annotated[str | None, typer.Option("--as-of", help=_("judge as of this date"))] = None,
                  dry_run: Annotated[bool, typer.Option("--dry-run", help=_("show, do not write"))] = False) -> None:
    from secops.requirements.register_link import apply_rollup

    when = parse_as_of(as_of)
    with state(ctx).db().session() as session:
        changes = apply_rollup(session, state(ctx).settings.policies, when, set(systems) if systems else None,
                               dry_run=dry_run)
        if dry_run:
            session.rollback()
    for change in changes:
        console.print(f"{change.code}: {_deployment(ctx, change.old)} -> {_deployment(ctx, change.new)}",
                      markup=False, highlight=False)
    said = _("{n} system(s) would change") if dry_run else _("{n} system(s) updated")
    console.print(said.format(n=len(changes)), markup=False, highlight=False)


@app.command("protection-import")
@user_errors
@doc(_("Import central management / national-platform reporting per endpoint (blank = not known)."))
def protection_import_command(ctx: typer.Context,
                              files: Annotated[list[Path], typer.Argument(help=_("CSV or YAML console exports"))]) -> None:
    from secops.requirements.protection import import_management

    total = 0
    try:
        with state(ctx).db().session() as session:
            for path in files:
                total += import_management(session, path)
    except InputRowsError as exc:
        for error in exc.errors:
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
        err_console.print(_("{summary}; nothing was imported").format(summary=invalid_rows(exc)), style="red")
        raise typer.Exit(EXIT_USAGE) from exc
    console.print(_("{n} endpoint fact(s) imported").format(n=total), markup=False, highlight=False)
