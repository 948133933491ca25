"""What a new officer meets in a first week: each test failed on the code before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

EXAMPLES = ROOT / "examples"


def example_files() -> list[str]:
    return [str(EXAMPLES / name) for name in ("inventory.yaml", "endpoints.csv", "staff.csv")]


@pytest.fixture
def province(tmp_path: Path) -> Path:
    """A database holding the README's example province (examples/), as the quick start imports it."""
    db = tmp_path / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    result = run_cli("inventory", "import", *example_files(), db=db, cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    return db


def test_inventory_lists_agencies_with_their_parent(province):
    result = run_cli("inventory", "show", "--list", "agencies", "--json", db=province)
    assert result.returncode == 0, result.stderr
    rows = {row["code"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"QT", "QT-STTTT", "QT-H1", "QT-H1-X1"}
    assert rows["QT"]["parent"] is None and rows["QT-H1"]["parent"] == "QT"
    table = run_cli("inventory", "show", "--list", "agencies", "--agency", "QT-H1", db=province)
    assert table.returncode == 0 and "QT-H1" in table.stdout and "QT-STTTT" not in table.stdout


def test_a_report_written_as_the_runs_last_stage_describes_the_run_as_it_ends(province, tmp_path):
    out = tmp_path / "out"
    assert run_cli("--output", str(out), "schedule", "add", "gr", "--every", "86400", "--job", "grade-report",
                   db=province).returncode == 0
    result = run_cli("--output", str(out), "schedule", "run", "gr", db=province)
    assert result.returncode == 0, result.stderr
    [data_file] = list(out.rglob("dashboard.json"))[:1]
    data = json.loads(data_file.read_text(encoding="utf-8"))
    assert data["run"]["status"] == "ok" and data["run"]["finished_at"] is not None and data["run"]["closing"]
    html = data_file.with_name("dashboard.html").read_text(encoding="utf-8")
    assert "ĐANG CHẠY" not in html and 'id="run-state"' not in html and 'id="run-closing"' in html


def test_the_sample_is_refused_beside_another_province(province):
    result = run_cli("inventory", "sample", "--endpoints", "50", db=province)
    assert result.returncode == 2, result.stdout
    assert "a second top-level agency" in result.stderr and "'QT'" in result.stderr
    shown = run_cli("inventory", "show", "--json", db=province)
    assert shown.returncode == 0 and json.loads(shown.stdout)["agencies"] == {"province": 1, "department": 1,
                                                                              "commune": 1, "ward": 1}
