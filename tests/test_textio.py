"""secops.textio: encodings and delimiters as Excel and the consoles write them (issue 10 item 5)."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

import pytest

from secops.errors import SecopsError
from secops.textio import Limits, detect_format, iter_rows

FIXTURES = Path(__file__).parent / "fixtures" / "core"
SMALL = FIXTURES / "small.yaml"
# Vietnamese names: characters outside ASCII in every code page that matters here.
STAFF = ("code,agency,name,is_head,awareness_date,informed_date,training_date\r\n"
         "H0,P,Nguyễn Văn Đức,true,2026-01-05,2026-01-05,2026-02-01\r\n"
         "S1A,S1,Trần Thị Hằng,false,,2026-03-01,2026-04-01\r\n")


def cp1258(text: str) -> bytes:
    """Vietnamese as Windows-1258 holds it: base letters with hats precomposed, tones as combining marks."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        try:
            out.append(char.encode("cp1258"))
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base, marks = parts[0], parts[1:]
            for mark in marks:  # the hat (â, ê, ô, ơ, ư, ă) is precomposed; tones stay combining
                joined = unicodedata.normalize("NFC", base + mark)
                if len(joined) == 1 and joined.encode("cp1258", errors="ignore"):
                    base, marks = joined, marks.replace(mark, "", 1)
                    break
            out.append((base + marks).encode("cp1258"))
    return b"".join(out)


def _rows(path: Path, **kw) -> list[tuple[int, list[str]]]:
    return list(iter_rows(path, detect_format(path, **kw)))


@pytest.mark.parametrize("encoding,data", [
    ("UTF-8", STAFF.encode("utf-8")),
    ("UTF-8 with BOM", codecs.BOM_UTF8 + STAFF.encode("utf-8")),
    ("UTF-16 LE with BOM", STAFF.encode("utf-16")),  # Excel "Unicode Text" (LE on Windows)
    ("UTF-16 BE with BOM", codecs.BOM_UTF16_BE + STAFF.encode("utf-16-be")),
    ("UTF-16 LE without BOM", STAFF.encode("utf-16-le")),
])
def test_unicode_encodings_read_the_same_rows(tmp_path: Path, encoding: str, data: bytes) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes(data)
    fmt = detect_format(path)
    assert fmt.label.startswith(encoding)
    rows = list(iter_rows(path, fmt))
    assert rows[1] == (2, ["H0", "P", "Nguyễn Văn Đức", "true", "2026-01-05", "2026-01-05", "2026-02-01"])
    assert len(rows) == 3


@pytest.mark.parametrize("delimiter,name", [("\t", "tab"), (";", "semicolon"), (",", "comma")])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str, name: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(STAFF.replace(",", delimiter).replace("Nguyễn Văn Đức", '"Đức; Văn, A"'), encoding="utf-8")
    fmt = detect_format(path)
    assert fmt.delimiter == delimiter and name in fmt.label
    assert _rows(path)[1][1][2] == "Đức; Văn, A"


def test_cp1258_is_refused_with_encoding_hint_or_read_when_named(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes(cp1258("code,name\r\nH0,Trần Thị Hằng\r\n"))
    with pytest.raises(SecopsError, match=r"staff.csv: encoding: not valid UTF-8 .*--encoding cp1258"):
        detect_format(path)
    read = _rows(path, encoding="cp1258")[1]
    assert read[0] == 2 and [unicodedata.normalize("NFC", c) for c in read[1]] == ["H0", "Trần Thị Hằng"]


def test_binary_and_limits_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "g.csv"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 3)
    with pytest.raises(SecopsError, match="encoding: binary data"):
        detect_format(garbage)
    many = tmp_path / "many.csv"
    many.write_text("a,b\n" + "1,2\n" * 20)
    with pytest.raises(SecopsError, match=r"many.csv:11: more than 10 rows"):
        list(iter_rows(many, detect_format(many), Limits(max_rows=10)))
    with pytest.raises(SecopsError, match="more than the limit of 10"):
        detect_format(many, limits=Limits(max_bytes=10))
    wide = tmp_path / "wide.csv"
    wide.write_text("a,b\n1," + "x" * 500 + "\n")
    with pytest.raises(SecopsError, match=r"wide.csv:2: not readable as delimited text: field larger"):
        list(iter_rows(wide, detect_format(wide), Limits(max_cell_chars=100)))


def test_late_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 30000 + cp1258("3,Hằng\n"))
    with pytest.raises(SecopsError, match=r"late.csv: encoding: not valid UTF-8 .*near line"):
        _rows(path)


@pytest.mark.parametrize("codec", ["utf-16", "cp1258"])
def test_inventory_csv_as_excel_writes_it(tmp_path: Path, cli, codec: str) -> None:
    """Regression (issue 10 item 5): UTF-16 imported; cp1258 refused with `file: reason`, exit 2."""
    staff = tmp_path / "staff.csv"
    text = STAFF if codec == "utf-16" else STAFF.replace("Nguyễn Văn Đức", "Trần Thị Hằng")
    if codec == "utf-16":
        staff.write_bytes(text.replace(",", "\t").encode("utf-16"))
    else:
        staff.write_bytes(cp1258(text))
    db = tmp_path / "s.db"
    done = cli("inventory", "import", str(SMALL), str(staff), db=db)
    assert "Traceback" not in done.stderr
    if codec == "utf-16":
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 2
        message = done.stderr.replace("\n", "")
        assert f"{staff}: encoding: not valid UTF-8" in message and "save as 'CSV UTF-8'" in message
        assert "--encoding" not in message
