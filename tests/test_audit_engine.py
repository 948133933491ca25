"""Check engine: every rule type and operator, negation, numeric compares, conditions,
requirements gating and not_applicable reasons — evaluated against hand-made facts."""

from __future__ import annotations

import pytest

from secops.errors import SecopsError
from secops.evaluate.engine import PreparedPolicy, RuleResult, aggregate, evaluate_offline, evaluate_rule
from secops.evaluate.facts import MISSING, NOT_REGULAR, OK, UNREADABLE, Facts, Item, Request
from secops.evaluate.protection import protection_status
from secops.evaluate.rules import RuleSyntaxError, osregex_to_python, parse_rule
from secops.evaluate.sca_load import Policy, ProtectionExt

SSHD = b"""# comment PermitRootLogin yes
PermitRootLogin no
MaxAuthTries 6
Protocol 2
X11Forwarding\tyes
"""


def facts() -> Facts:
    f = Facts()
    f.items[Request("file_read", "/etc/ssh/sshd_config")] = Item(OK, SSHD)
    f.items[Request("file_exists", "/etc/ssh/sshd_config")] = Item(OK)
    f.items[Request("file_read", "/etc/missing")] = Item(MISSING)
    f.items[Request("file_exists", "/etc/missing")] = Item(MISSING)
    f.items[Request("file_read", "/etc/shadow")] = Item(UNREADABLE)
    f.items[Request("file_read", "/etc")] = Item(NOT_REGULAR)
    f.items[Request("dir_exists", "/etc/cron.d")] = Item(OK)
    f.items[Request("dir_exists", "/nope")] = Item(MISSING)
    f.items[Request("dir_list", "/etc/audit/rules.d")] = Item(OK, b"/etc/audit/rules.d/a.rules\n/etc/audit/rules.d/b.txt\n")
    f.items[Request("dir_list", "/nope")] = Item(MISSING)
    f.items[Request("file_read", "/etc/audit/rules.d/a.rules")] = Item(OK, b"-w /etc/group -p wa -k identity\n")
    f.items[Request("processes")] = Item(OK, b"sshd\t/usr/sbin/sshd -D\nclamd\t/usr/sbin/clamd --foreground\n"
                                              b"falcon-sensor-b\t/opt/CrowdStrike/falcon-sensor-bpf\n")
    f.items[Request("command", "systemctl is-enabled cups")] = Item(0, b"enabled\n")
    f.items[Request("command", "sysctl net.ipv4.ip_forward")] = Item(0, b"net.ipv4.ip_forward = 0\n")
    f.items[Request("command", "nosuchcmd")] = Item(127, b"")
    f.items[Request("command", "slow")] = Item(124, b"")
    f.items[Request("command", "false")] = Item(1, b"")
    f.items[Request("registry", r"HKLM\System\Lsa")] = Item(OK, b"LimitBlankPasswordUse\t1\nRestrictAnonymous\t0\n")
    f.items[Request("registry", r"HKLM\Missing")] = Item(MISSING)
    f.errors[Request("command", "cut off")] = "no answer (the script was cut off or timed out)"
    return f


def outcome(rule: str, regex_type: str = "osregex", host_os: str = "linux") -> RuleResult:
    return evaluate_rule(parse_rule(rule, regex_type), facts(), host_os)  # type: ignore[arg-type]


