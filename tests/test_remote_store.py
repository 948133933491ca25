"""The central side of remote results, without a broker: validation, bounds, store-once; and two
defects found on the way (multi-agency discovery in one run; policy files missing from --policies)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from discover_helpers import NMAP, Listeners, write_scope
from sqlalchemy import func, select

from secops.collect.tables import AuditHostRow
from secops.discover.sites import Link, Site, SitesFile
from secops.discover.tables import DiscoveryScanRow
from secops.remote.central import Unit, _validated, store_result
from secops.remote.payloads import AuditResult, AuditTask, HostPayload, ProtectionPayload, TargetSpec
from secops.remote.signing import seal
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
                AuditTask(task_id="t-1", run_id=run_id, site="siteA", agency_code="SO-A", targets=[spec],
                          deadline=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    with db.session() as s:
        s.add(RemoteTaskRow(task_id="t-1", run_id=run_id, site="siteA", stage="audit", agency_code="SO-A"))
    key = Ed25519PrivateKey.generate()
    yield {"db": db, "run_id": run_id, "unit": unit, "spec": spec, "key": key, "public": key.public_key()}
    db.dispose()


def _result(spec: TargetSpec, **changes) -> dict:  # type: ignore[no-untyped-def]
    host = HostPayload(target=spec.model_copy(update={"endpoint_id": 999}),  # a scanner's ids are never used
                       transport="ssh", started_at=NOW, finished_at=NOW, status="ok",
                       protection=ProtectionPayload(status="protected", product="ClamAV", detail="clamd running"))
    result = AuditResult(task_id="t-1", site="siteA", scanner="siteA@x", status="ok", hosts=[host])
    return {**result.model_dump(mode="json"), **changes}


def _signed(central, result: dict) -> dict:  # type: ignore[no-untyped-def]
    """Signed as the site's scanner signs: over the task id, site and run the central side sent."""
    return seal(central["key"], "t-1", "siteA", central["run_id"], json.dumps(result))


def test_result_is_stored_once(central) -> None:  # type: ignore[no-untyped-def]
    db, unit = central["db"], central["unit"]
    result = _validated(unit, _signed(central, _result(central["spec"])), Link(), central["public"])
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
        _validated(central["unit"], _signed(central, _result(central["spec"], **changes)), Link(), central["public"])


def test_a_host_the_task_did_not_ask_for_is_refused_and_nothing_is_stored(central) -> None:  # type: ignore[no-untyped-def]
    other = central["spec"].model_copy(update={"address": "127.0.7.99", "endpoint_code": "ep-forged"})
    result = _validated(central["unit"], _signed(central, _result(other)), Link(), central["public"])
    with pytest.raises(ValueError, match="did not ask for"):
        store_result(central["db"], central["run_id"], central["unit"], result)
    with central["db"].session() as s:
        assert s.scalars(select(AuditHostRow)).all() == []
        assert s.scalars(select(RemoteTaskRow)).one().status == "sent"


def test_oversized_results_are_refused_before_parsing(central) -> None:  # type: ignore[no-untyped-def]
    big = _signed(central, _result(central["spec"], errors=["x" * 5000]))
    with pytest.raises(ValueError, match="max_payload_bytes"):
        _validated(central["unit"], big, Link(max_payload_bytes=4096), central["public"])


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


def test_link_settings_where_redelivery_cannot_succeed_are_refused() -> None:
    """The old defaults (visibility timeout = deadline = 3600) could never redeliver within the run."""
    with pytest.raises(ValueError, match="too short for a killed scanner's task"):
        Link(task_deadline_seconds=3600, visibility_timeout_seconds=3600, task_seconds=900)
    with pytest.raises(ValueError, match="must be longer than task_seconds"):
        Link(visibility_timeout_seconds=600, task_seconds=900)
    shipped = Link()
    assert (shipped.scanner_wait_seconds + shipped.visibility_timeout_seconds + 20 + shipped.task_seconds
            <= shipped.task_deadline_seconds)
    bundled = SitesFile.model_validate(yaml.safe_load((Path(__file__).parent.parent / "policies" / "sites.yaml")
                                                      .read_text()))
    assert bundled.link == shipped


