"""Remote scanners vs one process: audit N loopback OpenSSH hosts split over two sites.

Run (as root, like the audit tests): python bench/remote.py [--hosts 50]
Starts a Redis server and N sshd hosts on 127.0.10.0/24 and 127.0.11.0/24 (loopback only), then audits
them (a) in one secops process, (b) through two `secops scanner` processes (one per site) and the
broker, and prints wall time and hosts per minute for both, with the ratio. Everything is local.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import yaml  # noqa: E402
from audit_helpers import Host, SshLab  # noqa: E402
from remote_helpers import RedisServer, Scanner, site_keys  # noqa: E402


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "secops", *args], capture_output=True, text=True, env=full,
                          timeout=1800)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50, help="hosts in all (half per site), at most 400")
    args = parser.parse_args()
    n = max(2, min(args.hosts, 400))
    base = Path(tempfile.mkdtemp(prefix="secops-bench-remote-"))
    per = {"A": (n + 1) // 2, "B": n // 2}
    nets = {"A": "127.0.10", "B": "127.0.11"}
    for site in per:
        (base / f"lab-{site}").mkdir()
    labs = {s: SshLab(base / f"lab-{s}", [Host(f"{s}{i}", f"{nets[s]}.{i + 2}") for i in range(per[s])])
            for s in per}
    redis = RedisServer(password="bench-broker-pw").start()
    scanners: list[Scanner] = []
    try:
        for lab in labs.values():
            lab.start()
        inventory = {"agencies": [{"code": "P", "name": "Bench", "kind": "province"}] + [
            {"code": f"SO-{s}", "name": f"Site {s}", "kind": "department", "parent": "P"} for s in per],
            "endpoints": [{"code": h.name, "hostname": h.name, "ips": [h.address], "os_family": "linux",
                           "role": "workstation", "owner": f"SO-{s}"} for s, lab in labs.items()
                          for h in lab.hosts.values()]}
        (base / "inv.yaml").write_text(yaml.safe_dump(inventory))
        scopes, files = [], {}
        for site, lab in labs.items():
            scope = {"name": site, "agencies": [f"SO-{site}"], "username": "root", "port": lab.port,
                     "key_files": [str(lab.client_key)], "trust_on_first_use": True}
            scopes.append(scope)
            config = base / f"audit-{site}.yaml"
            config.write_text(json.dumps({"concurrency": 8, "known_hosts": str(base / f"kh-{site}"),
                                          "scopes": [scope]}))
            scope_file = base / f"scope-{site}.yaml"
            scope_file.write_text(yaml.safe_dump({"version": 1, "agencies": {
                f"SO-{site}": {"authorised": [{"cidr": f"{nets[site]}.0/24"}]}}}))
            files[site] = (scope_file, config)
        single_cfg = base / "audit-single.yaml"
        single_cfg.write_text(json.dumps({"concurrency": 16, "known_hosts": str(base / "kh-single"),
                                          "scopes": scopes}))
        single_db = f"sqlite:///{base / 'single.db'}"
        assert cli("--db", single_db, "init").returncode == 0  # only init creates a database
        assert cli("--db", single_db, "inventory", "import", str(base / "inv.yaml")).returncode == 0
        started = time.monotonic()
        done = cli("--db", single_db, "audit", "--config", str(single_cfg), "--no-progress")
        single = time.monotonic() - started
        assert done.returncode == 0, done.stderr

        policies = base / "policies"
        policies.mkdir()
        (policies / "sites.yaml").write_text(yaml.safe_dump({"version": 1, "sites": [
            {"code": f"site{s}", "agencies": [f"SO-{s}"]} for s in per]}))
        keys = site_keys(base / "keys", [f"site{s}" for s in per])
        for site in per:
            scanner = Scanner(f"site{site}", redis.url, files[site][0], files[site][1], policies,
                              base / f"scanner-{site}.log", key=keys[f"site{site}"])
            scanner.wait_ready()
            scanners.append(scanner)
        remote_db = f"sqlite:///{base / 'remote.db'}"
        env = {"SECOPS_POLICIES": str(policies), "SECOPS_BROKER_URL": redis.url}
        assert cli("--db", remote_db, "init").returncode == 0
        assert cli("--db", remote_db, "inventory", "import", str(base / "inv.yaml")).returncode == 0
        for site, key in keys.items():
            assert cli("--db", remote_db, "scanners", "enrol", site, "--public-key", f"{key}.pub",
                       env=env).returncode == 0
        started = time.monotonic()
        done = cli("--db", remote_db, "audit", "--no-progress", env=env)
        remote = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        print(f"audit of {n} loopback hosts (2 sites), 2 cores")
        print(f"  one process (concurrency 16)   : {single:6.1f} s  {n / single * 60:7.0f} hosts/min  (baseline)")
        print(f"  2 scanners via Redis (8 each)  : {remote:6.1f} s  {n / remote * 60:7.0f} hosts/min  "
              f"({remote / single:.2f}x the baseline's time)")
    finally:
        for scanner in scanners:
            scanner.stop()
        for lab in labs.values():
            lab.stop()
        redis.cleanup()


if __name__ == "__main__":
    main()
