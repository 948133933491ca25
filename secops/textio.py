"""Read delimited text (CSV/TSV) the way real tools write it, streaming and bounded.

One reader for every CSV-like input (inventory files, console exports), because Excel and the
consoles write many encodings: UTF-8 with or without BOM, UTF-16 LE/BE with a BOM ("Unicode
Text", Kaspersky Security Center's device list), sometimes UTF-16 without a BOM, and the Windows
8-bit code page (cp1258 for Vietnamese) when Excel saves plain "CSV (Comma delimited)". 8-bit
code pages cannot be told apart reliably, so they are never guessed: the user names them with
--encoding, otherwise the file is refused with `file: encoding: reason`.

Rows are yielded one at a time with their line number; the file size, the number of rows and the
size of a cell are bounded so that a hostile file cannot exhaust memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from secops.errors import SecopsError
from secops.i18n import _

DELIMITERS = ("\t", ";", ",")
DELIMITER_NAMES = {"\t": "tab", ";": "semicolon", ",": "comma"}
_SNIFF_BYTES = 64 * 1024
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Limits:
    """Bounds for one input file; a file over any of them is refused with a message."""

    max_bytes: int = 512 * 1024 * 1024
    max_rows: int = 500_000
    max_cell_chars: int = 64 * 1024
    max_line_chars: int = 1024 * 1024  # one physical line of delimited text, read before it is split
    max_columns: int = 1024  # cells in one row (and the highest column a spreadsheet cell may name)
    max_cells: int = 2_000_000  # cells in the whole sheet or file
    max_xml_tags: int = 10_000_000  # tags in one XML part (a sheet, SpreadsheetML), counted before parsing
    max_shared_strings: int = 1_000_000  # xlsx shared-strings entries
    max_shared_strings_bytes: int = 64 * 1024 * 1024  # xlsx shared-strings part, uncompressed (held whole)
    max_unpacked_bytes: int = 256 * 1024 * 1024  # one xlsx part, uncompressed


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class TextFormat:
    encoding: str  # a Python codec name, e.g. utf-8-sig, utf-16
    delimiter: str
    label: str  # how it is described to the user, e.g. "UTF-16 LE with BOM, tab-separated"
    encoding_option: bool = True  # the command offers --encoding (so hints may name it)


def _utf16_without_bom(head: bytes) -> str | None:
    """Mostly-ASCII UTF-16 has a NUL in every other byte; tell the byte order from where they sit."""
    sample = head[: len(head) - len(head) % 2][:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.6 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.6 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def _encoding_hint(path: Path, exc: UnicodeDecodeError, where: str, option: bool = True) -> SecopsError:
    byte = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
    fix = " or name the encoding with --encoding cp1258" if option else ""
    return SecopsError(
        _("{path}: encoding: not valid UTF-8 (byte 0x{byte} {where}); Excel's plain 'CSV' uses the "
          "Windows code page (cp1258 for Vietnamese): save as 'CSV UTF-8' or 'Unicode Text'{fix}").format(
            path=path, byte=byte, where=where, fix=fix))


def detect_encoding(path: Path, head: bytes, explicit: str | None = None,
                    encoding_option: bool = True) -> tuple[str, str]:
    """(codec, label) for the file whose first bytes are `head`; refuses what cannot be decoded."""
    if explicit:
        try:
            codec = codecs.lookup(explicit).name
        except LookupError as exc:
            raise SecopsError(_("{path}: encoding: unknown encoding {explicit}").format(
                                  path=path, explicit=repr(explicit))) from exc
        if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        return codec, explicit
    for bom, codec in _BOMS:
        if head.startswith(bom):
            label = {codecs.BOM_UTF8: "UTF-8 with BOM", codecs.BOM_UTF16_LE: "UTF-16 LE with BOM",
                     codecs.BOM_UTF16_BE: "UTF-16 BE with BOM"}[bom]
            return codec, label
    guessed = _utf16_without_bom(head)
    if guessed:
        return guessed, f"UTF-16 {guessed[-2:].upper()} without BOM"
    if b"\x00" in head:
        raise SecopsError(_("{path}: encoding: binary data (NUL bytes), not a text export").format(path=path))
    try:
        # An incomplete multi-byte sequence at the sample's end is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _encoding_hint(path, exc, f"at offset {exc.start}", encoding_option) from exc
    return "utf-8", "UTF-8"


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter of the first line that has any: the most frequent of tab, semicolon, comma
    outside quotes (tab first on a tie: a tab rarely appears inside a name)."""
    for line in lines:
        counts = {d: 0 for d in DELIMITERS}
        quoted = False
        for char in line:
            if char == '"':
                quoted = not quoted
            elif not quoted and char in counts:
                counts[char] += 1
        best = max(DELIMITERS, key=lambda d: counts[d])
        if counts[best]:
            return best
    return ","


