"""Host-side decisions for one round trip per POSIX host: requirement guards and directory reads.

Wazuh runs a policy's commands only on hosts that meet its requirements, and a `d:` content rule
reads only the files whose names pass its test. Asking the host first and deciding here costs a
second round trip; instead the collector script decides on the host, from sh tests that are
*supersets* of the real outcome:

- a guard for a policy is true whenever its requirements could pass (it may be true when they do
  not: then the commands ran for nothing and their answers are ignored);
- a directory filter keeps every file whose name could pass a rule's name test.

Both are built from the fixed substrings every matching line must contain (`required_literals`),
tested with `grep -iF` — no regex dialect is translated to the host's grep. The engine still
evaluates every rule on the answers with the real regex engines; anything the host skipped that
turns out to be needed (a guard that said no, a file past the host's cap) is asked in a second
round, so these shortcuts can cost speed, never correctness.
"""

from __future__ import annotations

import re._parser as sre  # type: ignore[import-not-found]  # the stdlib's own regex parser
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from secops.evaluate.engine import PreparedPolicy
from secops.evaluate.facts import Request
from secops.evaluate.rules import Content, Rule, Test

MAX_OUTPUT = 4 * 1024 * 1024  # as in batch.py: bytes read per file or command
TRUE, FALSE = ":", "false"
Alternatives = list[list[str]]  # a line matches only if it holds every string of one alternative


def _runs(items: Iterable[tuple[object, object]]) -> list[str]:
    """The runs of plain characters in one branch of a parsed regex (printable ASCII only, so that
    `grep -i` under LC_ALL=C folds case the way the regex does)."""
    runs, current = [], ""
    for op, arg in items:
        if op is sre.LITERAL and isinstance(arg, int) and 32 <= arg < 127:
            current += chr(arg)
            continue
        if current:
            runs.append(current)
        current = ""
    if current:
        runs.append(current)
    return runs


def _unwrap(items: list[tuple[object, object]]) -> list[tuple[object, object]]:
    """A pattern that is one group, e.g. OS_Regex's `(?:a)|(?:b)` branches: its inside."""
    while len(items) == 1 and items[0][0] is sre.SUBPATTERN:
        items = list(items[0][1][3])  # type: ignore[index]
    return items


def regex_literals(pattern: str) -> Alternatives | None:
    """Alternatives of substrings any match of `pattern` contains; None when that cannot be told."""
    try:
        parsed = _unwrap(list(sre.parse(pattern)))
    except Exception:  # a PCRE2 feature Python's parser lacks: no host-side filter
        return None
    # Python's parser moves a prefix shared by all alternatives out of the branch (`^a|^b` is
    # `^(?:a|b)`): the first branch in the sequence gives the alternatives, around it the runs
    # that every alternative needs. Further branches only break runs.
    at = next((n for n, (op, _) in enumerate(parsed) if op is sre.BRANCH), None)
    if at is None:
        return [_runs(parsed)]
    before, after = _runs(parsed[:at]), _runs(parsed[at + 1:])
    branches = parsed[at][1][1]  # type: ignore[index]
    return [before + _runs(_unwrap(list(branch))) + after for branch in branches]


def _pattern_text(test: Test) -> str | None:
    compiled = getattr(test.matcher, "compiled", None)
    return getattr(compiled, "pattern", None) if compiled is not None else None


def test_literals(test: Test) -> Alternatives | None:
    """Substrings a line passing this (non-negated) test must hold."""
    if test.problem:
        return None
    if test.op == "literal":
        return [[test.text]] if test.text.isascii() and test.text.isprintable() else None
    pattern = _pattern_text(test)
    return None if pattern is None else regex_literals(pattern)


def _stage(alternatives: Alternatives | None) -> list[list[str]]:
    """grep -iF stages for one test: all runs of a single alternative, else the longest of each."""
    if not alternatives:
        return []
    if len(alternatives) == 1:
        return [[run] for run in alternatives[0]]
    if any(not alt for alt in alternatives):
        return []  # one alternative needs no fixed text: any line may match
    return [[max(alt, key=len) for alt in alternatives]]


def content_stages(content: Content | None) -> list[list[str]]:
    """The grep stages (each a list of -e strings, OR-ed) a line matching `content` passes."""
    if content is None:
        return []
    if content.dialect == "5" and content.literal_line is None and len(content.tests) == 1 and content.tests[0].negated:
        return []  # a lone negated test in 5.x passes when no line matches: nothing to require
    stages: list[list[str]] = []
    for test in content.tests:
        if not test.negated:
            stages.extend(_stage(test_literals(test)))
    return stages


def _grep(stages: list[list[str]], source: str) -> str:
    """`source | grep -iF … | … | grep -qiF …`: true if some line holds every stage."""
    if not stages:
        return f"{{ {source} >/dev/null; }}"
    parts = [source]
    for n, stage in enumerate(stages):
        flags = "-qiF" if n == len(stages) - 1 else "-iF"
        parts.append(f"grep {flags} " + " ".join(f"-e {shlex.quote(s)}" for s in stage))
    return " | ".join(parts)


