"""Remote scanners end to end: a real Redis broker, real PostgreSQL, two sites each with its own
`secops scanner` processes, scope file, audit config and loopback OpenSSH hosts (audit_helpers.py).

Site A (agency SO-A, 127.0.7.0/29): ep-a-run (ClamAV running -> protected), ep-a-none (nothing -> unprotected)
Site B (agency SO-B, 127.0.8.0/29): ep-b-stopped (ClamAV stopped -> degraded), ep-b-run (protected)
T2 by hand for the province: 2 protected of 4, 0 unknown; 90% of 4 needs 4, gap 2 — in both the remote
and the single-process run on the same data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from audit_helpers import Host, SshLab
from conftest import run_cli
from pg_server import PostgresServer
from remote_helpers import RedisServer, Scanner, site_keys
from sqlalchemy import func, select

from secops.collect.tables import AuditHostRow
from secops.discover.tables import DiscoveryScanRow
from secops.remote.tables import RemoteTaskRow
from secops.store.db import Database
from secops.store.tables import EvidenceRow, GradeRow, RunRow

ROOT = Path(__file__).resolve().parent.parent
SLEEP = Path(shutil.which("sleep") or "/bin/sleep")
PASSWORD = "br0ker-s3cret-pw"
CLAM = {"/usr/sbin/clamd": SLEEP, "/var/lib/clamav/daily.cvd": b"ClamAV-VDB:test"}

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer(password=PASSWORD).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory):
    a = SshLab(tmp_path_factory.mktemp("lab-a"), [
        Host("a-run", "127.0.7.2", files=dict(CLAM), processes=["/usr/sbin/clamd 900"]),
        Host("a-none", "127.0.7.3")])
    b = SshLab(tmp_path_factory.mktemp("lab-b"), [
        Host("b-stopped", "127.0.8.2", files=dict(CLAM)),
        Host("b-run", "127.0.8.3", files=dict(CLAM), processes=["/usr/sbin/clamd 900"])])
    a.start()
    try:
        b.start()
    except Exception:
        a.stop()
        raise
    yield {"A": a, "B": b}
    a.stop()
    b.stop()


INVENTORY = {
    "agencies": [{"code": "PROV", "name": "Tỉnh Thử", "kind": "province"},
                 {"code": "SO-A", "name": "Sở A", "kind": "department", "parent": "PROV"},
                 {"code": "SO-B", "name": "Sở B", "kind": "department", "parent": "PROV"}],
    "endpoints": [{"code": "ep-a-run", "hostname": "a-run", "ips": ["127.0.7.2"], "os_family": "linux",
                   "role": "server", "owner": "SO-A"},
                  {"code": "ep-a-none", "hostname": "a-none", "ips": ["127.0.7.3"], "os_family": "linux",
                   "role": "workstation", "owner": "SO-A"},
                  {"code": "ep-b-stopped", "hostname": "b-stopped", "ips": ["127.0.8.2"], "os_family": "linux",
                   "role": "workstation", "owner": "SO-B"},
                  {"code": "ep-b-run", "hostname": "b-run", "ips": ["127.0.8.3"], "os_family": "linux",
                   "role": "server", "owner": "SO-B"}],
}
NETWORKS = {"A": ("SO-A", "127.0.7.0/29"), "B": ("SO-B", "127.0.8.0/29")}


def _site_files(base: Path, site: str, lab: SshLab) -> dict[str, Path]:
    """A site's own scope file and audit config: only its network, its key, its known_hosts."""
    agency, cidr = NETWORKS[site]
    folder = base / f"site-{site}"
    folder.mkdir(exist_ok=True)
    scope = folder / "scope.yaml"
    scope.write_text(yaml.safe_dump({"version": 1, "agencies": {agency: {"authorised": [{"cidr": cidr}]}}}))
    config = folder / "audit.yaml"
    config.write_text(json.dumps({"concurrency": 4, "known_hosts": str(folder / "known_hosts"), "scopes": [
        {"name": f"site-{site}", "agencies": [agency], "username": "root", "port": lab.port,
         "key_files": [str(lab.client_key)], "trust_on_first_use": True, "connect_timeout": 5}]}))
    return {"scope": scope, "config": config, "folder": folder}


