"""Hostile and broken console exports: refused, or imported with exact per-row reasons; bounded.

Every case runs the real CLI: exit 2 with `file: reason` or `file:row: field: reason`, never a
Python traceback, and nothing written when anything is refused.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from secops.store.db import Database
from secops.store.tables import EvidenceRow, RunRow
from tests.conftest import ROOT
from tests.test_evidence_profiles import EXPORTED, FIX, inventory
from tests.test_textio import cp1258

HEADER = "STT;Tên máy;Địa chỉ IP;Sản phẩm;Trạng thái;Cập nhật lần cuối\r\n"


def evidence_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(EvidenceRow)) or 0


def refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    return done.stderr.replace("\n", " ")


def test_cp1258_export_is_refused_then_read_when_named(db: Database, db_path: Path, cli, tmp_path: Path) -> None:
    inventory(db)
    export = tmp_path / "bkav_ansi.csv"  # Excel "CSV (Comma delimited)" on a Vietnamese Windows
    export.write_bytes(cp1258((FIX / "bkav_vi.csv").read_text(encoding="utf-8-sig")))
    err = refused(cli("evidence", "import", str(export), db=db_path))
    assert f"{export}: encoding: not valid UTF-8" in err and "--encoding cp1258" in err
    assert evidence_count(db) == 0
    done = cli("evidence", "import", str(export), "--encoding", "cp1258", "--no-regrade", db=db_path)
    assert done.returncode == 0, done.stderr
    assert "profile user_mapped" in done.stdout and "imported 4" in done.stdout


def test_truncated_exports_name_the_row(db: Database, db_path: Path, cli, tmp_path: Path) -> None:
    inventory(db)
    cut = tmp_path / "cut.csv"
    cut.write_text(HEADER + "1;WS-01;127.0.5.1;Bkav;Đang bảo vệ;20/11/2026 08:30\r\n2;WS-02;127.0.5.2;Bk",
                   encoding="utf-8")
    err = refused(cli("evidence", "import", str(cut), db=db_path))
    assert f"{cut}:3: row: truncated: 4 cell(s), the header has more" in err
    odd = tmp_path / "ksc_cut.txt"  # a UTF-16 file cut in the middle of a character
    odd.write_bytes((FIX / "ksc_devices.txt").read_bytes()[:-3])
    err = refused(cli("evidence", "import", str(odd), db=db_path))
    assert f"{odd}: encoding: not valid utf-16 near line" in err
    assert evidence_count(db) == 0


def test_formula_cells_are_refused_per_row(db: Database, db_path: Path, cli, tmp_path: Path) -> None:
    inventory(db)
    export = tmp_path / "formula.csv"
    export.write_text(HEADER + "1;=cmd|' /C calc'!A0;127.0.5.1;Bkav;Đang bảo vệ;20/11/2026 08:30\r\n"
                      "2;WS-02;127.0.5.2;@SUM(A1:A9);Đang bảo vệ;20/11/2026 08:30\r\n"
                      "3;WS-03;127.0.5.3;Bkav;=1+1;20/11/2026 08:30\r\n"
                      "4;WS-04;127.0.5.4;Bkav;Đang bảo vệ;=NOW()\r\n"
                      "5;WS-05;127.0.5.5;Bkav;Đang bảo vệ;20/11/2026 08:30\r\n", encoding="utf-8")
    err = refused(cli("evidence", "import", str(export), db=db_path))
    assert f"{export}:2: hostname: \"=cmd|' /C calc'!A0\" looks like a spreadsheet formula; refused" in err
    assert f"{export}:3: product: '@SUM(A1:A9)' looks like a spreadsheet formula; refused" in err
    assert f"{export}:4: status: unknown status '=1+1'" in err
    assert f"{export}:5: last_update: date '=NOW()' matches none of" in err
    assert "4 invalid row(s); nothing was imported" in err
    assert evidence_count(db) == 0


def test_hostile_xml_and_broken_workbooks(db_path: Path, cli, tmp_path: Path) -> None:
    bomb = tmp_path / "report.xml"
    bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
                    '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet><Table><Row>'
                    '<Cell><Data>&lol2;</Data></Cell></Row></Table></Worksheet></Workbook>\n', encoding="utf-8")
    err = refused(cli("evidence", "import", str(bomb), db=db_path))
    assert f"{bomb}: not valid SpreadsheetML" in err
    broken = tmp_path / "report.xlsx"
    broken.write_bytes((FIX / "ksc_report.xlsx").read_bytes()[:900])
    err = refused(cli("evidence", "import", str(broken), db=db_path))
    assert f"{broken}: not a readable xlsx workbook" in err
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(os.urandom(1) * 0 + bytes(range(256)) * 40)
    err = refused(cli("evidence", "import", str(garbage), db=db_path))
    assert f"{garbage}: encoding: binary data" in err
    # Regression (found by the fuzz suite): zip content under another name reached openpyxl's
    # extension check and ended in a traceback. The content decides, and a broken one is refused.
    zipped = tmp_path / "console.csv"
    zipped.write_bytes(b"PK\x03\x04" + bytes(200))
    err = refused(cli("evidence", "import", str(zipped), db=db_path))
    assert f"{zipped}: not a readable xlsx workbook" in err
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    err = refused(cli("evidence", "import", str(xls), db=db_path))
    assert "binary Excel 97-2003 (.xls) is not read" in err


def test_many_bad_rows_are_counted_not_all_listed(db_path: Path, cli, tmp_path: Path) -> None:
    export = tmp_path / "bad.csv"
    export.write_text(HEADER + "".join(f"{i};WS-{i};127.0.5.1;Bkav;sort of;20/11/2026 08:30\r\n"
                                       for i in range(1000)), encoding="utf-8")
    err = refused(cli("evidence", "import", str(export), db=db_path))
    assert err.count("unknown status 'sort of'") == 200
    assert "800 more invalid row(s) not listed" in err


def _limit_memory() -> None:
    limit = 1024 * 1024 * 1024  # 1 GiB of address space for the whole CLI process
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_million_rows_refused_in_bounded_memory(db: Database, db_path: Path, tmp_path: Path) -> None:
    inventory(db)
    big = tmp_path / "million.csv"
    with big.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        row = "{i};PC-{i};;Bkav;Đang bảo vệ;20/11/2026 08:30\r\n"
        for start in range(0, 1_000_000, 10_000):
            handle.write("".join(row.format(i=i) for i in range(start, start + 10_000)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "secops", "--db", str(db_path), "evidence", "import", str(big),
                           "--exported-at", EXPORTED], check=False, capture_output=True, text=True, env=env, timeout=600,
                          preexec_fn=_limit_memory)
    err = refused(done)
    assert f"{big}:200001: more than 200,000 rows; split the export or raise the limit" in err
    assert "MemoryError" not in err
    assert evidence_count(db) == 0
    with db.session() as s:
        run = s.scalars(select(RunRow).order_by(RunRow.id.desc())).first()
        assert run is not None and run.status == "failed"


def test_workbook_named_like_a_text_export_is_read_by_its_content(db: Database, db_path: Path, cli,
                                                                   tmp_path: Path) -> None:
    inventory(db)
    renamed = tmp_path / "ksc_report.csv"  # an xlsx that a console or an officer saved under another name
    renamed.write_bytes((FIX / "ksc_report.xlsx").read_bytes())
    done = cli("evidence", "import", str(renamed), "--profile", "auto", "--exported-at", EXPORTED, db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert evidence_count(db) > 0
