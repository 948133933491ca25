"""Benchmark: evaluate a real Wazuh policy (cis_debian12.yml, 4.14) on this host and over a loopback sshd.

Run: python bench/sca_eval.py [--policy PATH] [--repeat 3]
Prints, per transport: policy load time, audit time (collection + evaluation), round trips per
host, facts collected, and the passed/failed/not-applicable counts; then the offline re-evaluation
time from the same facts (no host). The sshd is Debian's /usr/sbin/sshd started by the test lab
(tests/audit_helpers.py) on 127.0.4.x in its own PID/mount namespace (needs root and `unshare`);
nothing leaves the loopback interface. Baselines measured on the 2-core CI machine are printed beside.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from audit_helpers import Host, SshLab, sha256_fingerprint  # noqa: E402

from secops.collect.audit import HostAudit, HostTarget, collect_and_evaluate  # noqa: E402
from secops.collect.credentials import Credentials  # noqa: E402
from secops.collect.hostkeys import HostKeyStore  # noqa: E402
from secops.collect.local import LocalTransport  # noqa: E402
from secops.collect.ssh import SSHTransport  # noqa: E402
from secops.evaluate.engine import evaluate_offline  # noqa: E402
from secops.evaluate.sca_load import load_policy  # noqa: E402
from secops.store.base import utcnow  # noqa: E402

DEFAULT_POLICY = ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "cis_debian12.yml"
# First measurement (2026-12-01) on the CI machine: 2 cores shared with 7 other jobs, Debian 12 host.
# Most of "local"/"ssh" is the policy's own commands (find over /, systemctl, apt...) on the host.
BASELINE = {"load": 1.04, "local": 8.61, "ssh": 8.46, "offline": 0.09}


def _run(transport, target: HostTarget, policy) -> HostAudit:  # type: ignore[no-untyped-def]
    audit = HostAudit(target=target, transport="bench", started_at=utcnow())
    collect_and_evaluate(transport, target, [policy], {}, command_timeout=20, host_timeout=300, audit=audit)
    return audit


def _report(label: str, seconds: list[float], audit: HostAudit) -> None:
    result = audit.results[0]
    facts = len(audit.facts.items) if audit.facts else 0
    print(f"  {label:<8} median {statistics.median(seconds):6.2f} s (baseline {BASELINE[label]:.2f} s)   "
          f"round trips/host {audit.round_trips}   facts {facts}   "
          f"passed {result.count('passed')} failed {result.count('failed')} "
          f"n/a {result.count('not_applicable')} error {result.count('error')}", flush=True)


def bench(policy_path: Path, repeat: int) -> None:
    start = time.perf_counter()
    policy = load_policy(policy_path)
    print(f"{policy_path.name}: {len(policy.checks)} checks, Wazuh {policy.dialect}.x dialect; "
          f"load {time.perf_counter() - start:.2f} s (baseline {BASELINE['load']:.2f} s)")
    local_target = HostTarget(label="local", address="localhost", local=True)
    times, audit = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        audit = _run(LocalTransport(), local_target, policy)
        times.append(time.perf_counter() - start)
    assert audit is not None
    _report("local", times, audit)

    facts = audit.facts
    assert facts is not None
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        evaluate_offline(policy, facts, "linux")
        times.append(time.perf_counter() - start)
    print(f"  offline  median {statistics.median(times):6.2f} s (baseline {BASELINE['offline']:.2f} s)   "
          "round trips/host 0 (facts file)")

    with tempfile.TemporaryDirectory() as tmp:
        lab = SshLab(Path(tmp), [Host("bench", "127.0.4.90")])
        lab.start()
        try:
            store = HostKeyStore(Path(tmp) / "known_hosts")
            host = lab.hosts["bench"]
            assert host.host_key is not None
            print(f"  sshd 127.0.4.90:{lab.port} host key {sha256_fingerprint(host.host_key.with_suffix('.pub'))}")
            creds = Credentials(username="root", key_files=[str(lab.client_key)])
            target = HostTarget(label="bench", address="127.0.4.90", os_family="linux")
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                transport = SSHTransport.connect("127.0.4.90", lab.port, creds, store, tofu=True, timeout=10,
                                                 os_family="linux")
                try:
                    audit = _run(transport, target, policy)
                finally:
                    transport.close()
                times.append(time.perf_counter() - start)
            _report("ssh", times, audit)
        finally:
            lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.policy.is_file():
        sys.exit(f"{args.policy}: policy file not found (give --policy)")
    bench(args.policy, max(1, min(args.repeat, 20)))


if __name__ == "__main__":
    main()
