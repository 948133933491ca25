"""Benchmark: secops's local audit with Wazuh's CIS Debian 12 policy beside OpenSCAP with the SCAP Security Guide.

Run (as root, on a Debian 12 host): python bench/oscap_compare.py [--profile anssi_bp28_high] [--out DIR]

Both tools audit this same host, one after the other:
- secops: the policy ../shared/sca/wazuh-4.14/cis_debian12.yml (CIS Debian Linux 12 Benchmark v1.1.0) run
  by the collect/evaluate code of `secops audit --local` (LocalTransport, one host);
- oscap: `oscap xccdf eval --profile P --results-arf` on SSG's ssg-debian12-ds.xml (Debian's
  openscap-scanner and ssg-debian; scripts/install-test-deps.sh installs both, see the README).
It prints each tool's wall time, checks run and pass/fail/n-a/error counts, then the controls both
evaluated (joined on CIS recommendation ids: SSG's CIS Benchmark references where the data stream has
them, else the hand-made table bench/oscap_cis_map.yaml), the agreement rate and every disagreement with
both tools' evidence. Baselines measured on the 2-core shared machine are printed beside.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from oscap_join import (  # noqa: E402
    PROFILE_PREFIX,
    RULE_PREFIX,
    XCCDF,
    Datastream,
    Join,
    Mapping,
    OscapRun,
    WazuhCheck,
    explain_not_applicable,
    join,
    load_mappings,
    parse_oscap_results,
    read_datastream,
    reference_mappings,
    wazuh_checks,
)

from secops.collect.audit import HostAudit, HostTarget, collect_and_evaluate  # noqa: E402
from secops.collect.local import LocalTransport  # noqa: E402
from secops.evaluate.sca_load import load_policy  # noqa: E402
from secops.store.base import utcnow  # noqa: E402

DEFAULT_POLICY = ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "cis_debian12.yml"
DEFAULT_DATASTREAM = Path("/usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml")
DEFAULT_MAP = ROOT / "bench" / "oscap_cis_map.yaml"
# ANSSI-BP-028 "high" is the SSG Debian 12 profile that selects the most of the CIS-mapped rules (the
# bench prints the count for every profile); SSG 0.1.76 has no CIS profile for Debian.
DEFAULT_PROFILE = "anssi_bp28_high"
OSCAP_TIMEOUT = 3600
TAILORED_PROFILE = "xccdf_secops.bench_profile_tailored"
# First measurement (2026-12-07, 12:35-13:12 UTC), a Docker container (Debian 12.11) on the 2-core machine
# shared with other agents' jobs, load average 8-12. oscap's time is mostly four rules that walk the whole
# filesystem (world-writable files and directories, files without a group).
BASELINE: dict[str, Any] = {"secops_s": 12.0, "secops_checks": 207, "secops_counts": "57 / 113 / 37 / 0",
                            "oscap_s": 2211.0, "oscap_rules": 391, "oscap_counts": "51 / 28 / 311 / 0",
                            "overlap": 53, "agreed": 13}

MISSING_OSCAP = ("oscap not found: install Debian's openscap-scanner (apt-get install openscap-scanner) / "
                 "không thấy oscap: cài gói openscap-scanner")
MISSING_DS = ("{path}: SSG Debian 12 data stream not found. Bookworm's ssg-debian (0.1.65) has Debian 10/11 content "
              "only; scripts/install-test-deps.sh installs trixie's ssg-debian (0.1.76, data files only), or give "
              "--datastream / không thấy nội dung SSG cho Debian 12: chạy scripts/install-test-deps.sh")


def in_container() -> str:
    if Path("/.dockerenv").exists():
        return "Docker container (/.dockerenv)"
    if Path("/run/.containerenv").exists():
        return "Podman container (/run/.containerenv)"
    env = Path("/proc/1/environ")
    try:
        if b"container=" in env.read_bytes():
            return "container (PID 1's environment names one)"
    except OSError:
        pass
    return ""


def run_secops(policy_path: Path, only: set[str] | None = None) -> tuple[float, list[WazuhCheck], dict[str, int]]:
    """The local audit of `secops audit --local` (collect + evaluate on this host); `only`: these check ids."""
    start = time.perf_counter()
    policy = load_policy(policy_path)
    if only is not None:
        policy = policy.model_copy(update={"checks": [c for c in policy.checks if str(c.id) in only]})
    target = HostTarget(label="local", address="localhost", local=True)
    audit = HostAudit(target=target, transport="local", started_at=utcnow())
    collect_and_evaluate(LocalTransport(), target, [policy], {}, command_timeout=60, host_timeout=1800, audit=audit)
    seconds = time.perf_counter() - start
    if audit.status != "ok" or not audit.results:
        sys.exit(f"secops audit failed: {audit.error_kind}: {audit.message}")
    result = audit.results[0]
    if not result.applicable:
        sys.exit(f"{policy_path.name} does not apply to this host: {result.reason}")
    counts = {k: result.count(k) for k in ("passed", "failed", "not_applicable", "error")}
    return seconds, wazuh_checks(result.checks), counts


def tailoring(datastream: Path, rules: list[str]) -> str:
    """An XCCDF 1.2 tailoring file whose profile `secops_tailored` selects only these SSG rules."""
    selects = "\n".join(f'    <xccdf-1.2:select idref="{RULE_PREFIX}{escape(r)}" selected="true"/>' for r in rules)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xccdf-1.2:Tailoring xmlns:xccdf-1.2="{XCCDF}" id="xccdf_secops.bench_tailoring_tailored">
  <xccdf-1.2:benchmark href="{escape(str(datastream))}"/>
  <xccdf-1.2:version time="2026-12-07T00:00:00">1</xccdf-1.2:version>
  <xccdf-1.2:Profile id="{TAILORED_PROFILE}">
    <xccdf-1.2:title>secops bench: selected rules</xccdf-1.2:title>
{selects}
  </xccdf-1.2:Profile>
</xccdf-1.2:Tailoring>
"""


