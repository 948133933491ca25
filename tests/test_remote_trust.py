"""Results that cannot be forged, and a broker that keeps sites apart: a real Redis started with the ACL
file `secops scanners acl` writes from policies/sites.yaml, the central side's real dispatch, and an
attacker holding site A's broker credentials (a scanner inside a commune's network is the least trusted
machine) who takes the task off A's queue and hands in a result of its own making, as in the report:
unsigned, signed with another site's key, a genuine result with its body altered, a genuine result of
another task replayed, and one too large to read. Nothing of any of them is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from celery import Celery
from remote_helpers import RedisServer, site_keys
from sqlalchemy import func, select

import secops.remote.worker  # noqa: F401  (imported before memory is measured)
from secops.collect.tables import AuditHostRow
from secops.discover.sites import load_sites
from secops.discover.tables import DiscoveredHostRow, DiscoveryScanRow
from secops.remote.central import SiteOutcome, Unit, dispatch, new_task_id
from secops.remote.payloads import AuditResult, AuditTask, DiscoverTask, HostPayload, ProtectionPayload, TargetSpec
from secops.remote.signing import fingerprint, load_private, seal
from secops.remote.tables import RemoteTaskRow, ScannerKeyRow
from secops.runs import start_run
from secops.store.db import Database
from secops.store.tables import EndpointRow, EvidenceRow

pytestmark = pytest.mark.timeout(300)
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
INVENTORY = {"agencies": [{"code": "P", "name": "Tỉnh", "kind": "province"},
                          {"code": "SO-A", "name": "Sở A", "kind": "department", "parent": "P"},
                          {"code": "SO-B", "name": "Sở B", "kind": "department", "parent": "P"}],
             "endpoints": [{"code": "ep-a", "hostname": "ha", "ips": ["127.0.7.2"], "os_family": "linux",
                            "role": "server", "owner": "SO-A"},
                           {"code": "ep-b", "hostname": "hb", "ips": ["127.0.8.2"], "os_family": "linux",
                            "role": "server", "owner": "SO-B"}]}
MAX_PAYLOAD = 1_000_000


def _policies(base: Path) -> Path:
    folder = base / "policies"
    folder.mkdir(exist_ok=True)
    (folder / "sites.yaml").write_text(yaml.safe_dump({"version": 1, "link": {
        "scanner_wait_seconds": 20, "heartbeat_seconds": 2, "connect_timeout_seconds": 3,
        "max_payload_bytes": MAX_PAYLOAD}, "sites": [{"code": "siteA", "agencies": ["SO-A"]},
                                                     {"code": "siteB", "agencies": ["SO-B"]}]}))
    return folder


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """Redis with the ACL file and URL files written by `secops scanners acl` (the real command)."""
    from conftest import run_cli

    base = tmp_path_factory.mktemp("trust")
    policies = _policies(base)
    server = RedisServer(acl_file=base / "users.acl")
    done = run_cli("--policies", str(policies), "scanners", "acl", "--out", str(base / "users.acl"),
                   "--secrets-dir", str(base / "urls"), "--host", "127.0.0.1", "--port", str(server.port),
                   "--no-tls")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (base / "urls" / "secops-site-siteA.url").stat().st_mode & 0o777 == 0o600
    assert "#" in (base / "users.acl").read_text() and "default off" in (base / "users.acl").read_text()
    server.start()
    urls = {p.stem: p.read_text().strip() for p in (base / "urls").glob("*.url")}
    yield {"server": server, "urls": urls, "policies": policies, "base": base,
           "keys": site_keys(base / "keys", ["siteA", "siteB"])}
    server.cleanup()


@pytest.fixture
def central(broker, tmp_path: Path, db_path: Path, cli):  # type: ignore[no-untyped-def]
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(INVENTORY, allow_unicode=True))
    assert cli("inventory", "import", str(tmp_path / "inv.yaml"), db=db_path).returncode == 0
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:  # as `secops scanners enrol` does (test_enrol_and_list_by_the_command)
        for site, key in broker["keys"].items():
            public = Path(f"{key}.pub").read_text()
            s.add(ScannerKeyRow(site=site, public_key=public.strip(), fingerprint=fingerprint(public)))
    yield db
    db.dispose()


def _spec(db: Database, code: str) -> TargetSpec:
    with db.session() as s:
        endpoint = s.scalars(select(EndpointRow).where(EndpointRow.code == code)).one()
        return TargetSpec(label=endpoint.hostname or code, address="127.0.7.2", os_family="linux",
                          endpoint_id=endpoint.id, endpoint_code=code, agency_codes=["SO-A", "P"])


def _audit_body(task_id: str, spec: TargetSpec, protection: str = "protected") -> str:
    host = HostPayload(target=spec, transport="ssh", started_at=NOW, finished_at=NOW, status="ok",
                       protection=ProtectionPayload(status=protection, product="ClamAV",  # type: ignore[arg-type]
                                                    detail="<b>forged</b>"))
    return AuditResult(task_id=task_id, site="siteA", scanner="siteA@evil", status="ok",
                       hosts=[host]).model_dump_json()


def _take_task(client: redis.Redis, queue: str) -> tuple[str, dict[str, Any]]:
    """What the attacker did: RPOP the task off the queue (here BRPOP, bounded)."""
    popped = client.brpop([queue], timeout=20)
    assert popped is not None, "no task reached the queue"
    message = json.loads(popped[1])
    args = json.loads(base64.b64decode(message["body"]))[0][0]
    return message["headers"]["id"], args


def _run_attack(broker, db: Database, unit_for: Callable[[int], Unit],  # type: ignore[no-untyped-def]
                forge: Callable[[str, dict[str, Any]], Any], raw: Path | None = None) -> tuple[SiteOutcome, int]:
    link = load_sites(broker["policies"]).link
    run_id = start_run(db, "audit")
    unit = unit_for(run_id)
    attacker = redis.Redis.from_url(broker["urls"]["secops-site-siteA"], socket_timeout=30)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(dispatch, db, run_id, [unit], broker["urls"]["secops-central"], link)
        task_id, payload = _take_task(attacker, "secops.site.siteA")
        if raw is not None:  # written by redis-cli, so this process's memory holds only the central side's
            if tracemalloc.is_tracing():
                tracemalloc.reset_peak()  # the central side's imports and set-up are done; the result is not yet there
            with raw.open("rb") as source:
                done = subprocess.run(["redis-cli", "-u", broker["urls"]["secops-site-siteA"], "--no-auth-warning",
                                       "-x", "SET", f"celery-task-meta-{task_id}"], stdin=source,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            assert done.returncode == 0 and attacker.strlen(f"celery-task-meta-{task_id}") > MAX_PAYLOAD
        else:
            backend = Celery("attacker", backend=broker["urls"]["secops-site-siteA"], set_as_current=False).backend
            backend.store_result(task_id, forge(task_id, payload), "SUCCESS")  # as the report did
        (outcome,) = waiting.result(timeout=120)
    attacker.close()
    return outcome, run_id


def _audit_unit(db: Database) -> Callable[[int], Unit]:
    def make(run_id: int) -> Unit:
        from secops.discover.sites import Site

        return Unit(Site(code="siteA", agencies=["SO-A"]),
                    AuditTask(task_id=new_task_id("siteA"), run_id=run_id, site="siteA", agency_code="SO-A",
                              deadline=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), targets=[_spec(db, "ep-a")]))
    return make


def _nothing_stored(db: Database, run_id: int) -> None:
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditHostRow)) == 0
        assert s.scalar(select(func.count()).select_from(EvidenceRow)) == 0
        assert s.scalar(select(func.count()).select_from(DiscoveryScanRow)) == 0
        assert s.scalar(select(func.count()).select_from(DiscoveredHostRow)) == 0
        assert all(e.last_seen is None for e in s.scalars(select(EndpointRow)))
        task = s.scalars(select(RemoteTaskRow).where(RemoteTaskRow.run_id == run_id)).one()
        assert task.status == "failed"


def test_a_genuine_signed_result_is_stored(broker, central: Database) -> None:
    """The control: what the site's own key signs, over the task it was sent, is stored."""
    key = load_private(broker["keys"]["siteA"])

    def genuine(task_id: str, payload: dict[str, Any]) -> Any:
        return seal(key, task_id, "siteA", payload["run_id"], _audit_body(task_id, _spec(central, "ep-a")))

    outcome, run_id = _run_attack(broker, central, _audit_unit(central), genuine)
    assert outcome.status == "stored", outcome.errors
    with central.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditHostRow)) == 1


