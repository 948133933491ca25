"""Retired records leave audits and discovery, not only grading (issue 14 leftover).

Before: `secops audit` listed the endpoints of retired agencies and retired endpoints among its
targets, an audit of a retired agency silently audited nothing, and discovery matched hosts to
retired endpoints and scanned retired agencies' networks.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.cliutil import AppState
from secops.collect.targets import agency_targets, host_targets
from secops.config import Settings
from secops.discover.stage import run_stage
from secops.discover.tables import DiscoveredHostRow
from secops.errors import SecopsError
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.inventory.retire import retire
from secops.runs import start_run
from secops.stages import StageOptions
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow
from tests.discover_helpers import AGENCY, NMAP, Listeners, seed_inventory, write_scope

FIXTURES = Path(__file__).parent / "fixtures" / "core"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
TOMORROW = YESTERDAY + dt.timedelta(days=2)


@pytest.fixture
def small(db_path: Path, db: Database) -> Database:
    import_files(db, [FIXTURES / "small.yaml", FIXTURES / "endpoints.csv", FIXTURES / "staff.csv"],
                 load_levels(POLICIES), today=dt.date(2026, 11, 20))
    with db.session() as session:
        retire(session, "agencies", "C1", "merged into C2", YESTERDAY)
        retire(session, "endpoints", "E2", "scrapped", YESTERDAY)
        retire(session, "endpoints", "E3", "to be scrapped", TOMORROW)  # still in service today
    return db


def _codes(targets) -> set[str]:  # type: ignore[no-untyped-def]
    return {t.endpoint_code for t in targets if t.endpoint_code}


def test_audit_targets_leave_out_retired_endpoints_and_agencies(small: Database) -> None:
    with small.session() as session:
        every = _codes(agency_targets(session, None))
        c1 = session.scalar(select(AgencyRow.id).where(AgencyRow.code == "C1"))
        c1_endpoints = set(session.scalars(select(EndpointRow.code).where(EndpointRow.agency_id == c1)))
        in_d1 = _codes(agency_targets(session, "D1"))
    assert "E2" not in every and "E3" in every and "E1" in every
    assert c1_endpoints and not (c1_endpoints & every), "the retired commune's endpoints are not audited"
    assert in_d1 and not (c1_endpoints & in_d1)


def test_audit_of_a_retired_agency_or_endpoint_is_refused(small: Database) -> None:
    with small.session() as session:
        with pytest.raises(SecopsError, match=r"agency 'C1' was retired on .*: merged into C2"):
            agency_targets(session, "C1")
        with pytest.raises(SecopsError, match=r"endpoint 'E2' was retired on .*: scrapped"):
            host_targets(session, ["E2"])
        (ad_hoc,) = host_targets(session, ["127.0.2.2"])  # E2's old address: whoever answers there now
        assert ad_hoc.endpoint_id is None and ad_hoc.address == "127.0.2.2"
        (kept,) = host_targets(session, ["E3"])
        assert kept.endpoint_code == "E3"


def test_local_audit_of_a_retired_endpoint_exits_2(small: Database, db_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("audit", "--local", "--endpoint", "E2", "--no-progress", db=db_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "was retired on" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def lab(tmp_path: Path, db_path: Path):  # type: ignore[no-untyped-def]
    assert NMAP, "nmap is required (scripts/install-test-deps.sh installs it)"
    listeners = Listeners()
    web = listeners.http("127.0.14.1")
    db = Database(f"sqlite:///{db_path}")
    seed_inventory(db, [{"code": "EP-GONE", "hostname": "gone01", "ips": ["127.0.14.1"]}])
    with db.session() as session:
        retire(session, "endpoints", "EP-GONE", "returned to the vendor", YESTERDAY)
    yield {"db": db, "db_path": db_path, "tmp": tmp_path, "web": web}
    listeners.close()
    db.dispose()


def test_discovery_does_not_match_a_host_to_a_retired_endpoint(lab, cli) -> None:  # type: ignore[no-untyped-def]
    scope = write_scope(lab["tmp"] / "scope.yaml", ["127.0.14.0/30"])
    result = cli("discover", "--agency", AGENCY, "--scope", str(scope), "--json", "--targets", "127.0.14.1",
                 "--ports", str(lab["web"]), db=lab["db_path"])
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run"]
    with lab["db"].session() as session:
        host = session.scalars(select(DiscoveredHostRow).where(DiscoveredHostRow.run_id == run_id)).one()
        assert host.match_status == "unregistered", (host.match_status, host.match_rule)


def test_discovery_of_a_retired_agency_is_refused(lab, cli) -> None:  # type: ignore[no-untyped-def]
    with lab["db"].session() as session:
        retire(session, "agencies", "DISC-SO", "merged", YESTERDAY)
    scope = write_scope(lab["tmp"] / "scope.yaml", ["127.0.14.0/30"], agency="DISC-SO")
    result = cli("discover", "--agency", "DISC-SO", "--scope", str(scope), "--json", db=lab["db_path"])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "agency 'DISC-SO' was retired on" in result.stderr and "Traceback" not in result.stderr
    # A province-wide discovery (a nightly job's stage) skips it and says why.
    app_state = AppState(Settings(db=str(lab["db_path"]), output=lab["tmp"] / "out"))
    run_id = start_run(lab["db"], "discover")
    with pytest.raises(SecopsError, match=r"no agency of the scope file can be scanned: DISC-SO: was retired on"):
        run_stage(app_state, run_id, StageOptions(extra={"scope_file": str(scope)}))
