"""Rows of a console export, whatever the container: delimited text, xlsx, SpreadsheetML 2003.

Every source yields (row number, cells as text) lazily, so a large export is never held whole.
Spreadsheet cells are turned into text the way the text exports write them (ISO dates, True/False)
so one set of profile rules serves all three. XML is parsed with defusedxml (no entities, no DTD:
an export is untrusted input), and openpyxl uses defusedxml too when it is installed.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from secops.errors import SecopsError
from secops.textio import DEFAULT_LIMITS, Limits, TextFormat, detect_format, iter_rows

Rows = Iterator[tuple[int, list[str]]]
_SS = "urn:schemas-microsoft-com:office:spreadsheet"


@dataclass
class Table:
    kind: str  # text | xlsx | xml2003
    label: str  # e.g. "UTF-16 LE with BOM, tab-separated" or "xlsx, sheet Details"
    rows: Rows


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounded(path: Path, rows: Rows, limits: Limits) -> Rows:
    for count, (line, cells) in enumerate(rows, start=1):
        if count > limits.max_rows:
            raise SecopsError(f"{path}:{line}: more than {limits.max_rows:,} rows; split the export or raise the limit")
        if any(len(c) > limits.max_cell_chars for c in cells):
            raise SecopsError(f"{path}:{line}: a cell is longer than {limits.max_cell_chars:,} characters")
        yield line, cells


def _pick_sheet(names: list[str], wanted: list[str], path: Path) -> str:
    for name in wanted:
        for sheet in names:
            if sheet.strip().lower() == name.lower():
                return sheet
    if not names:
        raise SecopsError(f"{path}: the workbook has no sheet")
    return names[0]


def _xlsx(path: Path, sheets: list[str], limits: Limits) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # A file object, not the name: openpyxl refuses names without an xlsx extension, and consoles
    # name their exports freely (the content decides, see open_table).
    handle = path.open("rb")
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        name = _pick_sheet(book.sheetnames, sheets, path)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        handle.close()
        raise SecopsError(f"{path}: not a readable xlsx workbook: {exc}") from exc
    except SecopsError:
        handle.close()
        raise

    def rows() -> Rows:
        try:
            # data_only: cached values, never formulas (a formula cell is text to us, not code).
            for number, values in enumerate(book[name].iter_rows(values_only=True), start=1):
                yield number, [cell_text(v) for v in values]
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise SecopsError(f"{path}: sheet {name}: unreadable: {exc}") from exc
        finally:
            book.close()
            handle.close()

    return Table("xlsx", f"xlsx, sheet {name}", _bounded(path, rows(), limits))


def _xml2003(path: Path, sheets: list[str], limits: Limits) -> Table:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    def rows() -> Rows:
        chosen: str | None = None
        seen: list[str] = []
        number = 0
        try:
            for event, elem in iterparse(str(path), events=("start", "end")):
                tag = elem.tag.rsplit("}", 1)[-1]
                if event == "start" and tag == "Worksheet":
                    title = elem.get(f"{{{_SS}}}Name") or ""
                    seen.append(title)
                    if chosen is None and (not sheets or title.strip().lower() in {s.lower() for s in sheets}):
                        chosen, number = title, 0
                elif event == "end" and tag == "Worksheet":
                    if chosen is not None and chosen == seen[-1]:
                        return
                elif event == "end" and tag == "Row":
                    if chosen is not None and chosen == seen[-1]:
                        index = elem.get(f"{{{_SS}}}Index")
                        number = int(index) if index and index.isdigit() else number + 1
                        yield number, _row_cells(elem)
                    elem.clear()
        except (ParseError, DefusedXmlException) as exc:
            raise SecopsError(f"{path}: not valid SpreadsheetML: {exc}") from exc
        if chosen is None:
            raise SecopsError(f"{path}: no sheet named {' or '.join(sheets)} (sheets: {', '.join(seen) or 'none'})")

    return Table("xml2003", "SpreadsheetML 2003 XML", _bounded(path, rows(), limits))


def _row_cells(row: object) -> list[str]:
    cells: list[str] = []
    for cell in row:  # type: ignore[attr-defined]
        if cell.tag.rsplit("}", 1)[-1] != "Cell":
            continue
        index = cell.get(f"{{{_SS}}}Index")
        if index and index.isdigit():
            cells.extend([""] * (int(index) - 1 - len(cells)))  # ss:Index skips empty cells
        data = next((c for c in cell if c.tag.rsplit("}", 1)[-1] == "Data"), None)
        cells.append("".join(data.itertext()) if data is not None else "")
    return cells


def _is_spreadsheetml(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return text.startswith(b"<?xml") and b"urn:schemas-microsoft-com:office:spreadsheet" in head


def open_table(path: Path, *, sheets: list[str], encoding: str | None = None,
               limits: Limits = DEFAULT_LIMITS) -> Table:
    """Open an export by its content (not its name: KSC writes .xls files that are XML)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise SecopsError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    if size > limits.max_bytes:
        raise SecopsError(f"{path}: file is {size:,} bytes, more than the limit of {limits.max_bytes:,}")
    if head.startswith(b"PK\x03\x04"):
        return _xlsx(path, sheets, limits)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SecopsError(f"{path}: binary Excel 97-2003 (.xls) is not read; save it as .xlsx or export as text")
    if _is_spreadsheetml(head):
        return _xml2003(path, sheets, limits)
    fmt: TextFormat = detect_format(path, encoding=encoding, limits=limits)
    return Table("text", fmt.label, iter_rows(path, fmt, limits))
