"""The checklist roll-up feeds the register (issue 8): plan deployment for Form 08 column 10 and
T1, and the annual report's annex of unmet requirements with their milestones."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from conftest import run_cli

from secops.requirements.catalogue import by_id
from secops.requirements.store import Statement, record
from secops.store.db import Database
from secops.store.tables import SystemRow

ROOT = Path(__file__).resolve().parent.parent


def test_roll_up_applies_to_the_register_and_the_annual_annex(db_path: Path, tmp_path: Path):
    assert run_cli("inventory", "sample", "--endpoints", "300", db=db_path).returncode == 0
    # The sample's checklists agree with its register: applying them changes nothing.
    done = run_cli("requirements", "apply", "--dry-run", db=db_path)
    assert done.returncode == 0 and done.stdout.strip().endswith("0 system(s) would change"), done.stdout
    db = Database(f"sqlite:///{db_path}")
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    with db.session() as s:
        system = s.query(SystemRow).filter(SystemRow.plan_deployment == "partly_deployed",
                                           SystemRow.level.is_not(None)).order_by(SystemRow.code).first()
        assert system is not None
        code, level = system.code, system.level
        lagging = s.query(SystemRow).filter(SystemRow.plan_deployment == "not_deployed",
                                            SystemRow.level.is_not(None)).order_by(SystemRow.code).first()
        assert lagging is not None
        lagging_code = lagging.code
        for item in cat.applicable(level):
            record(s, cat, Statement(system=code, item=item.id, status="met", evidence="Biên bản nghiệm thu",
                                     evidence_date=dt.date.today()))
    db.dispose()
    done = run_cli("requirements", "apply", code, db=db_path)
    assert done.returncode == 0, done.stderr
    assert f"{code}: partly_deployed -> fully_deployed" in done.stdout
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        assert s.query(SystemRow).filter_by(code=code).one().plan_deployment == "fully_deployed"
    db.dispose()
    out = tmp_path / "annual"
    done = run_cli("report", "annual", "--year", "2026", "--out", str(out), db=db_path)
    assert done.returncode in (0, 1), done.stderr
    annex = next(out.glob("form08-2026-*-annex-unmet.csv"))
    rows = list(csv.DictReader(annex.open(encoding="utf-8-sig")))
    assert rows and {r["status"] for r in rows} <= {"not_met", "partly_met", "overdue"}
    lagging_rows = [r for r in rows if r["system"] == lagging_code]
    assert lagging_rows and all(r["milestone"] for r in lagging_rows if r["status"] != "overdue")
    # Everything of the fixed system was met today; by the end of the period (14 Dec) only the
    # monthly patching can have come due again.
    assert {r["item"] for r in rows if r["system"] == code} <= {"R26-VULN-PATCH-USER"}
