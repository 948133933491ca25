"""Property/fuzz suite over every parser of untrusted or user-given input.

Inputs: real example files, mutated (bytes flipped, slices cut, duplicated or spliced with YAML,
CSV and XML metacharacters, anchors and aliases, BOMs, NULs), and raw random bytes. For each:
- the parser returns, or raises SecopsError naming the file; any other exception is a failure
  (it would be a traceback for the user);
- the case takes bounded time and memory (tracemalloc peak);
- an import that fails writes nothing (the database's row counts are unchanged).
A few cases also go through the real CLI in a child process with a capped address space.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from secops.collect.config import load_config
from secops.config import bundled
from secops.discover.parse import parse_nmap_xml
from secops.discover.scope import load_scope
from secops.errors import SecopsError
from secops.evaluate.sca_load import load_policy
from secops.evidence.importer import import_evidence
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, StaffRow, SystemRow

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 5.0  # per case; the parsers take milliseconds on these sizes
MAX_PEAK_BYTES = 200 * 1024 * 1024
FUZZ = settings(max_examples=int(os.environ.get("SECOPS_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

TOKENS = [b"&a ", b"*a", b"&b [*a,*a,*a,*a,*a,*a,*a,*a]", b"[", b"]", b"{", b"}", b": ", b"- ", b"\n", b"\n  ",
          b"!!python/object/apply:os.system ['id']", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\"", b"'", b",",
          b"\r\n", b"=cmd|' /C calc'!A0", b"<", b">", b"</host>", b"<!DOCTYPE x [<!ENTITY e \"eeeeeeeeee\">]>",
          b"&e;", b"\xe2\x80\xae", b"\xe2\x80\x8b", b"9" * 40, b"2026-02-30", b"-1", b"1e999", b"~", b"%", b"|"]


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed file with a few edits: flip, cut, duplicate, or splice in a metacharacter."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "dup", "token", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 40))]
        elif op == "dup":
            chunk = data[pos:pos + draw(st.integers(1, 80))]
            data[pos:pos] = chunk * draw(st.integers(1, 4))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        else:
            del data[pos:]
    return bytes(data)


def inputs(seed: Path) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seed.read_bytes()), st.binary(max_size=2048))


def bounded(path: Path, call: Callable[[], object]) -> None:
    """Run one parse: success or SecopsError naming the file, in bounded time and memory."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        call()
    except SecopsError as exc:
        assert str(path) in str(exc) or path.name in str(exc), f"error does not name the file: {exc}"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < MAX_SECONDS
    assert peak < MAX_PEAK_BYTES, f"peak {peak} bytes"


def counts(db: Database) -> tuple[int, ...]:
    with db.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) or 0
                     for t in (AgencyRow, SystemRow, EndpointRow, StaffRow))


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Database:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'secops.db'}")
    import_files(database, [ROOT / "examples" / "inventory.yaml"], load_levels(bundled("policies")))
    yield database
    database.dispose()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("seed, name", [("examples/inventory.yaml", "inventory.yaml"),
                                        ("examples/endpoints.csv", "endpoints.csv"),
                                        ("examples/staff.csv", "staff.csv")])
def test_inventory_import_is_all_or_nothing(db: Database, tmp_path: Path, seed: str, name: str) -> None:
    levels = load_levels(bundled("policies"))

    @FUZZ
    @given(data=inputs(ROOT / seed))
    def case(data: bytes) -> None:
        path = _write(tmp_path, name, data)
        before = counts(db)
        failed = []

        def run() -> None:
            try:
                import_files(db, [path], levels)
            except SecopsError:
                failed.append(True)
                raise

        bounded(path, run)
        if failed:
            assert counts(db) == before, "a refused import wrote rows"

    case()


@pytest.mark.parametrize("seed, name, parse", [
    ("examples/scope.yaml", "scope.yaml", load_scope),
    ("examples/audit.yaml", "audit.yaml", load_config),
    ("checks/linux_ssh_hardening.yml", "pack.yml", load_policy),
    ("checks/endpoint_protection_linux.yml", "pack.yml", load_policy),
])
def test_yaml_configs(tmp_path: Path, seed: str, name: str, parse: Callable[[Path], object]) -> None:
    @FUZZ
    @given(data=inputs(ROOT / seed))
    def case(data: bytes) -> None:
        path = _write(tmp_path, name, data)
        bounded(path, lambda: parse(path))

    case()


