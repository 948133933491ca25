"""Text that came from the network or a host, made safe for terminals and logs."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Every C0 and C1 control and DEL: never part of a name or a code (refused at import).
NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Bidirectional controls ("Trojan Source") and zero-width characters: shown as a ⟦U+202E⟧ mark.
INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def printable(text: str | None, limit: int = 4000) -> str | None:
    """Host-originated text for storage and display: control characters (ANSI escapes...) made
    visible as \\xNN so no terminal or viewer interprets them; HTML escaping happens at render."""
    if text is None:
        return None
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)[:limit]


def terminal_text(value: object) -> str:
    """A stored value for the terminal, as the dashboard shows it: every control character as
    \\xNN (an escape sequence cannot set the window title or clear the screen), bidirectional and
    zero-width characters as a visible ⟦U+202E⟧ mark. Rich markup is the caller's concern (print
    it as Text or with markup=False)."""
    text = "" if value is None else str(value)
    text = NAME_CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    return INVISIBLE.sub(lambda m: f"⟦U+{ord(m.group(0)):04X}⟧", text)


def control_problem(value: str | None) -> str | None:
    """Why a name or code cannot be stored as it is (None: it can)."""
    if value is None:
        return None
    found = NAME_CONTROL.search(value)
    if found is None:
        return None
    return f"contains a control character (U+{ord(found.group(0)):04X} at position {found.start() + 1})"


# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
# Every CSV, XLSX and import of secops neutralises or refuses with this one rule.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: object) -> str:
    """A CSV cell that no spreadsheet runs as a formula: a leading apostrophe, as Excel itself writes."""
    return neutral_text("" if value is None else str(value))


def neutral_text(text: str) -> str:
    """neutral_cell for a str (the exports' per-cell fast path). A text that starts with the mark
    itself gets it too, so the mark is unambiguous: restore_cell removes exactly one leading
    apostrophe, and every value comes back as it was ("'+keep" -> "''+keep" -> "'+keep")."""
    return "'" + text if text[:1] in FORMULA_START or text[:1] == "'" else text


def looks_like_formula(text: str) -> bool:
    """An imported name that a spreadsheet would run: refused at import. A leading "-" followed by a letter
    or digit is a name ("-Server" is not, "-1+2" and "--x" are)."""
    if text[:1] == "-":
        return not text[1:2].isalnum()
    return text.startswith(FORMULA_START)


def restore_cell(text: str) -> str:
    """Inverse of neutral_cell, so that an exported CSV imports back unchanged: one leading
    apostrophe is the mark (as in Excel, where a typed 'text shows as text) and is removed."""
    return text[1:] if text[:1] == "'" else text
