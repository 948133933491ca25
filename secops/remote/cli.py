"""`secops scanner` (run a site's scanner) and `secops scanners` (list the scanners seen)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select

from secops.cliutil import console, state, user_errors
from secops.errors import SecopsError
from secops.i18n import _, doc
from secops.termtable import Listing, format_option, output_format, wide_option


def _url(broker: str | None, broker_file: Path | None) -> str:
    from secops.remote.broker import broker_url

    url = broker_url(broker, broker_file)
    if url is None:
        raise SecopsError(_("no broker: give --broker-file FILE, or set SECOPS_BROKER_URL / SECOPS_BROKER_URL_FILE "
                            "(--broker URL also works, but a password in it shows in the process list)"))
    return url


BROKER = typer.Option(None, "--broker", help=_("redis:// or rediss:// URL [default: $SECOPS_BROKER_URL]"))
BROKER_FILE = typer.Option(None, "--broker-file", help=_("file holding the broker URL (keeps a password out of ps)"))


scanner_app = typer.Typer(add_completion=False, invoke_without_command=True, pretty_exceptions_enable=False,
                          help=_("Run a site's remote scanner; `secops scanner keygen` makes its signing key."))
scanners_app = typer.Typer(add_completion=False, invoke_without_command=True, pretty_exceptions_enable=False,
                           help=_("List the sites' scanners; enrol a site's public key; write the broker's ACL file."))
KEY = typer.Option(None, "--key", help=_("this site's Ed25519 signing key [default: $SECOPS_SCANNER_KEY]"))


@scanner_app.callback()
@user_errors
@doc(_("Run a remote scanner: discover and audit tasks of one site, with this machine's scope, credentials "
       "and signing key. Reconnects to the broker for ever; exits non-zero only on a configuration error."))
def scanner_command(
    ctx: typer.Context,
    site: str | None = typer.Option(None, "--site", help=_("the site code in policies/sites.yaml this scanner serves")),
    broker: str | None = BROKER,
    broker_file: Path | None = BROKER_FILE,
    key: Path | None = KEY,
    scope: Path | None = typer.Option(None, "--scope", help=_("this site's scope file [default: $SECOPS_SCOPE]")),
    config: Path | None = typer.Option(None, "--config", help=_("this site's audit config (credentials, known_hosts)")),
    checks: Path | None = typer.Option(None, "--checks", help=_("check-pack folder [default: bundled checks/]")),
    name: str | None = typer.Option(None, "--name", help=_("scanner name [default: SITE@HOST:PID]")),
) -> None:
    if ctx.invoked_subcommand:
        return
    from secops.discover.scope import load_scope, locate_scope_file
    from secops.discover.sites import SITE_CODE, load_sites
    from secops.remote.broker import require_auth
    from secops.remote.scanner import ScannerContext
    from secops.remote.signing import load_private
    from secops.remote.worker import serve

    if site is None:
        raise SecopsError(_("--site CODE is required (the site code in policies/sites.yaml)"))
    if not re.match(SITE_CODE, site):
        raise SecopsError(_("--site {site}: a site code is letters, digits, '.', '_' or '-'").format(site=repr(site)))
    settings = state(ctx).settings
    sites = load_sites(settings.policies)
    if sites.sites and sites.site(site) is None:
        raise SecopsError(_("--site {site}: not in {policies}/sites.yaml (sites: {sites})").format(
            site=repr(site), policies=settings.policies, sites=", ".join(s.code for s in sites.sites)))
    key_file = key or (Path(os.environ["SECOPS_SCANNER_KEY"]) if os.environ.get("SECOPS_SCANNER_KEY") else None)
    if key_file is None:
        raise SecopsError(_("no signing key: give --key FILE or set SECOPS_SCANNER_KEY "
                            "(make one with `secops scanner keygen --out FILE`)"))
    private = load_private(key_file)
    scope_file = locate_scope_file(scope)
    load_scope(scope_file)  # refuse a bad scope file now, not at the first task
    if config is not None and not config.exists():
        raise SecopsError(_("{path}: audit config not found").format(path=config))
    ctx_ = ScannerContext(site=site, scope_file=scope_file, audit_config=config,
                          checks=checks or settings.checks, policies=settings.policies, name=name or "")
    url = require_auth(_url(broker, broker_file), sites.link.allow_unauthenticated_broker)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(ctx_, url, sites.link, private)


@scanner_app.command("keygen", help=_("Make this site's Ed25519 signing key; give FILE.pub to the central side "
                                      "(`secops scanners enrol`)."))
@user_errors
def keygen_command(
    out: Path = typer.Option(..., "--out", help=_("the private key file to write (mode 0600); FILE.pub beside it")),
) -> None:
    from secops.remote.signing import fingerprint, generate

    public_path, public = generate(out)
    console.print(_("private key: {private} (keep it on this scanner only; chmod 600)\npublic key: {public}\n"
                    "fingerprint: {fingerprint}").format(private=out, public=public_path, fingerprint=fingerprint(public)),
                  markup=False, highlight=False)


@scanners_app.callback()
@user_errors
@doc(_("List each site's broker user, enrolled key, live scanners and last heartbeat."))
def scanners_command(
    ctx: typer.Context,
    broker: str | None = BROKER,
    broker_file: Path | None = BROKER_FILE,
    as_json: bool = typer.Option(False, "--json", help=_("print JSON (--format json)")),
    fmt: str = format_option(),
    wide: bool = wide_option(),
) -> None:
    if ctx.invoked_subcommand:
        return
    fmt = output_format(fmt, as_json)
    from secops.discover.sites import load_sites

    url = _url(broker, broker_file)
    sites = load_sites(state(ctx).settings.policies)
    seen = _live_scanners(url, sites)
    missing = sorted({s.code for s in sites.sites} - {s.get("site") for s in seen})
    rows = _site_rows(state(ctx).db(), sites, seen)
    _print_scanners(rows, seen, missing, fmt, wide)


def _live_scanners(url: str, sites: Any) -> list[dict[str, Any]]:
    """The heartbeats the broker holds (bounded), by site and name."""
    import redis

    from secops.remote.broker import redact
    from secops.remote.celery_app import HEARTBEAT_PREFIX
    from secops.remote.worker import redis_client

    client = redis_client(url, sites.link)
    try:
        keys = list(itertools.islice(client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=500), 10_000))
        values = [client.get(k) for k in keys]
    except redis.RedisError as exc:
        raise SecopsError(_("broker {redact}: {exc}").format(redact=redact(url), exc=exc)) from exc
    return sorted((json.loads(v) for v in values if v), key=lambda s: (s.get("site", ""), s.get("name", "")))


def _site_rows(db: Any, sites: Any, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from secops.remote.tables import ScannerKeyRow

    with db.session() as session:
        enrolled = {row.site: row.fingerprint for row in session.scalars(select(ScannerKeyRow))}
    rows: list[dict[str, Any]] = []
    for site in sites.sites:
        mine = [s for s in seen if s.get("site") == site.code]
        last = max((s.get("last_heartbeat", "") for s in mine), default=None)
        rows.append({"site": site.code, "user": site.broker_user, "key": enrolled.get(site.code),
                     "scanners": len(mine), "last_heartbeat": last})
    return rows


def _print_scanners(rows: list[dict[str, Any]], seen: list[dict[str, Any]], missing: list[str], fmt: str,
                    wide: bool) -> None:
    now = dt.datetime.now(dt.UTC)
    # At 80 columns the site never truncates; the key (a fingerprint) folds but stays whole.
    listing = Listing(["site", "broker user", "key", "scanners", "last heartbeat"], keys=["site"],
                      headings=[_("site"), _("broker user"), _("key"), _("scanners"), _("last heartbeat")])
    for row in rows:
        last = row["last_heartbeat"]
        age = " " + _("({n} s ago)").format(n=int((now - dt.datetime.fromisoformat(last)).total_seconds())) if last else ""
        listing.add((row["site"], row["user"], row["key"] or _("NOT ENROLLED"), row["scanners"],
                     f"{shown_time(last)}{age}" if last else "-"), row)
    listing.print(console, fmt, wide, document={"sites": rows, "scanners": seen, "sites_without_scanner": missing}
                  if fmt == "json" else None)
    if fmt != "table":
        return
    for s in seen:
        console.print(f"  {s.get('name', '?')} ({s.get('site', '?')}, {s.get('version', '?')})",
                      markup=False, highlight=False)
    if missing:
        console.print(_("sites with no live scanner: {sites}").format(sites=", ".join(missing)),
                      markup=False, highlight=False)


def shown_time(value: str) -> str:
    """A stored UTC time shown in this machine's zone (the province's), named."""
    return dt.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


@scanners_app.command("enrol", help=_("Enrol (or replace) a site's public key: only results signed by its private key "
                                      "are stored."))
@user_errors
def enrol_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help=_("site code in policies/sites.yaml")),
    public_key: Path = typer.Option(..., "--public-key", help=_("the site's FILE.pub from `secops scanner keygen`")),
) -> None:
    from secops.discover.sites import load_sites
    from secops.remote.signing import fingerprint, parse_public, public_text
    from secops.remote.tables import ScannerKeyRow
    from secops.store.base import utcnow

    sites = load_sites(state(ctx).settings.policies)
    if sites.site(site) is None:
        raise SecopsError(_("site {site} is not in policies/sites.yaml").format(site=repr(site)))
    try:
        text = public_key.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecopsError(_("{path}: cannot read: {error}").format(path=public_key, error=exc.strerror or exc)) from exc
    if "PRIVATE KEY" in text:
        raise SecopsError(_("{path}: this is a PRIVATE key; give the .pub file (the private key stays at the site)").format(
            path=public_key))
    try:
        public = public_text(parse_public(text))
    except SecopsError as exc:
        raise SecopsError(_("{public_key}: {exc}").format(public_key=public_key, exc=exc)) from exc
    with state(ctx).db().session() as session:
        row = session.scalar(select(ScannerKeyRow).where(ScannerKeyRow.site == site))
        if row is None:
            session.add(ScannerKeyRow(site=site, public_key=public, fingerprint=fingerprint(public)))
        else:
            row.public_key, row.fingerprint, row.enrolled_at = public, fingerprint(public), utcnow()
    console.print(_("site {site}: key {fingerprint} enrolled").format(site=site, fingerprint=fingerprint(public)),
                  markup=False, highlight=False)


@scanners_app.command("acl")
@user_errors
@doc(_("Write the Redis ACL file (one user per site, confined to its keys, and the central user) and each "
       "user's broker URL file; passwords already in --secrets-dir are kept."))
def acl_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help=_("the Redis ACL file to write")),
    secrets_dir: Path = typer.Option(..., "--secrets-dir",
                                     help=_("folder for each user's broker URL file (<user>.url, mode 0600)")),
    host: str = typer.Option(..., "--host", help=_("the broker's host name as scanners reach it")),
    port: int = typer.Option(6379, "--port"),
    tls: bool = typer.Option(True, "--tls/--no-tls", help=_("rediss:// URLs (TLS; the CA in sites.yaml link.tls)")),
) -> None:
    from secops.discover.sites import load_sites
    from secops.remote.acl import accounts, acl_text, broker_url_for
    from secops.safeio import ensure_folder, write_file

    sites = load_sites(state(ctx).settings.policies)
    if not sites.sites:
        raise SecopsError(_("policies/sites.yaml has no sites"))
    ensure_folder(secrets_dir)
    found = accounts(sites, secrets_dir)
    for account in found:
        write_file(secrets_dir / f"{account.user}.url", broker_url_for(account, host, port, tls) + "\n", mode=0o600)
    write_file(out, acl_text(found), mode=0o640)
    console.print(_("{path}: {n} users; broker URL files in {folder} (give each site only its own)").format(
        path=out, n=len(found), folder=secrets_dir), markup=False, highlight=False)
