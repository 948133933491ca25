"""The short summary table printed in the terminal after grading or reporting (in the report's language)."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from secops.report.data import Dashboard
from secops.templating import local_time, pct, translator
from secops.termtable import NARROW
from secops.textsafe import terminal_text

STYLE = {"met": "green", "not_met": "bold red", "not_applicable": "dim"}


def summary_table(d: Dashboard, templates: Path, narrow: bool = False) -> Table:
    """`narrow` (under 100 columns): a light frame, so the figures need not fold inside a number."""
    t = translator(templates, d.lang)
    as_of = f" · {t('as_of')} {local_time(d.run.as_of, d.timezone)}" if d.run.as_of else ""
    title = f"{terminal_text(d.scope.name)} ({terminal_text(d.scope.code)}) — {t('run')} #{d.run.id}{as_of}"
    table = Table(title=Text(title), title_justify="left", box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
                  pad_edge=not narrow)
    rows = []
    sep = "\n" if narrow else " "  # narrow: the count under the percentage, each whole
    for target in d.targets:
        c = d.scope.cells.get(target.id)
        if c is None:
            continue
        gap = "" if c.gap in (None, 0) else f"{t('needs_more')} {c.gap}"
        if c.status == "not_met" and c.gap is None:
            gap = t("unreachable")
        name = f"{target.id} {target.label or target.key}"  # the label in the report's language (data)
        rows.append((Text(terminal_text(name)), f"{pct(c.value)}{sep}({c.numerator}/{c.denominator})",
                     f"{target.comparison} {pct(target.threshold, 0)}", Text(t(c.status), style=STYLE[c.status]),
                     gap, str(c.unknown) if target.entity == "endpoints" else ""))
    for i, key in enumerate(("target", "value", "threshold", "status", "gap", "unknown")):
        # The figures are never folded or cut at 80 columns; the target's label wraps between its
        # words (a word is never broken), and the other words fold around them.
        table.add_column(t(key), justify="left" if key in ("target", "status") else "right",
                         overflow="ignore" if i == 1 else "fold", no_wrap=i == 1)
    for row in rows:
        table.add_row(*row)
    return table


def print_summary(console: Console, d: Dashboard, templates: Path) -> None:
    if d.synthetic:
        console.print(Text(translator(templates, d.lang)("synthetic"), style="yellow"))
    console.print(summary_table(d, templates, narrow=console.width < NARROW))