def run_oscap(datastream: Path, profile: str, out: Path, rules: list[str] | None = None) -> tuple[float, OscapRun]:
    """`oscap xccdf eval` of an SSG profile (or, with `rules`, of a tailored profile of just those rules)."""
    arf = out / "oscap-arf.xml"
    if rules is None:
        select = ["--profile", f"{PROFILE_PREFIX}{profile}"]
    else:
        (out / "tailoring.xml").write_text(tailoring(datastream, rules), encoding="utf-8")
        select = ["--tailoring-file", str(out / "tailoring.xml"), "--profile", TAILORED_PROFILE]
    cmd = ["oscap", "xccdf", "eval", *select, "--results-arf", str(arf), str(datastream)]
    start = time.perf_counter()
    with open(out / "oscap-stdout.txt", "wb") as stdout, open(out / "oscap-stderr.txt", "wb") as stderr:
        proc = subprocess.run(cmd, stdout=stdout, stderr=stderr, timeout=OSCAP_TIMEOUT, check=False)
    seconds = time.perf_counter() - start
    # oscap: 0 all passed, 2 some rule failed, 1 an error of oscap itself
    if proc.returncode not in (0, 2) or not arf.exists():
        err = (out / "oscap-stderr.txt").read_text(errors="replace")[-2000:]
        sys.exit(f"oscap exited {proc.returncode}: {err}")
    return seconds, parse_oscap_results(arf)


def arf_seconds(run: OscapRun) -> float:
    start, end = dt.datetime.fromisoformat(run.start), dt.datetime.fromisoformat(run.end)
    return (end - start).total_seconds()


def _line(label: str, value: str, baseline: str = "") -> None:
    print(f"  {label:<34} {value:<40} {('baseline ' + baseline) if baseline else ''}".rstrip())


def report(joined: Join, sources: str) -> None:
    print(f"\nOverlapping controls ({sources}): {len(joined.pairs)}")
    for p in joined.pairs:
        mark = "=" if p.agree else "≠"
        rules = ", ".join(f"{r.rule}:{r.result}" for r in p.ssg)
        print(f"  {mark} CIS {p.mapping.cis:<10} Wazuh {p.wazuh.check_id} {p.wazuh_verdict:<13} SSG {p.verdict:<13} "
              f"[{rules}]")
    for text in joined.wrong_check:
        print(f"  mapping table: {text}")
    if joined.unmatched_cis:
        print(f"  mapped CIS ids no Wazuh check carries: {', '.join(joined.unmatched_cis)}")
    if joined.not_selected:
        print(f"  mapped CIS ids whose SSG rules this profile does not select: {', '.join(joined.not_selected)}")
    rate = joined.rate()
    print(f"\nAgreement: {joined.agreed}/{len(joined.pairs)}"
          + (f" ({100 * rate:.0f} %)" if rate is not None else "")
          + f"   (baseline {BASELINE['agreed']}/{BASELINE['overlap']})")
    decided = [p for p in joined.pairs if p.wazuh_verdict in ("pass", "fail") and p.verdict in ("pass", "fail")]
    print(f"Where both decided (pass or fail): {sum(p.agree for p in decided)}/{len(decided)}")
    disagreements = [p for p in joined.pairs if not p.agree]
    kinds = Counter(f"Wazuh {p.wazuh_verdict} / SSG {p.verdict}" for p in disagreements)
    print(f"\nDisagreements: {len(disagreements)} ({', '.join(f'{k}: {n}' for k, n in kinds.most_common())})")
    for p in disagreements:
        print(f"- CIS {p.mapping.cis} — {p.wazuh.title}")
        print(f"    Wazuh {p.wazuh.check_id}: {p.wazuh.result}: {p.wazuh.evidence or '(no evidence kept for a pass)'}")
        for r in p.ssg:
            print(f"    SSG {r.rule}: {r.result}: {r.evidence or '-'}")
        if p.mapping.note:
            print(f"    note: {p.mapping.note}")