def test_evidence_csv(db: Database, tmp_path: Path) -> None:
    @FUZZ
    @given(data=inputs(ROOT / "tests" / "fixtures" / "audit" / "console_export.csv"))
    def case(data: bytes) -> None:
        path = _write(tmp_path, "console.csv", data)
        bounded(path, lambda: import_evidence(db, path, "console", bundled("policies")))

    case()


@pytest.mark.parametrize("seed", ["loopback_services_os.xml", "lan_sample.xml"])
def test_nmap_xml(tmp_path: Path, seed: str) -> None:
    @FUZZ
    @given(data=inputs(ROOT / "tests" / "fixtures" / "discover" / seed))
    def case(data: bytes) -> None:
        path = _write(tmp_path, "chunk.xml", data)
        bounded(path, lambda: parse_nmap_xml(data, source=str(path)))

    case()


def test_nmap_xml_entity_bomb_is_refused(tmp_path: Path) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
            + ']><nmaprun>&i;</nmaprun>')
    path = tmp_path / "bomb.xml"
    bounded(path, lambda: parse_nmap_xml(bomb, source=str(path)))


# -- the same through the real CLI, in a child process with capped memory ------------------------

def _capped() -> None:
    limit = 1536 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@settings(max_examples=int(os.environ.get("SECOPS_FUZZ_CLI_EXAMPLES", "6")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=inputs(ROOT / "examples" / "inventory.yaml"))
def test_cli_import_never_shows_a_traceback(tmp_path_factory, data: bytes) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("cli")
    path = _write(folder, "inventory.yaml", data)
    from secops.store.db import Database

    Database(f"sqlite:///{folder / 's.db'}").dispose()  # as `secops init` makes it
    done = subprocess.run([sys.executable, "-m", "secops", "--db", str(folder / "s.db"), "inventory", "import",
                           str(path)], capture_output=True, text=True, timeout=60, preexec_fn=_capped, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    if done.returncode == 2:
        assert str(path) in done.stderr.replace("\n", "") or "inventory.yaml" in done.stderr


# -- bombs: hostile spreadsheets and text, through the real CLI under a 512 MiB cap ----------------
# Each file is generated here, streamed (a zip member written in pieces), small on disk where the
# format allows (deflate). The command must refuse it naming the bound, within seconds, under
# RLIMIT_AS = 512 MiB (the interpreter, SQLAlchemy and openpyxl included).

BOMB_MEMORY = 512 * 1024 * 1024
BOMB_SECONDS = 60.0  # wall clock per command on a loaded 2-core CI machine; each takes a few seconds alone
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="Details" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        '</Relationships>'),
}
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _xlsx(path: Path, sheet: Iterable[bytes], shared: Iterable[bytes] | None = None) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        for name, text in _XLSX_PARTS.items():
            book.writestr(name, text)
        for name, pieces in (("xl/worksheets/sheet1.xml", sheet),
                             ("xl/sharedStrings.xml", shared or [f'<sst {_NS} count="1"><si><t>x</t></si></sst>'
                                                                 .encode()])):
            with book.open(name, "w", force_zip64=True) as member:
                for piece in pieces:
                    member.write(piece)
    return path


def _sheet(rows: Iterable[bytes], dimension: str = "A1:B2") -> Iterator[bytes]:
    yield f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><dimension ref="{dimension}"/><sheetData>'.encode()
    yield from rows
    yield b"</sheetData></worksheet>"


