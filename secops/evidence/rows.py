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
from typing import Any

from secops.errors import SecopsError
from secops.i18n import _
from secops.inputbounds import check_xlsx, count_tags
from secops.textio import DEFAULT_LIMITS, Limits, TextFormat, detect_format, iter_rows

Rows = Iterator[tuple[int, list[str]]]
_SS = "urn:schemas-microsoft-com:office:spreadsheet"
MAX_XML_DEPTH = 64
ROW_ELEMENTS_PER_CELL = 8  # a Cell, its Data, rich-text runs: XML elements one row may hold per column


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
    cells_seen = 0
    for count, (line, cells) in enumerate(rows, start=1):
        if count > limits.max_rows:
            raise SecopsError(_("{path}:{line_num}: more than {max_rows:,} rows; split the export or raise the "
                                "limit").format(path=path, line_num=line, max_rows=limits.max_rows))
        if len(cells) > limits.max_columns:
            raise SecopsError(_("{path}:{line_num}: {n:,} cells in one row, more than the limit of {max_columns:,} "
                                "columns").format(path=path, line_num=line, n=len(cells), max_columns=limits.max_columns))
        cells_seen += len(cells)
        if cells_seen > limits.max_cells:
            raise SecopsError(_("{path}:{line_num}: more than {max_cells:,} cells; split the export or raise the "
                                "limit").format(path=path, line_num=line, max_cells=limits.max_cells))
        if any(len(c) > limits.max_cell_chars for c in cells):
            raise SecopsError(_("{path}:{line_num}: a cell is longer than {n:,} characters").format(
                path=path, line_num=line, n=limits.max_cell_chars))
        yield line, cells


def _pick_sheet(names: list[str], wanted: list[str], path: Path) -> str:
    for name in wanted:
        for sheet in names:
            if sheet.strip().lower() == name.lower():
                return sheet
    if not names:
        raise SecopsError(_("{path}: the workbook has no sheet").format(path=path))
    return names[0]


def _xlsx(path: Path, sheets: list[str], limits: Limits) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # Rows, columns, cells, shared strings and tags are bounded on the raw parts first: openpyxl
    # would materialise a declared dimension or a 20-million-cell row before any check here.
    check_xlsx(path, limits)
    # A file object, not the name: openpyxl refuses names without an xlsx extension, and consoles
    # name their exports freely (the content decides, see open_table).
    handle = path.open("rb")
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        name = _pick_sheet(book.sheetnames, sheets, path)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        handle.close()
        raise SecopsError(_("{path}: not a readable xlsx workbook: {error}").format(path=path, error=exc)) from exc
    except SecopsError:
        handle.close()
        raise

    def rows() -> Rows:
        try:
            # data_only: cached values, never formulas (a formula cell is text to us, not code).
            for number, values in enumerate(book[name].iter_rows(values_only=True), start=1):
                yield number, [cell_text(v) for v in values]
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise SecopsError(_("{path}: sheet {name}: unreadable: {error}").format(
                path=path, name=name, error=exc)) from exc
        finally:
            book.close()
            handle.close()

    return Table("xlsx", f"xlsx, sheet {name}", _bounded(path, rows(), limits))


def _xml2003(path: Path, sheets: list[str], limits: Limits) -> Table:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    try:
        with path.open("rb") as handle:  # tags counted on the bytes before anything is parsed
            count_tags(path, handle, limits)
    except OSError as exc:
        raise SecopsError(_("{path}: cannot read: {error}").format(path=path, error=exc.strerror or exc)) from exc

    def rows() -> Rows:
        chosen: str | None = None
        seen: list[str] = []
        number = 0
        depth = in_row = row_cells = row_elements = 0
        parents: list[Any] = []  # open elements; a finished one outside a Row is dropped at once
        try:
            for event, elem in iterparse(str(path), events=("start", "end")):
                tag = elem.tag.rsplit("}", 1)[-1]
                if event == "start":
                    parents.append(elem)
                    depth += 1
                    if depth > MAX_XML_DEPTH:
                        raise SecopsError(_("{path}: XML nested deeper than {n} levels").format(path=path, n=MAX_XML_DEPTH))
                    if tag == "Row":
                        in_row += 1
                        row_cells = row_elements = 0
                    elif in_row:
                        row_elements += 1
                        if row_elements > limits.max_columns * ROW_ELEMENTS_PER_CELL:
                            raise SecopsError(_("{path}: row {row}: more than {n:,} XML elements").format(
                                path=path, row=number + 1, n=limits.max_columns * ROW_ELEMENTS_PER_CELL))
                    if tag == "Cell":
                        index = elem.get(f"{{{_SS}}}Index")
                        if index and index.isdecimal():
                            row_cells = int(index) if len(index) < 12 else limits.max_columns + 1
                        else:
                            row_cells += 1
                        if row_cells > limits.max_columns:
                            raise SecopsError(_("{path}: row {row}: a cell beyond the limit of {n:,} columns").format(
                                path=path, row=number + 1, n=limits.max_columns))
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
                        number = int(index) if index and index.isdecimal() else number + 1
                        yield number, _row_cells(elem)
                    elem.clear()
                if event == "end":
                    parents.pop()
                    depth -= 1
                    if tag == "Row":
                        in_row -= 1
                    if not in_row and parents:
                        elem.clear()
                        parents[-1].remove(elem)
        except (ParseError, DefusedXmlException) as exc:
            raise SecopsError(_("{path}: not valid SpreadsheetML: {error}").format(path=path, error=exc)) from exc
        if chosen is None:
            raise SecopsError(_("{path}: no sheet named {names} (sheets: {seen})").format(
                path=path, names=" or ".join(sheets), seen=", ".join(seen) or "none"))

    return Table("xml2003", "SpreadsheetML 2003 XML", _bounded(path, rows(), limits))


def _row_cells(row: object) -> list[str]:
    cells: list[str] = []
    for cell in row:  # type: ignore[attr-defined]
        if cell.tag.rsplit("}", 1)[-1] != "Cell":
            continue
        index = cell.get(f"{{{_SS}}}Index")
        if index and index.isdecimal():
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
        raise SecopsError(_("{path}: cannot open: {reason}").format(path=path, reason=exc.strerror or exc)) from exc
    if size > limits.max_bytes:
        raise SecopsError(_("{path}: file is {size:,} bytes, more than the limit of {max_bytes:,}").format(
            path=path, size=size, max_bytes=limits.max_bytes))
    if head.startswith(b"PK\x03\x04"):
        return _xlsx(path, sheets, limits)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SecopsError(_("{path}: binary Excel 97-2003 (.xls) is not read; save it as .xlsx or export as text").format(
            path=path))
    if _is_spreadsheetml(head):
        return _xml2003(path, sheets, limits)
    fmt: TextFormat = detect_format(path, encoding=encoding, limits=limits)
    return Table("text", fmt.label, iter_rows(path, fmt, limits))
