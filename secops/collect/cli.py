"""`secops audit` and `secops hosts trust|list`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from secops import interrupts
from secops.cliutil import console, err_console, fail, state, user_errors
from secops.collect.config import load_config
from secops.collect.hostkeys import HostKeyStore, fetch_host_key, fingerprint
from secops.config import Settings
from secops.errors import SecopsError
from secops.i18n import _, doc, status_text
from secops.models import RunStatus
from secops.runs import recorded
from secops.stages import StageContext, StageOptions, StageResult, stage_function
from secops.store.db import Database
from secops.termtable import Listing, fitted_table, format_option, output_format, wide_option
from secops.textsafe import terminal_text

hosts_app = typer.Typer(help=_("Host keys that secops trusts (its own known_hosts)."), no_args_is_help=True)


def _plain(text: object) -> str:
    """Untrusted text (hostnames, command output, messages) printed literally, never as markup."""
    return escape(terminal_text(text))


@doc(_("Audit endpoints over SSH (or locally), store per-check results and protection evidence, regrade."))
@user_errors
def audit_command(
    ctx: typer.Context,
    agency: str | None = typer.Option(None, "--agency", help=_("audit this agency's endpoints (and its sub-units')")),
    hosts: str | None = typer.Option(None, "--hosts", help=_("comma-separated endpoint codes, hostnames or IPs")),
    via_site: bool = typer.Option(False, "--via-site", help=_("with --hosts: audit a site's endpoints through its "
                                  "scanner (without it they are refused here)")),
    local: bool = typer.Option(False, "--local", help=_("audit the machine secops runs on")),
    endpoint: str | None = typer.Option(None, "--endpoint", help=_("with --local: its endpoint code")),
    config: Path | None = typer.Option(None, "--config", help=_("audit config [default: $SECOPS_AUDIT_CONFIG "
                                          "or <data dir>/audit.yaml]")),
    checks: Path | None = typer.Option(None, "--checks", help=_("check-pack folder [default: bundled checks/]")),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    save_facts: Path | None = typer.Option(None, "--save-facts", help=_("also write what each host answered "
                                              "(JSON) for `secops checks eval --facts`")),
    waivers: Path | None = typer.Option(None, "--waivers", help=_("waiver file [default: <policies>/waivers.yaml]")),
) -> None:
    if ctx.invoked_subcommand is not None:  # `secops audit report HOST`: the sub-command does the work
        return
    # The audit and the regrade are the pipeline's stages (the site router sends site hosts to their scanner).
    run_stage, grade_stage = stage_function("audit"), stage_function("grade")

    if sum(bool(x) for x in (hosts, local)) > 1:
        raise fail(_("give --hosts or --local, not both"))
    app_state = state(ctx)
    db = app_state.db()
    extra = {"hosts": [h for h in (hosts or "").split(",") if h.strip()], "local": local, "endpoint": endpoint,
             "via_site": via_site,
             "config": str(config) if config else None, "checks": str(checks) if checks else None,
             "progress": progress and console.is_terminal, "save_facts": str(save_facts) if save_facts else None,
             "waivers": str(waivers) if waivers else None}
    try:
        with recorded(db, "audit", failure="audit failed", agency_code=agency) as run:
            run_id = run.id
            result = run_stage(app_state, run_id, StageOptions(agency_code=agency, extra=extra))
            graded = _regrade(grade_stage, app_state, run_id, agency)
            run.finish(RunStatus(result.status), summary={**result.summary, **({"not_graded": graded} if graded else {})},
                       errors=result.errors)
    except KeyboardInterrupt as exc:  # what was stored stays; the run is recorded interrupted
        err_console.print(_("audit run {id} {reason}; results stored so far are kept").format(
            id=run_id, reason=interrupts.reason(exc)), markup=False, highlight=False)
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from exc
    _print_hosts(db, run_id, app_state.settings, checks)
    _print_outcome(run_id, result, graded)


def _regrade(grade_stage: Callable[..., StageResult], app_state: StageContext, run_id: int,
             agency: str | None) -> str | None:
    """Grade into the audit's run; the reason when there is nothing to grade (an empty inventory: the
    hosts' results stay stored)."""
    try:
        grade_stage(app_state, run_id, StageOptions(agency_code=agency))
    except SecopsError as exc:
        return str(exc)
    return None


def _print_outcome(run_id: int, result: StageResult, graded: str | None) -> None:
    for error in result.errors:
        if error.startswith("site "):  # remote sites' problems are not in the host table
            err_console.print(error, markup=False, highlight=False, soft_wrap=True)
    protection = ", ".join(f"{status_text(k)} {v}" for k, v in (result.summary.get("protection") or {}).items()) \
        or _("none")
    if graded is not None:
        err_console.print(_("not graded: {reason}").format(reason=graded), markup=False, highlight=False, soft_wrap=True)
    then = (_("graded into the same run — `secops report --run {id}` writes the dashboard").format(id=run_id)
            if graded is None else _("not graded"))
    console.print(_("audit recorded as run {id} ({status}); protection: {protection}; {then}").format(
        id=run_id, status=status_text(result.status), protection=protection, then=then), markup=False, highlight=False)


# `secops audit` is a group so that `secops audit report HOST` (report/audit_cli.py, registered by
# name) can sit under it; with no sub-command it audits, as it always did.
audit_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=False)
audit_app.callback(invoke_without_command=True)(audit_command)