def _repeat(piece: bytes, times: int, batch: int = 100_000) -> Iterator[bytes]:
    block = piece * batch
    for _ in range(times // batch):
        yield block
    yield piece * (times % batch)


def bomb_declared_dimension(path: Path) -> Path:  # 1,764 bytes in the report; a few KB here
    return _xlsx(path, _sheet([b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'],
                              "A1:XFD1048576"))


def bomb_wide_row(path: Path) -> Path:  # one row of 20 M cells
    return _xlsx(path, _sheet([b'<row r="1">', *_repeat(b"<c/>", 20_000_000), b"</row>"]))


def bomb_far_column(path: Path) -> Path:  # one cell in the last column: openpyxl pads the row to it
    return _xlsx(path, _sheet([b'<row r="%d"><c r="XFD%d"><v>1</v></c></row>' % (i, i) for i in range(1, 2001)]))


def bomb_shared_strings(path: Path) -> Path:  # millions of shared strings (1.8 GB in the report)
    shared = [f'<sst {_NS}>'.encode(), *_repeat(b"<si><t>" + b"s" * 60 + b"</t></si>", 3_000_000), b"</sst>"]
    return _xlsx(path, _sheet([b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>']), shared)


def bomb_spreadsheetml(path: Path) -> Path:  # 100 MB, 25 M elements
    with path.open("wb") as handle:
        handle.write(b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
                     b'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="Details">'
                     b'<Table><Row><Cell><Data ss:Type="String">x</Data></Cell></Row>')
        for block in _repeat(b"<a/>", 25_000_000):
            handle.write(block)
        handle.write(b"</Table></Worksheet></Workbook>")
    return path


def bomb_spreadsheetml_wide_row(path: Path) -> Path:  # a single Row of 2 M cells
    with path.open("wb") as handle:
        handle.write(b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
                     b'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="Details">'
                     b'<Table><Row>')
        for block in _repeat(b'<Cell><Data ss:Type="String">x</Data></Cell>', 2_000_000):
            handle.write(block)
        handle.write(b"</Row></Table></Worksheet></Workbook>")
    return path


def bomb_csv_line(path: Path) -> Path:  # 200 MB on one line
    with path.open("wb") as handle:
        handle.write(b"hostname,ip,product\n")
        for block in _repeat(b"a,", 100_000_000, batch=1_000_000):
            handle.write(block)
    return path


BOMBS = [
    ("evidence", "dimension.xlsx", bomb_declared_dimension, "declares 16,384 columns"),
    ("evidence", "wide-row.xlsx", bomb_wide_row, "has more than 1,024 cells"),
    ("evidence", "far-column.xlsx", bomb_far_column, "beyond the limit of 1,024 columns"),
    ("evidence", "shared.xlsx", bomb_shared_strings, "shared strings"),
    ("evidence", "elements.xml", bomb_spreadsheetml, "more than 10,000,000 XML tags"),
    ("evidence", "wide-row.xml", bomb_spreadsheetml_wide_row, "beyond the limit of 1,024 columns"),
    ("evidence", "line.csv", bomb_csv_line, "a line is longer than the limit of 1,048,576 characters"),
    ("inventory", "endpoints.csv", bomb_csv_line, "a line is longer than the limit of 1,048,576 characters"),
]


def _bomb_capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (BOMB_MEMORY, BOMB_MEMORY))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("command, name, make, bound", BOMBS, ids=[f"{b[0]}-{b[1]}" for b in BOMBS])
def test_bombs_are_refused_within_memory_and_time(tmp_path: Path, command: str, name: str,
                                                  make: Callable[[Path], Path], bound: str) -> None:
    path = make(tmp_path / name)
    args = (["evidence", "import", str(path), "--profile", "kaspersky_ksc_devices"] if command == "evidence"
            else ["inventory", "import", str(path)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    made = subprocess.run([sys.executable, "-m", "secops", "--db", str(tmp_path / "s.db"), "init"],
                          capture_output=True, text=True, timeout=120, check=False, env=env)
    assert made.returncode == 0, made.stderr  # only init creates a database
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "secops", "--db", str(tmp_path / "s.db"), *args],
                          capture_output=True, text=True, timeout=BOMB_SECONDS * 3, preexec_fn=_bomb_capped,
                          check=False, env=env)
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert bound in done.stderr.replace("\n", " ") and path.name in done.stderr, done.stderr
    assert elapsed < BOMB_SECONDS, f"{elapsed:.1f} s"