@pytest.mark.parametrize("rule, expected", [
    # f: existence and content (literal, regex, numeric, negation, &&)
    ("f:/etc/ssh/sshd_config", "pass"),
    ("f:/etc/missing", "fail"),
    ("not f:/etc/missing", "pass"),
    ("!f:/etc/missing", "fail"),  # Wazuh drops a '!' before the type (wm_sca.c v4.14.7 l.1440): not a negation
    ("f:/etc/ssh/sshd_config -> PermitRootLogin no", "pass"),  # literal = whole line
    ("f:/etc/ssh/sshd_config -> PermitRootLogin", "fail"),
    ("f:/etc/ssh/sshd_config -> r:^PermitRootLogin\\s+no", "pass"),
    ("f:/etc/ssh/sshd_config -> r:^permitrootlogin", "pass"),  # OS_Regex is case-insensitive
    ("f:/etc/ssh/sshd_config -> !r:^# && r:PermitRootLogin\\s+yes", "fail"),  # only the comment says yes
    ("not f:/etc/ssh/sshd_config -> !r:^# && r:PermitRootLogin\\s+yes", "pass"),
    ("f:/etc/ssh/sshd_config -> r:X11Forwarding\\tyes", "pass"),
    ("f:/etc/ssh/sshd_config -> r:Protocol\\.+2", "pass"),  # \. is any character in OS_Regex
    ("f:/etc/ssh/sshd_config -> r:Protocol 2|Protocol 1", "pass"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare <= 4", "fail"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare > 4", "pass"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare == 6", "pass"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare != 6", "fail"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare >= 6", "pass"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare < 6", "fail"),
    ("f:/etc/missing,/etc/ssh/sshd_config -> r:^Protocol", "pass"),  # comma list: any file
    # d: existence, file name, file content
    ("d:/etc/cron.d", "pass"),
    ("d:/nope", "fail"),
    ("d:/etc/audit/rules.d -> r:\\.rules$", "pass"),
    ("d:/etc/audit/rules.d -> a.rules", "pass"),
    ("d:/etc/audit/rules.d -> c.rules", "fail"),
    ("d:/etc/audit/rules.d -> r:.rules$ -> r:-w /etc/group", "pass"),
    ("d:/etc/audit/rules.d -> r:.rules$ -> r:-w /etc/passwd", "fail"),
    # p:
    ("p:clamd", "pass"),
    ("p:sshd", "pass"),
    ("not p:telnetd", "pass"),
    ("p:falcon-sensor-bpf", "pass"),  # comm is cut at 15 chars; argv0 basename matches
    # c:
    ("c:systemctl is-enabled cups -> r:^enabled", "pass"),
    ("c:systemctl is-enabled cups -> disabled", "fail"),
    ("c:sysctl net.ipv4.ip_forward -> n:ip_forward = (\\d+) compare == 0", "pass"),
    ("not c:sysctl net.ipv4.ip_forward -> r:= 1", "pass"),
    ("c:false", "pass"),  # 4.x: a c: rule without a pattern passes without running (wm_sca.c v4.14.7 l.1694)
    # pcre2
    ("f:/etc/ssh/sshd_config -> r:^Protocol\\s+[12]$", "pass"),
])
def test_rule_outcomes(rule: str, expected: str) -> None:
    regex_type = "pcre2" if "[12]" in rule else "osregex"
    assert outcome(rule, regex_type).outcome == expected


@pytest.mark.parametrize("rule, reason", [
    ("f:/etc/missing -> r:anything", "file /etc/missing does not exist"),
    ("not f:/etc/missing -> r:anything", "file /etc/missing does not exist"),  # negation keeps n/a
    ("f:/etc/shadow -> r:root", "cannot be read"),
    ("f:/etc -> r:x", "not a regular file"),
    ("d:/nope -> r:x", "directory /nope does not exist"),
    ("c:nosuchcmd -> r:x", "command not found"),
    ("c:slow -> r:x", "command timed out"),
    ("r:HKLM\\System\\Lsa -> LimitBlankPasswordUse -> 1", "Windows hosts only"),
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+\\d+ compare <= 4", "no string was captured"),  # 4.x: no group
    ("f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) <= 4", "Keyword 'compare' not found"),
])
def test_not_applicable_reasons(rule: str, reason: str) -> None:
    result = outcome(rule)
    assert result.outcome == "na"
    assert reason in result.reason


def test_registry_rules_on_windows() -> None:
    assert outcome("r:HKLM\\System\\Lsa", host_os="windows").outcome == "pass"
    assert outcome("r:HKLM\\Missing", host_os="windows").outcome == "fail"
    assert outcome("r:HKLM\\System\\Lsa -> LimitBlankPasswordUse", host_os="windows").outcome == "pass"
    assert outcome("r:HKLM\\System\\Lsa -> limitblankpassworduse -> 1", host_os="windows").outcome == "pass"
    assert outcome("r:HKLM\\System\\Lsa -> RestrictAnonymous -> 1", host_os="windows").outcome == "fail"
    assert outcome("r:HKLM\\System\\Lsa -> Nope -> 1", host_os="windows").outcome == "na"
    assert outcome("r:HKLM\\Missing -> X -> 1", host_os="windows").outcome == "na"


def test_uncollected_fact_is_error_not_pass() -> None:
    result = outcome("c:cut off -> r:x")
    assert result.outcome == "error" and "cut off" in result.reason
    assert outcome("c:never asked -> r:x").outcome == "error"


