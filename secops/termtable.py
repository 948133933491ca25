"""Tables that stay readable in an 80-column terminal (an SSH session, a serial console), and the
one way every listing command prints its rows: `--format table|csv|json` and `--wide`.

Rich shrinks every column to fit and cuts values with "…", which turns ids, times and
fingerprints into guesses. On a narrow terminal these tables use a light frame (less width lost
to borders), drop the columns named optional (the same data is in `--format json` and `show`), and
fold long values onto a second line instead of cutting them. Key columns (codes, ids, names that
tell rows apart) are never folded or cut. `--wide` prints every column unfolded at its full width
(for a pager or a file); CSV and JSON never cut anything, whatever the terminal.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

from secops.errors import SecopsError
from secops.i18n import _
from secops.textsafe import neutral_cell, terminal_text

if TYPE_CHECKING:  # rich is imported when a table is printed: `secops discover` imports the options first
    from rich.console import Console, RenderableType
    from rich.table import Table

NARROW = 100  # below this many columns the full tables do not fit
FORMATS = ("table", "csv", "json")


def is_narrow(console: Console) -> bool:
    return console.width < NARROW


def fitted_table(console: Console, columns: list[str], optional: set[str] = frozenset(),  # type: ignore[assignment]
                 title: str | None = None, keys: set[str] = frozenset(),  # type: ignore[assignment]
                 wide: bool = False, headings: Sequence[str] | None = None) -> tuple[Table, list[int]]:
    """A table for this terminal and the indexes of the columns it kept (to pick row values).
    Key columns (codes, ids) are never wrapped or cut: the other columns fold around them.
    `wide`: every column kept and none folded (print it with `print_wide`). `headings`: what the
    table shows above each column, in the user's language (`columns`, `keys` and `optional` name
    the columns by their fixed English names)."""
    from rich import box
    from rich.table import Table
    narrow = is_narrow(console) and not wide
    keep = [i for i, name in enumerate(columns) if not (narrow and name in optional)]
    table = Table(title=title, box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD, pad_edge=not narrow,
                  title_justify="left")
    shown = list(headings) if headings is not None else columns
    for i in keep:
        if columns[i] in keys or wide:
            table.add_column(shown[i], no_wrap=True, overflow="ignore")
        else:
            # a heading folds between its words, not inside one ("requireme/nt")
            table.add_column(shown[i], overflow="fold", min_width=max(map(len, shown[i].split()), default=1))
    return table, keep


def print_wide(console: Console, renderable: RenderableType) -> None:
    """Print at the renderable's full natural width, wider than the terminal if need be."""
    from rich.console import Console
    from rich.measure import Measurement
    needed = Measurement.get(console, console.options.update(width=100_000), renderable).maximum
    full = Console(file=console.file, width=max(console.width, needed), force_terminal=console.is_terminal,
                   no_color=console.no_color, highlight=False)
    full.print(renderable)


def format_option(default: Any = "table") -> Any:
    """`--format table|csv|json`, the same on every listing command (`format_option(...)` inside
    Annotated, where the default is the parameter's)."""
    return typer.Option(default, "--format", help=_("table | csv | json (csv and json are never cut or folded)"))


def wide_option(default: Any = False) -> Any:
    """`--wide`, the same on every listing command."""
    return typer.Option(default, "--wide", help=_("table at full width: no column folded or dropped"))


def output_format(fmt: str, as_json: bool = False) -> str:
    """The `--format` asked for (`--json`, where a command has it, is `--format json`)."""
    if fmt not in FORMATS:
        raise SecopsError(_("--format {value}: choose from {allowed}").format(value=repr(fmt), allowed=", ".join(FORMATS)))
    if as_json and fmt not in ("table", "json"):
        raise SecopsError(_("--json and --format {value} disagree: give one of them").format(value=fmt))
    return "json" if as_json else fmt


def csv_value(value: object) -> str:
    """A machine value as one CSV cell: lists and mappings as JSON, booleans as true/false, none as
    empty; every cell through the one formula neutraliser (textsafe.neutral_cell)."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return neutral_cell(text)


class Listing:
    """The rows of one listing command, printed as a table (fitted to the terminal or `--wide`),
    CSV or JSON.

    `columns` name the table's columns (fixed English names, which `keys` and `optional` use);
    `headings`, when given, are what the table shows above them in the user's language (`_()`);
    each row is given as the cells the table shows and, where it differs, the record machine
    formats carry (its keys: the CSV header and the JSON keys, the same on every row and whatever
    the terminal or language: `fields`, else the columns' names, never the headings)."""

    def __init__(self, columns: Sequence[str], *, fields: Sequence[str] | None = None, keys: Sequence[str] = (),
                 optional: Sequence[str] = (), title: str | None = None, headings: Sequence[str] | None = None):
        if headings is not None and len(headings) != len(columns):
            raise ValueError(f"{len(headings)} headings for {len(columns)} columns")
        self.columns = list(columns)
        self.headings = list(headings) if headings is not None else None
        self.fields = list(fields) if fields is not None else None
        self.keys, self.optional, self.title = set(keys), set(optional), title
        self.cells: list[list[object]] = []
        self.records: list[dict[str, Any]] = []

    def add(self, cells: Sequence[object], record: Mapping[str, Any] | None = None) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.cells.append(list(cells))
        if record is None:
            record = dict(zip(self.fields or self.columns, cells, strict=True))
        self.records.append(dict(record))

    def header(self) -> list[str]:
        if self.fields is not None:
            return self.fields
        return list(self.records[0]) if self.records else list(self.columns)

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header = self.header()
        writer.writerow([neutral_cell(name) for name in header])
        for record in self.records:
            writer.writerow([csv_value(record.get(name)) for name in header])
        return out.getvalue()

    def table(self, console: Console, wide: bool = False) -> Table:
        table, keep = fitted_table(console, self.columns, optional=self.optional, title=self.title, keys=self.keys,
                                   wide=wide, headings=self.headings)
        for row in self.cells:
            table.add_row(*(_cell(row[i]) for i in keep))
        return table

    def print(self, console: Console, fmt: str = "table", wide: bool = False, document: Any = None,
              empty: str | None = None) -> None:
        """Print in `fmt`; `document` is the JSON when it is more than the list of records, `empty`
        what the table says when there is no row."""
        if fmt == "json":
            data = self.records if document is None else document
            sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        elif fmt == "csv":
            sys.stdout.write(self.csv_text())
        elif not self.cells and empty is not None:
            console.print(empty, markup=False, highlight=False)
        elif wide:
            print_wide(console, self.table(console, wide=True))
        else:
            console.print(self.table(console))


def _cell(value: object) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    if isinstance(value, (Text, Table)):
        return value
    return Text(terminal_text("" if value is None else value))
