"""`secops waivers add|list`: accept a failing check for a scope, until a date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from pydantic import ValidationError

from secops.cliutil import console, state, user_errors
from secops.config import default_data_dir
from secops.errors import SecopsError
from secops.evaluate.waivers import Waiver, WaiverScope, load_waivers, save_waivers, waivers_path
from secops.i18n import _, doc
from secops.localtime import local_today
from secops.safeio import ensure_folder
from secops.termtable import Listing, format_option, output_format, wide_option

waivers_app = typer.Typer(help=_("Waivers: failing checks an officer accepted, for a scope, until a date."),
                          no_args_is_help=True)


def _path(ctx: typer.Context, given: Path | None) -> Path:
    return waivers_path(state(ctx).settings.policies, given)


FILE_HELP = _("waiver file [default: <policies>/waivers.yaml with --policies, else waivers.yaml in the user's data folder]")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _known(ctx: typer.Context, waiver: Waiver) -> None:
    """A waiver names a check of a loaded pack and agencies and systems of the inventory: a typo would
    otherwise waive nothing, silently."""
    from sqlalchemy import select

    from secops.evaluate.sca_load import load_packs
    from secops.store.tables import AgencyRow, SystemRow

    app_state = state(ctx)
    packs = {p.id: {str(c.id) for c in p.checks} for p in load_packs(app_state.settings.checks)}
    if waiver.policy_id not in packs:
        raise SecopsError(_("waiver for {check}: no check pack with policy id {policy} (see `secops checks list`)").format(
            check=repr(waiver.check), policy=repr(waiver.policy_id)))
    if waiver.check_id not in packs[waiver.policy_id]:
        raise SecopsError(_("waiver for {check}: pack {policy} has no check {id} (see `secops checks show {pack}`)").format(
            check=repr(waiver.check), policy=repr(waiver.policy_id), id=repr(waiver.check_id), pack=waiver.policy_id))
    with app_state.db().session() as session:
        for label, row, codes in ((_("agency"), AgencyRow, waiver.scope.agencies),
                                  (_("system"), SystemRow, waiver.scope.systems)):
            if not codes:
                continue
            found = set(session.scalars(select(row.code).where(row.code.in_(codes), row.retired_at.is_(None))))
            missing = [code for code in codes if code not in found]
            if missing:
                raise SecopsError(_("waiver for {check}: {kind} {codes} is not in the inventory (or is retired)").format(
                    check=repr(waiver.check), kind=label, codes=", ".join(map(repr, missing))))


@waivers_app.command("add")
@user_errors
@doc(_("Add a waiver to the waiver file (created if missing; written without following symlinks)."))
def waivers_add(
    ctx: typer.Context,
    check: str = typer.Argument(..., help=_("policy_id:check_id")),
    hosts: str | None = typer.Option(None, "--hosts", help=_('comma-separated endpoint codes, hostnames, IPs ("*" = all)')),
    agencies: str | None = typer.Option(None, "--agencies", help=_("comma-separated agency codes")),
    systems: str | None = typer.Option(None, "--systems", help=_("comma-separated information-system codes")),
    reason: str = typer.Option(..., "--reason", help=_("why the failing check is accepted")),
    approver: str = typer.Option(..., "--approver", help=_("who approved it")),
    expires: str = typer.Option(..., "--expires", help=_("YYYY-MM-DD: the check counts as failed again from this day")),
    file: Path | None = typer.Option(None, "--file", help=FILE_HELP),
) -> None:
    try:
        until = dt.date.fromisoformat(expires)
    except ValueError as exc:
        raise SecopsError(_("--expires {value}: give a date as YYYY-MM-DD").format(value=repr(expires))) from exc
    today = local_today(state(ctx).settings.policies)  # the province's date, once for the whole command
    if until <= today:
        raise SecopsError(_("--expires {value}: the date has passed; a waiver must end in the future").format(
            value=expires))
    path = _path(ctx, file)
    waivers = load_waivers(path)
    try:
        waiver = Waiver(check=check, scope=WaiverScope(hosts=_split(hosts), agencies=_split(agencies),
                                                        systems=_split(systems)),
                        reason=reason, approver=approver, expires=until, created=today)
    except ValidationError as exc:
        why = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise SecopsError(_("waiver for {check}: {why}").format(check=repr(check), why=why)) from exc
    _known(ctx, waiver)
    if file is None and path.parent == default_data_dir():  # the user's data folder, made on first use
        ensure_folder(path.parent)
    save_waivers(path, [*waivers, waiver])
    console.print(_("waiver added to {path}: {check} until {until} ({days} days)").format(
        path=path, check=waiver.check, until=until, days=waiver.days_left(today)), markup=False, highlight=False)


@waivers_app.command("list")
@user_errors
@doc(_("Every waiver with its scope, approver and days left (expired ones are marked)."))
def waivers_list(
    ctx: typer.Context,
    file: Path | None = typer.Option(None, "--file", help=FILE_HELP),
    fmt: str = format_option(),
    wide: bool = wide_option(),
) -> None:
    fmt = output_format(fmt)
    path = _path(ctx, file)
    today = local_today(state(ctx).settings.policies)
    # At 80 columns the check id never truncates; the approver drops (`--file` is plain YAML).
    listing = Listing(["check", "scope", "reason", "approver", "expires", "days left"],
                      fields=["check", "scope", "reason", "approver", "expires", "days_left"],
                      optional=["approver"], title=str(path), keys=["check"],
                      headings=[_("check"), _("scope"), _("reason"), _("approver"), _("expires"), _("days left")])
    scope_words = {"hosts": _("hosts"), "agencies": _("agencies"), "systems": _("systems")}
    for w in load_waivers(path):
        scope = {k: list(v) for k, v in w.scope.model_dump().items() if v}
        left = w.days_left(today)
        shown = "; ".join(f"{scope_words.get(k, k)}: {', '.join(v)}" for k, v in scope.items())
        listing.add((w.check, shown, w.reason, w.approver,
                     w.expires.isoformat(), str(left) if left > 0 else _("expired")),
                    {"check": w.check, "scope": scope, "reason": w.reason, "approver": w.approver,
                     "expires": w.expires.isoformat(), "days_left": left})
    listing.print(console, fmt, wide)
