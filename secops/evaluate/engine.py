"""Evaluate SCA policies against collected facts: rules -> checks -> policy score.

Results follow Wazuh: a check is passed, failed or not_applicable (with the reason), plus
`error` when secops could not collect what a rule needs. Conditions aggregate rule outcomes as
Wazuh documents (all: any failed -> failed, else any n/a -> n/a; any: any passed -> passed, else
any n/a -> n/a; none: any passed -> failed, else any n/a -> n/a); an error outranks n/a.
Score = passed / (passed + failed).

Collection is planned in (at most) two rounds so a host costs few round trips:
round 1 = every requirement rule, plus all non-command facts, plus the commands of policies
without requirements; round 2 = commands of the policies whose requirements hold (Wazuh does
not run a policy's checks on a host that fails its requirements) and the contents of files found
in directories by `d:` rules.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from secops.evaluate.evidence import check_evidence
from secops.evaluate.facts import MISSING, NOT_REGULAR, OK, UNREADABLE, Facts, Request
from secops.evaluate.regex import PatternTooCostly, bounded
from secops.evaluate.rules import InvalidTest, Rule, RuleSyntaxError
from secops.evaluate.sca_load import Check, Condition, Policy
from secops.interrupts import check_stop

Outcome = Literal["pass", "fail", "na", "error"]
CheckStatus = Literal["passed", "failed", "not_applicable", "error", "waived"]  # waived: see waivers.py
MAX_DIR_FILES = 200  # files read per d: content rule; bounded so /etc/** cannot flood a host


@dataclass(frozen=True)
class RuleResult:
    outcome: Outcome
    reason: str = ""


class CheckResult(BaseModel):
    policy_id: str
    check_id: str
    title: str
    result: CheckStatus
    reason: str = ""
    severity: str | None = None  # only where the pack gives one (secops: severity)
    serves: list[str] = Field(default_factory=list)
    remediation: str = ""
    product: str | None = None
    aspect: str | None = None
    rationale: str = ""
    compliance: dict[str, list[str]] = Field(default_factory=dict)  # the policy's mappings (cis, nist_800_53...)
    evidence: str = ""  # what decided a failed / not applicable / error check (evaluate/evidence.py)


class PolicyResult(BaseModel):
    policy_id: str
    name: str
    applicable: bool
    reason: str = ""
    dialect: str = "4"  # the Wazuh SCA dialect the policy was read in ("4" or "5")
    checks: list[CheckResult] = Field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for c in self.checks if c.result == result)

    @property
    def score(self) -> float | None:
        """passed / (passed + failed): not applicable, error and waived results are left out."""
        passed, failed = self.count("passed"), self.count("failed")
        return passed / (passed + failed) if passed + failed else None

    def summary(self) -> dict[str, object]:
        return {"policy": self.policy_id, "name": self.name, "applicable": self.applicable, "reason": self.reason,
                "dialect": self.dialect, "waived": self.count("waived"),
                "passed": self.count("passed"), "failed": self.count("failed"),
                "not_applicable": self.count("not_applicable"), "error": self.count("error"), "score": self.score}


# --- which facts a rule needs ---------------------------------------------------------------

def rule_needs(rule: Rule) -> set[Request]:
    if rule.type == "f":
        kind = "file_read" if rule.content else "file_exists"
        return {Request(kind, loc) for loc in rule.locations}  # type: ignore[arg-type]
    if rule.type == "d":
        kind = "dir_list" if rule.parts else "dir_exists"
        return {Request(kind, loc) for loc in rule.locations}  # type: ignore[arg-type]
    if rule.type == "p":
        return {Request("processes")}
    if rule.type == "c":
        if rule.dialect == "4" and rule.content is None:
            return set()  # 4.x passes a c: rule without a pattern without running it (wm_sca.c l.1694)
        return {Request("command", rule.location)}
    if rule.type == "r":
        return {Request("registry", rule.location)}
    return set()


def dir_files(rule: Rule, facts: Facts) -> list[str]:
    """Files under a d: rule's directories whose name passes its file-name test."""
    assert rule.name_test is not None
    found: list[str] = []
    for loc in rule.locations:
        item = facts.get(Request("dir_list", loc))
        if item is None or item.status != OK:
            continue
        found.extend(path for path in item.lines() if rule.name_test.line_matches(posixpath.basename(path)))
    return sorted(set(found))[:MAX_DIR_FILES]


