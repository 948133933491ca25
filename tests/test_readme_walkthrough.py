"""The README as a new officer follows it: its inventory table says each rule once, its figures of
the sample province are those the demo produces, and its walk-through runs in its order after the
quick start (the demo, then the example inventory, a grade, the example reorganisation, a report)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.timeout(1500)


def inventory_table() -> list[list[str]]:
    """The rows of the table under "## Inventory formats", split into cells (escaped pipes kept)."""
    section = README.split("## Inventory formats", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| entity")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_inventory_table_has_one_row_per_entity() -> None:
    entities = [row[0] for row in inventory_table()]
    assert entities == ["agencies", "systems", "endpoints", "staff"], entities
    agencies = inventory_table()[0][1]
    kinds = yaml.safe_load((ROOT / "policies" / "agency_kinds.yaml").read_text(encoding="utf-8"))["kinds"]
    for kind in kinds:  # every kind the shipped file allows is named, the legacy one as legacy
        assert kind in agencies, kind
    assert "legacy `district`" in agencies


def _figure(pattern: str) -> int:
    match = re.search(pattern, " ".join(README.split()))
    assert match, f"the README no longer says {pattern!r}"
    return int(match.group(1).replace(",", ""))


def test_the_sample_figures_in_the_readme_are_what_the_demo_loads(tmp_path: Path) -> None:
    """`secops demo` loads `inventory sample` with its defaults (10,000 endpoints, seed 85): the same
    command here, and every figure the README gives for it."""
    db = tmp_path / "secops.db"
    done = run_cli("inventory", "sample", db=db)
    assert done.returncode == 0, done.stderr
    shown = json.loads(run_cli("inventory", "show", "--json", db=db).stdout)
    with sqlite3.connect(db) as conn:
        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        approved = one("select count(*) from information_systems where retired_at is null and level is not null")
        levels = {row[0] for row in conn.execute("select distinct level from information_systems "
                                                 "where retired_at is null and level is not null")}
        heads = one("select count(*) from staff where retired_at is null and is_head")
        owners = one("select count(distinct agency_id) from information_systems where retired_at is null")
    assert _figure(r"1 province, (\d+) departments and agencies") == shown["agencies"]["department"]
    assert _figure(r"(\d+) wards and \d+ communes directly under the province") == shown["agencies"]["ward"]
    assert _figure(r"\d+ wards and (\d+) communes directly under the province") == shown["agencies"]["commune"]
    assert _figure(r"communes directly under the province, ([\d,]+) systems") == sum(shown["systems"].values())
    assert _figure(r"systems \(([\d,]+) with an approved level, at levels 1–4") == approved
    assert levels == {1, 2, 3, 4}
    assert _figure(r"every approval status and plan deployment\), ([\d,]+) endpoints") == sum(shown["endpoints"].values())
    assert _figure(r"evidence\) and ([\d,]+) staff") == sum(shown["staff"].values())
    assert _figure(r"staff \(([\d,]+) heads of unit\)") == heads
    assert _figure(r"loads a register for the synthetic province \(([\d,]+) systems") == sum(shown["systems"].values())
    assert _figure(r"one report per system owner \(([\d,]+) in the sample") == owners
    assert "~160" not in README and "about 300 systems" not in README


def test_the_walkthrough_runs_in_the_readmes_order_after_the_quick_start(tmp_path: Path) -> None:
    """Quick start (`secops demo`, its own database in ./secops-demo), then the day-to-day commands
    on the officer's own database: init, import the example inventory (README "Inventory formats"),
    grade, apply examples/reorganise.yaml (README "Reorganisation files"), show, report."""
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}  # the officer's own (default) database, fresh
    demo = run_cli("demo", "--endpoints", "200", cwd=tmp_path, env=env, timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert (tmp_path / "secops-demo" / "reports" / "dashboard.html").is_file()
    steps = [("init",),
             ("inventory", "import", *(str(EXAMPLES / n) for n in ("inventory.yaml", "endpoints.csv", "staff.csv"))),
             ("grade",),
             ("inventory", "reorganise", str(EXAMPLES / "reorganise.yaml")),
             ("inventory", "reorganise", str(EXAMPLES / "reorganise.yaml")),  # re-running changes nothing
             ("grade",),
             ("report", "--out", str(tmp_path / "reports"))]
    outputs = []
    for step in steps:
        done = run_cli(*step, cwd=EXAMPLES if step[0] == "inventory" else tmp_path, env=env)
        assert done.returncode in ((0, 1) if step[0] == "grade" else (0,)), (step, done.stdout[-2000:], done.stderr)
        outputs.append(done.stdout)
    assert "already applied: nothing changed" in outputs[4]
    agencies = json.loads(run_cli("inventory", "show", "--list", "agencies", "--json", env=env).stdout)
    codes = {a["code"] for a in agencies}
    assert "QT-HAILANG" in codes and not {"QT-H1", "QT-H1-X1"} & codes
    dashboard = json.loads((tmp_path / "reports" / "dashboard.json").read_text(encoding="utf-8"))
    assert dashboard["scope"]["code"] == "QT" and "QT-HAILANG" in {a["code"] for a in dashboard["agencies"]}
    assert not dashboard["synthetic"]  # the officer's database, not the demo's
