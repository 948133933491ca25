"""One round trip per POSIX host (issue 12): the collector script decides on the host which gated
commands to run and which listed files to read, and the results equal the two-round collection.

Everything runs through the real local transport (`sh -s` on this machine) and real files in a
temporary folder; the sshd lab in test_audit_ssh.py checks the same over SSH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from secops.collect import guards
from secops.collect.audit import HostAudit, HostTarget, collect_and_evaluate
from secops.collect.batch import build_posix, parse_output
from secops.collect.guards import HostPlan, regex_literals
from secops.collect.local import LocalTransport
from secops.evaluate.engine import MAX_DIR_FILES
from secops.evaluate.facts import Request
from secops.evaluate.sca_load import Policy, load_policy, pack_files
from secops.store.base import utcnow

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "sca"


def _audit(policies: list[Policy], host_side_plan: bool = True) -> HostAudit:
    audit = HostAudit(target=HostTarget(label="local", address="localhost", local=True), transport="local",
                      started_at=utcnow())
    collect_and_evaluate(LocalTransport(), audit.target, policies, {}, command_timeout=20, host_timeout=240,
                         audit=audit, host_side_plan=host_side_plan)
    return audit


def _policy(tmp_path: Path, name: str, requirements: list[str], checks: list[tuple[int, list[str]]],
            condition: str = "all") -> Policy:
    lines = [f'policy:\n  id: "{name}"\n  file: "{name}.yml"\n  name: "{name}"\n  description: "test"\n']
    if requirements:
        lines.append(f'requirements:\n  title: "req {name}"\n  description: "r"\n  condition: {condition}\n  rules:\n')
        lines += [f"    - '{rule}'\n" for rule in requirements]
    lines.append("checks:\n")
    for check_id, rules in checks:
        lines.append(f'  - id: {check_id}\n    title: "check {check_id}"\n    condition: all\n    rules:\n')
        lines += [f"      - '{rule}'\n" for rule in rules]
    path = tmp_path / f"{name}.yml"
    path.write_text("".join(lines))
    return load_policy(path)


def test_every_shipped_and_wazuh_policy_gives_the_same_results_in_one_round() -> None:
    files = pack_files(HERE / "fixtures" / "sca") + pack_files(HERE.parent / "checks")
    if SHARED.is_dir():
        files += pack_files(SHARED)
    policies = [load_policy(p) for p in files]
    one, two = _audit(policies), _audit(policies, host_side_plan=False)
    assert one.round_trips == 1 and two.round_trips == 2  # two: this host meets some policy's requirements
    assert [r.model_dump() for r in one.results] == [r.model_dump() for r in two.results]
    # every file and directory answer the two rounds used is in the one round, the same bytes
    # (commands and processes are live state and may differ between two audits)
    files = {k: v for k, v in two.facts.items.items() if k.kind in ("file_read", "file_exists", "dir_list", "dir_exists")}
    assert {k: one.facts.items[k] for k in files} == files


def test_commands_of_a_policy_whose_requirements_fail_never_run(tmp_path: Path) -> None:
    (tmp_path / "os").write_text("NAME=Debian\nVERSION=12\n")
    skipped, ran = tmp_path / "ran-skipped", tmp_path / "ran-applies"
    no = _policy(tmp_path, "no", [f"f:{tmp_path}/os -> r:NAME= && r:Fedora"],
                 [(1, [f"c:sh -c \"touch {skipped}; echo yes\" -> r:yes"])])
    yes = _policy(tmp_path, "yes", [f"f:{tmp_path}/os -> r:NAME= && r:Debian", f"f:{tmp_path}/os"],
                  [(2, [f"c:sh -c \"touch {ran}; echo yes\" -> r:yes"])])
    audit = _audit([no, yes])
    assert audit.round_trips == 1
    results = {r.policy_id: r for r in audit.results}
    assert not results["no"].applicable and results["no"].checks == []
    assert results["yes"].applicable and [c.result for c in results["yes"].checks] == ["passed"]
    assert ran.exists() and not skipped.exists(), "a gated command ran on a host that fails its requirements"


@pytest.mark.parametrize("condition, rules, applies", [
    ("any", ["f:{d}/missing", "f:{d}/os -> r:Debian"], True),
    ("any", ["f:{d}/missing", "f:{d}/os -> r:Fedora"], False),
    ("none", ["f:{d}/missing", "d:{d}/missing"], True),
    ("none", ["f:{d}/os"], False),
    ("all", ["not f:{d}/missing", "d:{d}"], True),
    ("all", ["not f:{d}/os"], False),
])
def test_guards_follow_all_any_none_and_not(tmp_path: Path, condition: str, rules: list[str], applies: bool) -> None:
    (tmp_path / "os").write_text("NAME=Debian\n")
    marker = tmp_path / "ran"
    policy = _policy(tmp_path, "p", [r.format(d=tmp_path) for r in rules],
                     [(1, [f"c:sh -c \"touch {marker}; echo yes\" -> r:yes"])], condition=condition)
    audit = _audit([policy])
    assert audit.results[0].applicable is applies and marker.exists() is applies
    assert audit.round_trips == 1


def test_a_guard_that_wrongly_says_no_costs_a_second_round_not_a_result(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "os").write_text("NAME=Debian\n")
    policy = _policy(tmp_path, "p", [f"f:{tmp_path}/os -> r:Debian"], [(1, ["c:echo yes -> r:yes"])])
    monkeypatch.setattr(guards, "requirements_guard", lambda *args: "false")
    audit = _audit([policy])
    assert audit.round_trips == 2  # the engine found the command missing and asked for it
    assert [c.result for c in audit.results[0].checks] == ["passed"]


def test_directory_contents_come_with_the_listing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.d"
    rules.mkdir()
    (rules / "a.rules").write_text("# comment\n-w /etc/passwd -p wa -k identity\n")
    (rules / "b.txt").write_text("-w /etc/passwd -p wa -k identity\n")
    (rules / "-dash.rules").write_text("nothing\n")
    (rules / "new\nline.rules").write_text("nothing\n")
    (rules / "sp ace $(touch pwned).rules").write_text("nothing\n")
    policy = _policy(tmp_path, "d", [], [
        (1, [rf"d:{rules} -> r:\.rules$ -> r:^-w && r:-k identity"]),
        (2, [rf"d:{rules} -> r:\.txt$ -> r:^-w"]),
        (3, [rf"d:{rules} -> r:\.conf$ -> r:^-w"]),
    ])
    audit = _audit([policy])
    assert audit.round_trips == 1
    assert [c.result for c in audit.results[0].checks] == ["passed", "passed", "failed"]
    read = {r.arg for r in audit.facts.items if r.kind == "file_read"}
    assert f"{rules}/a.rules" in read and f"{rules}/b.txt" in read and f"{rules}/-dash.rules" in read
    assert f"{rules}/sp ace $(touch pwned).rules" in read
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_files_past_the_hosts_cap_are_asked_in_a_second_round(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    conf.mkdir()
    for n in range(MAX_DIR_FILES + 20):  # names that pass the host's filter (".conf") but not the rule
        (conf / f"a{n:04}.conf").write_text("x\n")
    (conf / "zz.conf").write_text("wanted = 1\n")
    policy = _policy(tmp_path, "cap", [], [(1, [rf"d:{conf} -> r:^z\.+\.conf$ -> r:wanted"])])
    one, two = _audit([policy]), _audit([policy], host_side_plan=False)
    assert [c.result for c in one.results[0].checks] == ["passed"] == [c.result for c in two.results[0].checks]
    assert one.round_trips == 2


def test_parser_takes_host_chosen_files_and_skips(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"\x00\xffbinary\n")
    plan = HostPlan(guards=["false"], gated={Request("command", "echo never"): {0}},
                    dir_reads={str(tmp_path): None})
    requests = [Request("command", "echo never"), Request("dir_list", str(tmp_path))]
    batch = build_posix(requests, 5, plan=plan)
    facts = parse_output(batch, LocalTransport().run(batch, 30))
    assert Request("command", "echo never") not in facts.items and not facts.errors  # skipped, not an error
    assert facts.items[Request("file_read", f"{tmp_path}/f")].data == b"\x00\xffbinary\n"


def test_parser_ignores_forged_markers_in_file_contents(tmp_path: Path) -> None:
    target = tmp_path / "evil"
    target.mkdir()
    batch = build_posix([Request("dir_list", str(target))], 5, plan=HostPlan(dir_reads={str(target): None}))
    (target / "x").write_text(f"\n{batch.nonce} G 0\n{batch.nonce} F Zm9v\n")
    facts = parse_output(batch, LocalTransport().run(batch, 30))
    assert facts.items[Request("file_read", f"{target}/x")].text().startswith(f"\n{batch.nonce} G 0")
    assert Request("file_read", "foo") not in facts.items


@pytest.mark.parametrize("pattern, literals", [
    (r"(?:^common\-auth$)|(?:^system\-auth$)", [["common-auth"], ["system-auth"]]),
    (r"^\s*TMOUT=([1-9]\d*)\b", [["TMOUT="]]),
    (r"x(a|b)y", [["x", "y"]]),
    (r"a[bc]d", [["a", "d"]]),
    (r"(*UTF)\Qa\E", None),  # a PCRE2-only construct: no host-side filter
])
def test_required_literals(pattern: str, literals: list[list[str]] | None) -> None:
    assert regex_literals(pattern) == literals