def _unsigned(db: Database) -> Callable[[str, dict[str, Any]], Any]:
    return lambda task_id, payload: json.loads(_audit_body(task_id, _spec(db, "ep-a")))


def _other_site(broker, db: Database) -> Callable[[str, dict[str, Any]], Any]:  # type: ignore[no-untyped-def]
    key_b = load_private(broker["keys"]["siteB"])
    return lambda task_id, payload: seal(key_b, task_id, "siteA", payload["run_id"],
                                         _audit_body(task_id, _spec(db, "ep-a")))


def _altered(broker, db: Database) -> Callable[[str, dict[str, Any]], Any]:  # type: ignore[no-untyped-def]
    key = load_private(broker["keys"]["siteA"])

    def forge(task_id: str, payload: dict[str, Any]) -> Any:
        envelope = seal(key, task_id, "siteA", payload["run_id"],
                        _audit_body(task_id, _spec(db, "ep-a"), protection="unprotected"))
        envelope["body"] = envelope["body"].replace('"unprotected"', '"protected"')
        return envelope
    return forge


def _replayed(broker, db: Database) -> Callable[[str, dict[str, Any]], Any]:  # type: ignore[no-untyped-def]
    """A genuine result of site A for another task (an earlier one), handed in for this task."""
    key = load_private(broker["keys"]["siteA"])
    earlier = new_task_id("siteA")

    def forge(task_id: str, payload: dict[str, Any]) -> Any:
        return seal(key, earlier, "siteA", payload["run_id"], _audit_body(earlier, _spec(db, "ep-a")))
    return forge


