"""The last differences from Wazuh's SCA engines, one conformance case each, with the Wazuh source
that decides it (wazuh/wazuh: 4.x at tag v4.14.7, 14cbcaae; 5.x at main after 5.0.1, f8386146).

Commands really run (the audit's own POSIX batch script under /bin/sh on this machine, as the local
transport runs it); the rest evaluates canned host answers with the engine an audit uses. Every
policy is built with Policy.model_validate, as a caller other than load_policy would, so the
dialect is detected from the data on that path too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from secops.collect.batch import build_posix, parse_output
from secops.collect.wazuh_exec import wazuh_argv
from secops.evaluate.engine import evaluate_offline, os_strbreak
from secops.evaluate.facts import OK, Facts, Item, Request
from secops.evaluate.sca_load import Policy

SCA = Path(__file__).resolve().parent.parent.parent / "shared" / "sca"


def _policy(checks: list[dict[str, Any]], **meta: Any) -> Policy:
    return Policy.model_validate({"policy": {"id": "conf", "name": "conformance", **meta}, "checks": checks})


def _check(rule: str, dialect: str, condition: str = "all", check_id: int = 1) -> dict[str, Any]:
    key = "name" if dialect == "5" else "title"
    return {"id": check_id, key: "case", "condition": condition, "rules": [rule]}


def _run_here(commands: list[str]) -> Facts:
    """The audit's batch script for these commands, run by /bin/sh here (what the local transport does)."""
    batch = build_posix([Request("command", c) for c in commands], 10)
    done = subprocess.run(["/bin/sh", "-s"], input=batch.script.encode(), capture_output=True, timeout=60,
                          check=False)
    return parse_output(batch, done.stdout)


def _result(policy: Policy, facts: Facts, host_os: str = "linux") -> tuple[str, str]:
    check = evaluate_offline(policy, facts, host_os).checks[0]
    return check.result, check.reason


def test_dialect_is_detected_by_model_validate() -> None:
    """Policy.model_validate on 5.x data (checks with `name`) is 5.x, not silently 4.x."""
    assert _policy([_check("f:/etc/x", "5")]).dialect == "5"
    assert _policy([_check("f:/etc/x", "4")]).dialect == "4"


def test_commands_run_without_a_shell_with_stderr_in_the_output() -> None:
    """wm_exec.c (4.14.7 l.401-425; 5.x src/wazuh_modules/src/wm_exec.c l.400-424): argv from
    w_strtok (shared/string_op.c l.1149-1202), stdout and stderr dup2'd onto one pipe, execvp. So a
    pattern on what a command prints to stderr matches (the distro-independent policy's
    `modprobe -n -v X -> r:...|Module X not found`), and shell syntax is just words."""
    missing = "/nonexistent-secops-conformance"
    facts = _run_here([f"ls {missing}", "echo a; echo $(id) > /tmp/x", 'printf "%s|" "one two" three\\ four'])
    stderr = _policy([_check(f"c:ls {missing} -> r:No such file or directory", "4")])
    assert _result(stderr, facts) == ("passed", "")
    assert facts.items[Request("command", "echo a; echo $(id) > /tmp/x")].text() == "a; echo $(id) > /tmp/x\n"
    assert facts.items[Request("command", 'printf "%s|" "one two" three\\ four')].text() == "one two|three four|"
    assert wazuh_argv('sh -c "a b"') == ["sh", "-c", "a b"] and wazuh_argv('x "" y') == ["x", "", "y"]
    for dialect in ("4", "5"):
        assert _result(_policy([_check(f"c:ls {missing} -> r:No such file", dialect)]), facts)[0] == "passed"


def test_4x_splits_command_output_with_os_strbreak() -> None:
    """wm_sca.c l.1739-1758: OS_StrBreak('\\n', out, 256) keeps the empty piece after a trailing
    newline (os_regex/os_regex_strbreak.c l.104-118); the first matching piece decides, otherwise
    the last piece's result stands."""
    assert os_strbreak("x\n") == ["x", ""] and os_strbreak("") == [""] and os_strbreak("a\\\nb") == ["a\nb"]
    assert len(os_strbreak("\n" * 300)) == 256
    facts = Facts()
    facts.items[Request("command", "cmd")] = Item(OK, b"x\n")
    # A lone `!r:^x$`: the piece "x" does not hold, the trailing empty piece does -> FOUND.
    assert _result(_policy([_check("c:cmd -> !r:^x$", "4")]), facts)[0] == "passed"
    # 5.x strips the trailing newline and passes a lone negated test only if no line matches it.
    assert _result(_policy([_check("c:cmd -> !r:^x$", "5")]), facts)[0] == "failed"
    # An INVALID piece (a numeric regex without a group that matches, wm_sca.c l.1812) followed by
    # a NOT_FOUND one is NOT_FOUND, not invalid.
    facts.items[Request("command", "num")] = Item(OK, b"7\nabc\n")
    assert _result(_policy([_check("c:num -> n:^\\d+ compare > 5", "4")]), facts)[0] == "failed"


