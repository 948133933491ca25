"""`secops scanner` (run a site's scanner) and `secops scanners` (list the scanners seen)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
from pathlib import Path

import typer
from rich.table import Table

from secops.cliutil import console, state, user_errors
from secops.errors import SecopsError


def _url(broker: str | None, broker_file: Path | None) -> str:
    from secops.remote.broker import broker_url

    url = broker_url(broker, broker_file)
    if url is None:
        raise SecopsError("no broker: give --broker-file FILE, or set SECOPS_BROKER_URL / SECOPS_BROKER_URL_FILE "
                          "(--broker URL also works, but a password in it shows in the process list)")
    return url


BROKER = typer.Option(None, "--broker", help="redis:// or rediss:// URL [default: $SECOPS_BROKER_URL]")
BROKER_FILE = typer.Option(None, "--broker-file", help="file holding the broker URL (keeps a password out of ps)")


@user_errors
def scanner_command(
    ctx: typer.Context,
    site: str = typer.Option(..., "--site", help="the site code in policies/sites.yaml this scanner serves"),
    broker: str | None = BROKER,
    broker_file: Path | None = BROKER_FILE,
    scope: Path | None = typer.Option(None, "--scope", help="this site's scope file [default: $SECOPS_SCOPE]"),
    config: Path | None = typer.Option(None, "--config", help="this site's audit config (credentials, known_hosts)"),
    checks: Path | None = typer.Option(None, "--checks", help="check-pack folder [default: bundled checks/]"),
    name: str | None = typer.Option(None, "--name", help="scanner name [default: SITE@HOST:PID]"),
) -> None:
    """Run a remote scanner: discover and audit tasks of one site, with this machine's scope and credentials."""
    from secops.discover.scope import load_scope, locate_scope_file
    from secops.discover.sites import SITE_CODE, load_sites
    from secops.remote.scanner import ScannerContext
    from secops.remote.worker import serve

    if not re.match(SITE_CODE, site):
        raise SecopsError(f"--site {site!r}: a site code is letters, digits, '.', '_' or '-'")
    settings = state(ctx).settings
    scope_file = locate_scope_file(scope)
    load_scope(scope_file)  # refuse a bad scope file now, not at the first task
    if config is not None and not config.exists():
        raise SecopsError(f"{config}: audit config not found")
    ctx_ = ScannerContext(site=site, scope_file=scope_file, audit_config=config,
                          checks=checks or settings.checks, policies=settings.policies, name=name or "")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(ctx_, _url(broker, broker_file), load_sites(settings.policies).link)


@user_errors
def scanners_command(
    ctx: typer.Context,
    broker: str | None = BROKER,
    broker_file: Path | None = BROKER_FILE,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List the scanners seen on the broker: site, version, last heartbeat; and sites with none."""
    import redis

    from secops.discover.sites import load_sites
    from secops.remote.broker import redact
    from secops.remote.worker import HEARTBEAT_PREFIX, redis_client

    url = _url(broker, broker_file)
    sites = load_sites(state(ctx).settings.policies)
    client = redis_client(url, sites.link)
    try:
        keys = list(itertools.islice(client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=500), 10_000))
        values = [client.get(k) for k in keys]
    except redis.RedisError as exc:
        raise SecopsError(f"broker {redact(url)}: {exc}") from exc
    seen = sorted((json.loads(v) for v in values if v), key=lambda s: (s.get("site", ""), s.get("name", "")))
    missing = sorted({s.code for s in sites.sites} - {s.get("site") for s in seen})
    if as_json:
        console.print_json(json.dumps({"scanners": seen, "sites_without_scanner": missing}))
        return
    now = dt.datetime.now(dt.UTC)
    table = Table("scanner", "site", "version", "last heartbeat", show_edge=False)
    for s in seen:
        age = now - dt.datetime.fromisoformat(s["last_heartbeat"])
        table.add_row(s.get("name", "?"), s.get("site", "?"), s.get("version", "?"),
                      f"{s['last_heartbeat']} ({int(age.total_seconds())} s ago)")
    console.print(table)
    if missing:
        console.print(f"sites with no live scanner: {', '.join(missing)}", markup=False, highlight=False)
