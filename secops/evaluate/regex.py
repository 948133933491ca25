"""Regex flavours of Wazuh SCA, behind one interface: `compile_pattern(pattern, flavour)`.

- `osregex`  Wazuh 4.x OS_Regex (src/os_regex/os_regex_compile.c): case-insensitive; escapes are
             only \\d \\w \\s \\p \\( \\) \\\\ \\D \\W \\S \\. \\t \\$ \\| \\< (any other escape is a
             compile error, and Wazuh 4.x then treats the test as "no match"); `+`/`*` repeat only
             the escape right before them (after a plain character they are plain characters);
             one level of parentheses, `|` only outside them; `^`/`$` anchor each alternative.
             Translated to the regex syntax Python `re` and RE2 share, and run on RE2 (google-re2):
             linear in the line's length, so no host output can make a check backtrack for minutes
             (a deviation kept from the Python translation: OS_Regex's own matcher gives up
             early where a full regex engine still finds a match, see the README).
- `pcre2`    Wazuh 4.x PCRE2 (src/shared/expression.c: pcre2_compile with options 0): case-sensitive.
- `pcre2_ci` Wazuh 5.x (sca_impl/src/sca_utils.cpp:26): PCRE2_MULTILINE | PCRE2_CASELESS.

PCRE2 patterns run on the real PCRE2 library through the `pcre2` binding, so syntax Python `re`
lacks or reads differently (possessive quantifiers, \\K, (*VERB)s, \\h, POSIX classes) behaves
as in Wazuh. PCRE2 backtracks: each search is bounded by the library's match limit (10,000,000,
as in Wazuh; a pattern's own (*LIMIT_MATCH=n) can only lower it), JIT-compiled.

Every search is also charged to the evaluation it belongs to (`bounded()`): one rule's
evaluation that runs past its time bound raises PatternTooCostly, and the check becomes
not applicable ("pattern too costly") instead of holding up the audit. Searches are short C
calls, so a stop signal is acted on between them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

import pcre2  # type: ignore[import-untyped]
import re2  # type: ignore[import-untyped]

from secops.interrupts import check_stop

Flavour = Literal["osregex", "pcre2", "pcre2_ci"]
OS_PATTERN_MAXSIZE = 20480  # os_regex.h l.26

# os_regex_internal.h / os_regex_maps.c, as documented for OS_Regex.
_OS_CLASSES = {
    "w": r"[A-Za-z0-9\-@_]", "W": r"[^A-Za-z0-9\-@_]", "d": r"[0-9]", "D": r"[^0-9]",
    "s": r" ", "S": r"[^ ]", "t": r"\t", "p": r"[()*+,\-.:;<=>?\[\]!\"'#$%&|{}]", ".": r".",
    "$": r"\$", "(": r"\(", ")": r"\)", "\\": r"\\", "|": r"\|", "<": "<",
}


class RegexError(ValueError):
    """A pattern its flavour's compiler rejects."""


RULE_SECONDS = 5.0  # one rule's evaluation (all its searches on all its lines), wall clock
RE2_MAX_MEM = 64 * 1024 * 1024  # RE2's program + DFA cache per pattern (its default is 8 MiB)


class PatternTooCostly(Exception):
    """An evaluation ran past its bound (time, or PCRE2's match limit); not a RegexError, so it is
    not mistaken for a pattern Wazuh rejects."""


_deadline: ContextVar[float | None] = ContextVar("regex_deadline", default=None)


