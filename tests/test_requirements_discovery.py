"""Unauthorised-device detection from a real discovery run: nmap scans the system's loopback
hosts, and the checklist item R26-ASSET-ROGUE-DEVICE is met with a link to that run; at level 4
(quarterly) it is overdue four months later."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import run_cli

from secops.store.db import Database
from secops.store.tables import AgencyRow, SystemRow
from tests.discover_helpers import AGENCY, NMAP, Listeners, seed_inventory, write_scope

pytestmark = pytest.mark.timeout(240)


def test_discovery_run_fills_the_rogue_device_item(db_path: Path, tmp_path: Path):
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    listeners = Listeners()
    try:
        port = listeners.tcp("127.0.3.41")
        db = Database(f"sqlite:///{db_path}")
        seed_inventory(db, [{"code": "EP-R1", "hostname": "r1", "ips": ["127.0.3.41"]},
                            {"code": "EP-R2", "hostname": "r2", "ips": ["127.0.3.42"]}])
        with db.session() as s:
            agency = s.query(AgencyRow).filter_by(code="DISC-SO").one()
            s.add(SystemRow(code="HT-R", name="Hệ thống R", agency_id=agency.id, level=4, state="level_approved"))
        db.dispose()
        assert run_cli("requirements", "link", "HT-R", "EP-R1", "EP-R2", db=db_path).returncode == 0

        def item(as_of: str | None = None) -> dict:
            done = run_cli("requirements", "show", "HT-R", "--json", *(["--as-of", as_of] if as_of else []),
                           db=db_path)
            assert done.returncode == 0, done.stderr
            return next(i for i in json.loads(done.stdout)["items"] if i["item"] == "R26-ASSET-ROGUE-DEVICE")

        assert item()["status"] == "not_met"
        scope = write_scope(tmp_path / "scope.yaml", ["127.0.3.40/30"])
        done = run_cli("discover", "--agency", AGENCY, "--scope", str(scope), "--json", "--targets", "127.0.3.41-42",
                       "--ports", str(port), db=db_path)
        assert done.returncode == 0, done.stderr
        run_id = json.loads(done.stdout)["run"]
        now = item()
        assert (now["status"], now["run_id"], now["clause"], now["source"]) == ("met", run_id, "6.2.2.2 a)", "secops")
        later = (dt.date.today() + dt.timedelta(days=125)).isoformat()
        assert item(later)["status"] == "overdue"
    finally:
        listeners.close()