def test_a_task_past_its_deadline_is_stale() -> None:
    from secops.remote.worker import stale_reason

    class NoBroker:
        def exists(self, key: str) -> int:
            raise AssertionError("the deadline is checked first")

    task = AuditTask(task_id="siteA:1", run_id=1, site="siteA", targets=[],
                     deadline=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert "deadline" in (stale_reason(task, NoBroker()) or "")  # type: ignore[arg-type]


def _xml(address: str) -> str:
    return ('<?xml version="1.0"?><nmaprun scanner="nmap" args="nmap" start="1764576000" version="7.94">'
            f'<host><status state="up" reason="syn-ack"/><address addr="{address}" addrtype="ipv4"/></host>'
            '<runstats><finished time="1764576000"/></runstats></nmaprun>')


def _overlap_run(db: Database) -> int:
    """Two sites (two agencies) whose private ranges overlap both find 127.10.0.5 in one run."""  # not scanned: payload data
    from secops.discover.scope import ScopePlan
    from secops.remote.payloads import ChunkPayload, DiscoverResult, DiscoverTask

    run_id = start_run(db, "discover")
    for site, agency in (("siteA", "SO-A"), ("siteB", "SO-B")):
        task_id = f"{site}:1"
        with db.session() as s:
            s.add(RemoteTaskRow(task_id=task_id, run_id=run_id, site=site, stage="discover", agency_code=agency))
        unit = Unit(Site(code=site, agencies=[agency]),
                    DiscoverTask(task_id=task_id, run_id=run_id, site=site, agency_code=agency,
                                 deadline=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
        plan = ScopePlan(agency_code=agency, scope_file="scope.yaml", requested=["127.10.0.0/24"],
                         networks=["127.10.0.0/24"], addresses=256)  # not scanned: payload data
        result = DiscoverResult(task_id=task_id, site=site, scanner=f"{site}@x", status="ok", agency_code=agency,
                                plan=plan, chunks=[ChunkPayload(targets=["127.10.0.0/24"], command=["nmap"],
                                                                started_at=NOW, finished_at=NOW,
                                                                xml=_xml("127.10.0.5"), status="ok")])
        outcome = store_result(db, run_id, unit, result)
        assert outcome.status == "stored", outcome.errors
    return run_id


def _stored_per_site(db: Database, run_id: int) -> list[tuple[str, str | None, str]]:
    from secops.discover.tables import DiscoveredHostRow, DiscoveryChunkRow

    with db.session() as s:
        rows = s.execute(select(DiscoveredHostRow.address, DiscoveryScanRow.agency_code, DiscoveryScanRow.scope_file)
                         .join(DiscoveryChunkRow, DiscoveryChunkRow.id == DiscoveredHostRow.chunk_id)
                         .join(DiscoveryScanRow, DiscoveryScanRow.id == DiscoveryChunkRow.scan_id)
                         .where(DiscoveredHostRow.run_id == run_id))
        return sorted((r[0], r[1], r[2]) for r in rows)


EXPECTED_OVERLAP = [("127.10.0.5", "SO-A", "site siteA: scope.yaml"), ("127.10.0.5", "SO-B", "site siteB: scope.yaml")]


def test_overlapping_ranges_of_two_sites_are_both_stored_sqlite(db_path: Path) -> None:
    db = Database(f"sqlite:///{db_path}")
    assert _stored_per_site(db, _overlap_run(db)) == EXPECTED_OVERLAP
    db.dispose()


def test_overlapping_ranges_of_two_sites_are_both_stored_postgresql(fresh_pg) -> None:  # type: ignore[no-untyped-def]
    db = fresh_pg()
    assert _stored_per_site(db, _overlap_run(db)) == EXPECTED_OVERLAP


def test_scanner_unit_restarts_after_any_exit() -> None:
    """A clean exit (the old failure: code 0 after a lost broker) must restart the scanner too."""
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(Path(__file__).parent.parent / "examples" / "secops-scanner.service")
    assert unit["Service"]["Restart"] == "always"
    assert int(unit["Service"]["RestartSec"]) > 0 and unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert "SECOPS_SCANNER_KEY=" in unit["Service"]["Environment"] or any(
        "SECOPS_SCANNER_KEY" in line for line in (Path(__file__).parent.parent / "examples"
                                                  / "secops-scanner.service").read_text().splitlines())


@pytest.mark.parametrize("chunk_targets, plan_networks, host, reason", [
    (["127.10.0.0/24"], ["127.10.0.0/24"], "127.203.11.9", r"host 127\.203\.11\.9/32 is outside its chunk's targets"),
    (["127.203.11.0/24"], ["127.10.0.0/24"], "127.203.11.9", "a chunk's targets 127.203.11.0/24 is outside the plan"),
    (["127.203.11.0/24"], ["127.203.11.0/24"], "127.203.11.9", "the plan's networks 127.203.11.0/24 is outside the task"),
])
def test_a_discovery_result_reaching_outside_what_it_scanned_stores_nothing(
        db_path: Path, chunk_targets: list[str], plan_networks: list[str], host: str, reason: str) -> None:
    """Even signed by its own site: hosts outside the chunk, chunks outside the plan, a plan outside the
    task's targets are refused in the storing transaction (no host, no last_seen)."""
    from secops.discover.scope import ScopePlan
    from secops.discover.tables import DiscoveredHostRow
    from secops.remote.payloads import ChunkPayload, DiscoverResult, DiscoverTask

    db = Database(f"sqlite:///{db_path}")
    run_id = start_run(db, "discover")
    with db.session() as s:
        s.add(RemoteTaskRow(task_id="siteA:1", run_id=run_id, site="siteA", stage="discover", agency_code="SO-A"))
    unit = Unit(Site(code="siteA", agencies=["SO-A"]),
                DiscoverTask(task_id="siteA:1", run_id=run_id, site="siteA", agency_code="SO-A",
                             targets=["127.10.0.0/24"], deadline=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    plan = ScopePlan(agency_code="SO-A", scope_file="scope.yaml", requested=plan_networks, networks=plan_networks)
    result = DiscoverResult(task_id="siteA:1", site="siteA", scanner="siteA@x", status="ok", agency_code="SO-A",
                            plan=plan, chunks=[ChunkPayload(targets=chunk_targets, command=["nmap"], started_at=NOW,
                                                            finished_at=NOW, xml=_xml(host), status="ok")])
    with pytest.raises(ValueError, match=reason):
        store_result(db, run_id, unit, result)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DiscoveredHostRow)) == 0
        assert s.scalar(select(func.count()).select_from(DiscoveryScanRow)) == 0
        assert s.scalars(select(RemoteTaskRow)).one().status == "sent"
    db.dispose()
