"""The short summary table printed in the terminal after grading or reporting (in the report's language)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from secops.report.data import Dashboard
from secops.templating import local_time, pct, translator
from secops.textsafe import terminal_text

STYLE = {"met": "green", "not_met": "bold red", "not_applicable": "dim"}


def summary_table(d: Dashboard, templates: Path) -> Table:
    t = translator(templates, d.lang)
    as_of = f" · {t('as_of')} {local_time(d.run.as_of, d.timezone)}" if d.run.as_of else ""
    title = f"{terminal_text(d.scope.name)} ({terminal_text(d.scope.code)}) — {t('run')} #{d.run.id}{as_of}"
    table = Table(title=Text(title), title_justify="left")
    for key in ("target", "value", "threshold", "status", "gap", "unknown"):
        table.add_column(t(key), justify="left" if key in ("target", "status") else "right", overflow="fold")
    for target in d.targets:
        c = d.scope.cells.get(target.id)
        if c is None:
            continue
        gap = "" if c.gap in (None, 0) else f"{t('needs_more')} {c.gap}"
        if c.status == "not_met" and c.gap is None:
            gap = t("unreachable")
        name = f"{target.id} {target.label or target.key}"  # the label in the report's language (data)
        table.add_row(Text(terminal_text(name)), f"{pct(c.value)} ({c.numerator}/{c.denominator})",
                      f"{target.comparison} {pct(target.threshold, 0)}", Text(t(c.status), style=STYLE[c.status]),
                      gap, str(c.unknown) if target.entity == "endpoints" else "")
    return table


def print_summary(console: Console, d: Dashboard, templates: Path) -> None:
    if d.synthetic:
        console.print(Text(translator(templates, d.lang)("synthetic"), style="yellow"))
    console.print(summary_table(d, templates))
