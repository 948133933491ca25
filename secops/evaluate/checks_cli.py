"""The work behind `secops checks validate` (kept out of collect/cli.py so the CLI stays thin)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from rich.markup import escape

from secops.cliutil import EXIT_OK, EXIT_USAGE, console, err_console
from secops.errors import SecopsError
from secops.evaluate.rules import Dialect
from secops.evaluate.sca_load import load_policy

EXIT_WARNINGS = 1  # --strict and some check has a rule Wazuh would not evaluate as written


def parse_dialect(value: str | None) -> Dialect | None:
    if value is None:
        return None
    if value not in ("4", "5"):
        raise SecopsError(f"--dialect {value!r}: give 4 (Wazuh 4.x, checks with `title`) or 5 (Wazuh 5.x, `name`)")
    return cast(Dialect, value)


def _plain(text: object) -> str:
    return escape(str(text).replace("\x1b", "\\x1b"))


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
