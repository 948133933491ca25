"""The work behind `secops checks validate` (kept out of collect/cli.py so the CLI stays thin)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from rich.markup import escape

from secops.cliutil import EXIT_OK, EXIT_USAGE, console, err_console
from secops.errors import SecopsError
from secops.evaluate.rules import Dialect
from secops.evaluate.sca_load import load_policy
from secops.textsafe import terminal_text

EXIT_WARNINGS = 1  # --strict and some check has a rule Wazuh would not evaluate as written


def parse_dialect(value: str | None) -> Dialect | None:
    if value is None:
        return None
    if value not in ("4", "5"):
        raise SecopsError(f"--dialect {value!r}: give 4 (Wazuh 4.x, checks with `title`) or 5 (Wazuh 5.x, `name`)")
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
        console.print(f"{path}: ok, policy {policy.id}, Wazuh {policy.dialect}.x dialect, {len(policy.checks)} checks"
                      + (f", {len(policy.warnings)} warning(s) in {len(checks_hit)} check(s)" if policy.warnings else ""),
                      markup=False, highlight=False, soft_wrap=True)
        for warning in policy.warnings:
            console.print(f"  warning: {path}: {warning}", markup=False, highlight=False, soft_wrap=True)
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
    import datetime as dt

    from rich.table import Table

    from secops.evaluate.engine import evaluate_offline
    from secops.evaluate.facts_file import load_facts
    from secops.evaluate.waivers import apply_waivers, load_waivers

    chosen = parse_dialect(dialect)
    loaded = [load_policy(p, chosen) for p in policies]
    saved = load_facts(facts_path)
    hosts = [h for h in saved.hosts if host in (None, h.label, h.address)]
    if not hosts:
        raise SecopsError(f"{facts_path}: no host {host!r} in the facts file" if host
                          else f"{facts_path}: the facts file holds no host")
    waivers = load_waivers(waivers_path) if waivers_path else []
    today = dt.date.today()
    wanted = {s.strip() for s in show.split(",") if s.strip()}
    out: list[dict[str, object]] = []
    for h in hosts:
        facts = h.to_facts()
        for policy in loaded:
            result = evaluate_offline(policy, facts, host_os=h.os)
            apply_waivers([result], waivers, h.names(), set(h.agencies), {}, today)
            out.append({"host": h.label, **result.summary(),
                        "checks": [c.model_dump() for c in result.checks]})
            if as_json:
                continue
            console.print(f"{_plain(h.label)}: {_plain(policy.id)} (Wazuh {policy.dialect}.x dialect): "
                          + (f"passed {result.count('passed')}, failed {result.count('failed')}, "
                             f"not applicable {result.count('not_applicable')}, error {result.count('error')}, "
                             f"waived {result.count('waived')}"
                             + (f", score {result.score:.0%}" if result.score is not None else "")
                             if result.applicable else f"not applicable: {_plain(result.reason)}"))
            rows = [c for c in result.checks if c.result in wanted] if result.applicable else []
            if rows:
                table = Table("check", "result", "title", "reason")
                for c in rows:
                    table.add_row(_plain(c.check_id), c.result, _plain(c.title), _plain(c.reason))
                console.print(table)
    if as_json:
        import json

        console.print_json(json.dumps(out, default=str))
    return EXIT_OK