@contextmanager
def bounded(seconds: float | None = None) -> Iterator[None]:
    """Bound every search inside the block to `seconds` in all (default RULE_SECONDS)."""
    token = _deadline.set(time.monotonic() + (RULE_SECONDS if seconds is None else seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def _charge() -> None:
    check_stop()  # an audit's worker thread: the command is stopping
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise PatternTooCostly(f"over the {RULE_SECONDS:g} s bound for one rule")


def _utf8_safe(line: str) -> str:
    """RE2 reads UTF-8: a lone surrogate (possible in a facts file) becomes U+FFFD."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return line.encode("utf-8", errors="replace").decode("utf-8")
    return line


class Matcher(Protocol):
    @property
    def groups(self) -> int: ...

    def first_value(self, line: str) -> str | None:
        """None if no match; else the first group (or the whole match when there is no group)."""

    def search(self, line: str) -> bool: ...


@dataclass(frozen=True)
class _ReMatcher:
    compiled: re.Pattern[str]

    @property
    def groups(self) -> int:
        return self.compiled.groups

    def search(self, line: str) -> bool:
        return self.compiled.search(line) is not None

    def first_value(self, line: str) -> str | None:
        match = self.compiled.search(line)
        if match is None:
            return None
        return match.group(1) if self.compiled.groups else match.group(0)


@dataclass(frozen=True)
class _Re2Matcher:
    """The OS_Regex translation on RE2: leftmost-first like Python `re` (same match, same group)."""

    compiled: re2._Regexp

    @property
    def groups(self) -> int:
        return int(self.compiled.groups)

    def _search(self, line: str):  # type: ignore[no-untyped-def]
        _charge()
        return self.compiled.search(_utf8_safe(line))

    def search(self, line: str) -> bool:
        return self._search(line) is not None

    def first_value(self, line: str) -> str | None:
        match = self._search(line)
        if match is None:
            return None
        value = match.group(1) if self.groups else match.group(0)
        return None if value is None else str(value)  # an unset group: no value, as on Python `re`


_PCRE2_LIMITS = ("match limit", "depth limit", "heap limit")


@dataclass(frozen=True)
class _Pcre2Matcher:
    compiled: pcre2.Pattern

    @property
    def groups(self) -> int:
        return int(self.compiled.groups)

    def _search(self, line: str):  # type: ignore[no-untyped-def]
        _charge()
        try:
            return self.compiled.search(line)
        except Exception as exc:  # match limit hit and the like: Wazuh 5.x reports the rule invalid
            if any(limit in str(exc) for limit in _PCRE2_LIMITS):
                raise PatternTooCostly(f"PCRE2 {exc}") from exc
            raise RegexError(f"PCRE2 match error: {exc}") from exc

    def search(self, line: str) -> bool:
        return self._search(line) is not None

    def first_value(self, line: str) -> str | None:
        match = self._search(line)
        if match is None:
            return None
        if self.groups:
            value = match.group(1)
            return "" if value is None else str(value)
        return str(match.group(0))


def osregex_to_python(pattern: str) -> str:
    """Translate OS_Regex to Python `re`, rejecting what OSRegex_Compile rejects."""
    if len(pattern) > OS_PATTERN_MAXSIZE:
        raise RegexError(f"OS_Regex pattern longer than {OS_PATTERN_MAXSIZE} characters")
    translation = _Translation(pattern)
    while translation.i < len(pattern):
        translation.step()
    if translation.depth:
        raise RegexError("unclosed '(' in OS_Regex")
    alternatives = [*translation.alternatives, "".join(translation.out)]
    return "|".join(f"(?:{alt})" for alt in alternatives) if len(alternatives) > 1 else alternatives[0]


class _Translation:
    """osregex_to_python's place in the pattern: one character (or escape) at a time."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.alternatives: list[str] = []
        self.out: list[str] = []
        self.depth = 0
        self.i = 0
        self.begin = True  # at the start of an alternative: '^' anchors

    def step(self) -> None:
        ch = self.pattern[self.i]
        if ch == "\\":
            self.escape()
            return
        if ch == "|":
            if self.depth:
                raise RegexError("'|' inside parentheses in OS_Regex")
            self.alternatives.append("".join(self.out))
            self.out, self.begin = [], True
            self.i += 1
            return
        self.out.append(self.plain(ch))
        self.begin = False
        self.i += 1

    def escape(self) -> None:
        """An OS_Regex class (\\d, \\w, \\s, \\p, \\.…), with its + or * if one follows."""
        pattern, i = self.pattern, self.i
        nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
        if nxt not in _OS_CLASSES:
            raise RegexError(f"OS_Regex has no escape '\\{nxt}'")
        self.out.append(_OS_CLASSES[nxt])
        self.i = i + 2
        if self.i < len(pattern) and pattern[self.i] in "+*":
            self.out.append(pattern[self.i])
            self.i += 1
        self.begin = False

    def plain(self, ch: str) -> str:
        """Anchors and one level of parentheses keep their meaning; every other character is literal."""
        pattern, i = self.pattern, self.i
        if ch == "^" and self.begin:
            return "^"
        if ch == "$" and (i + 1 == len(pattern) or pattern[i + 1] == "|" and self.depth == 0):
            return "$"
        if ch == "(":
            self.depth += 1
            if self.depth > 1:
                raise RegexError("OS_Regex allows one level of parentheses")
            return "("
        if ch == ")":
            self.depth -= 1
            if self.depth < 0:
                raise RegexError("unbalanced ')' in OS_Regex")
            return ")"
        return re.escape(ch)


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str, flavour: Flavour) -> Matcher:
    """Compile once per (pattern, flavour); raises RegexError with the compiler's reason."""
    if flavour == "osregex":
        return _Re2Matcher(_re2_compile(osregex_to_python(pattern)))
    flags = pcre2.IGNORECASE | pcre2.MULTILINE if flavour == "pcre2_ci" else 0
    try:
        return _Pcre2Matcher(pcre2.compile(pattern, flags=flags))
    except Exception as exc:
        raise RegexError(f"PCRE2: {exc}") from exc


def _re2_compile(translated: str) -> re2._Regexp:
    options = re2.Options()
    options.case_sensitive = False  # OS_Regex lower-cases pattern and line (os_regex_compile.c)
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False
    try:
        return re2.compile(translated, options)
    except re2.error as exc:  # a translation bug or a program over max_mem; report it like a bad pattern
        raise RegexError(str(exc)) from exc


def python_matcher(pattern: str) -> Matcher:
    """The OS_Regex translation on Python `re` (backtracking): only to compare engines in tests."""
    return _ReMatcher(re.compile(osregex_to_python(pattern), re.IGNORECASE))
