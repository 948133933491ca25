"""`secops users add|list|disable|reset-mfa` and `secops tokens add|list|revoke`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from secops.cliutil import console, fail, state, user_errors
from secops.errors import SecopsError
from secops.i18n import _, doc
from secops.termtable import Listing, format_option, output_format, wide_option

users_app = typer.Typer(help=_("Console accounts and roles."),
                        no_args_is_help=True)
tokens_app = typer.Typer(help=_("API tokens scoped to an agency subtree."), no_args_is_help=True)


def _read_password(path: Path | None) -> str | None:
    if path is None:
        if not sys.stdin.isatty():
            return None
        import getpass

        first = getpass.getpass(_("password: "))
        if first != getpass.getpass(_("again: ")):
            raise SecopsError(_("the two passwords differ"))
        return first
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecopsError(_("--password-file {path}: {error}").format(path=path, error=exc)) from exc
    return text.rstrip("\r\n")


@users_app.command("add", help=_("Add an account. Officers enrol a TOTP second factor at their first sign-in."))
@user_errors
def add(ctx: typer.Context, name: str = typer.Argument(..., help=_("sign-in name")),
        role: str = typer.Option(..., "--role", help=_("province-officer | agency-officer | leader | auditor")),
        agency: str | None = typer.Option(None, "--agency", help=_("agency code: the user sees its subtree only")),
        password_file: Path | None = typer.Option(None, "--password-file",
                                                  help=_("file with the password (else asked; none = LDAP account)")),
        ldap: bool = typer.Option(False, "--ldap", help=_("signs in by LDAP bind, no local password"))) -> None:
    from secops.users.store import add_user, cli_actor

    password = None if ldap else _read_password(password_file)
    if password is None and not ldap:
        raise fail(_("give --password-file FILE (or run in a terminal to type it), or --ldap"))
    row = add_user(state(ctx).db(), name, role, agency, password, actor=cli_actor(), source="ldap" if ldap else "local")
    console.print(_("user {name} added: {role}, scope {scope}").format(
        name=row.name, role=row.role, scope=row.agency_code or _("province")), markup=False, highlight=False)


def _state_words() -> dict[str, str]:
    return {"disabled": _("disabled"), "locked": _("locked"), "active": _("active"), "revoked": _("revoked")}


@users_app.command("list")
@user_errors
@doc(_("Accounts with role, scope, second factor and state."))
def list_(ctx: typer.Context, fmt: str = format_option(), wide: bool = wide_option()) -> None:
    from secops.users.store import list_users

    fmt = output_format(fmt)
    # At 80 columns the name never truncates; the others fold.
    listing = Listing(["name", "role", "scope", "source", "mfa", "state"], keys=["name"],
                      headings=[_("name"), _("role"), _("scope"), _("source"), _("second factor"), _("state")])
    words = _state_words()
    for row in list_users(state(ctx).db()):
        st = "disabled" if row.disabled_at else ("locked" if row.locked_until else "active")
        listing.add((row.name, row.role, row.agency_code or _("province"), row.source,
                     _("enrolled") if row.totp_enrolled else "-", words[st]),
                    {"name": row.name, "role": row.role, "scope": row.agency_code, "source": row.source,
                     "mfa": bool(row.totp_enrolled), "state": st})
    listing.print(console, fmt, wide)


@users_app.command("disable", help=_("Disable an account; its open sessions end at once."))
@user_errors
def disable(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    from secops.users.store import cli_actor, disable_user

    ended = disable_user(state(ctx).db(), name, actor=cli_actor())
    console.print(_("user {name} disabled; {n} session(s) ended").format(name=name, n=ended), markup=False,
                  highlight=False)


@users_app.command("reset-mfa", help=_("Forget the user's TOTP seed: it enrols again at its next sign-in."))
@user_errors
def reset(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    from secops.users.store import cli_actor, reset_mfa

    reset_mfa(state(ctx).db(), name, actor=cli_actor())
    console.print(_("user {name}: second factor reset").format(name=name), markup=False, highlight=False)


@tokens_app.command("add", help=_("Create a read-only API token; it is printed once and only its digest is stored."))
@user_errors
def token_add(ctx: typer.Context, name: str = typer.Option("api", "--name", help=_("what the token is for")),
              agency: str | None = typer.Option(None, "--agency",
                                                help=_("scope: this agency's subtree [province]"))) -> None:
    from secops.users.store import add_token, cli_actor

    token = add_token(state(ctx).db(), name, agency, actor=cli_actor())
    print(token)


@tokens_app.command("list")
@user_errors
@doc(_("API tokens with scope, prefix, creation time and state (never the token itself)."))
def token_list(ctx: typer.Context, fmt: str = format_option(), wide: bool = wide_option()) -> None:
    import datetime as dt

    from secops.localtime import as_local, province_zone, zone_label
    from secops.users.store import list_tokens

    fmt = output_format(fmt)
    zone = province_zone(state(ctx).settings.policies)
    # Times shown local with the zone in the heading; the machine formats keep UTC (ISO, with Z).
    created_heading = _("created ({zone})").format(zone=zone_label(dt.datetime.now(zone)).split()[0])
    listing = Listing(["id", "name", "scope", "prefix", "created", "state"], keys=["id", "prefix"],
                      headings=[_("id"), _("name"), _("scope"), _("prefix"), created_heading, _("state")])
    words = _state_words()
    for row in list_tokens(state(ctx).db()):
        created = row.created_at.replace(tzinfo=dt.UTC) if row.created_at.tzinfo is None else row.created_at
        st = "revoked" if row.revoked_at else "active"
        listing.add((row.id, row.name, row.agency_code or _("province"), row.prefix,
                     as_local(created, zone).strftime("%Y-%m-%d %H:%M:%S"), words[st]),
                    {"id": row.id, "name": row.name, "scope": row.agency_code, "prefix": row.prefix,
                     "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"), "state": st})
    listing.print(console, fmt, wide)


@tokens_app.command("revoke")
@user_errors
def token_revoke(ctx: typer.Context, token_id: int = typer.Argument(...)) -> None:
    from secops.users.store import cli_actor, revoke_token

    revoke_token(state(ctx).db(), token_id, actor=cli_actor())
    console.print(_("token {id} revoked").format(id=token_id), markup=False, highlight=False)
