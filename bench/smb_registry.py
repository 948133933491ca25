"""Benchmark: registry rules per second and hosts per minute over the smb transport (Samba on
loopback), beside the same rules over SSH (a loopback OpenSSH server) as the baseline.

Run (as root, Debian's samba and openssh-server installed):
    python bench/smb_registry.py [--policy ../shared/sca/wazuh-4.14/cis_win11_enterprise.yml] [--runs 5]

smb: the real audit path (`audit_host`, transport smb) against tests/samba_server.py, one host
at a time, then `--hosts` audits at once (the same Samba listed under several names) with the
audit's thread pool. ssh: the same registry keys, mirrored as files ("name<TAB>data" lines) on an
sshd in its own namespace (tests/audit_helpers.py), read in one framed script per host and
evaluated by the same rules: what an SSH audit of those facts costs (connect, one round trip,
evaluation). The policy's Windows requirement is dropped: Samba generates the ProductName key.
Everything stays on loopback; every loop is bounded by --runs / --hosts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from audit_helpers import Host, SshLab  # noqa: E402
from samba_server import SambaServer  # noqa: E402

from secops.collect.audit import HostTarget, audit_host, audit_hosts  # noqa: E402
from secops.collect.batch import build_posix, parse_output  # noqa: E402
from secops.collect.config import AuditConfig, Scope  # noqa: E402
from secops.collect.credentials import Credentials  # noqa: E402
from secops.collect.hostkeys import HostKeyStore  # noqa: E402
from secops.collect.smb import SMBRegistryTransport  # noqa: E402
from secops.collect.ssh import SSHTransport  # noqa: E402
from secops.evaluate.engine import PreparedPolicy  # noqa: E402
from secops.evaluate.facts import Facts, Request  # noqa: E402
from secops.evaluate.sca_load import Policy, load_policy  # noqa: E402

PASSWORD_ENV = "SECOPS_BENCH_SMB_PASSWORD"
MIRROR = "/var/lib/secops-bench-registry"


def registry_rules(policy: Policy) -> int:
    return sum(1 for check in policy.checks for rule in check.rules
               if rule.strip().removeprefix("not ").lstrip().startswith("r:"))


def smb_runs(samba: SambaServer, policy: Policy, runs: int, hosts: int, work: Path) -> tuple[list[float], float]:
    scope = Scope(name="bench", hosts=[samba.address], transport="smb", username=samba.user, port=samba.port,
                  password_env=PASSWORD_ENV, connect_timeout=10, host_timeout=300)
    config = AuditConfig(concurrency=hosts, scopes=[scope])
    store = HostKeyStore(work / "known_hosts")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        audit = audit_host(HostTarget(label="win", address=samba.address), [policy], config, store, {})
        times.append(time.perf_counter() - start)
        assert audit.status == "ok", audit.message
    targets = [HostTarget(label=f"win{i}", address=samba.address) for i in range(hosts)]
    start = time.perf_counter()
    done = audit_hosts(targets, [policy], config, {})
    parallel = time.perf_counter() - start
    assert all(a.status == "ok" for a in done), [a.message for a in done if a.status != "ok"]
    return times, parallel


def mirror_files(samba: SambaServer, policy: Policy) -> tuple[dict[str, bytes], dict[str, str]]:
    """The policy's registry keys as read over smb, one file per key for the sshd host."""
    prepared = PreparedPolicy.build(policy, "windows", {})
    keys = sorted(r.arg for r in prepared.round1() if r.kind == "registry")
    transport = SMBRegistryTransport.connect(samba.address, samba.port, Credentials(samba.user, password=samba.password),
                                             "", timeout=10)
    try:
        facts = transport.collect([Request("registry", k) for k in keys], 120)
    finally:
        transport.close()
    files, paths = {}, {}
    for index, key in enumerate(keys):
        path = f"{MIRROR}/{index:04d}.txt"
        paths[key] = path
        item = facts.get(Request("registry", key))
        if item is not None and item.status == 0:
            files[path] = item.data
    return files, paths


def ssh_run(lab: SshLab, address: str, policy: Policy, paths: dict[str, str], store: HostKeyStore) -> float:
    start = time.perf_counter()
    transport = SSHTransport.connect(address, lab.port, Credentials("root", [str(lab.client_key)]), store,
                                     tofu=True, timeout=10, os_family="linux")
    try:
        requests = [Request("file_read", p) for p in paths.values()]
        batch = build_posix(requests, 30)
        read = parse_output(batch, transport.run(batch, 120))
    finally:
        transport.close()
    facts = Facts()
    for key, path in paths.items():  # the file answers become registry answers for the same rules
        item = read.get(Request("file_read", path))
        assert item is not None, f"{path} not read"
        facts.items[Request("registry", key)] = item
    prepared = PreparedPolicy.build(policy, "windows", {})
    prepared.decide_requirements(facts, "windows")
    prepared.evaluate(facts, "windows")
    return time.perf_counter() - start


def report(label: str, times: list[float], rules: int) -> None:
    median = statistics.median(times)
    print(f"  {label:<34} {median * 1000:8.1f} ms/host   {rules / median:9.0f} registry rules/s   "
          f"{60 / median:7.1f} hosts/min (one at a time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default=str(ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "cis_win11_enterprise.yml"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=8, help="hosts audited at once for the pool figure")
    args = parser.parse_args()
    runs, hosts = max(1, min(args.runs, 50)), max(1, min(args.hosts, 64))
    policy = load_policy(Path(args.policy))
    policy = policy.model_copy(update={"requirements": None})
    rules = registry_rules(policy)
    print(f"policy {Path(args.policy).name}: {len(policy.checks)} checks, {rules} registry rules; {runs} runs")
    samba = SambaServer().start()
    os.environ[PASSWORD_ENV] = samba.password
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            times, parallel = smb_runs(samba, policy, runs, hosts, work)
            files, paths = mirror_files(samba, policy)
            lab = SshLab(work, [Host("reg", samba.address.rsplit(".", 1)[0] + ".2", files=files)])
            lab.start()
            try:
                store = HostKeyStore(work / "ssh_known_hosts")
                ssh_times = [ssh_run(lab, lab.hosts["reg"].address, policy, paths, store) for _ in range(runs)]
            finally:
                lab.stop()
            print(f"smb (remote registry, {len(paths)} keys, one handle per key)")
            report("smb, one host", times, rules)
            print(f"  {'smb, ' + str(hosts) + ' hosts at once':<34} {parallel:8.2f} s total      "
                  f"{rules * hosts / parallel:9.0f} registry rules/s   {60 * hosts / parallel:7.1f} hosts/min")
            print("baseline: ssh (same keys as files, one framed script per host)")
            report("ssh, one host", ssh_times, rules)
    finally:
        del os.environ[PASSWORD_ENV]
        samba.stop()


if __name__ == "__main__":
    main()
