"""`secops discover --agency CODE ...` (scan), `secops discover diff`, `show` and `xml`.

A scan starts nmap as soon as the scope guard has accepted the targets (`plan.start_early`), before
SQLAlchemy, the tables and the stage are imported and the database is opened: those happen while
nmap scans. So this module imports only typer and secops' light plumbing at the top;
each command imports what it uses.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from secops.cliutil import console, err_console, state, user_errors
from secops.errors import SecopsError
from secops.i18n import _, doc, status_text
from secops.termtable import format_option, wide_option

if TYPE_CHECKING:
    from rich.text import Text

    from secops.discover.diff import RunDiff
    from secops.models import RunStatus
    from secops.stages import StageContext, StageResult

EXIT_SCAN_INCOMPLETE, EXIT_INTERRUPTED = 1, 130
SHOW_LIMIT = 200

app = typer.Typer(help=_("Discover hosts and services with nmap (scope-guarded), reconcile them with the inventory."),
                  invoke_without_command=True, no_args_is_help=False)


def run_discover(app_state: StageContext, agency: str, extra: dict[str, Any], *, trigger: str = "manual",
                 job_name: str | None = None) -> tuple[int, StageResult, RunStatus]:
    """Open a run, run the stage into it, close it with the stage's status (used by the CLI)."""
    from secops.models import RunStatus
    from secops.runs import recorded
    from secops.stages import StageOptions, stage_function

    # Refused by the guard, bad config, nmap missing...: recorded as failed, then raised.
    with recorded(app_state.db(), "discover", failure="discovery failed", trigger=trigger, job_name=job_name,
                  agency_code=agency) as run:
        result = stage_function("discover")(app_state, run.id, StageOptions(agency_code=agency, extra=extra))
        status = RunStatus.interrupted if result.summary.get("interrupted") else RunStatus(result.status)
        run.finish(status, summary=result.summary, errors=result.errors)
    return run.id, result, status