def followup_needs(rule: Rule, facts: Facts) -> set[Request]:
    if rule.type == "d" and rule.content is not None:
        try:
            with bounded():
                return {Request("file_read", path) for path in dir_files(rule, facts)}
        except (InvalidTest, PatternTooCostly):
            return set()  # evaluating the rule meets the same problem and says so (not applicable)
    return set()


# --- evaluating one rule ---------------------------------------------------------------------

def _missing(facts: Facts, request: Request) -> RuleResult | None:
    if request in facts.unsupported:
        return RuleResult("na", f"{request.kind} {request.arg}: {facts.unsupported[request]}".replace("  ", " "))
    if request in facts.errors:
        return RuleResult("error", f"{request.kind} {request.arg}: {facts.errors[request]}")
    if facts.get(request) is None:
        return RuleResult("error", f"{request.kind} {request.arg}: not collected")
    return None


def _file_rule(rule: Rule, facts: Facts) -> RuleResult:
    """4.x: wm_sca.c l.1484-1680 (a list passes on the first file found/matching; a file that does not
    exist or is not regular makes the rule invalid unless another file passes). 5.x: one path;
    sca_policy_check.cpp l.103-180 (existence: a regular file; content: invalid if it is not one)."""
    kind = "file_read" if rule.content else "file_exists"
    reasons: list[str] = []
    found = False
    for loc in rule.locations:
        request = Request(kind, loc)  # type: ignore[arg-type]
        if (problem := _missing(facts, request)) is not None:
            return problem
        item = facts.items[request]
        if item.status == OK:
            if rule.content is None or rule.content.any_line(item.lines()):
                found = True
                break
        elif item.status == MISSING:
            if rule.content is not None:
                reasons.append(f"file {loc} does not exist")
        elif item.status == UNREADABLE:
            reasons.append(f"file {loc} cannot be read (permission denied)")
        elif item.status == NOT_REGULAR:
            if rule.content is not None or rule.dialect == "4":  # 5.x: f: on a directory just fails
                reasons.append(f"{loc} is not a regular file")
    if found:
        return RuleResult("pass")
    return RuleResult("na", "; ".join(reasons)) if reasons else RuleResult("fail")


def _dir_rule(rule: Rule, facts: Facts) -> RuleResult:
    """4.x: wm_sca.c l.841-880, 2049-2175; 5.x: sca_policy_check.cpp l.360-560."""
    kind = "dir_list" if rule.parts else "dir_exists"
    existing, reasons = [], []
    for loc in rule.locations:
        request = Request(kind, loc)  # type: ignore[arg-type]
        if (problem := _missing(facts, request)) is not None:
            return problem
        status = facts.items[request].status
        if status == OK:
            existing.append(loc)
        elif status == NOT_REGULAR and rule.dialect == "4":
            reasons.append(f"{loc} is not a directory")  # 4.x: opendir fails with ENOTDIR -> invalid
        elif rule.parts:
            reasons.append(f"directory {loc} does not exist")
    if not rule.parts:
        if existing:
            return RuleResult("pass")
        return RuleResult("na", "; ".join(reasons)) if reasons else RuleResult("fail")
    if not existing:
        return RuleResult("na", "; ".join(reasons) or f"directory {', '.join(rule.locations)} does not exist")
    files = dir_files(rule, facts)
    if rule.content is None:
        return RuleResult("pass" if files else "fail")
    for path in files:
        request = Request("file_read", path)
        if (problem := _missing(facts, request)) is not None:
            return problem
        item = facts.items[request]
        if item.status == OK and rule.content.any_line(item.lines()):
            return RuleResult("pass")
    return RuleResult("fail")