@pytest.mark.parametrize("variant, reason", [
    ("unsigned", "not a signed envelope"),
    ("other_site", "bad signature"),
    ("altered", "bad signature"),
    ("replayed", "bad signature"),
])
def test_forged_results_are_refused_and_nothing_is_stored(broker, central: Database, variant: str,
                                                          reason: str) -> None:
    forge = {"unsigned": lambda: _unsigned(central), "other_site": lambda: _other_site(broker, central),
             "altered": lambda: _altered(broker, central), "replayed": lambda: _replayed(broker, central)}[variant]()
    outcome, run_id = _run_attack(broker, central, _audit_unit(central), forge)
    assert outcome.status == "failed" and reason in " ".join(outcome.errors), outcome.errors
    _nothing_stored(central, run_id)


def test_the_reported_discovery_forgery_is_refused(broker, central: Database) -> None:
    """The report's forgery: an unsigned discover result with a plan, a host outside the task
    (203.0.113.9, named <b>forged</b>) and last_seen in 2099 on another site's endpoint."""
    xml = ('<?xml version="1.0"?><nmaprun scanner="nmap" args="nmap" start="4070908800" version="7.94">'
           '<host starttime="4070908800" endtime="4070908800"><status state="up" reason="arp-response"/>'
           '<address addr="203.0.113.9" addrtype="ipv4"/><hostnames><hostname name="&lt;b&gt;forged&lt;/b&gt;" '
           'type="PTR"/></hostnames></host><host><status state="up" reason="arp-response"/>'
           '<address addr="127.0.8.2" addrtype="ipv4"/></host><runstats><finished time="4070908800"/>'
           '</runstats></nmaprun>')

    def forge(task_id: str, payload: dict[str, Any]) -> Any:
        when = "2099-01-01T00:00:00Z"
        return {"task_id": task_id, "site": "siteA", "scanner": "siteA@evil", "status": "ok", "kind": "discover",
                "agency_code": "SO-A", "plan": {"agency": "SO-A", "networks": ["203.0.113.0/24"],
                                                "requested": ["203.0.113.0/24"], "trimmed": [],
                                                "scope_file": "forged", "addresses": 256},
                "chunks": [{"targets": ["203.0.113.0/24"], "command": ["nmap"], "started_at": when,
                            "finished_at": when, "xml": xml, "status": "ok"}]}

    def unit(run_id: int) -> Unit:
        from secops.discover.sites import Site

        return Unit(Site(code="siteA", agencies=["SO-A"]),
                    DiscoverTask(task_id=new_task_id("siteA"), run_id=run_id, site="siteA", agency_code="SO-A",
                                 deadline=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))

    outcome, run_id = _run_attack(broker, central, unit, forge)
    assert outcome.status == "failed" and "not a signed envelope" in " ".join(outcome.errors)
    _nothing_stored(central, run_id)


