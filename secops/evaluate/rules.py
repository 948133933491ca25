"""Parse Wazuh SCA rules (`f:`, `d:`, `p:`, `c:`, `r:`) and test content lines against them.

Grammar (as Wazuh documents it; spaces around ` -> `, ` && ` and ` compare ` are mandatory):

    rule     := ["not "] TYPE ":" LOCATION [" -> " PART [" -> " PART]]
    content  := test (" && " test)*         test := ["!"] ("r:" REGEX | "n:" REGEX " compare " OP NUMBER | LITERAL)

A content test holds for a *line*; a rule's content holds when one line passes every test.
Regexes are Wazuh's lightweight OS_Regex by default (case-insensitive; `\\.` is any character,
`\\s` a space, `\\w` [A-Za-z0-9-@_]); `regex_type: pcre2` on the policy or check switches to
PCRE-style regexes (Python `re`, case-sensitive).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Callable, Literal

RegexType = Literal["osregex", "pcre2"]
RuleType = Literal["f", "d", "p", "c", "r"]

COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}
_COMPARE_RE = re.compile(r"^(?P<regex>.*) compare (?P<op><=|>=|==|!=|<|>) ?(?P<value>-?\d+)\s*$")

# OS_Regex escapes -> Python regex (see the Wazuh/OSSEC regex documentation).
_OS_ESCAPES = {
    "w": r"[A-Za-z0-9\-@_]", "W": r"[^A-Za-z0-9\-@_]", "d": r"[0-9]", "D": r"[^0-9]",
    "s": r" ", "S": r"[^ ]", "t": r"\t", "p": r"[()*+,\-.:;<=>?\[\]!\"'#$%&|{}]", ".": r".",
    "$": r"\$", "(": r"\(", ")": r"\)", "\\": r"\\", "|": r"\|", "<": "<", ">": ">",
}


class RuleSyntaxError(ValueError):
    """A rule that cannot be parsed; the check that holds it is not_applicable, never a silent pass."""


def osregex_to_python(pattern: str) -> str:
    """Translate an OS_Regex pattern: escapes become classes, every other character is literal."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(_OS_ESCAPES.get(nxt, re.escape(nxt)))
            i += 2
            continue
        if ch in "+*" and (not out or out[-1] in ("^", "|", "(")):
            out.append(re.escape(ch))  # a modifier with nothing before it is taken literally
        elif ch in "^$|()+*":
            out.append(ch)
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_regex(pattern: str, regex_type: RegexType) -> re.Pattern[str]:
    try:
        if regex_type == "pcre2":
            return re.compile(pattern)
        return re.compile(osregex_to_python(pattern), re.IGNORECASE)
    except re.error as exc:
        raise RuleSyntaxError(f"bad regex {pattern!r}: {exc}") from exc


@dataclass(frozen=True)
class Test:
    """One content test on one line."""

    negated: bool
    op: Literal["literal", "regex", "numeric"]
    text: str
    regex: re.Pattern[str] | None = None
    compare: str | None = None
    value: int | None = None

    def holds(self, line: str) -> bool:
        if self.op == "literal":
            result = line == self.text
        elif self.op == "regex":
            assert self.regex is not None
            result = self.regex.search(line) is not None
        else:
            result = self._numeric(line)
        return result != self.negated

    def _numeric(self, line: str) -> bool:
        assert self.regex is not None and self.compare is not None and self.value is not None
        match = self.regex.search(line)
        if not match or not match.groups() or match.group(1) is None:
            return False
        try:
            number = int(match.group(1))
        except ValueError:
            return False
        return COMPARE[self.compare](number, self.value)


@dataclass(frozen=True)
class Content:
    tests: tuple[Test, ...]

    def line_matches(self, line: str) -> bool:
        return all(test.holds(line) for test in self.tests)

    def any_line(self, lines: list[str]) -> bool:
        return any(self.line_matches(line) for line in lines)


