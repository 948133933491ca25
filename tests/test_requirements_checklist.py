"""Checklists: officer statements (CLI, CSV/YAML import), history, as-of grading, roll-up."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import run_cli

from secops.discover.tables import DiscoveryScanRow
from secops.requirements.catalogue import by_id
from secops.requirements.checklist import add_months, checklist
from secops.requirements.rollup import deployment
from secops.requirements.store import Statement, override, record
from secops.requirements.tables import RequirementStatusRow, SystemHostRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, RunRow, SystemRow

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.fixture
def province(db: Database) -> Database:
    with db.session() as s:
        agency = AgencyRow(code="STTTT", name="Sở TT&TT", kind="department")
        s.add(agency)
        s.flush()
        s.add_all([SystemRow(code="HT-A", name="Cổng <b>thông tin</b>", agency_id=agency.id, level=3,
                             state="level_approved"),
                   SystemRow(code="HT-B", name="Thư điện tử", agency_id=agency.id, level=1, state="level_approved"),
                   SystemRow(code="HT-C", name="Chưa phân loại", agency_id=agency.id, state="unclassified")])
        s.add_all([EndpointRow(code=f"EP{n}", hostname=f"h{n}", ips=[f"127.0.9.{n}"], os_family="linux",
                               role="server", agency_id=agency.id) for n in (1, 2)])
    return db


def test_add_months_clamps_to_month_end():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 8, 15), 6) == dt.date(2027, 2, 15)


def test_set_and_show_through_the_cli(province, db_path):
    done = run_cli("requirements", "set", "HT-A", "R26-BACKUP-POLICY", "--status", "met",
                   "--evidence", "QĐ 12/2026 quy chế sao lưu", "--unit", "Phòng CNTT", db=db_path)
    assert done.returncode == 0, done.stderr
    done = run_cli("requirements", "set", "HT-A", "R26-PENTEST", "--status", "not_met", db=db_path)
    assert done.returncode == 2 and "milestone" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("requirements", "set", "HT-B", "R26-PENTEST", "--status", "met", db=db_path)
    assert done.returncode == 2 and "applies from level 3" in done.stderr
    done = run_cli("requirements", "set", "HT-A", "R26-NOPE", "--status", "met", db=db_path)
    assert done.returncode == 2 and "no requirement 'R26-NOPE'" in done.stderr
    done = run_cli("requirements", "set", "HT-A", "R26-PENTEST", "--status", "not_met", "--milestone", "2027-03-31",
                   "--unit", "Trung tâm CNTT", db=db_path)
    assert done.returncode == 0, done.stderr
    done = run_cli("requirements", "show", "HT-A", "--json", db=db_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    items = {i["item"]: i for i in shown["items"]}
    assert len(items) == 160 and shown["standard"] == "TCVN-14423-2026"  # level 3 lists 160 items
    assert items["R26-BACKUP-POLICY"]["status"] == "met"
    assert items["R26-BACKUP-POLICY"]["evidence"] == "QĐ 12/2026 quy chế sao lưu"
    assert items["R26-PENTEST"]["milestone"] == "2027-03-31"
    assert items["R26-LOG-SIEM"]["status"] == "not_met" and items["R26-LOG-SIEM"]["detail"] == "no evidence"
    assert shown["deployment"] == "partly_deployed"
    done = run_cli("requirements", "show", "HT-C", db=db_path)
    assert done.returncode == 0 and "no level" in done.stdout


def test_import_is_all_or_nothing_with_file_row_field_reason(province, db, tmp_path):
    bad = tmp_path / "checklist.csv"
    bad.write_text("system,item,status,evidence,evidence_date,responsible_unit,milestone,note\n"
                   "HT-A,R26-BACKUP-POLICY,met,QĐ 1,2026-05-01,Phòng CNTT,,\n"
                   "HT-A,R26-PENTEST,not_met,,,,,\n"
                   "HT-X,R26-BACKUP-POLICY,met,,,,,\n"
                   "HT-A,R26-IR-PLAN,done,,,,,\n"
                   "HT-A,R26-IR-PLAN,met,,31/12/2026,,,\n", encoding="utf-8")
    done = run_cli("requirements", "import", str(bad), db=tmp_path / "secops.db")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert any(f"{bad}:3: milestone:" in line for line in lines), done.stderr
    assert any(f"{bad}:4: system: no information system 'HT-X'" in line for line in lines), done.stderr
    assert any(f"{bad}:5: status:" in line for line in lines), done.stderr
    assert any(f"{bad}:6: evidence_date:" in line for line in lines), done.stderr
    assert "nothing was imported" in done.stderr
    with db.session() as s:
        assert s.query(RequirementStatusRow).count() == 0
    good = tmp_path / "checklist.yaml"
    good.write_text("statuses:\n"
                    "  - {system: HT-A, item: R26-BACKUP-POLICY, status: met, evidence: QĐ 1,"
                    " evidence_date: 2026-05-01}\n"
                    "  - {system: HT-A, item: R26-PENTEST, status: not_met, milestone: 2027-03-31,"
                    " responsible_unit: Trung tâm CNTT}\n", encoding="utf-8")
    done = run_cli("requirements", "import", str(good), db=tmp_path / "secops.db")
    assert done.returncode == 0, done.stderr
    assert "2 statement(s) imported" in done.stdout
    with db.session() as s:
        assert s.query(RequirementStatusRow).count() == 2


def test_history_is_kept_and_newest_row_up_to_the_date_wins(province, db):
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    with db.session() as s:
        record(s, cat, Statement(system="HT-A", item="R26-LOG-SIEM", status="not_met", milestone=dt.date(2026, 6, 30)),
               at=at("2026-03-01"))
        record(s, cat, Statement(system="HT-A", item="R26-LOG-SIEM", status="met", evidence="Biên bản nghiệm thu SIEM"),
               at=at("2026-06-20"))
    with db.session() as s:
        system = s.query(SystemRow).filter_by(code="HT-A").one()
        before = {e.item.id: e for e in checklist(s, system, cat, at("2026-04-01"))}
        after = {e.item.id: e for e in checklist(s, system, cat, at("2026-07-01"))}
        assert before["R26-LOG-SIEM"].status == "not_met" and before["R26-LOG-SIEM"].milestone == dt.date(2026, 6, 30)
        assert after["R26-LOG-SIEM"].status == "met"
        assert s.query(RequirementStatusRow).count() == 2


def _discovery(db: Database, finished: dt.datetime, targets: list[str]) -> int:
    with db.session() as s:
        run = RunRow(kind="discover", status="ok", started_at=finished, finished_at=finished, summary={}, errors=[])
        s.add(run)
        s.flush()
        s.add(DiscoveryScanRow(run_id=run.id, agency_code="STTTT", profile="standard", arguments=["-sn"],
                               targets=targets, requested=targets, excluded=[], started_at=finished,
                               finished_at=finished))
        return run.id


def test_frequency_item_is_met_then_overdue_then_met_again(province, db):
    """Level 3: unauthorised-device detection every 6 months (TCVN 14423:2026 5.2.2.2)."""
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    with db.session() as s:
        system = s.query(SystemRow).filter_by(code="HT-A").one()
        for ep in s.query(EndpointRow):
            s.add(SystemHostRow(system_id=system.id, endpoint_id=ep.id))
    first = _discovery(db, at("2026-01-10T02:00:00"), ["127.0.9.0/24"])
    _discovery(db, at("2026-04-01T02:00:00"), ["10.0.0.0/8"])  # not scanned: a stored row
    half = _discovery(db, at("2026-08-10T02:00:00"), ["127.0.9.1/32"])

    def grade(day: str):
        with db.session() as s:
            system = s.query(SystemRow).filter_by(code="HT-A").one()
            return {e.item.id: e for e in checklist(s, system, cat, at(day))}["R26-ASSET-ROGUE-DEVICE"]

    assert grade("2026-01-01").status == "not_met"  # nothing yet
    met = grade("2026-03-01")
    assert (met.status, met.run_id, met.source, met.due) == ("met", first, "secops", dt.date(2026, 7, 10))
    assert met.clause == "5.2.2.2 a)" and met.interval_months == 6
    overdue = grade("2026-07-11")
    assert overdue.status == "overdue" and "last done 2026-01-10" in overdue.detail
    # A scan of one host of two refreshes that host only: still as old as the oldest host.
    assert grade("2026-08-11").status == "overdue"
    again = _discovery(db, at("2026-08-15T02:00:00"), ["127.0.9.0/28"])
    met_again = grade("2026-09-01")
    assert (met_again.status, met_again.run_id, met_again.due) == ("met", again, dt.date(2027, 2, 15))
    assert half < again


def test_roll_up_and_officer_override(province, db):
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    with db.session() as s:
        for item in cat.applicable(1):
            record(s, cat, Statement(system="HT-B", item=item.id, status="met", evidence="hồ sơ",
                                     evidence_date=dt.date(2026, 11, 1)), at=at("2026-11-02"))
    with db.session() as s:
        system = s.query(SystemRow).filter_by(code="HT-B").one()
        entries = checklist(s, system, cat, at("2026-11-20"))
        assert deployment(s, system.id, entries, at("2026-11-20")).value == "fully_deployed"
        # a monthly item (patching) not repeated: overdue one month later, so only partly deployed
        later = checklist(s, system, cat, at("2026-12-05"))
        assert [e.item.id for e in later if e.status == "overdue"] == ["R26-VULN-PATCH-USER"]
        assert deployment(s, system.id, later, at("2026-12-05")).value == "partly_deployed"
        override(s, "HT-B", "fully_deployed", "Bản vá tháng 12 đã cài, chờ lần quét sau", at=at("2026-12-06"))
    with db.session() as s:
        system = s.query(SystemRow).filter_by(code="HT-B").one()
        later = checklist(s, system, cat, at("2026-12-07"))
        dep = deployment(s, system.id, later, at("2026-12-07"))
        assert (dep.computed, dep.value) == ("partly_deployed", "fully_deployed")
        assert dep.override_reason.startswith("Bản vá")
