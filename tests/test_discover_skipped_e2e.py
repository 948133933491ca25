"""A province-wide discovery that skips agencies, end to end (issue 10 leftover): a scheduled job
over a scope file listing an agency within the address budget, one beyond it, a retired one and
one the inventory does not know. Real nmap on loopback, the real scheduler's `schedule run`, the
dashboard in both languages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.discover_helpers import NMAP

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)

INVENTORY = """\
agencies:
  - {code: SKP, name: "Tỉnh Bỏ Qua", kind: province}
  - {code: SKP-A, name: "Sở A", kind: department, parent: SKP}
  - {code: SKP-B, name: "Sở B", kind: department, parent: SKP}
  - {code: SKP-C, name: "Xã C <b>cũ</b>", kind: commune, parent: SKP}
"""
SCOPE = {"version": 1, "limits": {"max_addresses": 8}, "agencies": {
    "SKP-A": {"authorised": [{"cidr": "127.0.16.0/30"}]},     # 4 addresses: scanned
    "SKP-B": {"authorised": [{"cidr": "127.0.16.8/29"}]},     # 8 more: beyond the run's budget
    "SKP-C": {"authorised": [{"cidr": "127.0.16.16/30"}]},    # retired before the run
    "SKP-X": {"authorised": [{"cidr": "127.0.16.20/30"}]},    # not in the inventory
}}


def test_skipped_agencies_are_recorded_and_shown(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    scope = tmp_path / "scope.yaml"
    scope.write_text(yaml.safe_dump(SCOPE), encoding="utf-8")
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    jobs = yaml.safe_load((policies / "jobs.yaml").read_text(encoding="utf-8"))
    jobs["jobs"]["sweep"] = {"stages": ["discover", "grade", {"stage": "report", "needs": ["grade"]}]}
    (policies / "jobs.yaml").write_text(yaml.safe_dump(jobs, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "reports"
    env = {"SECOPS_POLICIES": str(policies), "SECOPS_SCOPE": str(scope)}

    def secops(*args: str):  # type: ignore[no-untyped-def]
        return cli("-o", str(out), *args, db=db_path, env=env)

    assert secops("inventory", "import", str(inventory)).returncode == 0
    assert secops("inventory", "remove", "agencies", "SKP-C", "--reason", "sáp nhập vào Sở A",
                  "--date", "2025-07-01").returncode == 0
    assert secops("schedule", "add", "sweep", "--every", "86400", "--job", "sweep").returncode == 0
    ran = secops("schedule", "run", "sweep")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # partial: agencies were left out
    assert "discover: partial" in ran.stdout and "run 1: partial" in ran.stdout, ran.stdout

    detail = json.loads(secops("runs", "show", "1", "--json").stdout)
    errors = " | ".join(detail["errors"])
    assert "SKP-B: skipped: 8 addresses would exceed limits.max_addresses (8)" in errors
    assert "SKP-C: was retired on 2025-07-01: sáp nhập vào Sở A; skipped" in errors
    assert "SKP-X: in the scope file but not in the inventory; skipped" in errors
    assert "SKP-A" not in errors

    data = json.loads((out / "latest" / "dashboard.json").read_text(encoding="utf-8"))
    skipped = {s["agency"]: s["kind"] for s in data["sections"]["discovery"]["skipped"]}
    assert skipped == {"SKP-B": "budget", "SKP-C": "retired", "SKP-X": "not_in_inventory"}
    page = (out / "latest" / "dashboard.html").read_text(encoding="utf-8")
    assert "Đơn vị không được rà quét trong lượt chạy" in page
    assert "bỏ qua: đơn vị đã giải thể/sáp nhập từ 2025-07-01 (sáp nhập vào Sở A)" in page
    assert "disc_skipped_" not in page
