"""`secops grade --as-of` a past date counts only what was true then (issue 10, item 6).

Before: only T2 (endpoint evidence) moved with --as-of; staff trained or informed after the
as-of date, and systems' dates after it, still counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "core"


def by_hand(column: str, as_of: dt.date, heads_only: bool = False) -> int:
    """Staff of the fixture with `column` dated on or before as_of, counted straight from the CSV."""
    with (FIXTURES / "staff.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return sum(1 for r in rows if r[column] and dt.date.fromisoformat(r[column]) <= as_of
               and (not heads_only or r["is_head"] == "true"))


def province_cells(cli, db: Path, run_id: int) -> dict[str, dict]:
    out = db.parent / f"report-{run_id}"
    assert cli("report", "--run", str(run_id), "--out", str(out), "--format", "json", db=db).returncode == 0
    data = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))
    return data["scope"]["cells"]


@pytest.mark.parametrize("as_of", ["2025-12-31", "2026-03-15", "2026-06-15"])
def test_staff_dates_after_as_of_do_not_count(cli, tmp_path, as_of):
    db = tmp_path / "secops.db"
    imported = cli("inventory", "import", str(FIXTURES / "small.yaml"), str(FIXTURES / "endpoints.csv"),
                   str(FIXTURES / "staff.csv"), db=db)
    assert imported.returncode == 0, imported.stderr
    graded = cli("grade", "--as-of", as_of, db=db)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    cells = province_cells(cli, db, 1)
    day = dt.date.fromisoformat(as_of)
    assert cells["T3"]["numerator"] == by_hand("awareness_date", day, heads_only=True)
    assert cells["T4"]["numerator"] == by_hand("informed_date", day)
    assert cells["T5"]["numerator"] == by_hand("training_date", day)
    assert cells["T5"]["denominator"] == 14  # the people are counted; only their later records are not


def test_fix_list_of_a_past_as_of_lists_people_trained_later(cli, tmp_path):
    db = tmp_path / "secops.db"
    cli("inventory", "import", str(FIXTURES / "small.yaml"), str(FIXTURES / "endpoints.csv"),
        str(FIXTURES / "staff.csv"), db=db)
    assert cli("grade", "--as-of", "2025-12-31", db=db).returncode == 0
    out = tmp_path / "out"
    assert cli("report", "--out", str(out), "--format", "json", db=db).returncode == 0
    fix = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["fix"]
    assert sum(1 for f in fix if f["target_id"] == "T5") == 14  # nobody was trained yet on 2025-12-31


def systems_by_hand(as_of: dt.date) -> int:
    """Systems of the fixture approved and with the plan fully deployed on or before as_of."""
    import yaml

    systems = yaml.safe_load((FIXTURES / "small.yaml").read_text(encoding="utf-8"))["systems"]
    return sum(1 for s in systems if s.get("state") == "plan_deployed"
               and s.get("approval_date") and s["approval_date"] <= as_of
               and s.get("plan_deployed_date") and s["plan_deployed_date"] <= as_of)


@pytest.mark.parametrize("as_of", ["2024-01-31", "2024-02-15", "2025-03-15", "2025-04-15"])
def test_systems_approved_or_deployed_later_do_not_count(cli, tmp_path, as_of):
    """Before: T1 counted every system approved and deployed today, whatever the as-of date (the
    states had no history; now the date that reached each state says when it became true)."""
    db = tmp_path / "secops.db"
    assert cli("inventory", "import", str(FIXTURES / "small.yaml"), db=db).returncode == 0
    graded = cli("grade", "--as-of", as_of, db=db)
    assert graded.returncode in (0, 1), graded.stdout + graded.stderr
    cells = province_cells(cli, db, 1)
    assert cells["T1"]["numerator"] == systems_by_hand(dt.date.fromisoformat(as_of))
    assert cells["T1"]["denominator"] == 5


def test_fix_list_shows_the_state_as_it_stood(cli, tmp_path):
    db = tmp_path / "secops.db"
    assert cli("inventory", "import", str(FIXTURES / "small.yaml"), db=db).returncode == 0
    assert cli("grade", "--as-of", "2024-01-31", db=db).returncode in (0, 1)
    out = tmp_path / "out"
    assert cli("report", "--out", str(out), "--format", "json,html", db=db).returncode == 0
    fix = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["fix"]
    states = {f["code"]: f["status"] for f in fix if f["target_id"] == "T1"}
    # approved then, deployed later: level_approved; approved later: not known; never: as stored
    assert states == {"SYS1": "unknown", "SYS2": "unknown", "SYS3": "unclassified",
                      "SYS4": "level_approved", "SYS5": "level_approved"}
    page = (out / "dashboard.html").read_text(encoding="utf-8")
    assert "Chưa rõ (trạng thái lúc đó không được lưu)" in page and "state_unknown" not in page
