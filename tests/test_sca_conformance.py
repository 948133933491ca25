"""Conformance with Wazuh's own SCA engines, per dialect, on canned host answers (a facts file).

Every case cites the Wazuh source it pins:
  4.x = wazuh/wazuh tag v4.14.7: src/wazuh_modules/wm_sca.c, src/os_regex/*, src/shared/expression.c,
        src/unit_tests/os_regex/test_os_regex_execute.json
  5.x = wazuh/wazuh main after 5.0.1 (f838614611): src/wazuh_modules/sca/sca_impl/src/*.cpp and tests/*.cpp
Deliberate deviations are asserted as such (and listed in README "Wazuh SCA dialects").
"""

from __future__ import annotations

from typing import Any

import pytest

from secops.evaluate.engine import evaluate_offline, evaluate_rule
from secops.evaluate.facts_file import HostFacts
from secops.evaluate.regex import RegexError, compile_pattern
from secops.evaluate.rules import parse_rule
from secops.evaluate.sca_load import Policy

SSHD = "# PermitRootLogin yes\nPermitRootLogin no\nMaxAuthTries 6\nPort 22\n"
HOST: dict[str, Any] = {"label": "canned", "address": "127.0.0.1", "os": "linux", "answers": [
    {"kind": "file_read", "arg": "/etc/ssh/sshd_config", "status": 0, "text": SSHD},
    {"kind": "file_exists", "arg": "/etc/ssh/sshd_config", "status": 0},
    {"kind": "file_read", "arg": "/etc/offset", "status": 0, "text": "offset -3\n"},
    {"kind": "file_read", "arg": "/etc/nginx.conf", "status": 0, "text": "x ACCEPT all lo * 0.0.0.0/0\n"},
    {"kind": "file_read", "arg": "/etc/plain", "status": 0, "text": "ACCEPT all lo 0.0.0.0/0\nwindows\n"},
    {"kind": "file_read", "arg": "/missing", "status": 1},
    {"kind": "file_read", "arg": "/etc/redos", "status": 0, "text": "a" * 40 + "!\n"},
    {"kind": "file_read", "arg": "/missing,/etc/plain", "status": 1},
    {"kind": "file_exists", "arg": "/etc", "status": 3},
    {"kind": "file_read", "arg": "/etc", "status": 3},
    {"kind": "dir_exists", "arg": "/etc/passwd", "status": 3},
    {"kind": "dir_exists", "arg": "/etc", "status": 0},
    {"kind": "command", "arg": "systemctl is-enabled x", "status": 1, "text": "1\n"},
    {"kind": "command", "arg": "quiet", "status": 0},
    {"kind": "command", "arg": "sleep 99", "status": 124},
    {"kind": "processes", "status": 0, "text": "sshd\t/usr/sbin/sshd -D\ncron\t/usr/sbin/cron -f\n"},
]}


def facts():  # type: ignore[no-untyped-def]
    return HostFacts.model_validate(HOST).to_facts()


def outcome(dialect: str, rule: str, regex_type: str = "osregex") -> str:
    return evaluate_rule(parse_rule(rule, regex_type, dialect), facts(), "linux").outcome  # type: ignore[arg-type]


