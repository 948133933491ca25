"""The checklist roll-up feeds the register (issue 8): plan deployment for Form 08 column 10 and
T1, and the annual report's annex of unmet requirements with their milestones."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import yaml
from conftest import run_cli
from sqlalchemy import select

from secops.requirements.catalogue import by_id
from secops.requirements.store import Statement, record
from secops.store.db import Database
from secops.store.tables import AgencyRow, GradeRow, SystemRow

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
    done = run_cli("report", "annual", "--year", "2026", "--out", str(out), "--lang", "en", db=db_path)
    assert done.returncode in (0, 1), done.stderr
    annex = next(out.glob("form08-2026-*-annex-unmet.csv"))  # English: the codes (Vietnamese: words, dd/mm/yyyy)
    rows = list(csv.DictReader(annex.open(encoding="utf-8-sig")))
    assert rows and {r["status"] for r in rows} <= {"not_met", "partly_met", "overdue"}
    lagging_rows = [r for r in rows if r["system"] == lagging_code]
    assert lagging_rows and all(r["milestone"] for r in lagging_rows if r["status"] != "overdue")
    # Everything of the fixed system was met today; by the end of the period (14 Dec) only the
    # monthly patching can have come due again.
    assert {r["item"] for r in rows if r["system"] == code} <= {"R26-VULN-PATCH-USER"}


def test_a_job_rolls_the_checklists_into_the_register_before_grading(db_path: Path, tmp_path: Path):
    """`requirements` is a stage (issue 11 leftover: only an officer's `requirements apply` did it):
    a job that runs it before `grade` grades T1 on the updated register."""
    assert run_cli("inventory", "sample", "--endpoints", "300", db=db_path).returncode == 0
    db = Database(f"sqlite:///{db_path}")
    cat = by_id(ROOT / "policies", "TCVN-14423-2026")
    with db.session() as s:
        system = s.query(SystemRow).filter(SystemRow.plan_deployment == "partly_deployed",
                                           SystemRow.approval_status == "approved",
                                           SystemRow.level.is_not(None)).order_by(SystemRow.code).first()
        assert system is not None
        code, level = system.code, system.level
        for item in cat.applicable(level):
            record(s, cat, Statement(system=code, item=item.id, status="met", evidence="Biên bản nghiệm thu",
                                     evidence_date=dt.date.today()))
    db.dispose()
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    jobs = yaml.safe_load((policies / "jobs.yaml").read_text(encoding="utf-8"))
    jobs["jobs"]["rollup"] = {"stages": ["requirements", "grade"]}
    (policies / "jobs.yaml").write_text(yaml.safe_dump(jobs, allow_unicode=True), encoding="utf-8")
    env = {"SECOPS_POLICIES": str(policies)}
    assert run_cli("schedule", "add", "rollup", "--every", "86400", "--job", "rollup", db=db_path, env=env).returncode == 0
    assert run_cli("grade", db=db_path, env=env).returncode in (0, 1)
    before = _t1_numerator(db_path)
    ran = run_cli("schedule", "run", "rollup", db=db_path, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "requirements: ok" in ran.stdout and "grade: ok" in ran.stdout
    runs = json.loads(run_cli("runs", "list", "--json", db=db_path, env=env).stdout)
    detail = json.loads(run_cli("runs", "show", str(runs[0]["id"]), "--json", db=db_path, env=env).stdout)
    stage = next(s for s in detail["stages"] if s["stage"] == "requirements")
    assert stage["summary"]["changed"] == 1
    assert stage["summary"]["changes"] == [f"{code}: partly_deployed -> fully_deployed"]
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        assert s.query(SystemRow).filter_by(code=code).one().plan_deployment == "fully_deployed"
    db.dispose()
    assert _t1_numerator(db_path) == before + 1, "the job's grade read the register the stage updated"


def _t1_numerator(db_path: Path) -> int:
    """T1's numerator at the province in the newest run with grades."""
    db = Database(f"sqlite:///{db_path}")
    try:
        with db.session() as s:
            root = s.scalar(select(AgencyRow.code).where(AgencyRow.parent_id.is_(None), AgencyRow.retired_at.is_(None)))
            return s.scalar(select(GradeRow.numerator).where(GradeRow.target_id == "T1", GradeRow.agency_code == root)
                            .order_by(GradeRow.run_id.desc()).limit(1))
    finally:
        db.dispose()