@app.callback()
@user_errors
@doc(_("Scan an agency's authorised networks (`secops discover --agency CODE`), or run a sub-command."))
def discover(
    ctx: typer.Context,
    agency: str | None = typer.Option(None, "--agency", help=_("agency code whose authorised networks are scanned")),
    targets: list[str] | None = typer.Option(None, "--targets", "-t",
                                                help=_("IPv4 addresses, CIDRs or ranges (a.b.c.d-e), comma-separated "
                                                     "[default: every range authorised for the agency]")),
    profile: str = typer.Option("standard", "--profile",
                                help=_("quick, standard or services: profiles in discovery.yaml of the policies folder")),
    scope: Path | None = typer.Option(None, "--scope", help=_("scope file [default: $SECOPS_SCOPE, then "
                                                               "<user config dir>/secops/scope.yaml]")),
    override_scope: str | None = typer.Option(None, "--override-scope", metavar="REASON",
                                                 help=_("scan targets outside the authorised ranges; the reason is "
                                                      "recorded in the run (exclusions still apply)")),
    ports: str | None = typer.Option(None, "--ports", help=_("nmap port list instead of the profile's top ports")),
    timing: int | None = typer.Option(None, "--timing", min=0, max=5, help=_("nmap -T0..5")),
    max_rate: int | None = typer.Option(None, "--max-rate", min=1, help=_("nmap --max-rate (packets/second)")),
    host_timeout: str | None = typer.Option(None, "--host-timeout", help=_("nmap --host-timeout (e.g. 5m)")),
    parallel: int | None = typer.Option(None, "--parallel", min=1, max=16, help=_("chunks scanned at once")),
    chunk_prefix: int | None = typer.Option(None, "--chunk-prefix", min=16, max=32,
                                               help=_("split ranges into chunks of this prefix length")),
    chunk_timeout: int | None = typer.Option(None, "--chunk-timeout", min=1, help=_("seconds per nmap process")),
    no_ping: bool | None = typer.Option(None, "--no-ping/--ping", help=_("nmap -Pn: skip host discovery")),
    as_json: bool = typer.Option(False, "--json", help=_("print the run summary as JSON")),
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if not agency:
        raise SecopsError(_("--agency CODE is required to scan (or use a sub-command: diff, show, xml)"))
    extra = {"targets": targets or [], "profile": profile, "scope_file": str(scope) if scope else None,
             "override_scope": override_scope, "ports": ports, "timing": timing, "max_rate": max_rate,
             "host_timeout": host_timeout, "parallel": parallel, "chunk_prefix": chunk_prefix,
             "chunk_timeout_seconds": chunk_timeout, "no_ping": no_ping, "progress": not as_json}
    app_state = state(ctx)
    from secops import interrupts
    from secops.discover import nmap_runner
    from secops.discover.plan import start_early

    # nmap starts now if the scope guard accepts the targets; the run is recorded while it scans.
    try:
        start_early(app_state.settings.policies, agency, extra, app_state.settings.db_url)
        run_id, result, status = run_discover(app_state, agency, extra)
    finally:  # a run that failed before scanning leaves no nmap behind, and signals as they were
        interrupts.release(raise_pending=False)
        nmap_runner.discard_prestarted()
    from secops.models import RunStatus

    try:
        if as_json:
            console.print_json(json.dumps({"run": run_id, "status": status.value, "summary": result.summary,
                                           "errors": result.errors}, default=str))
        else:
            _print_scan(app_state, run_id, result, status)
    finally:
        _release(app_state)
    if status is RunStatus.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if status is not RunStatus.ok:
        raise typer.Exit(EXIT_SCAN_INCOMPLETE)


def _release(app_state: StageContext) -> None:
    """The command is done: close the database now (SQLite checkpoints its WAL here), then spare the
    exiting interpreter its garbage collections over every object of SQLAlchemy, pydantic and the
    tables (~0.2 s). gc.freeze() only exempts the objects alive now from the cycle
    collector; reference counting still frees them, and open files are still closed, at exit."""
    app_state.db().dispose()
    gc.freeze()


def _print_scan(app_state: StageContext, run_id: int, result: StageResult, status: RunStatus) -> None:
    s = result.summary
    if s.get("scope_override"):
        err_console.print(_("SCOPE OVERRIDE recorded in the run: {reason}").format(reason=s["scope_override"]["reason"]),
                          style="bold yellow",
                          markup=False, highlight=False)
    _hosts_table(app_state, run_id)
    console.print(_("run {id}: {status} — {up} host(s) up, {ports} open port(s); {matched} matched, "
                    "{unregistered} unregistered, {conflicts} conflict(s); chunks {chunks_ok}/{chunks} ok").format(
        id=run_id, status=status_text(status.value), up=s.get("hosts_up", 0), ports=s.get("open_ports", 0),
        matched=s.get("matched", 0), unregistered=s.get("unregistered", 0), conflicts=s.get("conflict", 0),
        chunks_ok=s.get("chunks_ok", 0), chunks=s.get("chunks", 0)), markup=False, highlight=False)
    for note in s.get("notes", []):
        console.print(_("note: {note}").format(note=note), markup=False, highlight=False)
    for error in result.errors:
        err_console.print(_("error: {error}").format(error=error), markup=False, highlight=False, soft_wrap=True)


def _hosts_table(app_state: StageContext, run_id: int, wide: bool = False) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from secops.discover.risky import load_risky
    from secops.discover.tables import DiscoveredHostRow
    from secops.termtable import fitted_table, print_wide

    risky = load_risky(app_state.settings.policies)
    with app_state.db().session() as session:
        hosts = list(session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run_id)
                                     .options(selectinload(DiscoveredHostRow.ports))
                                     .order_by(DiscoveredHostRow.id)))
        # At 80 columns the address never truncates; the MAC and OS drop (`--format json` has them).
        table, keep = fitted_table(console, ["address", "hostname", "mac", "os", "reconciliation", "open ports"],
                                   optional={"mac", "os"}, keys={"address"}, title=_("discovery run {id}").format(id=run_id),
                                   wide=wide, headings=[_("address"), _("hostname"), _("MAC"), _("OS"),
                                                        _("reconciliation"), _("open ports")])
        words = {"matched": _("matched"), "unregistered": _("unregistered"), "conflict": _("conflict")}
        for host in hosts[:SHOW_LIMIT]:
            ports = ", ".join(f"{p.port}/{p.protocol} {p.service or ''}".strip()
                              + (" " + _("(RISKY)") if risky.reason(p.port, p.protocol, p.service) else "")
                              for p in host.ports if p.state == "open")
            status = words.get(host.match_status, host.match_status)
            reconciliation = _("{status} by {rule}").format(status=status, rule=host.match_rule) if host.match_rule \
                else status
            # Table cells are literal text: network strings must not be read as rich markup.
            cells = [_plain(v) for v in (host.address, host.hostname, host.mac,
                                         f"{host.os_name} ({host.os_accuracy}%)" if host.os_name else "",
                                         reconciliation, ports)]
            table.add_row(*(cells[i] for i in keep))
    if hosts and wide:
        print_wide(console, table)
    elif hosts:
        console.print(table)
    if len(hosts) > SHOW_LIMIT:
        console.print(_("... {n} more: `secops discover show {id} --json`").format(n=len(hosts) - SHOW_LIMIT, id=run_id))


def _plain(value: object) -> Text:
    from rich.text import Text

    from secops.textsafe import terminal_text

    return Text(terminal_text(value))


@app.command("diff")
@user_errors
@doc(_("What changed between two discovery runs: new/gone hosts, newly open/closed ports (risky flagged)."))
def diff_command(
    ctx: typer.Context,
    run_a: int | None = typer.Argument(None, help=_("earlier discovery run [default: the second latest]")),
    run_b: int | None = typer.Argument(None, help=_("later discovery run [default: the latest]")),
    agency: str | None = typer.Option(None, "--agency", help=_("with no runs given: the agency's last two runs")),
    as_json: bool = typer.Option(False, "--json", help=_("machine-readable output")),
    fail_on_risky: bool = typer.Option(False, "--fail-on-risky", help=_("exit 1 if a risky service newly opened")),
) -> None:
    from secops.discover.diff import diff_runs, last_two_runs
    from secops.discover.risky import load_risky

    if (run_a is None) != (run_b is None):
        raise SecopsError(_("give both RUN_A and RUN_B, or neither (the last two runs)"))
    app_state = state(ctx)
    risky = load_risky(app_state.settings.policies)
    with app_state.db().session() as session:
        if run_a is None or run_b is None:
            run_a, run_b = last_two_runs(session, agency)
        result = diff_runs(session, run_a, run_b, risky)
    if as_json:
        console.print_json(json.dumps({**result.model_dump(), "risky_opened": len(result.risky_opened)}))
    else:
        _print_diff(result)
    if fail_on_risky and result.risky_opened:
        raise typer.Exit(1)