def _head(path: Path, limits: Limits) -> bytes:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise SecopsError(_("{path}: file is {size:,} bytes, more than the limit of {max_bytes:,}").format(
                                  path=path, size=size, max_bytes=limits.max_bytes))
        with path.open("rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise SecopsError(_("{path}: cannot open: {reason}").format(path=path, reason=exc.strerror or exc)) from exc


def detect_format(path: Path, encoding: str | None = None, delimiter: str | None = None,
                  limits: Limits = DEFAULT_LIMITS, encoding_option: bool = True) -> TextFormat:
    """How to read `path`; `encoding_option`: whether the command offers --encoding (named in hints)."""
    head = _head(path, limits)
    codec, label = detect_encoding(path, head, encoding, encoding_option)
    try:
        text = codecs.getincrementaldecoder(codec)(errors="strict").decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise SecopsError(_("{path}: encoding: not valid {label} (offset {start})").format(
                              path=path, label=label, start=exc.start)) from exc
    if delimiter is None:
        delimiter = sniff_delimiter([ln for ln in text.splitlines()[:20] if ln.strip()])
    return TextFormat(codec, delimiter, f"{label}, {DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated",
                      encoding_option)


def iter_rows(path: Path, fmt: TextFormat, limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for every row, streaming; decoding and size problems become SecopsError."""
    csv.field_size_limit(limits.max_cell_chars)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise SecopsError(_("{path}: cannot open: {reason}").format(path=path, reason=exc.strerror or exc)) from exc
    with raw:
        text = io.TextIOWrapper(raw, encoding=fmt.encoding, errors="strict", newline="")
        reader = csv.reader(_bounded_lines(path, text, limits), delimiter=fmt.delimiter)
        count = 0
        cells_seen = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                if fmt.encoding.startswith("utf-8"):
                    raise _encoding_hint(path, exc, f"near line {reader.line_num + 1}", fmt.encoding_option) from exc
                raise SecopsError(_("{path}: encoding: not valid {encoding} near line {line}").format(
                                      path=path, encoding=fmt.encoding, line=reader.line_num + 1)) from exc
            except csv.Error as exc:
                raise SecopsError(_("{path}:{line_num}: not readable as delimited text: {exc}").format(
                                      path=path, line_num=reader.line_num, exc=exc)) from exc
            count += 1
            if count > limits.max_rows:
                raise SecopsError(_("{path}:{line_num}: more than {max_rows:,} rows; split the export or raise the "
                                    "limit").format(path=path, line_num=reader.line_num, max_rows=limits.max_rows))
            if len(cells) > limits.max_columns:
                raise SecopsError(_("{path}:{line_num}: {n:,} cells in one row, more than the limit of {max_columns:,} "
                                    "columns").format(path=path, line_num=reader.line_num, n=len(cells),
                                                      max_columns=limits.max_columns))
            cells_seen += len(cells)
            if cells_seen > limits.max_cells:
                raise SecopsError(_("{path}:{line_num}: more than {max_cells:,} cells in the file; split the export or "
                                    "raise the limit").format(path=path, line_num=reader.line_num,
                                                              max_cells=limits.max_cells))
            # NFC: cp1258 (and some tools' UTF-8) write Vietnamese tones as combining marks, which
            # would never equal the precomposed words of profiles and inventories.
            yield reader.line_num, [c if c.isascii() else unicodedata.normalize("NFC", c) for c in cells]


def _bounded_lines(path: Path, text: io.TextIOWrapper, limits: Limits) -> Iterator[str]:
    """Physical lines for the csv module, each read with a bound: a 200 MB line is refused after
    `max_line_chars` characters instead of being read whole."""
    number = 0
    while True:
        line = text.readline(limits.max_line_chars + 1)
        if not line:
            return
        number += 1
        if len(line) > limits.max_line_chars and not line.endswith(("\n", "\r")):
            raise SecopsError(_("{path}:{number}: a line is longer than the limit of {max_line_chars:,} characters").format(
                                  path=path, number=number, max_line_chars=limits.max_line_chars))
        if "\x00" in line:  # anywhere in the file, not only in the sniffed head
            raise SecopsError(_("{path}:{number}: a NUL character (binary data), not text").format(
                                  path=path, number=number))
        yield line


def csv_records(path: Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str | None]]]:
    """(line, {column: cell}) for a small CSV import with a fixed set of columns, read like every other
    CSV input (BOM, UTF-16, delimiter, bounds). An unknown column is refused; a missing cell is None."""
    rows = iter_rows(path, detect_format(path, encoding_option=False))
    first = next(rows, None)
    header = [h.strip() for h in first[1]] if first else []
    unknown = [c for c in header if c not in columns]
    if unknown:
        raise SecopsError(_("{path}:1: unknown column(s) {items}; expected {items2}").format(
                              path=path, items=', '.join(unknown), items2=', '.join(columns)))
    return [(line, {name: (cells[i] if i < len(cells) else None) for i, name in enumerate(header)})
            for line, cells in rows]


@contextmanager
def input_errors(path: Path | str) -> Iterator[None]:
    """A parser's low-level failure on a hostile file (undecodable bytes, NUL, a field over the csv
    module's limit, deep nesting) as `file: reason`, never a traceback: the readers' last resort."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise SecopsError(_("{path}: not UTF-8 text (byte {start}: {reason}); save it as CSV UTF-8").format(
                              path=path, start=exc.start, reason=exc.reason)) from exc
    except csv.Error as exc:
        raise SecopsError(_("{path}: not a readable CSV file ({exc})").format(path=path, exc=exc)) from exc
    except RecursionError as exc:
        raise SecopsError(_("{path}: nested too deeply").format(path=path)) from exc
