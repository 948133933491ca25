"""The short summary table printed in the terminal after grading or reporting."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from secops.report.data import Dashboard
from secops.report.render import pct

STYLE = {"met": "green", "not_met": "bold red", "not_applicable": "dim"}


def summary_table(d: Dashboard) -> Table:
    table = Table(title=Text(f"{d.scope.name} ({d.scope.code}) — run {d.run.id}"), title_justify="left")
    for column in ("target", "value", "required", "status", "gap", "unknown"):
        table.add_column(column, justify="right" if column not in ("target", "status") else "left")
    for target in d.targets:
        c = d.scope.cells.get(target.id)
        if c is None:
            continue
        gap = "" if c.gap in (None, 0) else f"needs {c.gap} more"
        if c.status == "not_met" and c.gap is None:
            gap = "unreachable"
        table.add_row(Text(f"{target.id} {target.key}"), f"{pct(c.value)} ({c.numerator}/{c.denominator})",
                      f"{target.comparison} {pct(target.threshold, 0)}", Text(c.status, style=STYLE[c.status]),
                      gap, str(c.unknown) if target.entity == "endpoints" else "")
    return table


def print_summary(console: Console, d: Dashboard) -> None:
    if d.synthetic:
        console.print("[yellow]synthetic sample data[/]")
    console.print(summary_table(d))
