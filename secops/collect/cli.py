"""`secops audit`, `secops checks list|show|validate`, `secops hosts trust|list`, `secops evidence import`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from secops import interrupts
from secops.cliutil import console, err_console, fail, state, user_errors
from secops.collect.config import load_config
from secops.collect.evidence_cli import evidence_app  # noqa: F401  (secops/cli.py mounts it)
from secops.collect.hostkeys import HostKeyStore, fetch_host_key, fingerprint
from secops.errors import SecopsError
from secops.evaluate.sca_load import load_packs
from secops.interrupts import stop_children
from secops.models import RunStatus
from secops.narrow import fitted_table
from secops.runs import finish_run, start_run
from secops.stages import StageOptions
from secops.textsafe import terminal_text

checks_app = typer.Typer(help="Inspect and validate check packs (Wazuh SCA format).", no_args_is_help=True)
hosts_app = typer.Typer(help="Host keys that secops trusts (its own known_hosts).", no_args_is_help=True)


def _plain(text: object) -> str:
    """Untrusted text (hostnames, command output, messages) printed literally, never as markup."""
    return escape(terminal_text(text))


@user_errors
def audit_command(
    ctx: typer.Context,
    agency: str | None = typer.Option(None, "--agency", help="audit this agency's endpoints (and its sub-units')"),
    hosts: str | None = typer.Option(None, "--hosts", help="comma-separated endpoint codes, hostnames or IPs"),
    local: bool = typer.Option(False, "--local", help="audit the machine secops runs on"),
    endpoint: str | None = typer.Option(None, "--endpoint", help="with --local: its endpoint code"),
    config: Path | None = typer.Option(None, "--config", help="audit config [default: $SECOPS_AUDIT_CONFIG "
                                          "or <data dir>/audit.yaml]"),
    checks: Path | None = typer.Option(None, "--checks", help="check-pack folder [default: bundled checks/]"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    save_facts: Path | None = typer.Option(None, "--save-facts", help="also write what each host answered "
                                              "(JSON) for `secops checks eval --facts`"),
    waivers: Path | None = typer.Option(None, "--waivers", help="waiver file [default: <policies>/waivers.yaml]"),
) -> None:
    """Audit endpoints over SSH (or locally), store per-check results and protection evidence, regrade."""
    from secops.grade.stage import run_stage as grade_stage
    from secops.remote.stage import audit_stage as run_stage

    if sum(bool(x) for x in (hosts, local)) > 1:
        raise fail("give --hosts or --local, not both")
    app_state = state(ctx)
    db = app_state.db()
    extra = {"hosts": [h for h in (hosts or "").split(",") if h.strip()], "local": local, "endpoint": endpoint,
             "config": str(config) if config else None, "checks": str(checks) if checks else None,
             "progress": progress and console.is_terminal, "save_facts": str(save_facts) if save_facts else None,
             "waivers": str(waivers) if waivers else None}
    run_id = start_run(db, "audit", agency_code=agency)
    try:
        result = run_stage(app_state, run_id, StageOptions(agency_code=agency, extra=extra))
        grade_stage(app_state, run_id, StageOptions(agency_code=agency))
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: what was stored stays, the run says so
        stop_children()
        finish_run(db, run_id, RunStatus.interrupted, errors=[interrupts.reason(exc)])
        err_console.print(f"audit run {run_id} {interrupts.reason(exc)}; results stored so far are kept",
                          markup=False, highlight=False)
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from exc
    except Exception as exc:
        finish_run(db, run_id, RunStatus.failed, errors=[f"audit failed: {exc}"])
        raise
    finish_run(db, run_id, RunStatus(result.status), summary=result.summary, errors=result.errors)
    _print_hosts(db, run_id)
    for error in result.errors:
        if error.startswith("site "):  # remote sites' problems are not in the host table
            err_console.print(error, markup=False, highlight=False, soft_wrap=True)
    protection = ", ".join(f"{k} {v}" for k, v in (result.summary.get("protection") or {}).items()) or "none"
    console.print(f"audit recorded as run {run_id} ({result.status}); protection: {protection}; "
                  f"graded into the same run — `secops report --run {run_id}` writes the dashboard",
                  markup=False, highlight=False)


def _print_hosts(db, run_id: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from secops.collect.tables import AuditHostRow

    table = Table("host", "address", "result", "protection", "product", "failed checks", "waived",
                  title=f"audit run {run_id}")
    packs: list[str] = []
    with db.session() as session:
        for host in session.scalars(select(AuditHostRow).where(AuditHostRow.run_id == run_id)
                                    .order_by(AuditHostRow.label)):
            failed = sum(1 for c in host.checks if c.result == "failed")
            waived = sum(1 for c in host.checks if c.result == "waived")
            outcome = "ok" if host.status == "ok" else f"error: {host.error_kind}"
            packs += [f"{host.label}: {_pack_line(p)}" for p in host.policies or []
                      if p.get("applicable") or not str(p.get("reason", "")).startswith("policy applies")]
            table.add_row(_plain(host.label), _plain(host.address), _plain(outcome), host.protection,
                          _plain(host.product or ""), str(failed), str(waived))
    console.print(table)
    for line in packs[:200]:  # per host and pack: dialect and counts (details: the per-host report page)
        console.print(line.replace("\x1b", "\\x1b"), markup=False, highlight=False, soft_wrap=True)


def _pack_line(p: dict) -> str:  # type: ignore[type-arg]
    """One policy on one host: dialect and counts, or why it did not apply."""
    head = f"{p.get('policy')} (Wazuh {p.get('dialect', '4')}.x)"
    if not p.get("applicable"):
        return f"{head}: not applicable: {p.get('reason', '')}"
    return (f"{head}: {p.get('passed', 0)} passed, {p.get('failed', 0)} failed, "
            f"{p.get('not_applicable', 0)} n/a, {p.get('waived', 0)} waived")


@checks_app.command("list")
@user_errors
def checks_list(ctx: typer.Context, folder: Path | None = typer.Option(None, "--checks")) -> None:
    """List the check packs and how many checks each has."""
    packs = load_packs(folder or state(ctx).settings.checks)
    table = Table("policy", "name", "os", "checks", "protection", "file")
    for p in packs:
        table.add_row(_plain(p.id), _plain(p.policy.name), p.secops.os, str(len(p.checks)),
                      "yes" if p.secops.protection else "", _plain(Path(p.path or "").name))
    console.print(table)


@checks_app.command("show")
@user_errors
def checks_show(ctx: typer.Context, policy_id: str = typer.Argument(..., help="policy id, or policy_id:check_id"),
                folder: Path | None = typer.Option(None, "--checks")) -> None:
    """Show a pack's checks, or one check with its rules and remediation."""
    pid, _, cid = policy_id.partition(":")
    pack = next((p for p in load_packs(folder or state(ctx).settings.checks) if p.id == pid), None)
    if pack is None:
        raise SecopsError(f"no check pack with policy id {pid!r} (see `secops checks list`)")
    for check in pack.checks:
        if cid and str(check.id) != cid:
            continue
        ext = check.secops
        console.print(f"[bold]{_plain(check.id)}[/] {_plain(check.title)}  "
                      f"(condition {check.condition}, severity {ext.severity}"
                      + (f", serves {', '.join(ext.serves)}" if ext.serves else "") + ")")
        if cid:
            for rule in check.rules:
                console.print(f"  rule: {_plain(rule)}")
            if check.remediation:
                console.print(f"  remediation: {_plain(check.remediation)}")