def _print_hosts(db: Database, run_id: int, settings: Settings, checks: Path | None) -> None:
    """Per host: the outcome, protection and the two counts the dashboard shows, each named for what
    it counts (secops/collect/findings.py): failed results over all policies, findings to fix."""
    from sqlalchemy import select

    from secops.collect.findings import host_findings, product_checks
    from secops.collect.tables import AuditHostRow
    from secops.templating import messages, translator

    t, text = translator(settings.reports, settings.lang), messages(settings.reports, settings.lang)
    products = product_checks(checks or Path(settings.checks))
    columns = [t("hostname"), t("addresses"), t("audit_result"), t("protection"), t("product"),
               t("audit_failed_results"), t("audit_findings"), t("audit_status_waived")]
    table, keep = fitted_table(console, columns, optional={columns[1], columns[4]}, keys={columns[0]},
                               title=t("audit_term_title", run=run_id))
    packs: list[str] = []
    with db.session() as session:
        for host in session.scalars(select(AuditHostRow).where(AuditHostRow.run_id == run_id)
                                    .order_by(AuditHostRow.label)):
            failed = sum(1 for c in host.checks if c.result == "failed")
            waived = sum(1 for c in host.checks if c.result == "waived")
            findings = len(host_findings(session, host.id, products, text)) if host.status == "ok" else 0
            outcome = t("audit_ok") if host.status == "ok" else f"{t('audit_error')}: {host.error_kind}"
            packs += [f"{host.label}: {_pack_line(p)}" for p in host.policies or []
                      if p.get("applicable") or not str(p.get("reason", "")).startswith("policy applies")]
            row = [_plain(host.label), _plain(host.address), _plain(outcome), t(f"protection_{host.protection}"),
                   _plain(host.product or ""), str(failed), str(findings), str(waived)]
            table.add_row(*(row[i] for i in keep))
    console.print(table)
    console.print(t("audit_counts_note"), markup=False, highlight=False, soft_wrap=True)
    for line in packs[:200]:  # per host and pack: dialect and counts (details: the per-host report page)
        console.print(line.replace("\x1b", "\\x1b"), markup=False, highlight=False, soft_wrap=True)


def _pack_line(p: dict[str, Any]) -> str:
    """One policy on one host: dialect and counts, or why it did not apply."""
    head = f"{p.get('policy')} (Wazuh {p.get('dialect', '4')}.x)"
    if not p.get("applicable"):
        return f"{head}: not applicable: {p.get('reason', '')}"
    return (f"{head}: {p.get('passed', 0)} passed, {p.get('failed', 0)} failed, "
            f"{p.get('not_applicable', 0)} n/a, {p.get('waived', 0)} waived")


@hosts_app.command("trust")
@user_errors
@doc(_("Fetch HOST's key, show its fingerprint, and record it after the officer confirms."))
def hosts_trust(
    ctx: typer.Context,
    host: str = typer.Argument(..., help=_("address or hostname")),
    port: int = typer.Option(22, "--port", min=1, max=65535),
    expected: str | None = typer.Option(None, "--fingerprint", help=_("record only if the key has this SHA256 fingerprint")),
    yes: bool = typer.Option(False, "--yes", help=_("do not ask (the fingerprint is still printed)")),
    config: Path | None = typer.Option(None, "--config", help=_("audit config (for its known_hosts path)")),
) -> None:
    store = HostKeyStore(load_config(config).known_hosts_path())
    try:
        key = fetch_host_key(host, port)
    except Exception as exc:
        raise SecopsError(_("{host}:{port}: cannot fetch the host key: {error}").format(
            host=host, port=port, error=exc)) from exc
    fp = fingerprint(key)
    console.print(_("{host}:{port} presents {key} {fingerprint}").format(host=host, port=port, key=key.get_name(),
                                                                         fingerprint=fp), markup=False, highlight=False)
    known = store.known(host, port)
    if expected is not None and expected != fp:  # checked first: "already trusted" must not hide it
        raise SecopsError(_("fingerprint mismatch: expected {expected}, host presents {fp}; nothing recorded").format(
                              expected=expected, fp=fp))
    if key.get_name() in known and known[key.get_name()] == key:
        console.print(_("already trusted"), markup=False)
        return
    if known:
        err_console.print(_("warning: known_hosts holds a DIFFERENT key for {host}:{port}; it will be replaced only "
                            "if you confirm").format(host=host, port=port), style="bold red", markup=False)
        if expected is None and yes:  # a changed key may be an attack: --yes alone never replaces it
            raise SecopsError(_("{host}:{port}: the host key changed; give --fingerprint {fp} after checking it "
                                "with the host's administrator; nothing recorded").format(
                                  host=host, port=port, fp=fp))
    if expected is not None:
        if expected != fp:
            raise SecopsError(_("fingerprint mismatch: expected {expected}, host presents {fp}; nothing recorded").format(
                                  expected=expected, fp=fp))
    elif not yes and not typer.confirm(_("Trust this key?"), default=False):
        raise fail(_("not trusted; nothing recorded"))
    store.add(host, port, key)
    console.print(_("recorded in {path}").format(path=store.path), markup=False, highlight=False)


@hosts_app.command("list")
@user_errors
@doc(_("Host keys in secops' known_hosts file."))
def hosts_list(config: Path | None = typer.Option(None, "--config"), fmt: str = format_option(),
               wide: bool = wide_option()) -> None:
    fmt = output_format(fmt)
    store = HostKeyStore(load_config(config).known_hosts_path())
    # The host never truncates; a fingerprint folds at 80 columns but stays whole.
    listing = Listing(["host", "key type", "fingerprint"], fields=["host", "key_type", "fingerprint"],
                      keys=["host"], title=str(store.path), headings=[_("host"), _("key type"), _("fingerprint")])
    for name in store.keys.keys():
        for keytype, key in store.keys[name].items():
            listing.add((name, keytype, fingerprint(key)))
    listing.print(console, fmt, wide)
