"""What decided a check, in the host's own words: the lines of a file or a command's output that a
rule looked at, bounded and with secrets redacted, for the host report beside a failed or not
applicable check (as OpenSCAP shows "PASS_MAX_DAYS 99999").

Bounds: at most MAX_LINES lines per rule, each cut to MAX_LINE characters, and MAX_TOTAL characters
per check; a value after a word such as password, secret, token or key, and crypt(3) hashes, are
replaced by "<redacted>". The text is escaped where it is shown (templates autoescape; CSV cells are
neutralised), never here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from secops.evaluate.facts import MISSING, NOT_REGULAR, OK, UNREADABLE, Facts, Request
from secops.evaluate.rules import Rule, Test

MAX_LINES = 8
MAX_LINE = 200
MAX_TOTAL = 2000

_SECRET = re.compile(
    r"(?i)\b((?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|community|psk|key)"
    r"[\w.-]*\s*[=:]\s*|(?:pass(?:word|wd)?|secret|key)\s+)(\S+)")
_HASH = re.compile(r"\$(?:1|2[abxy]?|5|6|y|gy|7)\$[^\s:]+")


_STATUS = {MISSING: "does not exist", UNREADABLE: "cannot be read", NOT_REGULAR: "not a regular file"}


def _state(status: int) -> str:
    return _STATUS.get(status, f"status {status}")


def redact(line: str) -> str:
    """A line with secret values and password hashes replaced by <redacted>."""
    line = _HASH.sub("<redacted>", line)
    return _SECRET.sub(lambda m: m.group(1) + "<redacted>", line)


def _cut(line: str) -> str:
    line = redact(line.replace("\t", " ").rstrip())
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


def _relevant(test: Test, line: str) -> bool:
    """The test's pattern is found on the line, whatever its '!' or numeric comparison says."""
    try:
        if test.op == "literal":
            return line.strip().lower() == test.text.strip().lower()
        return test.matcher is not None and bool(test.matcher.search(line))
    except Exception:
        return False


def _lines(rule: Rule, lines: list[str], what: str) -> list[str]:
    if rule.content is None:
        shown = [line for line in lines if line.strip()][:MAX_LINES]
        return [f"{what}:"] + [f"  {_cut(line)}" for line in shown] if shown else [f"{what}: (empty)"]
    tests = rule.content.tests
    hits = [line for line in lines if any(_relevant(t, line) for t in tests)]
    pattern = " && ".join(("!" if t.negated else "") + t.text for t in tests)
    if not hits:
        return [f"{what}: no line matches {_cut(pattern)} ({len(lines)} lines read)"]
    more = f" (+{len(hits) - MAX_LINES} more)" if len(hits) > MAX_LINES else ""
    return [f"{what}, lines matching {_cut(pattern)}{more}:"] + [f"  {_cut(line)}" for line in hits[:MAX_LINES]]


def rule_evidence(rule: Rule, facts: Facts) -> list[str]:
    """What the host answered for one rule."""
    if rule.type in ("f", "d") and rule.content is not None or rule.type == "f":
        return _file_evidence(rule, facts)
    shown = _BY_TYPE.get(rule.type)
    return shown(rule, facts) if shown is not None else []


def _file_evidence(rule: Rule, facts: Facts) -> list[str]:
    """A file rule (or a directory rule with a content test: the files it read)."""
    out: list[str] = []
    kind = "file_read" if rule.content is not None else "file_exists"
    for loc in rule.locations:
        item = facts.get(Request(kind, loc))  # type: ignore[arg-type]
        if item is None:
            continue
        if item.status != OK:
            out.append(f"{loc}: {_state(item.status)}")
        elif rule.content is not None:
            out += _lines(rule, item.lines(), loc)
        else:
            out.append(f"{loc}: exists")
    return out


def _dir_evidence(rule: Rule, facts: Facts) -> list[str]:
    out = []
    for loc in rule.locations:
        item = facts.get(Request("dir_list" if rule.parts else "dir_exists", loc))
        if item is not None:
            out.append(f"{loc}: {'exists' if item.status == OK else _state(item.status)}")
    return out


def _command_evidence(rule: Rule, facts: Facts) -> list[str]:
    item = facts.get(Request("command", rule.location))
    if item is None:
        return []
    if item.status != OK:
        return [f"$ {_cut(rule.location)}: exit status {item.status}"] + _lines(rule, item.lines(), "output")[1:]
    return _lines(rule, item.lines(), f"$ {_cut(rule.location)}")


def _process_evidence(rule: Rule, facts: Facts) -> list[str]:
    item = facts.get(Request("processes"))
    if item is None:
        return []
    names = [line.partition("\t")[0] for line in item.lines()]
    found = rule.location in names
    return [f"process {rule.location}: {'running' if found else 'not running'}"]


def _registry_evidence(rule: Rule, facts: Facts) -> list[str]:
    item = facts.get(Request("registry", rule.location))
    if item is None:
        return []
    if item.status != OK:
        return [f"{rule.location}: {_state(item.status)}"]
    values = item.lines()
    if rule.parts:
        wanted = rule.parts[0].lower()
        values = [v for v in values if v.partition("\t")[0].lower() == wanted]
    shown = [_cut(v.replace("\t", " = ", 1)) for v in values[:MAX_LINES]]
    return [f"{rule.location}:"] + [f"  {v}" for v in shown] if shown else [f"{rule.location}: value not set"]


_BY_TYPE: dict[str, Callable[[Rule, Facts], list[str]]] = {
    "d": _dir_evidence, "c": _command_evidence, "p": _process_evidence, "r": _registry_evidence,
}


def check_evidence(rules: list[Rule], facts: Facts) -> str:
    """Every rule's evidence, in the check's order, cut to MAX_TOTAL characters."""
    parts: list[str] = []
    for rule in rules:
        lines = rule_evidence(rule, facts)
        if lines:
            parts.append(f"{rule.source}\n" + "\n".join(lines))
    text = "\n".join(parts)
    return text if len(text) <= MAX_TOTAL else text[:MAX_TOTAL - 30] + "\n… (cut at 2000 characters)"