def test_5x_command_pattern_that_throws_is_not_found_cis_nginx_23006() -> None:
    """sca_policy_check.cpp l.265-279: the pattern is tested on stdout and on stderr (empty from
    wm_exec, l.210); PatternMatches("") is false (sca_utils.cpp l.265-268), so one of the two has a
    value and a pattern that throws on stdout gives NotFound, not Invalid. Real case: cis_nginx_1
    check 23006, whose `r:Access:\\s*(` does not compile."""
    data = yaml.safe_load((SCA / "wazuh-5.0" / "cis_nginx_1.yml").read_text())
    check = next(c for c in data["checks"] if c["id"] == 23006)
    policy = _policy([check], regex_type=data["policy"].get("regex_type", "pcre2"))
    assert policy.dialect == "5"
    facts = Facts()
    facts.items[Request("command", "stat -L /etc/nginx")] = Item(
        OK, b"  File: /etc/nginx\nAccess: (0755/drwxr-xr-x)  Uid: (    0/    root)   Gid: (    0/    root)\n")
    assert _result(policy, facts)[0] == "failed"
    negated = _policy([_check("not c:stat -L /etc/nginx -> r:Access:\\s*(", "5")], regex_type="pcre2")
    assert _result(negated, facts)[0] == "passed"  # NotFound, then `not` applies


def test_5x_lone_negated_test_on_an_empty_file_is_not_found() -> None:
    """sca_policy_check.cpp l.44 and sca_utils.cpp l.265-268: empty content matches nothing, a lone
    negated test neither; 4.x reads no line from an empty file and fails the same rule too."""
    facts = Facts()
    facts.items[Request("file_read", "/etc/empty")] = Item(OK, b"")
    assert _result(_policy([_check("f:/etc/empty -> !r:^PermitRootLogin yes", "5")], regex_type="pcre2"),
                   facts)[0] == "failed"
    facts.items[Request("file_read", "/etc/empty")] = Item(OK, b"Port 22\n")
    assert _result(_policy([_check("f:/etc/empty -> !r:^PermitRootLogin yes", "5")], regex_type="pcre2"),
                   facts)[0] == "passed"


def test_4x_would_refuse_the_policy_is_said_per_check() -> None:
    """wm_sca.c l.684-703 (wm_sca_check_policy): a rule must start with f, d, p, c (r only on
    Windows) after an optional `not `; otherwise 4.x skips the whole policy. secops keeps
    evaluating the other checks and says so on the check."""
    facts = Facts()
    facts.items[Request("file_exists", "/etc/x")] = Item(OK)
    policy = _policy([_check("!f:/etc/x", "4", check_id=1), _check("f:/etc/x", "4", check_id=2),
                      _check("x:/etc/x", "4", check_id=3)])
    checks = {c.check_id: c for c in evaluate_offline(policy, facts, "linux").checks}
    assert "Wazuh 4.x would refuse this policy" in checks["1"].reason and "'!'" in checks["1"].reason
    assert "Wazuh 4.x would refuse this policy" in checks["3"].reason and "unknown type 'x'" in checks["3"].reason
    assert checks["2"].result == "passed" and checks["2"].reason == ""
    five = _policy([_check("!f:/etc/x", "5")])
    assert "Wazuh 4.x" not in evaluate_offline(five, facts, "linux").checks[0].reason


def test_reg_multi_sz_is_matched_as_one_text() -> None:
    """4.x wm_sca.c l.2479-2494 appends each string of a REG_MULTI_SZ value and a space before
    matching; 5.x matches the strings joined by spaces (sca_impl/tests/sca_utils_test.cpp l.282).
    Real cases: 26044 (CIS Windows 11, 4.x) and 15548 (CIS Windows 10, 5.x): the value holds exactly
    the required paths."""
    key = "HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Control\\SecurePipeServers\\Winreg\\AllowedExactPaths"
    paths = ["System\\CurrentControlSet\\Control\\ProductOptions", "System\\CurrentControlSet\\Control\\Server "
             "Applications", "Software\\Microsoft\\Windows NT\\CurrentVersion"]
    facts = Facts()
    facts.items[Request("registry", key)] = Item(OK, "".join(f"Machine\t{p}\n" for p in paths).encode())
    for dialect, name, check_id in (("4", "wazuh-4.14/cis_win11_enterprise.yml", 26044),
                                    ("5", "wazuh-5.0/cis_win10_enterprise.yml", 15548)):
        data = yaml.safe_load((SCA / name).read_text())
        check = next(c for c in data["checks"] if c["id"] == check_id)
        policy = _policy([check], regex_type=data["policy"].get("regex_type", "osregex"))
        assert policy.dialect == dialect
        assert _result(policy, facts, "windows")[0] == "passed", (name, check["rules"])