def test_an_oversized_result_is_refused_without_being_read(broker, central: Database, tmp_path: Path) -> None:
    size = 16 * MAX_PAYLOAD
    raw = tmp_path / "big.json"
    raw.write_text(json.dumps({"status": "SUCCESS", "result": "x" * size, "task_id": "x"}))
    tracemalloc.start()
    try:
        outcome, run_id = _run_attack(broker, central, _audit_unit(central), lambda *_: None, raw=raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status == "failed" and "over max_payload_bytes" in " ".join(outcome.errors), outcome.errors
    assert peak < size // 2, f"the central side allocated {peak} bytes for a {size}-byte result it refused"
    _nothing_stored(central, run_id)


def test_site_credentials_cannot_touch_another_site(broker) -> None:
    """Site A's ACL user: its own queue yes; site B's queue, a task to B, B's results, the central's
    marks: no. The default user (no password) is off."""
    a = redis.Redis.from_url(broker["urls"]["secops-site-siteA"], socket_timeout=10)
    central = redis.Redis.from_url(broker["urls"]["secops-central"], socket_timeout=10)
    central.lpush("secops.site.siteB", b"task for B")
    denied = [lambda: a.rpop("secops.site.siteB"), lambda: a.lrange("secops.site.siteB", 0, -1),
              lambda: a.brpop(["secops.site.siteA", "secops.site.siteB"], timeout=1),
              lambda: a.lpush("secops.site.siteB", b"forged task"),
              lambda: a.lpush("secops.site.siteAB", b"a site whose code extends A's"),
              lambda: a.set("celery-task-meta-siteB:0123", b"{}"),
              lambda: a.publish("celery-task-meta-siteB:0123", b"{}"),
              lambda: a.set("secops:closed:siteA:0123", b"1"),
              lambda: a.set("secops:scanner:siteB:x", b"{}"),
              lambda: a.keys("*"), lambda: a.flushdb(), lambda: a.config_get("*")]
    for action in denied:
        with pytest.raises(redis.exceptions.NoPermissionError):
            action()
    assert central.llen("secops.site.siteB") == 1  # B's task is still there
    assert a.lpush("secops.site.siteA", b"x") == 1 and a.rpop("secops.site.siteA") == b"x"
    assert a.set("celery-task-meta-siteA:0123", b"{}") and a.get("secops:closed:siteA:0123") is None
    backend = Celery("a", backend=broker["urls"]["secops-site-siteA"], set_as_current=False).backend
    with pytest.raises(redis.exceptions.NoPermissionError):
        backend.client.set(backend.get_key_for_task("siteB:0123"), b"{}")
    anonymous = redis.Redis(host="127.0.0.1", port=broker["server"].port, socket_timeout=10)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("secops.site.siteA")
    central.delete("secops.site.siteB")


def test_a_broker_url_without_password_is_refused(broker, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from secops.errors import SecopsError
    from secops.remote.broker import require_auth

    url = f"redis://127.0.0.1:{broker['server'].port}/0"
    with pytest.raises(SecopsError, match="has no password"):
        require_auth(url, False)
    assert require_auth(url, True) == url
    scope = tmp_path / "scope.yaml"
    scope.write_text(yaml.safe_dump({"version": 1, "agencies": {"SO-A": {"authorised": [{"cidr": "127.0.7.0/29"}]}}}))
    done = cli("--policies", str(broker["policies"]), "scanner", "--site", "siteA", "--scope", str(scope),
               "--key", str(broker["keys"]["siteA"]), env={"SECOPS_BROKER_URL": url}, timeout=60)
    assert done.returncode == 2 and "has no password" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_scanner_refuses_a_missing_or_loose_key(broker, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    scope = tmp_path / "scope.yaml"
    scope.write_text(yaml.safe_dump({"version": 1, "agencies": {"SO-A": {"authorised": [{"cidr": "127.0.7.0/29"}]}}}))
    env = {"SECOPS_BROKER_URL": broker["urls"]["secops-site-siteA"]}
    base = ["--policies", str(broker["policies"]), "scanner", "--site", "siteA", "--scope", str(scope)]
    done = cli(*base, env=env, timeout=60)
    assert done.returncode == 2 and "no signing key" in done.stderr
    loose = tmp_path / "loose.key"
    loose.write_bytes(broker["keys"]["siteA"].read_bytes())
    loose.chmod(0o644)
    done = cli(*base, "--key", str(loose), env=env, timeout=60)
    assert done.returncode == 2 and "chmod 600" in done.stderr
    enrol = cli("--policies", str(broker["policies"]), "scanners", "enrol", "siteA", "--public-key", str(loose),
                db=tmp_path / "c.db")
    assert enrol.returncode == 2 and "PRIVATE key" in enrol.stderr


def test_enrol_and_list_by_the_command(broker, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """`secops scanners enrol` stores only the public key; `secops scanners` shows each site's broker user,
    key and last heartbeat (none here: no scanner runs)."""
    env = {"SECOPS_POLICIES": str(broker["policies"]), "SECOPS_BROKER_URL": broker["urls"]["secops-central"]}
    db_path = tmp_path / "c.db"
    done = cli("scanners", "enrol", "siteA", "--public-key", f"{broker['keys']['siteA']}.pub", db=db_path, env=env)
    assert done.returncode == 0 and "enrolled" in done.stdout, done.stdout + done.stderr
    listing = cli("scanners", "--json", db=db_path, env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {r["site"]: r for r in json.loads(listing.stdout)["sites"]}
    assert rows["siteA"]["user"] == "secops-site-siteA" and rows["siteA"]["key"].startswith("SHA256:")
    assert rows["siteB"]["key"] is None and rows["siteA"]["last_heartbeat"] is None
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        (key,) = s.scalars(select(ScannerKeyRow)).all()
        assert key.public_key.startswith("ed25519 ") and "PRIVATE" not in key.public_key
    db.dispose()