@pytest.mark.parametrize("condition, outcomes, expected", [
    ("all", ["pass", "pass"], "passed"),
    ("all", ["pass", "fail", "na"], "failed"),
    ("all", ["pass", "na"], "not_applicable"),
    ("all", ["pass", "error", "na"], "error"),
    ("any", ["fail", "pass", "na"], "passed"),
    ("any", ["fail", "fail"], "failed"),
    ("any", ["fail", "na"], "not_applicable"),
    ("none", ["fail", "fail"], "passed"),
    ("none", ["fail", "pass"], "failed"),
    ("none", ["fail", "na"], "not_applicable"),
    ("none", ["error", "fail"], "error"),
])
def test_conditions(condition: str, outcomes: list[str], expected: str) -> None:
    results = [RuleResult(o, f"why {o}") for o in outcomes]  # type: ignore[arg-type]
    status, reason = aggregate(condition, results)  # type: ignore[arg-type]
    assert status == expected
    if expected == "not_applicable":
        assert reason == "why na"


def _policy(requirements: list[str] | None, checks: list[dict], **extra) -> Policy:
    data = {"policy": {"id": "p1", "name": "test"}, "checks": checks, **extra}
    if requirements is not None:
        data["requirements"] = {"title": "Debian-like", "condition": "all", "rules": requirements}
    return Policy.model_validate(data)


CHECKS = [
    {"id": 1, "title": "root login off", "condition": "all", "rules": ["f:$sshd -> r:^PermitRootLogin\\s+no"]},
    {"id": 2, "title": "max tries", "condition": "all", "rules": ["f:$sshd -> n:^MaxAuthTries\\s+(\\d+) compare <= 4"],
     "remediation": "set MaxAuthTries 4", "secops": {"serves": ["L-SERVER-HARDEN"], "severity": "low"}},
    {"id": 3, "title": "missing file", "condition": "any", "rules": ["f:/etc/missing -> r:x"]},
    {"id": 4, "title": "windows only", "condition": "all", "rules": ["f:$sshd"], "secops": {"os": "windows"}},
]


def test_policy_evaluation_score_and_variables() -> None:
    policy = _policy(["f:/etc/ssh/sshd_config"], CHECKS, variables={"$sshd": "/etc/ssh/sshd_config"})
    result = evaluate_offline(policy, facts())
    assert result.applicable
    by_id = {c.check_id: c for c in result.checks}
    assert [by_id[i].result for i in "1234"] == ["passed", "failed", "not_applicable", "not_applicable"]
    assert by_id["3"].reason == "file /etc/missing does not exist"
    assert by_id["4"].reason == "check applies to windows hosts only"
    assert by_id["2"].serves == ["L-SERVER-HARDEN"] and by_id["2"].remediation == "set MaxAuthTries 4"
    assert result.score == 0.5  # passed / (passed + failed), n/a excluded


def test_requirements_gate_the_policy_and_its_commands() -> None:
    checks = [*CHECKS, {"id": 5, "title": "cmd", "condition": "all", "rules": ["c:systemctl is-enabled cups -> r:x"]}]
    policy = _policy(["f:/etc/missing"], checks, variables={"$sshd": "/etc/ssh/sshd_config"})
    prepared = PreparedPolicy.build(policy, "linux")
    assert Request("command", "systemctl is-enabled cups") not in prepared.round1()  # gated: not in round 1
    prepared.decide_requirements(facts(), "linux")
    assert prepared.applicable is False
    assert prepared.round2(facts()) == set()  # and never asked for
    result = prepared.evaluate(facts(), "linux")
    assert not result.applicable and result.checks == []
    assert result.reason == "requirements not met: Debian-like"
    ok = PreparedPolicy.build(_policy(["f:/etc/ssh/sshd_config"], checks, variables={"$sshd": "/x"}), "linux")
    ok.decide_requirements(facts(), "linux")
    assert Request("command", "systemctl is-enabled cups") in ok.round2(facts())


def test_requirements_not_applicable_reason_is_kept() -> None:
    policy = _policy(["f:/etc/missing -> r:debian"], CHECKS, variables={"$sshd": "/x"})
    result = evaluate_offline(policy, facts())
    assert not result.applicable and "does not exist" in result.reason


def test_policy_os_filter() -> None:
    policy = _policy(None, CHECKS, variables={"$sshd": "/x"}, secops={"os": "windows"})
    result = evaluate_offline(policy, facts(), host_os="linux")
    assert not result.applicable and result.reason == "policy applies to windows hosts only"


