"""The central side of remote results, without a broker: validation, bounds, store-once; and two
defects found on the way (multi-agency discovery in one run; policy files missing from --policies)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from discover_helpers import NMAP, Listeners, write_scope
from sqlalchemy import func, select

from secops.collect.tables import AuditHostRow
from secops.discover.sites import Link, Site, SitesFile
from secops.discover.tables import DiscoveryScanRow
from secops.remote.central import Unit, _validated, store_result
from secops.remote.payloads import AuditResult, AuditTask, HostPayload, ProtectionPayload, TargetSpec
from secops.remote.tables import RemoteTaskRow
from secops.runs import start_run
from secops.store.db import Database
from secops.store.tables import EvidenceRow

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
INVENTORY = {"agencies": [{"code": "P", "name": "Tỉnh", "kind": "province"},
                          {"code": "SO-A", "name": "Sở A", "kind": "department", "parent": "P"}],
             "endpoints": [{"code": "ep1", "hostname": "h1", "ips": ["127.0.7.2"], "os_family": "linux",
                            "role": "server", "owner": "SO-A"}]}


@pytest.fixture
def central(tmp_path: Path, db_path: Path, cli):  # type: ignore[no-untyped-def]
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(INVENTORY, allow_unicode=True))
    assert cli("inventory", "import", str(tmp_path / "inv.yaml"), db=db_path).returncode == 0
    db = Database(f"sqlite:///{db_path}")
    run_id = start_run(db, "audit")
    with db.session() as s:
        endpoint_id = s.scalar(select(func.min(__import__("secops.store.tables", fromlist=["EndpointRow"])
                                               .EndpointRow.id)))
    spec = TargetSpec(label="h1", address="127.0.7.2", os_family="linux", endpoint_id=endpoint_id,
                      endpoint_code="ep1", agency_codes=["SO-A", "P"])
    unit = Unit(Site(code="siteA", agencies=["SO-A"]),
                AuditTask(task_id="t-1", run_id=run_id, site="siteA", agency_code="SO-A", targets=[spec]))
    with db.session() as s:
        s.add(RemoteTaskRow(task_id="t-1", run_id=run_id, site="siteA", stage="audit", agency_code="SO-A"))
    yield {"db": db, "run_id": run_id, "unit": unit, "spec": spec}
    db.dispose()


def _result(spec: TargetSpec, **changes) -> dict:  # type: ignore[no-untyped-def]
    host = HostPayload(target=spec.model_copy(update={"endpoint_id": 999}),  # a scanner's ids are never used
                       transport="ssh", started_at=NOW, finished_at=NOW, status="ok",
                       protection=ProtectionPayload(status="protected", product="ClamAV", detail="clamd running"))
    result = AuditResult(task_id="t-1", site="siteA", scanner="siteA@x", status="ok", hosts=[host])
    return {**result.model_dump(mode="json"), **changes}


def test_result_is_stored_once(central) -> None:  # type: ignore[no-untyped-def]
    db, unit = central["db"], central["unit"]
    result = _validated(unit, _result(central["spec"]), Link())
    first = store_result(db, central["run_id"], unit, result)
    again = store_result(db, central["run_id"], unit, result)  # a redelivered task's result, read again
    assert (first.status, again.status) == ("stored", "duplicate")
    with db.session() as s:
        hosts = s.scalars(select(AuditHostRow)).all()
        assert len(hosts) == 1 and hosts[0].endpoint_id == central["spec"].endpoint_id  # the central's id, not 999
        assert s.scalar(select(func.count()).select_from(EvidenceRow)) == 1
        assert s.scalars(select(RemoteTaskRow)).one().status == "stored"


@pytest.mark.parametrize("changes, reason", [
    ({"task_id": "t-2"}, "not the task sent"),
    ({"site": "siteB"}, "not the task sent"),
    ({"status": "pwned"}, "status"),
    ({"extra_field": 1}, "extra_field"),
])
def test_forged_or_malformed_results_are_refused(central, changes, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=reason):
        _validated(central["unit"], _result(central["spec"], **changes), Link())


def test_a_host_the_task_did_not_ask_for_is_refused_and_nothing_is_stored(central) -> None:  # type: ignore[no-untyped-def]
    other = central["spec"].model_copy(update={"address": "127.0.7.99", "endpoint_code": "ep-forged"})
    result = _validated(central["unit"], _result(other), Link())
    with pytest.raises(ValueError, match="did not ask for"):
        store_result(central["db"], central["run_id"], central["unit"], result)
    with central["db"].session() as s:
        assert s.scalars(select(AuditHostRow)).all() == []
        assert s.scalars(select(RemoteTaskRow)).one().status == "sent"


def test_oversized_results_are_refused_before_parsing(central) -> None:  # type: ignore[no-untyped-def]
    big = _result(central["spec"], errors=["x" * 5000])
    with pytest.raises(ValueError, match="max_payload_bytes"):
        _validated(central["unit"], big, Link(max_payload_bytes=4096))


def test_sites_file_refuses_an_agency_at_two_sites() -> None:
    with pytest.raises(ValueError, match="mapped to two sites"):
        SitesFile.model_validate({"sites": [{"code": "a", "agencies": ["X"]}, {"code": "b", "agencies": ["X"]}]})
    with pytest.raises(ValueError, match="pattern"):
        SitesFile.model_validate({"sites": [{"code": "../etc", "agencies": ["X"]}]})


def test_broker_url_is_redacted() -> None:
    from secops.remote.broker import redact

    assert redact("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact("rediss://user:pw@[::1]:6380/1") == "rediss://user:***@[::1]:6380/1"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_partial_policies_folder_falls_back_to_bundled_files(tmp_path: Path, db_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Regression: targets.yaml and levels.yaml were read only from --policies (no bundled fallback)."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "sites.yaml").write_text("version: 1\nsites: []\n")
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(INVENTORY, allow_unicode=True))
    done = cli("--policies", str(policies), "inventory", "import", str(tmp_path / "inv.yaml"), db=db_path)
    assert done.returncode == 0, done.stderr
    graded = cli("--policies", str(policies), "grade", db=db_path)
    assert graded.returncode in (0, 1), graded.stderr  # 1 = targets not met, as designed


def test_province_wide_discovery_stores_every_agency(tmp_path: Path, db_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Regression: one run scanning two agencies failed on the second (one discovery scan per run)."""
    assert NMAP
    listeners = Listeners()
    port = listeners.tcp("127.0.6.1")
    listeners.tcp("127.0.6.9", port)
    try:
        inventory = {"agencies": [{"code": "P", "name": "Tỉnh", "kind": "province"},
                                  {"code": "SO-1", "name": "Sở 1", "kind": "department", "parent": "P"},
                                  {"code": "SO-2", "name": "Sở 2", "kind": "department", "parent": "P"}]}
        (tmp_path / "inv.yaml").write_text(yaml.safe_dump(inventory, allow_unicode=True))
        assert cli("inventory", "import", str(tmp_path / "inv.yaml"), db=db_path).returncode == 0
        scope = write_scope(tmp_path / "scope.yaml", ["127.0.6.0/29"], agency="SO-1")
        doc = yaml.safe_load(scope.read_text())
        doc["agencies"]["SO-2"] = {"authorised": [{"cidr": "127.0.6.8/29"}], "exclude": []}
        scope.write_text(yaml.safe_dump(doc))
        assert cli("schedule", "add", "disc", "--job", "nightly", "--every", "3600", db=db_path).returncode == 0
        policies = tmp_path / "policies"
        policies.mkdir()
        (policies / "jobs.yaml").write_text(yaml.safe_dump({"version": 1, "jobs": {"nightly": {"stages": [
            {"stage": "discover", "options": {"ports": str(port), "scope_file": str(scope)}}]}}}))
        done = cli("--policies", str(policies), "schedule", "run", "disc", db=db_path, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        db = Database(f"sqlite:///{db_path}")
        with db.session() as s:
            scans = s.scalars(select(DiscoveryScanRow)).all()
            assert sorted(sc.agency_code for sc in scans) == ["SO-1", "SO-2"]
        db.dispose()
    finally:
        listeners.close()