def _any(tests: list[str]) -> str:
    return "{ " + " || ".join(tests) + "; }" if tests else FALSE


@dataclass(frozen=True)
class Guard:
    may_pass: str  # sh test, true whenever the rule could pass
    may_fail: str  # sh test, true whenever the rule could fail


def rule_guard(rule: Rule, host_os: str, command_timeout: int) -> Guard:
    guard = _base_guard(rule, host_os, command_timeout)
    return Guard(guard.may_fail, guard.may_pass) if rule.negated else guard


def _base_guard(rule: Rule, host_os: str, command_timeout: int) -> Guard:
    if rule.type == "f":
        paths = [shlex.quote(p) for p in rule.locations]
        if rule.content is None:
            exists = _any([f"[ -f {p} ]" for p in paths])
            return Guard(exists, f"! {exists}")
        stages = content_stages(rule.content)
        return Guard(_any([f"{{ [ -f {p} ] && {_grep(stages, f'head -c {MAX_OUTPUT} -- {p} 2>/dev/null')}; }}"
                           for p in paths]), TRUE)
    if rule.type == "d":
        paths = [shlex.quote(p) for p in rule.locations]
        exists = _any([f"[ -d {p} ]" for p in paths])
        return Guard(exists, f"! {exists}" if not rule.parts else TRUE)
    if rule.type == "c" and rule.content is not None:
        stages = content_stages(rule.content)
        if not stages:
            return Guard(TRUE, TRUE)
        command = shlex.quote(rule.location)
        return Guard(_grep(stages, f"tmo {command_timeout} sh -c {command} </dev/null 2>/dev/null | head -c {MAX_OUTPUT}"),
                     TRUE)
    if rule.type == "r" and host_os != "windows":
        return Guard(FALSE, FALSE)  # registry rules are not applicable off Windows: never pass nor fail
    return Guard(TRUE, TRUE)  # p:, c: without a pattern, ...: the host cannot tell beforehand


def requirements_guard(condition: str, rules: list[Rule], host_os: str, command_timeout: int) -> str:
    """sh test, true whenever requirements under `condition` (all/any/none) could pass."""
    guards = [rule_guard(r, host_os, command_timeout) for r in rules]
    if not guards:
        return TRUE
    if condition == "any":
        return "{ " + " || ".join(g.may_pass for g in guards) + "; }"
    tests = [g.may_pass for g in guards] if condition == "all" else [g.may_fail for g in guards]
    return "{ " + " && ".join(tests) + "; }"


def name_filter(name_tests: list[Content | None]) -> list[str] | None:
    """`grep -iF -e …` strings a path must hold to be read for these d: name tests (OR-ed);
    None: read every listed file (some test needs no fixed text)."""
    wanted: list[str] = []
    for test in name_tests:
        stages = content_stages(test)
        if not stages:
            return None
        # one stage per test is enough for a superset: keep the stage with the longest shortest string
        wanted.extend(max(stages, key=lambda stage: min(len(s) for s in stage)))
    return sorted(set(wanted))


@dataclass
class HostPlan:
    """What the round-1 script decides on the host."""

    guards: list[str] = field(default_factory=list)  # sh tests, evaluated once at the top of the script
    gated: dict[Request, set[int]] = field(default_factory=dict)  # command -> guards; runs if any holds
    dir_reads: dict[str, list[str] | None] = field(default_factory=dict)  # dir_list path -> name filter

    def add_gate(self, guard: str, commands: set[Request]) -> None:
        if not commands:
            return
        if guard == TRUE:
            index = -1  # always runs
        else:
            if guard not in self.guards:
                self.guards.append(guard)
            index = self.guards.index(guard)
        for command in commands:
            self.gated.setdefault(command, set()).add(index)

    def add_dir_reads(self, location: str, name_tests: list[Content | None]) -> None:
        wanted = name_filter(name_tests)
        if location in self.dir_reads:
            old = self.dir_reads[location]
            wanted = None if old is None or wanted is None else sorted(set(old) | set(wanted))
        self.dir_reads[location] = wanted

    def always(self) -> set[Request]:
        """Gated commands one of whose users has no requirements: they run unconditionally."""
        return {request for request, guards in self.gated.items() if -1 in guards}


def plan_host(prepared: list[PreparedPolicy], host_os: str, command_timeout: int) -> HostPlan:
    """The round-1 plan for a POSIX host: every policy's commands behind its requirements' guard,
    and the files of `d:` content rules read where they are listed."""
    plan = HostPlan()
    reads: dict[str, list[Content | None]] = {}
    for policy in prepared:
        if policy.skip_reason:
            continue
        if policy.requirements:
            assert policy.policy.requirements is not None
            guard = requirements_guard(policy.policy.requirements.condition, policy.requirements, host_os,
                                       command_timeout)
            plan.add_gate(guard, policy.gated_commands())
        for rule in policy.content_dir_rules():
            for location in rule.locations:
                reads.setdefault(location, []).append(rule.name_test)
    for location, tests in reads.items():
        plan.add_dir_reads(location, tests)
    return plan
