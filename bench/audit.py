"""Audit speed against its floor: N loopback OpenSSH hosts, one Wazuh policy (issue 12).

Run (as root, like the audit tests):
    python bench/audit.py [--hosts 50] [--concurrency 16] [--repeat 3] [--policy FILE] [--no-ansible]

Starts N real sshd hosts on 127.0.12.0/24 (tests/audit_helpers.py: loopback only, each in its own
mount and PID namespace) and times, at the same parallelism and with host keys verified:

  floor    OpenSSH's own client, one `ssh host sh -s < script` per host, where the script is the
           exact one secops sends (same commands, same framing), output read and dropped;
  secops   the audit itself (connect with paramiko, one framed round, evaluate every check);
  2 rounds secops with host-side decisions off (the collection before issue 12);
  ansible  ansible-core (in its own virtual environment, bench/.venv-ansible, made on first use),
           a fresh connection cache per run, in two forms:
           script  the same script in one task (`ansible -m script`): Ansible's floor;
           tasks   a playbook of one `raw` task per request (the same shell lines, no Python needed
                   on the host, Ansible's lightest module): how an audit is written in Ansible.

Prints the median of --repeat runs of each (the tasks form, with --ansible-tasks, runs once: it is slow), with the ratios
the issue sets targets for: secops ≤ 1.1× the floor, Ansible ≥ 4× secops. Default policy: Wazuh's distro-independent Linux
pack from ../shared/sca (the one the issue names).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import yaml  # noqa: E402
from audit_helpers import Host, SshLab  # noqa: E402

from secops.collect.audit import HostTarget, audit_hosts, first_round  # noqa: E402
from secops.collect.batch import build_posix  # noqa: E402
from secops.collect.config import AuditConfig  # noqa: E402
from secops.collect.guards import HostPlan  # noqa: E402
from secops.evaluate.engine import PreparedPolicy  # noqa: E402
from secops.evaluate.sca_load import Policy, load_policy  # noqa: E402

DEFAULT_POLICY = ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "sca_distro_independent_linux.yml"
ANSIBLE_VENV = ROOT / "bench" / ".venv-ansible"
ANSIBLE_VERSION = "ansible-core>=2.17,<2.20"


def known_hosts(lab: SshLab, path: Path) -> Path:
    lines = []
    for host in lab.hosts.values():
        assert host.host_key is not None
        key = host.host_key.with_suffix(".pub").read_text().split()[:2]
        lines.append(f"[{host.address}]:{lab.port} {' '.join(key)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def script_for(policy: Policy) -> str:
    """The script secops sends to a Linux host for this policy (round one, host-side decisions on)."""
    prepared = [PreparedPolicy.build(policy, "linux", {})]
    requests, plan = first_round(prepared, "linux", 30)
    return build_posix(sorted(requests), 30, plan=plan).script


def task_scripts(policy: Policy) -> list[str]:
    """One self-contained script per request (same lines as secops' script; commands not gated)."""
    prepared = [PreparedPolicy.build(policy, "linux", {})]
    requests, plan = first_round(prepared, "linux", 30)
    reads = HostPlan(dir_reads=plan.dir_reads if plan else {})
    return [build_posix([request], 30, plan=reads).script for request in sorted(requests)]


def timed(func: Callable[[], object], label: str = "") -> float:
    start = time.perf_counter()
    func()
    elapsed = time.perf_counter() - start
    if label:
        print(f"  ... {label}: {elapsed:.2f} s", flush=True)
    return elapsed


def floor_run(lab: SshLab, kh: Path, script: str, concurrency: int) -> None:
    def one(host: Host) -> None:
        done = subprocess.run(
            ["ssh", "-i", str(lab.client_key), "-p", str(lab.port), "-o", "BatchMode=yes",
             "-o", f"UserKnownHostsFile={kh}", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
             f"root@{host.address}", "sh", "-s"],
            input=script.encode(), capture_output=True, timeout=300)
        if done.returncode != 0 or b" E " not in done.stdout:
            raise SystemExit(f"ssh {host.address} failed ({done.returncode}): {done.stderr.decode()[-500:]}")

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, lab.hosts.values()))


def secops_run(lab: SshLab, kh: Path, policy: Policy, concurrency: int, one_round: bool) -> None:
    import secops.collect.audit as audit_module

    config = AuditConfig.model_validate({"concurrency": concurrency, "known_hosts": str(kh), "scopes": [
        {"name": "bench", "username": "root", "port": lab.port, "key_files": [str(lab.client_key)]}]})
    targets = [HostTarget(label=h.name, address=h.address, os_family="linux") for h in lab.hosts.values()]
    original = audit_module.collect_and_evaluate
    if not one_round:
        def two_rounds(*args, **kwargs):  # type: ignore[no-untyped-def]
            return original(*args, **kwargs, host_side_plan=False)
        audit_module.collect_and_evaluate = two_rounds  # type: ignore[assignment]
    try:
        results = audit_hosts(targets, [policy], config, {})
    finally:
        audit_module.collect_and_evaluate = original  # type: ignore[assignment]
    bad = [f"{r.target.address}: {r.error_kind} {r.message}" for r in results if r.status != "ok"]
    if bad:
        raise SystemExit("secops audit failed on " + "; ".join(bad[:5]))
    expected = 1 if one_round else 2
    rounds = {r.round_trips for r in results}
    if rounds != {expected}:
        raise SystemExit(f"expected {expected} round trip(s) per host, saw {sorted(rounds)}")


