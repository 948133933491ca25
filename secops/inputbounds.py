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
            raise SecopsError(f"{where}: more than {limits.max_xml_tags:,} XML tags (limits.max_xml_tags); "
                              "not read")
    return tags


def _dimension(where: str, ref: bytes, limits: Limits) -> None:
    last = ref.decode("ascii", "replace").split(":")[-1]
    match = re.fullmatch(r"\$?([A-Za-z]{1,7})\$?(\d{1,12})", last.strip())
    if match is None:
        return  # openpyxl ignores what it cannot read; so do we (rows and cells are still counted)
    columns, rows = column_number(match.group(1)), int(match.group(2))
    if columns > limits.max_columns:
        raise SecopsError(f"{where}: declares {columns:,} columns (dimension {last}), more than the limit of "
                          f"{limits.max_columns:,} columns")
    if rows > limits.max_rows:
        raise SecopsError(f"{where}: declares {rows:,} rows (dimension {last}), more than the limit of "
                          f"{limits.max_rows:,} rows")
    if rows * columns > limits.max_cells:
        raise SecopsError(f"{where}: declares {rows * columns:,} cells (dimension {last}), more than the limit of "
                          f"{limits.max_cells:,} cells")


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
            raise SecopsError(f"{where}: more than {limits.max_xml_tags:,} XML tags (limits.max_xml_tags); not read")
        shared += len(_SHARED.findall(chunk))
        if shared > limits.max_shared_strings:
            raise SecopsError(f"{where}: more than {limits.max_shared_strings:,} shared strings "
                              "(limits.max_shared_strings)")
        for letters in _WIDE_REF.findall(chunk):
            if column_number(letters.decode("ascii")) > limits.max_columns:
                raise SecopsError(f"{where}: a cell in column {letters.decode('ascii')}, beyond the limit of "
                                  f"{limits.max_columns:,} columns")
        pieces = _ROW.split(chunk)
        for index, piece in enumerate(pieces):
            if index:  # a new row starts here
                rows += 1
                row_cells = 0
                if rows > limits.max_rows:
                    raise SecopsError(f"{where}: more than {limits.max_rows:,} rows; split the export or raise "
                                      "the limit")
            found = len(_CELL.findall(piece))
            row_cells += found
            cells += found
            if row_cells > limits.max_columns:
                raise SecopsError(f"{where}: row {rows:,} has more than {limits.max_columns:,} cells (the limit "
                                  "of columns)")
            if cells > limits.max_cells:
                raise SecopsError(f"{where}: more than {limits.max_cells:,} cells; split the export or raise "
                                  "the limit")


def check_xlsx(path: Path, limits: Limits) -> None:
    """Refuse an xlsx over any bound before openpyxl reads it (see the module's docstring)."""
    try:
        with zipfile.ZipFile(path) as book:
            infos = book.infolist()
            if len(infos) > MAX_PARTS:
                raise SecopsError(f"{path}: {len(infos):,} parts in the workbook, more than the limit of {MAX_PARTS:,}")
            total = sum(info.file_size for info in infos)
            if total > limits.max_bytes:
                raise SecopsError(f"{path}: {total:,} bytes uncompressed, more than the limit of {limits.max_bytes:,}")
            for info in infos:
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise SecopsError(f"{path}: {info.filename}: compressed with method {info.compress_type}; "
                                      "only stored and deflated parts are read")
                if info.file_size > limits.max_unpacked_bytes:
                    raise SecopsError(f"{path}: {info.filename}: {info.file_size:,} bytes uncompressed, more than "
                                      f"the limit of {limits.max_unpacked_bytes:,}")
            for info in infos:  # by content, not by name: relationships may put parts anywhere
                if info.is_dir():
                    continue
                with book.open(info) as handle:
                    head = handle.read(4096)
                if _SST.search(head) and info.file_size > limits.max_shared_strings_bytes:
                    raise SecopsError(f"{path}: {info.filename}: {info.file_size:,} bytes of shared strings, "
                                      f"more than the limit of {limits.max_shared_strings_bytes:,}")
                with book.open(info) as handle:
                    scan_sheet(path, handle, limits, info.filename)
    except zipfile.BadZipFile as exc:
        raise SecopsError(f"{path}: not a readable xlsx workbook: {exc}") from exc
    except OSError as exc:
        raise SecopsError(f"{path}: cannot read: {exc.strerror or exc}") from exc