def choose_mappings(table: list[Mapping], refs: dict[str, list[str]]) -> tuple[list[Mapping], str]:
    by_ref = reference_mappings(refs)
    if len(by_ref) >= 20:  # enough CIS Benchmark references in the data stream: join on them, table after
        return by_ref + table, f"{len(by_ref)} by SSG's CIS references, then the table"
    return table, f"hand-made table {DEFAULT_MAP.name}: the reference join found {len(by_ref)}"


def print_header(args: argparse.Namespace, ds: Datastream, table: list[Mapping], profile: str) -> None:
    mapped = {r for m in table for r in m.ssg}
    container = in_container()
    print(f"host: {os.uname().nodename}, Debian {Path('/etc/debian_version').read_text().strip()}, "
          f"{('a ' + container) if container else 'not a container'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    version = subprocess.run(["oscap", "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    print(f"{version}; {args.datastream.name}: {len(ds.profiles)} profiles; SSG rules with a CIS Benchmark "
          f"reference: {len(ds.cis_refs)}, with CIS Controls references only: {ds.controls_only}")
    for name, rules in sorted(ds.profiles.items(), key=lambda kv: -len(kv[1] & mapped)):
        print(f"  profile {name:<32} {len(rules):4} rules, {len(rules & mapped):3} of the {len(mapped)} CIS-mapped"
              + ("   <- used" if name == profile else ""))


def print_counts(policy: Path, secops_s: float, checks: list[WazuhCheck], counts: dict[str, int],
                 oscap_s: float, oscap: OscapRun) -> None:
    oc = oscap.counts()
    print(f"\n{policy.name} (CIS Debian Linux 12 v1.1.0) by secops, local:")
    _line("wall time", f"{secops_s:.1f} s", f"{BASELINE['secops_s']:.1f} s")
    _line("checks run", str(len(checks)), str(BASELINE["secops_checks"]))
    _line("passed / failed / n/a / error", " / ".join(str(counts[k]) for k in counts), BASELINE["secops_counts"])
    print(f"oscap, profile {oscap.profile} ({oscap.benchmark}):")
    _line("wall time", f"{oscap_s:.1f} s", f"{BASELINE['oscap_s']:.1f} s")
    _line("rules evaluated", str(sum(oc.values())), str(BASELINE["oscap_rules"]))
    _line("pass / fail / notapplicable / error",
          " / ".join(str(oc.get(k, 0)) for k in ("pass", "fail", "notapplicable", "error")), BASELINE["oscap_counts"])
    other = {k: v for k, v in oc.items() if k not in ("pass", "fail", "notapplicable", "error")}
    if other:
        _line("other results", ", ".join(f"{k} {v}" for k, v in sorted(other.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--datastream", type=Path, default=DEFAULT_DATASTREAM)
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="SSG profile id without its prefix")
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    parser.add_argument("--out", type=Path, help="keep oscap's ARF and a JSON of the comparison here")
    parser.add_argument("--arf", type=Path, help="compare with this ARF of an earlier oscap run instead of running "
                        "oscap (its time is then the ARF's start/end times)")
    args = parser.parse_args()
    if not args.policy.is_file():
        sys.exit(f"{args.policy}: policy file not found (give --policy)")
    if shutil.which("oscap") is None:
        sys.exit(MISSING_OSCAP)
    if not args.datastream.is_file():
        sys.exit(MISSING_DS.format(path=args.datastream))
    try:
        table = load_mappings(args.map)
        ds = read_datastream(args.datastream)
        earlier = parse_oscap_results(args.arf) if args.arf else None
    except (OSError, ValueError) as exc:
        sys.exit(str(exc))
    profile = earlier.profile if earlier else args.profile
    if earlier is None and profile not in ds.profiles:
        sys.exit(f"{profile}: no such profile in {args.datastream.name} (has: {', '.join(sorted(ds.profiles))})")
    print_header(args, ds, table, profile)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        secops_s, checks, counts = run_secops(args.policy)
        if earlier is not None:
            oscap, oscap_s = earlier, arf_seconds(earlier)
        else:
            oscap_s, oscap = run_oscap(args.datastream, profile, out)
        explain_not_applicable(oscap, ds.platforms)
        print_counts(args.policy, secops_s, checks, counts, oscap_s, oscap)
        mappings, sources = choose_mappings(table, ds.cis_refs)
        joined = join(checks, oscap, mappings)
        report(joined, sources)
        if args.out:
            (out / "comparison.json").write_text(json.dumps({
                "secops_seconds": secops_s, "oscap_seconds": oscap_s, "secops_counts": counts,
                "oscap_counts": oscap.counts(),
                "pairs": [{"cis": p.mapping.cis, "wazuh": asdict(p.wazuh), "ssg": [asdict(r) for r in p.ssg],
                           "ssg_verdict": p.verdict, "agree": p.agree, "note": p.mapping.note} for p in joined.pairs],
            }, indent=1, ensure_ascii=False), encoding="utf-8")
            print(f"\nARF and comparison.json kept in {out}")


if __name__ == "__main__":
    main()