def _process_rule(rule: Rule, facts: Facts) -> RuleResult:
    request = Request("processes")
    if (problem := _missing(facts, request)) is not None:
        return problem
    name = rule.location
    for line in facts.items[request].lines():
        comm, _, args = line.partition("\t")
        if rule.dialect == "5":
            # sca_policy_check.cpp l.565-615: equal to a process name or to its full command line
            if name in (comm, args.rstrip()):
                return RuleResult("pass")
            continue
        argv0 = posixpath.basename(args.split(" ", 1)[0]) if args else ""
        if rule.content is not None and any(rule.content.line_matches(n) for n in (comm, argv0) if n):
            return RuleResult("pass")  # 4.x: literal (case-insensitive) or r: pattern on the process name
        # /proc/PID/comm is cut to 15 characters, so compare the cut name too (and argv[0]'s base name:
        # a deviation, Wazuh 4.x sees only the cut name)
        if name in (comm, argv0) or (len(name) > 15 and comm == name[:15]):
            return RuleResult("pass")
    return RuleResult("fail")


def _command_rule(rule: Rule, facts: Facts) -> RuleResult:
    """4.x: wm_sca.c l.1683-1763; 5.x: sca_policy_check.cpp l.240-330."""
    if rule.dialect == "4" and rule.content is None:
        return RuleResult("pass")  # "No pattern given. Returning FOUND." without running it
    request = Request("command", rule.location)
    if (problem := _missing(facts, request)) is not None:
        return problem
    item = facts.items[request]
    if item.status == 127:
        return RuleResult("na", f"command not found: {rule.location}")
    if item.status == 126:
        return RuleResult("na", f"command not executable: {rule.location}")
    if item.status == 124:
        return RuleResult("na", f"command timed out: {rule.location}")
    if rule.content is None:
        return RuleResult("pass")  # 5.x: the command ran, whatever its exit status
    if rule.dialect == "4":
        return _pieces_4(rule, os_strbreak(item.text()))
    if not item.text().strip("\n"):
        return RuleResult("fail")  # PatternMatches on empty content is false (sca_utils.cpp l.265)
    if rule.content.literal_line is not None:  # the whole output, trailing newlines cut, equals it
        return RuleResult("pass" if item.text().strip("\n") == rule.content.literal_line else "fail")
    try:
        return RuleResult("pass" if rule.content.any_line(item.text().strip("\n").split("\n")) else "fail")
    except InvalidTest:
        # 5.x (sca_policy_check.cpp l.270-279): the pattern is also tested on stderr, which wm_exec
        # leaves empty, and PatternMatches("") is false, not an error: a pattern that throws on the
        # output gives NotFound (then `not` applies), never Invalid.
        return RuleResult("fail")


def os_strbreak(text: str, size: int = 256) -> list[str]:
    """Wazuh 4.x OS_StrBreak('\n', text, size) (os_regex/os_regex_strbreak.c l.22-120): split on
    newlines into at most `size` pieces (the last holds the rest), keeping the empty piece after a
    trailing newline; a backslash before a newline is dropped and the newline kept in the piece."""
    pieces: list[str] = []
    current: list[str] = []
    previous = ""
    for char in text:
        if len(pieces) < size - 1 and char == "\n" and previous == "\\":
            current.pop()  # the backslash goes, the newline stays in this piece
            current.append(char)
            previous = char
            continue
        if len(pieces) < size - 1 and char == "\n":
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
        previous = char
    pieces.append("".join(current))
    return pieces