CASES = [
    # literal content: 4.x strcasecmp on the whole line; 5.x exact line
    ("4", "f:/etc/ssh/sshd_config -> permitrootlogin NO", "pass", "wm_sca.c l.1997 strcasecmp(pattern, line)"),
    ("5", "f:/etc/ssh/sshd_config -> permitrootlogin NO", "fail", "sca_policy_check.cpp l.59 line == pattern"),
    ("5", "f:/etc/ssh/sshd_config -> PermitRootLogin no", "pass", "sca_policy_check.cpp l.59"),
    ("4", "f:/etc/ssh/sshd_config -> PermitRootLogin", "fail", "wm_sca.c l.1997: whole line, not a substring"),
    # !r: on multi-line content: 4.x some line does not match; 5.x no line matches
    ("4", "f:/etc/ssh/sshd_config -> !r:^PermitRootLogin", "pass", "wm_sca.c l.1559-1566 + l.2025 per line"),
    ("5", "f:/etc/ssh/sshd_config -> !r:^PermitRootLogin", "fail",
     "sca_utils.cpp l.299-312; sca_utils_test.cpp l.246"),
    ("5", "f:/etc/ssh/sshd_config -> !r:^Protocol", "pass", "sca_utils_test.cpp l.237 NotRegex_ExcludesMatchingLine"),
    ("5", "f:/etc/ssh/sshd_config -> !r:^# && r:PermitRootLogin", "pass",
     "sca_utils_test.cpp l.228 compound with a negated minterm is per line"),
    # numeric rules
    ("4", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare = 6", "pass", "wm_sca.c l.1862 '=' prefix is =="),
    ("4", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare =6", "pass", "wm_sca.c l.1862"),
    ("4", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare => 4", "fail", "wm_sca.c l.1862: '=>' is =="),
    ("5", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare = 6", "na", "sca_utils.cpp l.162 invalid operator"),
    ("5", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare =6", "na", "sca_utils.cpp l.113 no value token"),
    ("5", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+\\d+ compare <= 4", "na",
     "sca_utils.cpp l.83 whole match 'MaxAuthTries 6', l.130 std::stoi throws: invalid"),
    ("5", "f:/etc/ssh/sshd_config -> n:\\d+ compare == 22", "pass", "sca_utils_test.cpp l.128 NumericComparison"),
    ("4", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+\\d+ compare <= 4", "na", "wm_sca.c l.1932 nothing captured"),
    ("4", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) <= 4", "na", "wm_sca.c l.1897-1905 no ' compare '"),
    ("5", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) <= 4", "na", "sca_utils.cpp l.102-104"),
    ("5", "f:/etc/ssh/sshd_config -> n:^MaxAuthTries\\s+(\\d+) compare >= asdf", "na",
     "sca_utils_test.cpp l.96 InvalidOperandForComparison"),
    # DEVIATION: 4.x reads the threshold with (\d+) and drops its minus sign (wm_sca.c l.1796), so
    # 'compare >= -5' would be '>= 5' and fail; secops keeps the sign, as 5.x does.
    ("4", "f:/etc/offset -> n:^offset (\\S+) compare >= -5", "pass", "deviation from wm_sca.c l.1796"),
    ("5", "f:/etc/offset -> n:^offset (\\S+) compare >= -5", "pass", "sca_utils.cpp l.118 std::stoi"),
    # c: rules
    ("4", "c:never collected", "pass", "wm_sca.c l.1694-1696 no pattern: FOUND without running"),
    ("5", "c:systemctl is-enabled x", "pass", "sca_policy_check.cpp l.291-294; command_rule_evaluator_test.cpp l.39"),
    ("5", "c:systemctl is-enabled x -> 1", "pass", "sca_policy_check.cpp l.271, 286 whole output == pattern"),
    ("5", "c:quiet -> r:^enabled", "fail", "command_rule_evaluator_test.cpp l.139 empty output"),
    ("4", "c:sleep 99 -> r:x", "na", "wm_sca.c l.1707-1714 timeout is invalid"),
    ("5", "c:sleep 99 -> r:x", "na", "sca_policy_check.cpp l.253-258 timeout is NotRun"),
    # d: on a regular file, f: on a directory
    ("4", "d:/etc/passwd", "na", "wm_sca.c l.2058-2075 opendir fails, not ENOENT: invalid"),
    ("5", "d:/etc/passwd", "fail", "sca_policy_check.cpp l.539 exists && is_directory"),
    ("4", "f:/etc", "na", "wm_sca.c l.1513-1520 not S_ISREG: invalid"),
    ("5", "f:/etc", "fail", "sca_policy_check.cpp l.160 exists && is_regular_file"),
    ("5", "f:/etc -> r:x", "na", "sca_policy_check.cpp l.124-130; file_rule_evaluator_test.cpp l.154"),
    ("4", "d:/etc", "pass", "wm_sca.c l.2049-2066"),
    # comma-separated lists: 4.x splits, 5.x takes the text as one path
    ("4", "f:/missing,/etc/plain -> r:ACCEPT", "pass", "wm_sca.c l.1647 strtok_r(list, \",\")"),
    ("5", "f:/missing,/etc/plain -> r:ACCEPT", "na", "sca_policy_check.cpp l.124 one path"),
    ("4", "f:/missing -> r:x", "na", "wm_sca.c l.1654-1661 a file that does not exist is invalid"),
    # p: 5.x compares the process name or the full command line
    ("5", "p:/usr/sbin/sshd -D", "pass", "sca_policy_check.cpp l.576-605; process_rule_evaluator_test.cpp l.125"),
    ("5", "p:sshd", "pass", "process_rule_evaluator_test.cpp l.44"),
    ("5", "not p:/usr/sbin/sshd -D", "fail", "process_rule_evaluator_test.cpp l.138"),
    ("4", "p:SSHD", "pass", "wm_sca.c l.2195-2200 pattern match on the name: literal is strcasecmp (l.1997)"),
    ("4", "p:r:^cro", "pass", "wm_sca.c l.2195-2200, l.1983-1993 r: on the process name"),
    ("4", "p:/usr/sbin/sshd -D", "fail", "os_utils.c l.33-60: the name (ps CMD column), not the command line"),
    # regexes Wazuh rejects: 4.x never matches; 5.x invalid rule
    ("4", "f:/etc/plain -> r:\\+", "fail", "os_regex_compile.c l.132 bad escape; wm_sca.c l.1987-1990 not found"),
    ("4", "f:/etc/plain -> !r:\\+", "pass", "wm_sca.c l.2025 negated ^ NOT_FOUND"),
    ("5", "f:/etc/plain -> r:^((a+)+$", "na", "sca_utils_test.cpp l.102 InvalidPCRE2RegexReturnsNullopt"),
    ("5", "f:/etc/redos -> r:^(a+)+$", "na", "sca_utils.cpp l.66-72: a PCRE2 match error (match limit) is invalid"),
    ("5", "f:/etc/plain -> r:Access:\\s*(\"", "na", "sca_utils.cpp l.28-40 compile error (cis_nginx_1 23006)"),
    # OS_Regex: '*' after a plain character is a plain character (only escapes take + and *)
    ("4", "f:/etc/nginx.conf -> r:ACCEPT\\.*all\\.*lo\\.**\\.*0.0.0.0/0", "pass", "os_regex_execute.c l.243 isPlus"),
    ("4", "f:/etc/plain -> r:ACCEPT\\.*all\\.*lo\\.**\\.*0.0.0.0/0", "fail", "os_regex_execute.c l.243"),
    # case: 5.x caseless, 4.x PCRE2 case-sensitive, OS_Regex caseless
    ("5", "f:/etc/plain -> r:^WINDOWS", "pass", "sca_utils.cpp l.26 PCRE2_CASELESS; sca_utils_test.cpp l.273"),
    ("4", "f:/etc/plain -> r:^WINDOWS", "pass", "os_regex_compile.c l.153-158 lower-cased pattern"),
    # legacy '!f:' is not a negation in either dialect
    ("4", "!f:/etc/ssh/sshd_config", "pass", "wm_sca.c l.1443 the '!' is dropped"),
    ("5", "!f:/etc/ssh/sshd_config", "pass", "sca_utils.cpp l.224-227 the '!' is dropped"),
]


@pytest.mark.parametrize("dialect, rule, expected, source", CASES, ids=[f"{c[0]}:{c[1][:50]}" for c in CASES])
def test_rule_conformance(dialect: str, rule: str, expected: str, source: str) -> None:
    assert outcome(dialect, rule) == expected, source


def test_pcre2_in_4x_is_case_sensitive() -> None:
    # src/shared/expression.c (v4.14.7) l.174-175: pcre2_compile(..., 0, ...) - no PCRE2_CASELESS
    assert outcome("4", "f:/etc/plain -> r:^WINDOWS", regex_type="pcre2") == "fail"
    assert outcome("4", "f:/etc/plain -> r:^windows", regex_type="pcre2") == "pass"


# src/unit_tests/os_regex/test_os_regex_execute.json (v4.14.7): (line, pattern, log, Wazuh matches)
OS_REGEX = [
    (7, "hi Wazuh", "hi Wazuh", True), (45, "(hi) (Wazuh)", "fixhi Wazuhsub", True),
    (167, "\\w\\w\\s\\S\\S\\S\\S\\S", "hi Waz", False), (227, "(\\w\\w\\s\\S\\S\\S\\S\\S)\\p$", "hi Waz hi Wazuh.", True),
    (289, "^(\\w+)$", "Wazuh ", False), (490, "^\\w+\\s$", "w ", True), (591, "\\d+\\d", "5", False),
    (1145, "\\w+_1 \\w+_2 \\w+_3 \\w+_4 \\w+_5 \\w+_6", "wa_11 wa_1 wa_2 wa_3 wa_4 wa_5 wa_6", True),
    (1298, "^\\w*$", "Wazuh ", False), (2132, "(\\w*)\\d+(\\s*)", "Wazuh ", False),
    (2532, "hi (\\w+).", "Hi Wazuh.", True), (2959, "Backslash character is (\\.+)", "Backslash character is \\", True),
    (3405, "^$", "hi digits", False), (3459, "^$|^\\d|\\d$|\\s(\\w+\\w)", "^hi digits asd", True),
    (3636, "Subpattern 1: \\d+|Subpattern 2: \\d+$", "Subpattern 2: 123", True),
    (4456, "^\\d+(\\D*)", "Test123", False),
]


@pytest.mark.parametrize("line, pattern, log, wazuh", OS_REGEX, ids=[str(c[0]) for c in OS_REGEX])
def test_os_regex_matches_wazuh_unit_tests(line: int, pattern: str, log: str, wazuh: bool) -> None:
    assert compile_pattern(pattern, "osregex").search(log) is wazuh


def test_os_regex_deviations_are_the_documented_ones() -> None:
    # DEVIATION (README): OS_Regex does not backtrack; Python does. Wazuh's own test file marks
    # these as OS_Regex quirks (test_os_regex_execute.json l.3984 "\\d*$" on "123pattern": no match).
    assert compile_pattern("\\d*$", "osregex").search("123pattern") is True


@pytest.mark.parametrize("pattern", ["\\+", "\\-", "\\>", "((a))", "(a|b)", "(a", "a)"])
def test_os_regex_compile_errors(pattern: str) -> None:
    # os_regex_compile.c (v4.14.7) l.84-133 escapes, l.146-174 parentheses and '|' inside them
    with pytest.raises(RegexError):
        compile_pattern(pattern, "osregex")


def _policy(dialect: str, requirements: list[str]) -> Policy:
    key = "title" if dialect == "4" else "name"
    policy = Policy.model_validate({
        "policy": {"id": f"p{dialect}", "name": "conformance"},
        "requirements": {key: "needs /etc/debian", "condition": "all", "rules": requirements},
        "checks": [{"id": 1, key: "a", "condition": "all", "rules": ["f:/etc/ssh/sshd_config"]},
                   {"id": 2, key: "b", "condition": "any", "rules": ["f:/missing -> r:x"]}]})
    policy.dialect = dialect  # type: ignore[assignment]
    return policy


def test_requirements_not_met_per_dialect() -> None:
    # 4.x: the policy is skipped, no check results (wm_sca.c l.520-523 "Skipping policy")
    skipped = evaluate_offline(_policy("4", ["f:/etc"]), facts())
    assert not skipped.applicable and skipped.checks == [] and skipped.dialect == "4"
    # 5.x: every check is reported not applicable (sca_policy.cpp l.115-120)
    gated = evaluate_offline(_policy("5", ["f:/etc"]), facts())
    assert not gated.applicable and gated.dialect == "5"
    assert [(c.check_id, c.result, c.reason) for c in gated.checks] == [
        ("1", "not_applicable", "Policy requirements not met"), ("2", "not_applicable", "Policy requirements not met")]
    met = evaluate_offline(_policy("5", ["f:/etc/ssh/sshd_config"]), facts())
    assert met.applicable and [c.result for c in met.checks] == ["passed", "not_applicable"]


def test_a_bad_rule_costs_its_check_in_both_dialects() -> None:
    for dialect in ("4", "5"):
        key = "title" if dialect == "4" else "name"
        policy = Policy.model_validate({"policy": {"id": "p"}, "checks": [
            {"id": 1, key: "bad", "condition": "all", "rules": ["q:/what"]},
            {"id": 2, key: "good", "condition": "all", "rules": ["f:/etc/ssh/sshd_config -> r:^Port"]}]})
        policy.dialect = dialect  # type: ignore[assignment]
        result = evaluate_offline(policy, facts())
        assert [c.result for c in result.checks] == ["not_applicable", "passed"]
        assert "invalid rule" in result.checks[0].reason and "q:/what" in result.checks[0].reason


def test_windows_policy_on_linux_is_skipped_not_listed_check_by_check() -> None:
    # DEVIATION (README): Wazuh 5.x would list every check "not applicable" (sca_policy.cpp l.115-120);
    # a policy whose requirements are all registry rules is skipped on other OSes instead.
    policy = _policy("5", ["r:HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion -> ProductName -> r:^Windows"])
    result = evaluate_offline(policy, facts(), host_os="linux")
    assert not result.applicable and result.checks == [] and "Windows hosts only" in result.reason
