"""Parse Wazuh SCA rules (`f:`, `d:`, `p:`, `c:`, `r:`) and test content against them, per dialect.

Grammar (both dialects; ` -> ` and ` && ` separate parts):

    rule     := ["not "] TYPE ":" LOCATION [" -> " PATTERN]        (d:/r: PATTERN := NAME [" -> " CONTENT])
    content  := test (" && " test)*         test := ["!"] ("r:" REGEX | "n:" REGEX " compare " OP NUMBER | LITERAL)

Everything after the first ` -> ` is the pattern (wm_sca.c wm_sca_get_pattern; sca_utils.cpp
GetPattern), so `c:cmd -> r:a -> r:b` tests the regex `a -> r:b`. The two dialects differ; see
README "Wazuh SCA dialects" for the list with Wazuh source lines:

- "4" (Wazuh 4.x wm_sca.c): literal tests compare a whole line case-insensitively; a regex its
  compiler rejects never matches; `n:` reads `=`-prefixed operators as `==`; `f:`/`d:` split
  comma-separated lists.
- "5" (Wazuh 5.x sca_impl): every regex is PCRE2 (caseless, multiline); a literal must equal a
  line exactly; a single `!r:` passes only when no line matches; `n:` needs a valid operator and
  compares the whole match when the regex has no group; a bad regex makes the rule invalid.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from secops.evaluate.regex import (
    Flavour,
    Matcher,
    RegexError,
    compile_pattern,
    osregex_to_python,
)

RegexType = Literal["osregex", "pcre2"]
RuleType = Literal["f", "d", "p", "c", "r"]
Dialect = Literal["4", "5"]
RULE_TYPES = ("f", "d", "p", "c", "r")

__all__ = ["COMPARE", "Content", "Dialect", "InvalidTest", "RegexType", "Rule", "RuleSyntaxError", "Test",
           "osregex_to_python", "parse_content", "parse_rule", "parse_test", "substitute"]

COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}


class RuleSyntaxError(ValueError):
    """A rule that cannot be parsed; the check that holds it is not_applicable, never a silent pass."""


class InvalidTest(ValueError):
    """A test Wazuh reports as invalid when it runs (the rule becomes not applicable)."""


def flavour_for(dialect: Dialect, regex_type: RegexType) -> Flavour:
    if dialect == "5":
        return "pcre2_ci"
    return "pcre2" if regex_type == "pcre2" else "osregex"


def _numeric_4(expr: str) -> tuple[str, str, int]:
    """wm_sca.c wm_sca_regex_numeric_comparison + wm_sca_apply_numeric_partial_comparison (4.14.7 l.1765-1975)."""
    regex, sep, partial = expr.partition(" compare ")
    if not sep:
        raise InvalidTest(f"Keyword 'compare' not found in '{expr}'")
    number = re.search(r"-?\d+", partial)  # deviation: Wazuh 4.x reads (\d+) and drops a minus sign
    if number is None:
        raise InvalidTest(f"No integer was found within the comparison '{partial}'")
    if partial.startswith("="):
        op = "=="  # 4.x: any comparison starting with '=' ('= 0', '=0', '=> 14', '=< 3') is equality
    else:
        op = next((o for o in ("!=", "<=", ">=", "<", ">") if o in partial), "")
        if not op:
            raise InvalidTest(f"Unrecognized operation: '{partial}'")
    return regex, op, int(number.group(0))


def _numeric_5(expr: str) -> tuple[str, str, int]:
    """sca_utils.cpp EvaluateNumericRegexComparison (l.92-163): 'compare', then OP and VALUE tokens."""
    pos = expr.find("compare")
    if pos == -1:
        raise InvalidTest("Invalid expression format, 'compare' keyword missing")
    regex = expr[:max(pos - 1, 0)]
    tokens = expr[pos + len("compare") + 1:].split()
    if len(tokens) < 2:
        raise InvalidTest("Invalid operator or expected value in numeric comparison")
    op, value = tokens[0], tokens[1]
    number = re.match(r"\s*[-+]?\d+", value)  # std::stoi reads a leading integer
    if number is None:
        raise InvalidTest(f"Invalid expected value '{value}' in numeric comparison")
    if op not in COMPARE:
        raise InvalidTest(f"Invalid operator '{op}' in numeric comparison")
    return regex, op, int(number.group(0))


@dataclass(frozen=True)
class Test:
    """One content test (minterm) on one line."""

    negated: bool
    op: Literal["literal", "regex", "numeric"]
    text: str
    dialect: Dialect = "4"
    matcher: Matcher | None = None
    compare: str | None = None
    value: int | None = None
    never: str = ""  # 4.x: the regex compiler rejected it, so the test never matches (the reason)
    invalid: str = ""  # evaluating it is invalid (Wazuh reports the rule invalid): the reason

    @property
    def problem(self) -> str:
        return self.invalid or self.never

    def positive(self, line: str) -> bool:
        """The test without its '!'; raises InvalidTest where Wazuh reports the rule invalid."""
        try:
            return self._positive(line)
        except RegexError as exc:  # sca_utils.cpp l.66-72: a PCRE2 match error is an invalid rule
            raise InvalidTest(str(exc)) from exc

    def _positive(self, line: str) -> bool:
        if self.invalid:
            raise InvalidTest(self.invalid)
        if self.op == "literal":
            # 4.x strcasecmp (wm_sca.c l.1997); 5.x exact compare (sca_utils.cpp l.182)
            return line.lower() == self.text.lower() if self.dialect == "4" else line == self.text
        if self.never:
            return False
        assert self.matcher is not None
        if self.op == "regex":
            return self.matcher.search(line)
        return self._numeric(line)

    def holds(self, line: str) -> bool:
        return self.positive(line) != self.negated

    def _numeric(self, line: str) -> bool:
        assert self.matcher is not None and self.compare is not None and self.value is not None
        if self.dialect == "4" and not self.matcher.groups:
            if self.matcher.search(line):
                raise InvalidTest(f"Regex '{self.text}' matched, but no string was captured by it")
            return False
        found = self.matcher.first_value(line)
        if found is None:
            return False
        number = re.match(r"\s*[-+]?\d+", found)
        if number is None:
            raise InvalidTest(f"Conversion error. Cannot convert '{found}' to integer.")
        return COMPARE[self.compare](int(number.group(0)), self.value)


@dataclass(frozen=True)
class Content:
    tests: tuple[Test, ...]
    dialect: Dialect = "4"
    literal_line: str | None = None  # 5.x: a pattern with no r:/n: test is one literal line

    def line_matches(self, line: str) -> bool:
        if self.literal_line is not None:
            return line == self.literal_line
        return all(test.holds(line) for test in self.tests)

    def any_line(self, lines: list[str]) -> bool:
        """Does the content (a file's or a command's lines) satisfy the pattern?"""
        if self.dialect == "5" and not lines:
            return False  # sca_utils.cpp l.265-268: empty content matches nothing, a lone `!r:` neither
        if self.dialect == "5" and self.literal_line is None and len(self.tests) == 1 and self.tests[0].negated:
            # sca_utils.cpp l.299-312: a lone negated test passes only if no line matches it
            return not any(self.tests[0].positive(line) for line in lines)
        return any(self.line_matches(line) for line in lines)

    @property
    def problems(self) -> list[str]:
        return [t.problem for t in self.tests if t.problem]


@dataclass(frozen=True)
class Rule:
    source: str
    negated: bool
    type: str
    location: str
    parts: tuple[str, ...] = field(default_factory=tuple)  # name / content parts after ' -> '
    content: Content | None = None  # content test (f:, c:, d: with a content part, r: with a data part)
    name_test: Content | None = None  # d: file-name test
    dialect: Dialect = "4"

    @property
    def locations(self) -> list[str]:
        """4.x splits f:/d: locations on commas (wm_sca.c l.1611, 1645, 853); 5.x takes one path."""
        if self.type in ("f", "d") and self.dialect == "4":
            return [p.strip() for p in self.location.split(",") if p.strip()]
        return [self.location]

    @property
    def problems(self) -> list[str]:
        """Tests in this rule that Wazuh rejects (listed by `checks validate` as warnings)."""
        return [*(self.name_test.problems if self.name_test else []), *(self.content.problems if self.content else [])]


def _compile(pattern: str, flavour: Flavour) -> tuple[Matcher | None, str]:
    try:
        return compile_pattern(pattern, flavour), ""
    except RegexError as exc:
        return None, f"bad regex '{pattern}': {exc}"


def parse_test(text: str, regex_type: RegexType = "osregex", dialect: Dialect = "4") -> Test:
    negated = text.startswith("!")
    body = text[1:] if negated else text
    flavour = flavour_for(dialect, regex_type)
    if body[:2] in ("r:", "R:") and (dialect == "4" or body.startswith("r:")):
        matcher, why = _compile(body[2:], flavour)
        if matcher is None:
            # 4.x: a pattern that does not compile is "not found" (wm_sca.c l.1987-1989);
            # 5.x: PCRE2 compile errors make the rule invalid (sca_utils.cpp l.28-40, l.338).
            return Test(negated, "regex", body[2:], dialect, never=why if dialect == "4" else "",
                        invalid=why if dialect == "5" else "")
        return Test(negated, "regex", body[2:], dialect, matcher=matcher)
    if body[:2] in ("n:", "N:") and (dialect == "4" or body.startswith("n:")):
        try:
            regex, op, value = (_numeric_4 if dialect == "4" else _numeric_5)(body[2:])
        except InvalidTest as exc:
            return Test(negated, "numeric", body[2:], dialect, invalid=str(exc))
        matcher, why = _compile(regex, flavour)
        if matcher is None:
            return Test(negated, "numeric", body[2:], dialect, invalid=why)
        return Test(negated, "numeric", body[2:], dialect, matcher=matcher, compare=op, value=value)
    return Test(negated, "literal", body, dialect)


def parse_content(text: str, regex_type: RegexType = "osregex", dialect: Dialect = "4") -> Content:
    if dialect == "5" and not re.match(r"!?[rn]:", text):
        # sca_utils.cpp IsRegexOrNumericPattern (l.356-361), sca_policy_check.cpp l.40, 59:
        # otherwise the whole pattern is one literal line
        return Content((Test(False, "literal", text, dialect),), dialect, literal_line=text)
    tests = tuple(parse_test(part, regex_type, dialect) for part in text.split(" && "))
    return Content(tests, dialect)


def _split_type(body: str, source: str) -> tuple[str, str]:
    head, sep, value = body.partition(":")
    rtype = head.removeprefix("!")  # '!f:' is plain 'f:' (wm_sca.c l.1440)
    if not sep or rtype not in RULE_TYPES:
        raise RuleSyntaxError(f"rule {source!r} does not start with a type such as f:, d:, p:, c:, r:")
    return rtype, value


def parse_rule(text: str, regex_type: RegexType = "osregex", dialect: Dialect = "4") -> Rule:
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError("empty rule")
    source = text
    body = text.strip(" \t")
    negated = False
    if body.startswith("not ") or dialect == "4" and body.startswith("NOT "):
        negated, body = True, body[4:].strip(" \t")
    if dialect == "5" and "->" in body:
        # sca_policy_check.cpp l.662-667: the rule is cut at the first '->', the pattern after ' -> '
        pattern_at = body.find(" -> ")
        pattern = body[pattern_at + 4:] if pattern_at != -1 else None
        rtype, location = _split_type(body[:body.find("->")].strip(" \t"), source)
    else:
        rtype, value = _split_type(body, source)
        location, sep, rest = value.partition(" -> ")
        pattern = rest if sep else None
    location = location.strip() if dialect == "4" else location
    if not location:
        raise RuleSyntaxError(f"rule {source!r} has no location")
    parts: tuple[str, ...] = ()
    content = name_test = None
    if pattern is not None:
        if rtype in ("d", "r"):
            name, sep, rest = pattern.partition(" -> ")
            parts = (name, rest) if sep else (name,)
            if rtype == "d":
                name_test = _name_test(name, regex_type, dialect)
            if sep:
                content = parse_content(rest, regex_type, dialect)
        elif rtype in ("f", "c"):
            parts = (pattern,)
            content = parse_content(pattern, regex_type, dialect)
        else:
            parts = (pattern,)  # p: only tests existence; the pattern is ignored (both dialects)
    if rtype == "p" and dialect == "4":
        # 4.x tests the value as a pattern against each process name (`ps -p PID`'s CMD column):
        # wm_sca.c l.2195-2200 wm_sca_pattern_matches(p_path, value); os_utils.c l.33-60, 100-110
        content = parse_content(location, regex_type, dialect)
    return Rule(source=source, negated=negated, type=rtype, location=location, parts=parts,
                content=content, name_test=name_test, dialect=dialect)


def _name_test(name: str, regex_type: RegexType, dialect: Dialect) -> Content:
    """d: file-name test. 4.x: `r:` is OS_Regex, else OS_Match (wm_sca.c l.2143-2145); 5.x: PCRE2 or exact name."""
    if dialect == "4" and not name.startswith("r:"):
        return Content((_osmatch_test(name),), "4")
    return parse_content(name, "osregex" if dialect == "4" else regex_type, dialect)


def _osmatch_test(name: str) -> Test:
    """OS_Match: a case-insensitive substring match, `^`/`$` anchor, `|` separates alternatives."""
    alts = []
    for alt in name.split("|"):
        start, end = alt.startswith("^"), alt.endswith("$") and len(alt) > 1
        core = alt[1 if start else 0:len(alt) - 1 if end else len(alt)]
        alts.append(("^" if start else "") + re.escape(core) + ("$" if end else ""))
    return Test(False, "regex", name, "4", matcher=_ReFull(re.compile("|".join(alts), re.IGNORECASE)))


@dataclass(frozen=True)
class _ReFull:
    compiled: re.Pattern[str]

    @property
    def groups(self) -> int:
        return 0

    def search(self, line: str) -> bool:
        return self.compiled.search(line) is not None

    def first_value(self, line: str) -> str | None:
        match = self.compiled.search(line)
        return None if match is None else match.group(0)


_VAR = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace Wazuh `$variables`; unknown names stay as they are (they may be shell text)."""
    return _VAR.sub(lambda m: variables.get(m.group(0), m.group(0)), text)