def _pieces_4(rule: Rule, pieces: list[str]) -> RuleResult:
    """4.x (wm_sca.c l.1739-1758): each piece, trailing CR/LF trimmed (os_trimcrlf), is tested; the
    first that matches decides FOUND, otherwise the last piece's result stands (NOT_FOUND, or
    INVALID when its test could not be evaluated)."""
    assert rule.content is not None
    result = RuleResult("fail")
    for piece in pieces:
        try:
            if rule.content.line_matches(piece.rstrip("\r\n")):
                return RuleResult("pass")
            result = RuleResult("fail")
        except InvalidTest as exc:
            result = RuleResult("na", f"invalid rule {rule.source!r}: {exc}")
    return result


def _registry_rule(rule: Rule, facts: Facts, host_os: str) -> RuleResult:
    if host_os != "windows":
        return RuleResult("na", "registry rules (r:) apply to Windows hosts only")
    request = Request("registry", rule.location)
    if (problem := _missing(facts, request)) is not None:
        return problem
    item = facts.items[request]
    if item.status != OK:
        return RuleResult("fail" if not rule.parts else "na", f"registry key {rule.location} does not exist")
    if not rule.parts:
        return RuleResult("pass")
    values: dict[str, list[str]] = {}
    for line in item.lines():  # "name<TAB>data" per value; multi-string values give several lines
        name, _, data = line.partition("\t")
        values.setdefault(name.lower(), []).append(data)
    wanted = rule.parts[0].lower()
    if rule.content is None:
        return RuleResult("pass" if wanted in values else "fail")
    if wanted not in values:
        return RuleResult("na", f"registry value {rule.parts[0]} does not exist in {rule.location}")
    found = values[wanted]
    if len(found) > 1:
        # A multi-string value (REG_MULTI_SZ) is matched as one text: 4.x appends each string and a
        # space (wm_sca.c l.2479-2494); 5.x matches the strings joined by spaces (sca_utils_test.cpp
        # l.282, PatternMatchesTest.REG_MULTI_SZtest).
        found = ["".join(f"{v} " for v in found)] if rule.dialect == "4" else [" ".join(found)]
    return RuleResult("pass" if rule.content.any_line(found) else "fail")


def evaluate_rule(rule: Rule, facts: Facts, host_os: str) -> RuleResult:
    """One rule, bounded in time (regex.RULE_SECONDS): past it the rule is not applicable."""
    check_stop()  # an audit's worker thread: the command is stopping
    try:
        with bounded():
            return _evaluate_rule(rule, facts, host_os)
    except InvalidTest as exc:  # Wazuh reports the rule invalid: the check is not applicable
        return RuleResult("na", f"invalid rule {rule.source!r}: {exc}")
    except PatternTooCostly as exc:  # hostile host output must not hold up the audit
        return RuleResult("na", f"pattern too costly: {rule.source!r} ({exc})")


def _evaluate_rule(rule: Rule, facts: Facts, host_os: str) -> RuleResult:
    if rule.type == "f":
        result = _file_rule(rule, facts)
    elif rule.type == "d":
        result = _dir_rule(rule, facts)
    elif rule.type == "p":
        result = _process_rule(rule, facts)
    elif rule.type == "c":
        result = _command_rule(rule, facts)
    elif rule.type == "r":
        result = _registry_rule(rule, facts, host_os)
    else:
        return RuleResult("na", f"unsupported rule type '{rule.type}:'")
    if rule.negated and result.outcome in ("pass", "fail"):
        return RuleResult("fail" if result.outcome == "pass" else "pass", result.reason)
    return result


def aggregate(condition: Condition, results: list[RuleResult]) -> tuple[CheckStatus, str]:
    outcomes = [r.outcome for r in results]
    first_error = next((r.reason for r in results if r.outcome == "error"), "")
    first_na = next((r.reason for r in results if r.outcome == "na"), "")
    if condition == "all":
        if "fail" in outcomes:
            return "failed", ""
    elif "pass" in outcomes:
        return ("passed", "") if condition == "any" else ("failed", "")
    if "error" in outcomes:
        return "error", first_error
    if "na" in outcomes:
        return "not_applicable", first_na
    if condition == "any":
        return "failed", ""
    return "passed", ""


