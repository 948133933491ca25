"""Errors a user can act on. The CLI prints them and exits 2; nothing is half-written."""

from __future__ import annotations

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
