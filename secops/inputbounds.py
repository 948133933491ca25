"""Bounds on spreadsheet containers, checked on the raw bytes before a parser materialises anything.

openpyxl (even read-only) builds each row whole, pads rows to the sheet's declared dimension and
keeps every shared string; an XML parser keeps what it has not been told to drop. A hostile xlsx
of a few kilobytes can therefore ask for billions of cells. So before openpyxl opens a workbook:

- every part is stored or deflated (no bzip2/lzma, which decompress without a size bound), and
  its declared uncompressed size is at most `max_unpacked_bytes` (zipfile never yields more than
  the declared size, so the declaration is a true bound);
- each worksheet part is scanned as bytes, streaming (C-speed `count` and regexes over 1 MiB
  chunks): its tags (at most `max_xml_tags`), its declared `<dimension>` (at most `max_rows` rows
  and `max_columns` columns), the cells of each row (at most `max_columns`), the column any cell
  names (at most `max_columns`: openpyxl pads a row up to it) and the cells of the sheet (at most
  `max_cells`);
- the shared strings (held whole by openpyxl) are at most `max_shared_strings_bytes` and
  `max_shared_strings` entries.

A SpreadsheetML 2003 file is counted the same way (tags) before it is parsed; its rows and cells
are then bounded while parsing (secops.collect.evidence_tables).
Each refusal is a SecopsError naming the file, the part and the bound.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from secops.errors import SecopsError
from secops.i18n import _
from secops.textio import Limits

CHUNK = 1024 * 1024
MAX_PARTS = 10_000  # files in one xlsx (a workbook has a few dozen)
_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_WIDE_REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]{3,})\d""")  # 3+ letters: column 703 and beyond
_DIMENSION = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?dimension\s[^>]*ref\s*=\s*["']([^"']*)["']""")
_SHARED = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
_SST = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sst[\s/>]")


def column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """Chunks cut just before their last '<', so no tag is split between two of them."""
    tail = b""
    while True:
        block = handle.read(CHUNK)
        if not block:
            if tail:
                yield tail
            return
        data = tail + block
        cut = data.rfind(b"<")
        if cut <= 0:
            tail = b""
            yield data
        else:
            tail = data[cut:]
            yield data[:cut]


def count_tags(path: Path | str, handle: IO[bytes], limits: Limits, part: str = "") -> int:
    where = f"{path}{': ' + part if part else ''}"
    tags = 0
    for chunk in _chunks(handle):
        tags += chunk.count(b"<")
        if tags > limits.max_xml_tags:
            raise SecopsError(_("{where}: more than {n:,} XML tags (limits.max_xml_tags); not read").format(
                where=where, n=limits.max_xml_tags))
    return tags


def _dimension(where: str, ref: bytes, limits: Limits) -> None:
    last = ref.decode("ascii", "replace").split(":")[-1]
    match = re.fullmatch(r"\$?([A-Za-z]{1,7})\$?(\d{1,12})", last.strip())
    if match is None:
        return  # openpyxl ignores what it cannot read; so do we (rows and cells are still counted)
    columns, rows = column_number(match.group(1)), int(match.group(2))
    if columns > limits.max_columns:
        raise SecopsError(_("{where}: declares {n:,} columns (dimension {last}), more than the limit of {limit:,} "
                            "columns").format(where=where, n=columns, last=last, limit=limits.max_columns))
    if rows > limits.max_rows:
        raise SecopsError(_("{where}: declares {n:,} rows (dimension {last}), more than the limit of {limit:,} "
                            "rows").format(where=where, n=rows, last=last, limit=limits.max_rows))
    if rows * columns > limits.max_cells:
        raise SecopsError(_("{where}: declares {n:,} cells (dimension {last}), more than the limit of {limit:,} "
                            "cells").format(where=where, n=rows * columns, last=last, limit=limits.max_cells))


def scan_sheet(path: Path | str, handle: IO[bytes], limits: Limits, part: str) -> None:
    """Refuse an xlsx part over any bound (a worksheet's rows and cells, shared strings, tags),
    reading it once as bytes; parts of other kinds only have their tags counted, in effect."""
    where = f"{path}: {part}"
    tags = cells = rows = row_cells = shared = 0
    first = True
    for chunk in _chunks(handle):
        if first:
            first = False
            if (dim := _DIMENSION.search(chunk)) is not None:
                _dimension(where, dim.group(1), limits)
        tags += chunk.count(b"<")
        if tags > limits.max_xml_tags:
            raise SecopsError(_("{where}: more than {n:,} XML tags (limits.max_xml_tags); not read").format(
                where=where, n=limits.max_xml_tags))
        shared += len(_SHARED.findall(chunk))
        if shared > limits.max_shared_strings:
            raise SecopsError(_("{where}: more than {n:,} shared strings (limits.max_shared_strings)").format(
                where=where, n=limits.max_shared_strings))
        for letters in _WIDE_REF.findall(chunk):
            if column_number(letters.decode("ascii")) > limits.max_columns:
                raise SecopsError(_("{where}: a cell in column {column}, beyond the limit of {limit:,} columns").format(
                    where=where, column=letters.decode("ascii"), limit=limits.max_columns))
        pieces = _ROW.split(chunk)
        for index, piece in enumerate(pieces):
            if index:  # a new row starts here
                rows += 1
                row_cells = 0
                if rows > limits.max_rows:
                    raise SecopsError(_("{where}: more than {n:,} rows; split the export or raise the limit").format(
                        where=where, n=limits.max_rows))
            found = len(_CELL.findall(piece))
            row_cells += found
            cells += found
            if row_cells > limits.max_columns:
                raise SecopsError(_("{where}: row {row:,} has more than {n:,} cells (the limit of columns)").format(
                    where=where, row=rows, n=limits.max_columns))
            if cells > limits.max_cells:
                raise SecopsError(_("{where}: more than {n:,} cells; split the export or raise the limit").format(
                    where=where, n=limits.max_cells))


def check_xlsx(path: Path, limits: Limits) -> None:
    """Refuse an xlsx over any bound before openpyxl reads it (see the module's docstring)."""
    try:
        with zipfile.ZipFile(path) as book:
            infos = book.infolist()
            if len(infos) > MAX_PARTS:
                raise SecopsError(_("{path}: {n:,} parts in the workbook, more than the limit of {limit:,}").format(
                    path=path, n=len(infos), limit=MAX_PARTS))
            total = sum(info.file_size for info in infos)
            if total > limits.max_bytes:
                raise SecopsError(_("{path}: {n:,} bytes uncompressed, more than the limit of {limit:,}").format(
                    path=path, n=total, limit=limits.max_bytes))
            for info in infos:
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise SecopsError(_("{path}: {part}: compressed with method {method}; only stored and deflated parts "
                                        "are read").format(path=path, part=info.filename, method=info.compress_type))
                if info.file_size > limits.max_unpacked_bytes:
                    raise SecopsError(_("{path}: {part}: {n:,} bytes uncompressed, more than the limit of {limit:,}").format(
                        path=path, part=info.filename, n=info.file_size, limit=limits.max_unpacked_bytes))
            for info in infos:  # by content, not by name: relationships may put parts anywhere
                if info.is_dir():
                    continue
                with book.open(info) as handle:
                    head = handle.read(4096)
                if _SST.search(head) and info.file_size > limits.max_shared_strings_bytes:
                    raise SecopsError(_("{path}: {part}: {n:,} bytes of shared strings, more than the limit of "
                                        "{limit:,}").format(path=path, part=info.filename, n=info.file_size,
                                                            limit=limits.max_shared_strings_bytes))
                with book.open(info) as handle:
                    scan_sheet(path, handle, limits, info.filename)
    except zipfile.BadZipFile as exc:
        raise SecopsError(_("{path}: not a readable xlsx workbook: {error}").format(path=path, error=exc)) from exc
    except OSError as exc:
        raise SecopsError(_("{path}: cannot read: {error}").format(path=path, error=exc.strerror or exc)) from exc