# --- a policy on a host ----------------------------------------------------------------------

def os_matches(wanted: str | None, host_os: str) -> bool:
    return wanted in (None, "any") or wanted == host_os or (wanted == "linux" and host_os == "unknown")


@dataclass
class PreparedPolicy:
    """A policy with its variables substituted and its rules parsed once per audit."""

    policy: Policy
    requirements: list[Rule]
    checks: list[tuple[Check, list[Rule]]]
    skip_reason: str = ""  # set when the policy does not apply to the host's OS
    applicable: bool | None = None
    reason: str = ""
    errors: list[str] = field(default_factory=list)
    bad_checks: dict[str, str] = field(default_factory=dict)  # check id -> why its rules cannot be parsed

    @classmethod
    def build(cls, policy: Policy, host_os: str, overrides: dict[str, str] | None = None) -> PreparedPolicy:
        variables = policy.effective_variables(overrides)
        skip = "" if os_matches(policy.secops.os, host_os) else f"policy applies to {policy.secops.os} hosts only"
        reqs: list[Rule] = []
        if policy.requirements:
            try:
                reqs = policy.compiled(policy.requirements.rules, variables, policy.regex_type())
            except RuleSyntaxError as exc:
                skip = skip or f"requirements cannot be evaluated: {exc}"
            if reqs and host_os != "windows" and all(r.type == "r" for r in reqs):
                # A Windows policy (registry requirements) on another OS: not a finding per check,
                # even in the 5.x dialect (which would list every check as not applicable).
                skip = skip or "policy applies to Windows hosts only (its requirements are registry rules)"
        checks: list[tuple[Check, list[Rule]]] = []
        bad: dict[str, str] = {}
        for check in policy.checks:
            try:
                checks.append((check, policy.compiled(check.rules, variables, policy.regex_type(check))))
            except RuleSyntaxError as exc:  # one bad rule costs its check, never the policy
                checks.append((check, []))
                bad[str(check.id)] = f"invalid rule: {exc}"
        return cls(policy, reqs, checks, skip_reason=skip, bad_checks=bad)

    def round1(self) -> set[Request]:
        if self.skip_reason:
            return set()
        needs = set().union(*(rule_needs(r) for r in self.requirements))
        for _, rules in self.checks:
            for rule in rules:
                if rule.type != "c" or not self.requirements:
                    needs |= rule_needs(rule)
        return needs

    def gated_commands(self) -> set[Request]:
        """Commands of checks that run only when the policy's requirements hold."""
        if self.skip_reason or not self.requirements:
            return set()
        return {need for _, rules in self.checks for rule in rules if rule.type == "c" for need in rule_needs(rule)}

    def content_dir_rules(self) -> list[Rule]:
        """`d:` rules that read the files they list (requirements and checks)."""
        if self.skip_reason:
            return []
        rules = [*self.requirements, *(rule for _, rules in self.checks for rule in rules)]
        return [rule for rule in rules if rule.type == "d" and rule.content is not None and rule.name_test is not None]

    def decide_requirements(self, facts: Facts, host_os: str) -> None:
        """4.x skips a policy whose requirements fail (wm_sca.c l.1340); 5.x reports every check
        not applicable (sca_policy.cpp l.104-120), see evaluate()."""
        if self.skip_reason:
            self.applicable, self.reason = False, self.skip_reason
            return
        if not self.policy.requirements:
            self.applicable = True
            return
        status, why = aggregate(self.policy.requirements.condition,
                                [evaluate_rule(r, facts, host_os) for r in self.requirements])
        self.applicable = status == "passed"
        if not self.applicable:
            title = self.policy.requirements.title or self.policy.requirements.name or "requirements"
            self.reason = f"requirements not met: {title}" + (f" ({why})" if why else "")

    def round2(self, facts: Facts) -> set[Request]:
        if not self.applicable:
            return set()
        needs: set[Request] = set()
        for _, rules in self.checks:
            for rule in rules:
                needs |= rule_needs(rule) | followup_needs(rule, facts)
        return needs

    def evaluate(self, facts: Facts, host_os: str) -> PolicyResult:
        result = PolicyResult(policy_id=self.policy.id, name=self.policy.policy.name,
                              applicable=bool(self.applicable), reason=self.reason, dialect=self.policy.dialect)
        if not self.applicable:
            if self.policy.dialect == "5" and not self.skip_reason:
                result.checks = [self._result(check, "not_applicable", "Policy requirements not met")
                                 for check, _ in self.checks]
            return result
        for check, rules in self.checks:
            ext = check.secops
            status: CheckStatus
            if str(check.id) in self.bad_checks:
                status, why = "not_applicable", self.bad_checks[str(check.id)]
            elif not os_matches(ext.os, host_os):
                status, why = "not_applicable", f"check applies to {ext.os} hosts only"
            else:
                status, why = aggregate(check.condition, [evaluate_rule(r, facts, host_os) for r in rules])
            if self.policy.dialect == "4" and (refused := refused_by_4(check, host_os)):
                why = f"{why}; {refused}" if why else refused
            checked = self._result(check, status, why)
            if status != "passed":
                checked.evidence = check_evidence(rules, facts)
            result.checks.append(checked)
        return result

    def _result(self, check: Check, status: CheckStatus, why: str) -> CheckResult:
        ext = check.secops
        return CheckResult(policy_id=self.policy.id, check_id=str(check.id), title=check.title, result=status,
                           reason=why, severity=ext.severity, serves=ext.serves, remediation=check.remediation,
                           product=ext.product, aspect=ext.aspect, rationale=check.rationale,
                           compliance=compliance_of(check))


