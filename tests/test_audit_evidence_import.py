"""`secops evidence import`: console CSV rows become dated evidence matched to endpoints."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, GradeRow

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "audit" / "console_export.csv"


def _inventory(db: Database) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        for i in (1, 2, 3):
            s.add(EndpointRow(code=f"ws-0{i}", hostname=f"ws-0{i}.lab", ips=[f"127.0.4.2{i}"], os_family="windows",
                              role="workstation", agency_id=prov.id))


def test_import_matches_by_ip_and_hostname_and_regrades(db: Database, db_path: Path, cli) -> None:
    _inventory(db)
    done = cli("evidence", "import", str(FIXTURE), "--source", "Kaspersky Security Center", db=db_path)
    assert done.returncode == 0, done.stderr
    assert "imported 3" in done.stdout and "1 unmatched" in done.stdout
    assert "unknown-pc" in done.stderr
    with db.session() as s:
        rows = {s.get(EndpointRow, e.endpoint_id).code: e for e in s.scalars(select(EvidenceRow))}
        assert {k: v.status for k, v in rows.items()} == {"ws-01": "protected", "ws-02": "degraded",
                                                          "ws-03": "unprotected"}
        assert rows["ws-02"].product == "BKAV Endpoint" and rows["ws-02"].source == "console"
        # no zone in the file: the province's local time (07:30 in Asia/Ho_Chi_Minh), stored as UTC
        assert rows["ws-02"].observed_at.isoformat().startswith("2026-11-19T00:30")
        grade = s.scalar(select(GradeRow).where(GradeRow.target_id == "T2", GradeRow.agency_code == "PROV"))
        assert grade is not None and grade.denominator == 3
    again = cli("evidence", "import", str(FIXTURE), "--source", "KSC", db=db_path)
    assert again.returncode == 0 and "imported 0" in again.stdout and "3 already present" in again.stdout


def test_bad_rows_name_file_row_and_column_and_import_nothing(db: Database, db_path: Path, tmp_path: Path,
                                                              cli) -> None:
    _inventory(db)
    bad = tmp_path / "bad.csv"
    bad.write_text("hostname,ip,status,last update\nws-01.lab,127.0.4.21,protected,2026-11-20\n"
                   "ws-02.lab,not-an-ip,protected,2026-11-20\nws-03.lab,,sort of,2026-11-20\n"
                   "ws-03.lab,,protected,yesterday\n")
    done = cli("evidence", "import", str(bad), "--source", "X", db=db_path)
    assert done.returncode == 2
    assert f"{bad}:3: ip:" in done.stderr and f"{bad}:4: status: unknown status 'sort of'" in done.stderr
    assert f"{bad}:5: last_update:" in done.stderr
    with db.session() as s:
        assert s.scalars(select(EvidenceRow)).all() == []
    missing = tmp_path / "cols.csv"
    missing.write_text("hostname,product\nws-01,x\n")
    done = cli("evidence", "import", str(missing), "--source", "X", db=db_path)
    assert done.returncode == 2 and "missing column(s): status, last_update" in done.stderr


def test_conflicting_row_is_reported_not_guessed(db: Database, db_path: Path, cli, tmp_path: Path) -> None:
    _inventory(db)
    export = tmp_path / "export.csv"
    # The IP is ws-01's, the name is ws-02's: discovery's matcher calls that a conflict.
    export.write_text("Computer Name,IP Address,Product,Protection Status,Last Update\n"
                      "ws-02,127.0.4.21,KES,Protected,2026-11-20 08:00:00\n", encoding="utf-8")
    done = cli("evidence", "import", str(export), "--source", "KSC", db=db_path)
    assert done.returncode == 0, done.stderr
    assert "imported 0" in done.stdout and "1 unmatched" in done.stdout
    assert "conflict" in done.stderr and "ws-01" in done.stderr and "ws-02" in done.stderr
    with db.session() as s:
        assert s.scalars(select(EvidenceRow)).all() == []