@checks_app.command("validate")
@user_errors
def checks_validate(
    files: list[Path] = typer.Argument(..., help="policy files to check"),
    strict: bool = typer.Option(False, "--strict", help="per-check warnings make the exit status non-zero"),
    dialect: str | None = typer.Option(None, "--dialect", help="4 or 5: Wazuh SCA dialect [default: from the file]"),
) -> None:
    """Load every policy: structural faults refuse it (exit 2); bad rules are per-check warnings."""
    from secops.evaluate.checks_cli import validate_files

    raise typer.Exit(validate_files(files, strict=strict, dialect=dialect))


@checks_app.command("eval")
@user_errors
def checks_eval(
    ctx: typer.Context,
    policies: list[Path] = typer.Argument(..., help="policy files"),
    facts: Path = typer.Option(..., "--facts", help="facts file written by `secops audit --save-facts`"),
    host: str | None = typer.Option(None, "--host", help="only this host (label or address)"),
    dialect: str | None = typer.Option(None, "--dialect", help="4 or 5: Wazuh SCA dialect [default: from the file]"),
    show: str = typer.Option("failed,not_applicable,error,waived", "--show", help="results listed per check"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    waivers: Path | None = typer.Option(None, "--waivers", help="waiver file [default: <policies>/waivers.yaml]"),
) -> None:
    """Evaluate policies against saved host answers, with no host contacted."""
    from secops.evaluate.checks_cli import eval_files

    path = waivers or Path(state(ctx).settings.policies) / "waivers.yaml"
    raise typer.Exit(eval_files(policies, facts, host=host, dialect=dialect, show=show, as_json=as_json,
                                waivers_path=path))


@hosts_app.command("trust")
@user_errors
def hosts_trust(
    ctx: typer.Context,
    host: str = typer.Argument(..., help="address or hostname"),
    port: int = typer.Option(22, "--port", min=1, max=65535),
    expected: str | None = typer.Option(None, "--fingerprint", help="record only if the key has this SHA256 fingerprint"),
    yes: bool = typer.Option(False, "--yes", help="do not ask (the fingerprint is still printed)"),
    config: Path | None = typer.Option(None, "--config", help="audit config (for its known_hosts path)"),
) -> None:
    """Fetch HOST's key, show its fingerprint, and record it after the officer confirms."""
    store = HostKeyStore(load_config(config).known_hosts_path())
    try:
        key = fetch_host_key(host, port)
    except Exception as exc:
        raise SecopsError(f"{host}:{port}: cannot fetch the host key: {exc}") from exc
    fp = fingerprint(key)
    console.print(f"{host}:{port} presents {key.get_name()} {fp}", markup=False, highlight=False)
    known = store.known(host, port)
    if expected is not None and expected != fp:  # checked first: "already trusted" must not hide it
        raise SecopsError(f"fingerprint mismatch: expected {expected}, host presents {fp}; nothing recorded")
    if key.get_name() in known and known[key.get_name()] == key:
        console.print("already trusted", markup=False)
        return
    if known:
        err_console.print(f"warning: known_hosts holds a DIFFERENT key for {host}:{port}; "
                          "it will be replaced only if you confirm", style="bold red")
        if expected is None and yes:  # a changed key may be an attack: --yes alone never replaces it
            raise SecopsError(f"{host}:{port}: the host key changed; give --fingerprint {fp} after checking it "
                              "with the host's administrator; nothing recorded")
    if expected is not None:
        if expected != fp:
            raise SecopsError(f"fingerprint mismatch: expected {expected}, host presents {fp}; nothing recorded")
    elif not yes and not typer.confirm("Trust this key?", default=False):
        raise fail("not trusted; nothing recorded")
    store.add(host, port, key)
    console.print(f"recorded in {store.path}", markup=False, highlight=False)


@hosts_app.command("list")
@user_errors
def hosts_list(config: Path | None = typer.Option(None, "--config")) -> None:
    """Host keys in secops' known_hosts file."""
    store = HostKeyStore(load_config(config).known_hosts_path())
    table, _ = fitted_table(console, ["host", "key type", "fingerprint"], title=str(store.path))
    for name in store.keys.keys():
        for keytype, key in store.keys[name].items():
            table.add_row(_plain(name), keytype, fingerprint(key))
    console.print(table)