def compliance_of(check: Check) -> dict[str, list[str]]:
    """A check's `compliance` block (Wazuh: a list of one-key mappings, or a mapping) as
    framework -> references, every value a string; anything else in it is left out."""
    raw = (check.model_extra or {}).get("compliance")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    out: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        for framework, refs in item.items():
            values = refs if isinstance(refs, list) else [refs]
            out.setdefault(str(framework), []).extend(str(v) for v in values if isinstance(v, (str, int, float)))
    return out


def refused_by_4(check: Check, host_os: str) -> str:
    """Why Wazuh 4.x would refuse the whole policy over this check's rules, "" if it would not.

    4.x checks every rule before it runs a policy (wm_sca.c l.684-703, wm_sca_check_policy): after
    an optional `not `, a rule must start with f, d, p or c (r only on Windows), so `!f:...`, an
    unknown type or `r:` on Linux make it skip the policy. secops evaluates the other checks and
    gives this one its own result, and says so here."""
    for text in check.rules:
        body = text[4:] if text[:4] in ("NOT ", "not ") else text
        first = body[:1]
        if first in ("f", "d", "p", "c") or (first == "r" and host_os == "windows"):
            continue
        what = ("starts with '!'" if first == "!" else "is empty" if not first else
                "is a registry rule off Windows" if first == "r" else f"has an unknown type '{first}'")
        return f"Wazuh 4.x would refuse this policy: rule {text!r} {what} (wm_sca.c l.684-703)"
    return ""


def evaluate_offline(policy: Policy, facts: Facts, host_os: str = "linux",
                     overrides: dict[str, str] | None = None) -> PolicyResult:
    """Evaluate one policy against facts already collected (tests, `checks` tooling)."""
    prepared = PreparedPolicy.build(policy, host_os, overrides)
    prepared.decide_requirements(facts, host_os)
    return prepared.evaluate(facts, host_os)
