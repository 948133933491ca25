"""Errors a user can act on. The CLI prints them and exits 2; nothing is half-written."""

from __future__ import annotations

import re
from dataclasses import dataclass


class SecopsError(Exception):
    """An input, configuration or usage problem with a message meant for the user."""


@dataclass(frozen=True)
class RowError:
    """One bad row of an input file, printed as `file:row: field: reason`."""

    file: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.field}: {self.reason}"


class InputRowsError(SecopsError):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    @property
    def rows(self) -> int:
        """How many rows are bad (a row can have several bad fields; row 0 lines are file-level notes)."""
        listed = len({(e.file, e.row) for e in self.errors if e.row})
        more = sum(int(m.group(1)) for e in self.errors if not e.row
                   for m in [re.match(r"(\d+) more invalid row", e.reason)] if m)
        return listed + more or len(self.errors)

    def summary(self) -> str:
        problems = len([e for e in self.errors if e.row])
        rows = self.rows
        return f"{rows} invalid row(s)" + (f" ({problems} problems listed)" if problems > rows else "")

    def counts(self) -> tuple[int, int]:
        """(bad rows, problems listed): for a summary in the user's language (cliutil.invalid_rows)."""
        return self.rows, len([e for e in self.errors if e.row])