def ansible_ready() -> Path:
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if not ansible.exists():
        print(f"installing {ANSIBLE_VERSION} into {ANSIBLE_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", ANSIBLE_VERSION], check=True)
    return ansible


def ansible_run(ansible: Path, lab: SshLab, kh: Path, script: Path, concurrency: int, work: Path, n: int,
                playbook: Path | None = None) -> None:
    inventory = work / "hosts.ini"
    inventory.write_text("[lab]\n" + "".join(
        f"{h.name} ansible_host={h.address} ansible_port={lab.port} ansible_user=root "
        f"ansible_ssh_private_key_file={lab.client_key}\n" for h in lab.hosts.values()))
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_COMMON_ARGS":
           f"-o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null",
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / f"cp-{n}"),  # cold connections every run
           "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"), "ANSIBLE_HOME": str(work / "ansible-home"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PYTHON_INTERPRETER": "auto_silent"}
    if playbook is None:
        command = [str(ansible), "lab", "-i", str(inventory), "-f", str(concurrency), "-m", "script", "-a", str(script)]
    else:
        command = [str(ansible) + "-playbook", "-i", str(inventory), "-f", str(concurrency), str(playbook)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"ansible failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=50, help="sshd hosts, at most 250")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--no-ansible", action="store_true")
    parser.add_argument("--ansible-tasks", action="store_true", help="also the playbook form (slow: minutes)")
    args = parser.parse_args()
    if not args.policy.is_file():
        raise SystemExit(f"{args.policy}: policy not found (give one with --policy)")
    n, repeat = max(1, min(args.hosts, 250)), max(1, min(args.repeat, 20))
    policy = load_policy(args.policy)
    ansible = None if args.no_ansible else ansible_ready()
    work = Path(tempfile.mkdtemp(prefix="secops-bench-audit-"))
    lab = SshLab(work, [Host(f"h{i}", f"127.0.12.{i + 2}") for i in range(n)])
    lab.start()
    try:
        kh = known_hosts(lab, work / "known_hosts")
        script = script_for(policy)
        script_file = work / "audit.sh"
        script_file.write_text("#!/bin/sh\n" + script)
        playbook = work / "audit.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "lab", "gather_facts": False, "tasks": [
            {"name": f"r{i}", "ansible.builtin.raw": text, "changed_when": False, "failed_when": False}
            for i, text in enumerate(task_scripts(policy))]}], width=1 << 20))
        runs: dict[str, list[float]] = {"floor": [], "secops": [], "two": [], "ansible": [], "tasks": []}
        for r in range(repeat):  # interleaved, so machine load hits every method alike
            runs["floor"].append(timed(lambda: floor_run(lab, kh, script, args.concurrency), "floor"))
            runs["secops"].append(timed(lambda: secops_run(lab, kh, policy, args.concurrency, True), "secops"))
            runs["two"].append(timed(lambda: secops_run(lab, kh, policy, args.concurrency, False), "two rounds"))
            if ansible is not None:
                runs["ansible"].append(timed(lambda r=r: ansible_run(ansible, lab, kh, script_file,  # type: ignore[misc]
                                                                     args.concurrency, work, r), "ansible"))
        if ansible is not None and args.ansible_tasks:
            runs["tasks"].append(timed(lambda: ansible_run(ansible, lab, kh, script_file, args.concurrency, work,
                                                           repeat, playbook), "ansible tasks"))
        med = {k: statistics.median(v) for k, v in runs.items() if v}
        load = os.getloadavg()[0]
        print(f"audit of {n} loopback sshd hosts, policy {policy.id} ({len(policy.checks)} checks, "
              f"{len(script)} bytes of script), concurrency {args.concurrency}, {os.cpu_count()} cores, "
              f"load average {load:.1f}; median of {repeat} runs")
        print(f"  ssh host sh -s < script (floor)   : {med['floor']:6.2f} s   (baseline)")
        print(f"  secops, one round trip per host   : {med['secops']:6.2f} s   {med['secops'] / med['floor']:.2f}x the floor"
              "   (target <= 1.1x)")
        print(f"  secops, two round trips (before)  : {med['two']:6.2f} s   {med['two'] / med['floor']:.2f}x the floor")
        if "ansible" in med:
            print(f"  ansible -m script, same script    : {med['ansible']:6.2f} s   "
                  f"{med['ansible'] / med['secops']:.2f}x secops   (target >= 4x)")
        if "tasks" in med:
            print(f"  ansible-playbook, a raw task each : {med['tasks']:6.2f} s   "
                  f"{med['tasks'] / med['secops']:.2f}x secops   ({len(task_scripts(policy))} tasks, one run)")
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