@dataclass(frozen=True)
class Rule:
    source: str
    negated: bool
    type: str
    location: str
    parts: tuple[str, ...] = field(default_factory=tuple)  # the raw text after each ' -> '
    content: Content | None = None  # content test of the last part (f:, c:, d: with 3 parts, r: with 3)
    name_test: Content | None = None  # d: file-name test

    @property
    def locations(self) -> list[str]:
        """f:/d: accept a comma-separated list of paths (as Wazuh variables often hold)."""
        if self.type in ("f", "d"):
            return [p.strip() for p in self.location.split(",") if p.strip()]
        return [self.location]


def parse_test(text: str, regex_type: RegexType) -> Test:
    negated = text.startswith("!")
    body = text[1:] if negated else text
    if body.startswith("r:"):
        return Test(negated, "regex", body[2:], regex=compile_regex(body[2:], regex_type))
    if body.startswith("n:"):
        match = _COMPARE_RE.match(body[2:])
        if not match:
            raise RuleSyntaxError(f"numeric test {text!r} needs 'n:REGEX compare OP NUMBER'")
        regex = compile_regex(match["regex"], regex_type)
        if regex.groups < 1:
            raise RuleSyntaxError(f"numeric test {text!r}: the regex needs a capture group")
        return Test(negated, "numeric", body[2:], regex=regex, compare=match["op"], value=int(match["value"]))
    return Test(negated, "literal", body)


def parse_content(text: str, regex_type: RegexType) -> Content:
    tests = tuple(parse_test(part.strip(), regex_type) for part in text.split(" && "))
    if not tests or any(t.text == "" and t.op != "literal" for t in tests):
        raise RuleSyntaxError(f"empty content test in {text!r}")
    return Content(tests)


def parse_rule(text: str, regex_type: RegexType = "osregex") -> Rule:
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError("empty rule")
    source = text
    body = text.strip()
    negated = False
    if body.startswith("not "):
        negated, body = True, body[4:].lstrip()
    elif body.startswith("!") and len(body) > 2 and body[2] == ":":  # legacy `!f:` form
        negated, body = True, body[1:]
    if len(body) < 3 or body[1] != ":":
        raise RuleSyntaxError(f"rule {source!r} does not start with a type such as f:, d:, p:, c:, r:")
    rtype, rest = body[0], body[2:]
    pieces = rest.split(" -> ")
    location, parts = pieces[0].strip(), tuple(p.strip() for p in pieces[1:])
    if not location:
        raise RuleSyntaxError(f"rule {source!r} has no location")
    rule = Rule(source=source, negated=negated, type=rtype, location=location, parts=parts)
    if rtype not in ("f", "d", "p", "c", "r"):
        return rule  # unknown type: parsed so the policy loads; evaluates as not_applicable
    if rtype in ("f", "c") and len(parts) > 1:
        raise RuleSyntaxError(f"rule {source!r}: {rtype}: takes at most one ' -> ' content part")
    if rtype == "d" and len(parts) > 2 or rtype == "r" and len(parts) > 2:
        raise RuleSyntaxError(f"rule {source!r}: too many ' -> ' parts")
    if rtype == "p" and parts:
        raise RuleSyntaxError(f"rule {source!r}: process rules only check existence")
    content = name_test = None
    if rtype in ("f", "c") and parts:
        content = parse_content(parts[0], regex_type)
    elif rtype == "d" and parts:
        name_test = parse_content(parts[0], regex_type)
        if len(parts) == 2:
            content = parse_content(parts[1], regex_type)
    elif rtype == "r" and len(parts) == 2:
        content = parse_content(parts[1], regex_type)
    return Rule(source=source, negated=negated, type=rtype, location=location, parts=parts,
                content=content, name_test=name_test)


_VAR = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace Wazuh `$variables`; unknown names stay as they are (they may be shell text)."""
    return _VAR.sub(lambda m: variables.get(m.group(0), m.group(0)), text)