def test_directory_content_needs_a_second_round() -> None:
    policy = _policy(None, [{"id": 1, "title": "audit", "condition": "all",
                             "rules": ["d:/etc/audit/rules.d -> r:.rules$ -> r:-w /etc/group"]}])
    prepared = PreparedPolicy.build(policy, "linux")
    assert prepared.round1() == {Request("dir_list", "/etc/audit/rules.d")}
    prepared.decide_requirements(facts(), "linux")
    assert Request("file_read", "/etc/audit/rules.d/a.rules") in prepared.round2(facts())
    assert Request("file_read", "/etc/audit/rules.d/b.txt") not in prepared.round2(facts())


@pytest.mark.parametrize("rule, message", [
    ("", "empty rule"),
    ("f", "does not start with a type"),
    ("x:/what -> ever", "does not start with a type"),
    ("f: -> r:x", "has no location"),
])
def test_rule_syntax_errors(rule: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rule(rule)


def test_osregex_translation() -> None:
    assert osregex_to_python(r"^\s*\t*Port\.+22$") == r"^ *\t*Port.+22$"
    assert osregex_to_python("a.b[c]") == r"a\.b\[c\]"  # only OS_Regex specials are special


def test_bad_rule_in_pack_names_file_and_check(tmp_path) -> None:
    from secops.evaluate.sca_load import load_policy

    path = tmp_path / "bad.yml"
    path.write_text("policy: {id: bad}\nchecks:\n  - id: 7\n    title: t\n    condition: all\n"
                    "    rules: ['x:/x -> y']\n  - id: 8\n    title: u\n    condition: all\n    rules: ['f:/etc/missing']\n")
    policy = load_policy(path)  # a bad rule costs its check, never the policy
    assert [(w.check_id, w.rule) for w in policy.warnings] == [("7", "x:/x -> y")]
    result = evaluate_offline(policy, facts())
    assert [(c.check_id, c.result) for c in result.checks] == [("7", "not_applicable"), ("8", "failed")]
    assert "does not start with a type" in result.checks[0].reason
    path.write_text("policy: {id: bad}\nchecks:\n  - {id: 7, title: t, condition: all, rules: ['f:/x']}\n"
                    "  - {id: 7, name: u, condition: all, rules: ['f:/y']}\n")
    with pytest.raises(SecopsError, match=r"duplicate check ids: 7"):
        load_policy(path)
    path.write_text("policy: {id: bad}\nchecks:\n  - id: 7\n    title: t\n    condition: maybe\n    rules: ['f:/x']\n")
    with pytest.raises(SecopsError, match=r"bad.yml: checks.0.condition"):
        load_policy(path)


def _protection(results: dict[tuple[str, str], str]):
    from secops.evaluate.engine import CheckResult, PolicyResult

    checks = [CheckResult(policy_id="ep", check_id=f"{p}-{a}", title="t", result=r, product=p, aspect=a)  # type: ignore[arg-type]
              for (p, a), r in results.items()]
    rules = ProtectionExt.model_validate({"rules": [
        {"status": "protected", "when": {"installed": "passed", "running": "passed", "signatures": ["passed", "none"]}},
        {"status": "degraded", "when": {"installed": "passed"}}]})
    return protection_status(rules, PolicyResult(policy_id="ep", name="ep", applicable=True, checks=checks))


def test_protection_rules_are_data_driven() -> None:
    assert _protection({("A", "installed"): "passed", ("A", "running"): "passed",
                        ("A", "signatures"): "passed"}).status == "protected"
    assert _protection({("W", "installed"): "passed", ("W", "running"): "passed"}).status == "protected"  # no sig test
    assert _protection({("A", "installed"): "passed", ("A", "running"): "failed"}).status == "degraded"
    stale = _protection({("A", "installed"): "passed", ("A", "running"): "passed", ("A", "signatures"): "failed"})
    assert stale.status == "degraded" and "signatures=failed" in stale.detail
    assert _protection({("A", "installed"): "failed", ("B", "installed"): "failed"}).status == "unprotected"
    best = _protection({("A", "installed"): "passed", ("A", "running"): "failed",
                        ("B", "installed"): "passed", ("B", "running"): "passed"})
    assert (best.status, best.product) == ("protected", "B")
    assert _protection({("A", "installed"): "error"}).status == "unknown"