def _print_diff(d: RunDiff) -> None:
    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    say(_("discovery diff: run {run_a} -> run {run_b} ({agency})").format(run_a=d.run_a, run_b=d.run_b, agency=d.agency))
    for warning in d.warnings:
        err_console.print(_("warning: {warning}").format(warning=warning), markup=False, highlight=False, soft_wrap=True)
    say(_("new hosts: {n}").format(n=len(d.new_hosts)))
    for h in d.new_hosts:
        say(f"  + {h.address} {h.hostname or ''} [{h.match_status}] " + _("open: {ports}").format(
            ports=", ".join(map(str, h.open_ports)) or "-"))
    say(_("gone hosts: {n}").format(n=len(d.gone_hosts)))
    for h in d.gone_hosts:
        say(f"  - {h.address} {h.hostname or ''} [{h.match_status}]")
    say(_("newly open ports: {n} (risky: {risky})").format(n=len(d.opened_ports), risky=len(d.risky_opened)))
    for p in d.opened_ports:
        service = " ".join(x for x in (p.service, p.product, p.version) if x)
        flag = "  " + _("RISKY: {risky}").format(risky=p.risky) if p.risky else ""
        say(f"  + {p.address}:{p.port}/{p.protocol} {service}" + flag)
    say(_("closed ports: {n}").format(n=len(d.closed_ports)))
    for p in d.closed_ports:
        say(f"  - {p.address}:{p.port}/{p.protocol} {p.service or ''}")


@app.command("show")
@user_errors
@doc(_("The hosts and ports one discovery run found, with their reconciliation."))
def show_command(
    ctx: typer.Context,
    run: int | None = typer.Argument(None, help=_("discovery run [default: the latest]")),
    as_json: bool = typer.Option(False, "--json", help=_("machine-readable output (--format json)")),
    fmt: str = format_option(),
    wide: bool = wide_option(),
) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from secops.discover.tables import DiscoveredHostRow, DiscoveryScanRow
    from secops.termtable import Listing, output_format

    fmt = output_format(fmt, as_json)

    app_state = state(ctx)
    with app_state.db().session() as session:
        run = run or session.scalar(select(DiscoveryScanRow.run_id).order_by(DiscoveryScanRow.run_id.desc()).limit(1))
        if run is None or session.scalar(select(DiscoveryScanRow.id).where(DiscoveryScanRow.run_id == run)) is None:
            raise SecopsError(_("no such discovery run") if run else _("no discovery run in this database yet"))
        if fmt != "table":
            hosts = session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run)
                                    .options(selectinload(DiscoveredHostRow.ports)).order_by(DiscoveredHostRow.id))
            data = [{"address": h.address, "hostname": h.hostname, "hostnames": h.hostnames, "mac": h.mac,
                     "vendor": h.vendor, "os": h.os_name, "os_accuracy": h.os_accuracy, "match": h.match_status,
                     "rule": h.match_rule, "candidates": (h.match_detail or {}).get("candidates", {}),
                     "ports": [{"port": p.port, "protocol": p.protocol, "state": p.state, "service": p.service,
                                "product": p.product, "version": p.version} for p in h.ports]} for h in hosts]
            listing = Listing(["address", "hostname", "hostnames", "mac", "vendor", "os", "os_accuracy", "match",
                               "rule", "candidates", "ports"], keys=["address"])
            for record in data:
                listing.add(list(record.values()), record)
            listing.print(console, fmt, document={"run": run, "hosts": data} if fmt == "json" else None)
            return
    _hosts_table(app_state, run, wide)


@app.command("xml")
@user_errors
@doc(_("Print the raw nmap XML a run kept (one document per chunk), for audit."))
def xml_command(
    ctx: typer.Context,
    run: int = typer.Argument(..., help=_("discovery run")),
) -> None:
    from sqlalchemy import select

    from secops.discover.store import decompress
    from secops.discover.tables import DiscoveryChunkRow, DiscoveryScanRow

    with state(ctx).db().session() as session:
        chunks = session.scalars(select(DiscoveryChunkRow).join(DiscoveryScanRow)
                                 .where(DiscoveryScanRow.run_id == run).order_by(DiscoveryChunkRow.id)).all()
        if not chunks:
            raise SecopsError(_("run {id} has no stored nmap output").format(id=run))
        for chunk in chunks:
            typer.echo(f"<!-- secops chunk {chunk.id} {' '.join(chunk.targets)}: {chunk.status} -->")
            typer.echo(decompress(chunk.raw_xml))