def _policies(base: Path, **link: int) -> Path:
    folder = base / "policies"
    folder.mkdir(exist_ok=True)
    # The shipped deadlines and visibility timeout; only the waits a test watches are shorter.
    settings = {"scanner_wait_seconds": 30, "heartbeat_seconds": 2, "connect_timeout_seconds": 3, **link}
    (folder / "sites.yaml").write_text(yaml.safe_dump({"version": 1, "link": settings, "sites": [
        {"code": "siteA", "name": "Site A", "agencies": ["SO-A"]},
        {"code": "siteB", "name": "Site B", "agencies": ["SO-B"]}]}))
    # Waivers are central data: they apply to what a site returns as to local results.
    (folder / "waivers.yaml").write_text(yaml.safe_dump({"waivers": [
        {"check": "secops_ep_linux:9110", "scope": {"agencies": ["SO-B"]}, "reason": "Wazuh not used at site B",
         "approver": "CISO", "expires": "2099-12-31"}]}))
    (folder / "jobs.yaml").write_text(yaml.safe_dump({"version": 1, "jobs": {
        "remote": {"stages": ["discover", "audit", "grade"]},
        "audit-grade": {"stages": ["audit", "grade"]}}}))
    return folder


def _central(base: Path, db_url: str, policies: Path, broker: str) -> dict[str, str]:
    """The central database with the inventory, and both sites' public keys enrolled."""
    assert run_cli("--db", db_url, "init").returncode == 0  # only init creates a database
    done = run_cli("--db", db_url, "inventory", "import", str(_inventory_file(base)))
    assert done.returncode == 0, done.stdout + done.stderr
    env = {"SECOPS_POLICIES": str(policies), "SECOPS_BROKER_URL": broker}
    for site, key in site_keys(base / "keys", ["siteA", "siteB"]).items():
        done = run_cli("--db", db_url, "scanners", "enrol", site, "--public-key", f"{key}.pub", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    return env


def _inventory_file(base: Path) -> Path:
    path = base / "inventory.yaml"
    path.write_text(yaml.safe_dump(INVENTORY, allow_unicode=True))
    return path


def _scanner(site: str, files: dict[str, Path], redis_url: str, policies: Path, log: Path,
             **kwargs) -> Scanner:  # type: ignore[no-untyped-def]
    key = site_keys(files["folder"].parent / "keys", [f"site{site}"])[f"site{site}"]
    scanner = Scanner(f"site{site}", redis_url, files["scope"], files["config"], policies, log, key=key, **kwargs)
    scanner.wait_ready()
    return scanner


def _t2(db: Database, run_id: int) -> dict[str, tuple[int, int, int, str, int | None]]:
    with db.session() as s:
        rows = s.scalars(select(GradeRow).where(GradeRow.run_id == run_id, GradeRow.target_id == "T2"))
        return {r.agency_code: (r.numerator, r.denominator, r.unknown, r.status, r.gap) for r in rows}


@pytest.fixture(scope="module")
def remote_run(redis_server: RedisServer, labs, tmp_path_factory: pytest.TempPathFactory):
    """The scheduled job `remote` (discover, audit, grade) on PostgreSQL with one scanner per site."""
    base = tmp_path_factory.mktemp("remote")
    pg = PostgresServer()
    db_url = pg.start()
    policies = _policies(base)
    env = _central(base, db_url, policies, redis_server.url)
    files = {s: _site_files(base, s, labs[s]) for s in ("A", "B")}
    scanners = [_scanner(s, files[s], redis_server.url, policies, base / f"scanner-{s}.log") for s in ("A", "B")]
    try:
        add = run_cli("--db", db_url, "schedule", "add", "nightly-remote", "--job", "remote", "--cron", "0 2 * * *",
                      env=env)
        assert add.returncode == 0, add.stdout + add.stderr
        started = time.monotonic()
        done = run_cli("--db", db_url, "schedule", "run", "nightly-remote", env=env, timeout=300)
        elapsed = time.monotonic() - started
        listing = run_cli("--db", db_url, "scanners", "--json", env=env)
        yield {"db": Database(db_url), "db_url": db_url, "done": done, "base": base, "elapsed": elapsed,
               "files": files, "policies": policies, "env": env, "scanners": listing, "scanner_objs": scanners}
    finally:
        for scanner in scanners:
            scanner.stop()
        pg.stop()


def test_scheduled_job_stores_both_sites_once(remote_run) -> None:
    done = remote_run["done"]
    assert done.returncode == 0, done.stdout + done.stderr
    db: Database = remote_run["db"]
    with db.session() as s:
        run = s.scalars(select(RunRow).where(RunRow.kind == "job")).one()
        assert run.status == "ok", run.errors
        tasks = s.scalars(select(RemoteTaskRow).where(RemoteTaskRow.run_id == run.id)).all()
        assert sorted((t.site, t.stage, t.status) for t in tasks) == [
            ("siteA", "audit", "stored"), ("siteA", "discover", "stored"),
            ("siteB", "audit", "stored"), ("siteB", "discover", "stored")]
        assert all(t.scanner and t.scanner.startswith(t.site) for t in tasks)
        hosts = s.scalars(select(AuditHostRow).where(AuditHostRow.run_id == run.id)).all()
        assert sorted((h.endpoint_code, h.protection) for h in hosts) == [
            ("ep-a-none", "unprotected"), ("ep-a-run", "protected"),
            ("ep-b-run", "protected"), ("ep-b-stopped", "degraded")]
        assert all(h.endpoint_id is not None and h.transport == "ssh" for h in hosts)
        wazuh = {h.endpoint_code: next(c.result for c in h.checks if c.check_id == "9110") for h in hosts}
        assert wazuh == {"ep-a-none": "failed", "ep-a-run": "failed", "ep-b-run": "waived", "ep-b-stopped": "waived"}
        assert s.scalar(select(func.count()).select_from(EvidenceRow).where(EvidenceRow.run_id == run.id)) == 4
        scans = s.scalars(select(DiscoveryScanRow).where(DiscoveryScanRow.run_id == run.id)).all()
        assert sorted((sc.agency_code, sc.targets) for sc in scans) == [("SO-A", ["127.0.7.0/29"]),
                                                                         ("SO-B", ["127.0.8.0/29"])]
        assert all(sc.scope_file and sc.scope_file.startswith("site ") for sc in scans)
        run_id = run.id
    grades = _t2(db, run_id)
    assert grades["PROV"] == (2, 4, 0, "not_met", 2)
    assert grades["SO-A"][:2] == (1, 2) and grades["SO-B"][:2] == (1, 2)


def test_grades_equal_the_single_process_run(remote_run, labs, tmp_path: Path) -> None:
    """Same inventory, same hosts, audited in-process with one config holding both sites' scopes."""
    db_path = tmp_path / "single.db"
    done = run_cli("inventory", "import", str(_inventory_file(tmp_path)), db=db_path)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "audit.yaml"
    scopes = []
    for site in ("A", "B"):
        scopes += json.loads(remote_run["files"][site]["config"].read_text())["scopes"]
    config.write_text(json.dumps({"known_hosts": str(tmp_path / "kh"), "scopes": scopes}))
    done = run_cli("audit", "--config", str(config), "--no-progress", db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr
    single = Database(f"sqlite:///{db_path}")
    with single.session() as s:
        single_run = s.scalars(select(RunRow).where(RunRow.kind == "audit")).one().id
    with remote_run["db"].session() as s:
        remote_id = s.scalars(select(RunRow).where(RunRow.kind == "job")).one().id
    assert _t2(single, single_run) == _t2(remote_run["db"], remote_id)
    single.dispose()


def test_broker_password_is_never_printed_or_stored(remote_run) -> None:
    texts = [remote_run["done"].stdout, remote_run["done"].stderr, remote_run["scanners"].stdout]
    texts += [p.read_text(errors="replace") for p in remote_run["base"].glob("scanner-*.log")]
    db: Database = remote_run["db"]
    with db.session() as s:
        for run in s.scalars(select(RunRow)):
            texts.append(json.dumps([run.errors, run.summary], default=str))
        for task in s.scalars(select(RemoteTaskRow)):
            texts.append(f"{task.error} {task.scanner}")
    assert all(PASSWORD not in text for text in texts)


def test_scanners_lists_live_scanners(remote_run) -> None:
    done = remote_run["scanners"]
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert sorted(s["site"] for s in listing["scanners"]) == ["siteA", "siteB"]
    assert all(s["version"] and s["last_heartbeat"] for s in listing["scanners"])
    assert listing["sites_without_scanner"] == []


def test_dashboard_shows_sites_of_the_run(remote_run, tmp_path: Path) -> None:
    done = run_cli("--db", remote_run["db_url"], "report", "--lang", "en", "--out", str(tmp_path / "r"),
                   env=remote_run["env"])
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((tmp_path / "r" / "dashboard.json").read_text())
    sites = {(t["site"], t["stage"]): t for t in data["sections"]["sites"]["tasks"]}
    assert sites[("siteA", "audit")]["status"] == "stored" and data["sections"]["sites"]["not_scanned"] == []


def test_out_of_scope_target_is_refused_by_the_scanner(remote_run) -> None:
    """The central asks site A to scan an address outside A's own scope file: the scanner refuses."""
    env = remote_run["env"]
    done = run_cli("--db", remote_run["db_url"], "discover", "--agency", "SO-A", "--targets", "127.0.9.1", env=env)
    assert done.returncode != 0
    assert "refused by the scope of site siteA" in done.stderr + done.stdout
    db: Database = remote_run["db"]
    with db.session() as s:
        task = s.scalars(select(RemoteTaskRow).order_by(RemoteTaskRow.id.desc())).first()
        assert (task.site, task.stage, task.status) == ("siteA", "discover", "refused")
        run = s.get(RunRow, task.run_id)
        assert run.status == "failed" and any("127.0.9.1" in e for e in run.errors)
        assert s.scalars(select(DiscoveryScanRow).where(DiscoveryScanRow.run_id == run.id)).all() == []
    overridden = run_cli("--db", remote_run["db_url"], "discover", "--agency", "SO-A", "--targets", "127.0.9.1",
                         "--override-scope", "just this once", env=env)
    assert overridden.returncode == 2 and "never travels" in overridden.stderr


def test_hosts_of_a_site_go_through_the_site_or_are_refused(remote_run) -> None:
    """`audit --hosts EP` for a site's endpoint ran from the central machine ("no credentials") and stored
    an `unknown` over the site's real result. Now: refused with the reason, or audited by the site."""
    env, db_url = remote_run["env"], remote_run["db_url"]
    refused = run_cli("--db", db_url, "audit", "--hosts", "ep-a-run", "--no-progress", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "ep-a-run belongs to site siteA; run it there or with --via-site" in refused.stderr
    via = run_cli("--db", db_url, "audit", "--hosts", "ep-a-run", "--via-site", "--no-progress", env=env)
    assert via.returncode == 0, via.stdout + via.stderr
    db: Database = remote_run["db"]
    with db.session() as s:
        task = s.scalars(select(RemoteTaskRow).order_by(RemoteTaskRow.id.desc())).first()
        assert (task.site, task.stage, task.status) == ("siteA", "audit", "stored")
        hosts = s.scalars(select(AuditHostRow).where(AuditHostRow.run_id == task.run_id)).all()
        assert [(h.endpoint_code, h.protection) for h in hosts] == [("ep-a-run", "protected")]


@pytest.fixture
def own_redis():
    """A broker of the test's own: the module's scanners must not pick up this test's tasks."""
    server = RedisServer(password=PASSWORD).start()
    yield server
    server.cleanup()


def test_site_without_live_scanner_is_reported_not_hung(own_redis: RedisServer, tmp_path: Path) -> None:
    policies = _policies(tmp_path, scanner_wait_seconds=2)
    env = _central(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", policies, own_redis.url)
    started = time.monotonic()
    done = run_cli("--db", str(tmp_path / "c.db"), "audit", "--agency", "SO-B", "--no-progress", env=env)
    assert time.monotonic() - started < 60
    assert "site siteB: no scanner started the task within 2s" in done.stdout + done.stderr
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    with db.session() as s:
        task = s.scalars(select(RemoteTaskRow)).one()
        assert task.status == "no_scanner"
        run = s.get(RunRow, task.run_id)
        assert run.status == "failed"
    db.dispose()


def test_broker_down_records_unreachable_sites_and_the_rest_proceeds(tmp_path: Path) -> None:
    dead = RedisServer(password=PASSWORD)  # a port nobody listens on
    policies = _policies(tmp_path)
    db_path = tmp_path / "c.db"
    env = _central(tmp_path, f"sqlite:///{db_path}", policies, dead.url)
    assert run_cli("schedule", "add", "n", "--job", "audit-grade", "--every", "3600", db=db_path,
                   env=env).returncode == 0
    done = run_cli("schedule", "run", "n", db=db_path, env=env, timeout=120)
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        run = s.scalars(select(RunRow).where(RunRow.kind == "job")).one()
        assert run.status == "partial", run.errors  # audit failed (both sites unreachable), grade ok
        errors = " ".join(run.errors)
        assert "site siteA" in errors and "site siteB" in errors and "unreachable" in errors
        assert f"connection refused at 127.0.0.1:{dead.port}" in errors and "Retry limit" not in errors
        assert PASSWORD not in errors + done.stdout + done.stderr
        assert {t.status for t in s.scalars(select(RemoteTaskRow))} == {"unreachable"}
    db.dispose()
    dead.cleanup()


def test_redis_stopped_mid_run_ends_partial_naming_the_sites(tmp_path: Path) -> None:
    server = RedisServer(password=PASSWORD).start()
    try:
        policies = _policies(tmp_path, scanner_wait_seconds=60, reconnect_seconds=3)
        db_path = tmp_path / "c.db"
        env = _central(tmp_path, f"sqlite:///{db_path}", policies, server.url)
        assert run_cli("schedule", "add", "n", "--job", "audit-grade", "--every", "3600", db=db_path,
                       env=env).returncode == 0
        # No scanner runs: both tasks wait in their queues; then the broker goes away.
        job = subprocess.Popen([sys.executable, "-m", "secops", "--db", str(db_path), "schedule", "run", "n"],
                               env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        db = Database(f"sqlite:///{db_path}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.session() as s:
                if s.scalar(select(func.count()).select_from(RemoteTaskRow)) == 2:
                    break
            time.sleep(0.3)
        time.sleep(1)
        server.stop()
        out, err = job.communicate(timeout=120)
        with db.session() as s:
            run = s.scalars(select(RunRow).where(RunRow.kind == "job")).one()
            assert run.status == "partial", (run.errors, out, err)
            errors = " ".join(run.errors)
            assert "site siteA" in errors and "site siteB" in errors
            assert {t.status for t in s.scalars(select(RemoteTaskRow))} == {"unreachable"}
        db.dispose()
    finally:
        server.cleanup()


def test_killed_scanner_task_is_redelivered_and_stored_once(own_redis: RedisServer, labs,
                                                            tmp_path: Path) -> None:
    """With the shipped deadlines and visibility timeout: SIGKILL the scanner of site A mid-audit; the
    scanner started in its place (as systemd's Restart=always does) finds no other live scanner of the site,
    puts the dead one's task back at once, runs it, and the central stores the hosts once within the run."""
    policies = _policies(tmp_path, scanner_wait_seconds=60)
    db_path = tmp_path / "c.db"
    env = _central(tmp_path, f"sqlite:///{db_path}", policies, own_redis.url)
    files = _site_files(tmp_path, "A", labs["A"])
    checks = tmp_path / "checks"
    shutil.copytree(ROOT / "checks", checks)
    (checks / "slow.yml").write_text(yaml.safe_dump({
        "policy": {"id": "slow_test", "name": "slow", "file": "slow.yml"},
        # The command leaves a marker (the lab hosts share this machine's /tmp), then takes a while.
        "checks": [{"id": 1, "title": "takes a while", "condition": "all",
                    "rules": [f'c:sh -c "touch {tmp_path}/auditing; sleep 8; echo slow" -> r:^slow']}]}))
    first = _scanner("A", files, own_redis.url, policies, tmp_path / "scanner-1.log", checks=checks,
                     name="siteA@one")
    job = subprocess.Popen([sys.executable, "-m", "secops", "--db", str(db_path), "audit", "--agency", "SO-A",
                            "--no-progress"], env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "auditing").exists():  # scanner one is auditing the hosts right now
            assert time.monotonic() < deadline, (tmp_path / "scanner-1.log").read_text()
            time.sleep(0.2)
        first.kill()
        (tmp_path / "auditing").unlink()
        second = _scanner("A", files, own_redis.url, policies, tmp_path / "scanner-2.log", checks=checks,
                          name="siteA@two")
        out, err = job.communicate(timeout=180)
        assert job.returncode == 0, out + err
        assert "put back on the queue" in (tmp_path / "scanner-2.log").read_text()
    finally:
        if job.poll() is None:
            job.kill()
        for scanner in (first, second):
            if scanner is not None:
                scanner.stop()
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        task = s.scalars(select(RemoteTaskRow)).one()
        assert (task.status, task.scanner) == ("stored", "siteA@two")
        summary = s.get(RunRow, task.run_id).summary
        assert (summary["audited_hosts"], summary["audit_ok"], summary["audit_errors"]) == (2, 2, 0)
        hosts = s.scalars(select(AuditHostRow)).all()
        assert sorted(h.endpoint_code for h in hosts) == ["ep-a-none", "ep-a-run"]  # once each
        assert s.scalar(select(func.count()).select_from(EvidenceRow)) == 2
    db.dispose()


def _slow_checks(tmp_path: Path, marker: str, seconds: int) -> Path:
    """The bundled packs plus one check that leaves a marker (the lab hosts share this machine's /tmp)
    and then takes a while: the test sees a task being executed, and when."""
    checks = tmp_path / "checks"
    if not checks.exists():
        shutil.copytree(ROOT / "checks", checks)
    (checks / "slow.yml").write_text(yaml.safe_dump({
        "policy": {"id": "slow_test", "name": "slow", "file": "slow.yml"},
        "checks": [{"id": 1, "title": "takes a while", "condition": "all",
                    # Pack commands run without a shell, as in Wazuh: a double-quoted word is one argument.
                    "rules": [f'c:sh -c "touch {tmp_path}/{marker}; sleep {seconds}; echo slow" -> r:^slow']}]}))
    return checks


def _wait_for(condition, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_task_of_an_ended_run_is_not_executed(own_redis: RedisServer, labs, tmp_path: Path) -> None:
    """The run gives up on site A (no scanner); a scanner of A started afterwards drops the abandoned
    task without running it (no SSH login, no check), and says so in its log."""
    policies = _policies(tmp_path, scanner_wait_seconds=2)
    db_path = tmp_path / "c.db"
    env = _central(tmp_path, f"sqlite:///{db_path}", policies, own_redis.url)
    done = run_cli("--db", str(db_path), "audit", "--no-progress", env=env)
    assert "site siteA: no scanner started the task" in done.stdout + done.stderr
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:  # every site no_scanner: failed, as discover says (it said partial)
        assert s.scalars(select(RunRow).where(RunRow.kind == "audit")).one().status == "failed"
    db.dispose()
    files = _site_files(tmp_path, "A", labs["A"])
    checks = _slow_checks(tmp_path, "executed", 1)
    log = tmp_path / "scanner.log"
    scanner = _scanner("A", files, own_redis.url, policies, log, checks=checks)
    try:
        _wait_for(lambda: "dropped without running" in log.read_text(errors="replace"), "the scanner to drop the task")
    finally:
        scanner.stop()
    text = log.read_text(errors="replace")
    assert "the central side closed it" in text
    assert not (tmp_path / "executed").exists()
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        assert {t.status for t in s.scalars(select(RemoteTaskRow))} == {"no_scanner"}
        assert s.scalar(select(func.count()).select_from(AuditHostRow)) == 0
    db.dispose()


def test_redis_restarted_mid_run_scanners_reconnect_and_the_run_is_ok(labs, tmp_path: Path) -> None:
    """With the shipped settings: Redis (persistent, as a production broker must be) is restarted while
    site A's scanner is auditing. Both scanners stay up, log the loss and the recovery, and the run ends ok."""
    server = RedisServer(password=PASSWORD, persist=True).start()
    scanners: list[Scanner] = []
    try:
        policies = _policies(tmp_path, scanner_wait_seconds=60)
        db_path = tmp_path / "c.db"
        env = _central(tmp_path, f"sqlite:///{db_path}", policies, server.url)
        checks = _slow_checks(tmp_path, "auditing", 6)
        for site in ("A", "B"):
            scanners.append(_scanner(site, _site_files(tmp_path, site, labs[site]), server.url, policies,
                                     tmp_path / f"scanner-{site}.log", checks=checks))
        job = subprocess.Popen([sys.executable, "-m", "secops", "--db", str(db_path), "audit", "--no-progress"],
                               env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: (tmp_path / "auditing").exists(), "a scanner to be auditing")
            server.stop()
            _wait_for(lambda: "broker lost" in " ".join(
                (tmp_path / f"scanner-{site}.log").read_text(errors="replace") for site in ("A", "B")),
                "a scanner to notice the broker is gone", timeout=30)
            server.start()
            out, err = job.communicate(timeout=300)
        finally:
            if job.poll() is None:
                job.kill()
        assert job.returncode == 0, out + err
        assert all(s.proc.poll() is None for s in scanners), "a scanner exited when the broker went away"
        logs = " ".join((tmp_path / f"scanner-{site}.log").read_text(errors="replace") for site in ("A", "B"))
        assert "broker lost" in logs and "reachable again" in logs
        db = Database(f"sqlite:///{db_path}")
        with db.session() as s:
            run = s.scalars(select(RunRow).where(RunRow.kind == "audit")).one()
            assert run.status == "ok", run.errors
            assert sorted((t.site, t.status) for t in s.scalars(select(RemoteTaskRow))) == [
                ("siteA", "stored"), ("siteB", "stored")]
            assert s.scalar(select(func.count()).select_from(AuditHostRow)) == 4
        db.dispose()
    finally:
        for scanner in scanners:
            scanner.stop()
        server.cleanup()


def test_a_scanner_started_before_its_broker_waits_for_it(tmp_path: Path) -> None:
    """Broker down when the scanner starts (a host booting before Redis): the scanner does not exit; it
    logs that it is retrying and is ready once Redis comes up."""
    server = RedisServer(password=PASSWORD)  # not started yet: its port is closed
    policies = _policies(tmp_path)
    scope = tmp_path / "scope.yaml"
    scope.write_text(yaml.safe_dump({"version": 1, "agencies": {"SO-A": {"authorised": [{"cidr": "127.0.7.0/29"}]}}}))
    key = site_keys(tmp_path / "keys", ["siteA"])["siteA"]
    log = tmp_path / "scanner.log"
    scanner = Scanner("siteA", server.url, scope, None, policies, log, key=key)
    try:
        _wait_for(lambda: "not reachable yet" in log.read_text(errors="replace"), "the scanner to say it retries",
                  timeout=60)
        assert scanner.proc.poll() is None, log.read_text(errors="replace")
        server.start()
        scanner.wait_ready(timeout=90)
        assert scanner.proc.poll() is None
    finally:
        scanner.stop()
        server.cleanup()
