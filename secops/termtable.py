"""Tables that stay readable in an 80-column terminal (an SSH session, a serial console).

Rich shrinks every column to fit and cuts values with "…", which turns ids, times and
fingerprints into guesses. On a narrow terminal these tables use a light frame (less width lost
to borders), drop the columns named optional (the same data is in `--json` and `show`), and
fold long values onto a second line instead of cutting them.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

NARROW = 100  # below this many columns the full tables do not fit


def is_narrow(console: Console) -> bool:
    return console.width < NARROW


def fitted_table(console: Console, columns: list[str], optional: set[str] = frozenset(),  # type: ignore[assignment]
                 title: str | None = None, keys: set[str] = frozenset()) -> tuple[Table, list[int]]:  # type: ignore[assignment]
    """A table for this terminal and the indexes of the columns it kept (to pick row values).
    Key columns (codes, ids) are never wrapped or cut: the other columns fold around them."""
    narrow = is_narrow(console)
    keep = [i for i, name in enumerate(columns) if not (narrow and name in optional)]
    table = Table(title=title, box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD, pad_edge=not narrow,
                  title_justify="left")
    for i in keep:
        if columns[i] in keys:
            table.add_column(columns[i], no_wrap=True, overflow="ignore")
        else:
            table.add_column(columns[i], overflow="fold")
    return table, keep
