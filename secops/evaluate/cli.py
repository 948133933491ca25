"""`secops checks list|show|validate|eval`: inspect, validate and evaluate check packs (Wazuh SCA format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import typer
from rich.markup import escape

from secops.cliutil import EXIT_OK, EXIT_USAGE, console, err_console, state, user_errors
from secops.errors import SecopsError
from secops.evaluate.rules import Dialect
from secops.evaluate.sca_load import load_packs, load_policy
from secops.evaluate.waivers import waivers_path
from secops.i18n import _, doc, language, result_text
from secops.termtable import Listing, fitted_table, format_option, output_format, wide_option
from secops.textsafe import terminal_text

checks_app = typer.Typer(help=_("Inspect and validate check packs (Wazuh SCA format)."), no_args_is_help=True)
EXIT_WARNINGS = 1  # --strict and some check has a rule Wazuh would not evaluate as written


def parse_dialect(value: str | None) -> Dialect | None:
    if value is None:
        return None
    if value not in ("4", "5"):
        raise SecopsError(_("--dialect {value}: give 4 (Wazuh 4.x, checks with `title`) or 5 (Wazuh 5.x, `name`)").format(
            value=repr(value)))
    return cast(Dialect, value)


def _plain(text: object) -> str:
    return escape(terminal_text(text))


def validate_files(files: list[Path], strict: bool = False, dialect: str | None = None) -> int:
    """Print one line per file and one warning per bad rule; return the exit status."""
    chosen = parse_dialect(dialect)
    refused = warned = 0
    for path in files:
        try:
            policy = load_policy(path, chosen)
        except SecopsError as exc:
            refused += 1
            err_console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
            continue
        checks_hit = {w.check_id for w in policy.warnings}
        said = _("{path}: ok, policy {policy}, Wazuh {dialect}.x dialect, {n} checks").format(
            path=path, policy=policy.id, dialect=policy.dialect, n=len(policy.checks))
        if policy.warnings:
            said += ", " + _("{n} warning(s) in {checks} check(s)").format(n=len(policy.warnings), checks=len(checks_hit))
        console.print(said, markup=False, highlight=False, soft_wrap=True)
        for warning in policy.warnings:
            console.print("  " + _("warning: {path}: {warning}").format(path=path, warning=warning),
                          markup=False, highlight=False, soft_wrap=True)
        warned += bool(policy.warnings)
    if refused:
        return EXIT_USAGE
    return EXIT_WARNINGS if strict and warned else EXIT_OK


def eval_files(policies: list[Path], facts_path: Path, host: str | None = None, dialect: str | None = None,
               show: str = "failed,not_applicable,error,waived", as_json: bool = False,
               waivers_path: Path | None = None) -> int:
    """Evaluate policies against a saved facts file (no host contacted); print results per host.

    Waivers apply as in an audit, as of today; a system scope needs the inventory, so here only
    host and agency scopes match."""

    from secops.evaluate.engine import evaluate_offline
    from secops.evaluate.facts_file import load_facts
    from secops.evaluate.waivers import apply_waivers, load_waivers
    from secops.localtime import local_today

    chosen = parse_dialect(dialect)
    loaded = [load_policy(p, chosen) for p in policies]
    saved = load_facts(facts_path)
    hosts = [h for h in saved.hosts if host in (None, h.label, h.address)]
    if not hosts:
        raise SecopsError(_("{path}: no host {host} in the facts file").format(path=facts_path, host=repr(host)) if host
                          else _("{path}: the facts file holds no host").format(path=facts_path))
    waivers = load_waivers(waivers_path) if waivers_path else []
    today = local_today()  # the province's date: a waiver ends on the province's calendar
    wanted = {s.strip() for s in show.split(",") if s.strip()}
    out: list[dict[str, object]] = []
    for h in hosts:
        facts = h.to_facts()
        for policy in loaded:
            result = evaluate_offline(policy, facts, host_os=h.os)
            apply_waivers([result], waivers, h.names(), set(h.agencies), {}, today)
            out.append({"host": h.label, **result.summary(),
                        "checks": [c.model_dump() for c in result.checks]})
            if not as_json:
                _print_result(h.label, policy, result, wanted)
    if as_json:
        import json

        console.print_json(json.dumps(out, default=str))
    return EXIT_OK


def _print_result(label: str, policy: Any, result: Any, wanted: set[str]) -> None:
    """One policy on one host: its counts (or why it did not apply), then the checks whose result is wanted."""
    if result.applicable:
        counts = _("passed {passed}, failed {failed}, not applicable {na}, error {error}, waived {waived}").format(
            passed=result.count("passed"), failed=result.count("failed"), na=result.count("not_applicable"),
            error=result.count("error"), waived=result.count("waived"))
        if result.score is not None:
            counts += ", " + _("score {score}").format(score=f"{result.score:.0%}")
    else:
        counts = _("not applicable: {reason}").format(reason=_plain(result.reason))
    console.print(_("{host}: {policy} (Wazuh {dialect}.x dialect): {counts}").format(
        host=_plain(label), policy=_plain(policy.id), dialect=policy.dialect, counts=counts))
    rows = [c for c in result.checks if c.result in wanted] if result.applicable else []
    if rows:
        table, _kept = fitted_table(console, ["check", "result", "title", "reason"], keys={"check", "result"},
                                    headings=[_("check"), _("result"), _("title"), _("reason")])
        for c in rows:
            table.add_row(_plain(c.check_id), result_text(c.result), _plain(c.title), _plain(c.reason))
        console.print(table)


@checks_app.command("list")
@user_errors
@doc(_("List the check packs and how many checks each has."))
def checks_list(ctx: typer.Context, folder: Path | None = typer.Option(None, "--checks"),
                fmt: str = format_option(), wide: bool = wide_option()) -> None:
    fmt = output_format(fmt)
    packs = load_packs(folder or state(ctx).settings.checks)
    # At 80 columns the policy id never truncates; the file drops (`secops checks show POLICY`).
    listing = Listing(["policy", "name", "os", "checks", "protection", "file"], keys=["policy"], optional=["file"],
                      headings=[_("policy"), _("name"), _("OS"), _("checks"), _("protection"), _("file")])
    for p in packs:
        listing.add((p.id, p.policy.name, p.secops.os, len(p.checks), _("yes") if p.secops.protection else "",
                     Path(p.path or "").name),
                    {"policy": p.id, "name": p.policy.name, "os": p.secops.os, "checks": len(p.checks),
                     "protection": bool(p.secops.protection), "file": Path(p.path or "").name})
    listing.print(console, fmt, wide)


@checks_app.command("show")
@user_errors
@doc(_("Show a pack's checks, or one check with its rules and remediation."))
def checks_show(ctx: typer.Context, policy_id: str = typer.Argument(..., help=_("policy id, or policy_id:check_id")),
                folder: Path | None = typer.Option(None, "--checks")) -> None:
    pid, _sep, cid = policy_id.partition(":")
    pack = next((p for p in load_packs(folder or state(ctx).settings.checks) if p.id == pid), None)
    if pack is None:
        raise SecopsError(_("no check pack with policy id {policy} (see `secops checks list`)").format(policy=repr(pid)))
    if cid and not any(str(check.id) == cid for check in pack.checks):
        raise SecopsError(_("pack {policy} has no check {check} (`secops checks show {id}` lists its checks)").format(
            policy=repr(pid), check=repr(cid), id=pid))
    for check in pack.checks:
        if cid and str(check.id) != cid:
            continue
        ext = check.secops
        vi = ext.vi if language() == "vi" else None  # the pack's Vietnamese words, where it gives them
        about = _("condition {condition}, severity {severity}").format(
            condition=check.condition, severity=ext.severity or _("none given"))
        if ext.serves:
            about += ", " + _("serves {items}").format(items=", ".join(ext.serves))
        console.print(f"[bold]{_plain(check.id)}[/] {_plain(vi.title if vi else check.title)}  ({_plain(about)})")
        if cid:
            for rule in check.rules:
                console.print("  " + _("rule: {rule}").format(rule=_plain(rule)))
            remediation = vi.remediation if vi and vi.remediation else check.remediation
            if remediation:
                console.print("  " + _("remediation: {text}").format(text=_plain(remediation)))


@checks_app.command("validate")
@user_errors
@doc(_("Load every policy: structural faults refuse it (exit 2); bad rules are per-check warnings."))
def checks_validate(
    files: list[Path] = typer.Argument(..., help=_("policy files to check")),
    strict: bool = typer.Option(False, "--strict", help=_("per-check warnings make the exit status non-zero")),
    dialect: str | None = typer.Option(None, "--dialect", help=_("4 or 5: Wazuh SCA dialect [default: from the file]")),
) -> None:
    raise typer.Exit(validate_files(files, strict=strict, dialect=dialect))


@checks_app.command("eval")
@user_errors
@doc(_("Evaluate policies against saved host answers, with no host contacted."))
def checks_eval(
    ctx: typer.Context,
    policies: list[Path] = typer.Argument(..., help=_("policy files")),
    facts: Path = typer.Option(..., "--facts", help=_("facts file written by `secops audit --save-facts`")),
    host: str | None = typer.Option(None, "--host", help=_("only this host (label or address)")),
    dialect: str | None = typer.Option(None, "--dialect", help=_("4 or 5: Wazuh SCA dialect [default: from the file]")),
    show: str = typer.Option("failed,not_applicable,error,waived", "--show", help=_("results listed per check")),
    as_json: bool = typer.Option(False, "--json", help=_("print JSON instead of tables")),
    waivers: Path | None = typer.Option(None, "--waivers", help=_("waiver file [default: <policies>/waivers.yaml]")),
) -> None:
    path = waivers_path(state(ctx).settings.policies, waivers)
    raise typer.Exit(eval_files(policies, facts, host=host, dialect=dialect, show=show, as_json=as_json,
                                waivers_path=path))
