"""The message catalogues are whole: no message of the command line, the pages or the documents lacks
its translation (README "Languages").

- secops/locale/secops.pot is what `pybabel extract` finds in secops/ today (scripts/catalogues.sh);
- every message of it has a Vietnamese text, not fuzzy;
- reports/locale/{vi,en}/LC_MESSAGES/reports.po have the same keys, none empty, and every key the
  templates or the Python code ask for;
- placeholders ({name}) are the same in each translation as in its source;
- Babel's own checkers pass.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
POT = ROOT / "secops" / "locale" / "secops.pot"
SECOPS_VI = ROOT / "secops" / "locale" / "vi" / "LC_MESSAGES" / "secops.po"
REPORTS = {lang: ROOT / "reports" / "locale" / lang / "LC_MESSAGES" / "reports.po" for lang in ("vi", "en")}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "in_language": (2,)}


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=lang)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id}


def _texts(value: str | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, tuple) else [value]


def _fields(text: str) -> set[str]:
    """The str.format fields of TEXT ({name}, {n:,}); '{{' and '}}' are literal braces."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def extracted() -> set[str]:
    """pybabel extract over secops/, as scripts/catalogues.sh runs it (babel.cfg: every .py file)."""
    found = extract_from_dir(str(ROOT / "secops"), method_map=[("**.py", "python")], keywords=KEYWORDS)
    return {(message[0] if isinstance(message, tuple) else message) for _, _, message, _, _ in found}


def test_the_template_is_what_the_code_asks_for() -> None:
    code, committed = extracted(), _ids(_read(POT))
    assert sorted(code - committed) == [], "messages missing from secops.pot: run scripts/catalogues.sh"
    assert sorted(committed - code) == [], "secops.pot has messages the code no longer uses: run scripts/catalogues.sh"


def test_every_command_line_message_has_its_vietnamese_text() -> None:
    template, vi = _read(POT), _read(SECOPS_VI, "vi")
    missing, fuzzy = [], []
    for message in template:
        if not message.id:
            continue
        found = vi.get(message.id)
        if found is None or not all(_texts(found.string)) or not _texts(found.string):
            missing.append(message.id)
        elif found.fuzzy:
            fuzzy.append(message.id)
    assert missing == [] and fuzzy == [], f"untranslated: {missing[:20]}; fuzzy: {fuzzy[:20]}"


def test_report_catalogues_have_the_same_keys_all_with_text() -> None:
    vi, en = _read(REPORTS["vi"], "vi"), _read(REPORTS["en"], "en")
    assert _ids(vi) == _ids(en), sorted(_ids(vi) ^ _ids(en))
    for lang, catalog in (("vi", vi), ("en", en)):
        empty = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
        assert empty == [], f"{lang}: keys without text (or fuzzy): {empty[:20]}"
    # The translator sees the English beside each Vietnamese text.
    assert all(any(c.startswith("en: ") for c in m.auto_comments) for m in vi if m.id)


_T_CALL = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_]+)\1\s*[,)]""")  # a whole key, not a prefix ("kind_" ~ k)


def _template_keys() -> dict[str, str]:
    """Keys the templates pass to t() as literals: {key: template}."""
    keys = {}
    for path in (ROOT / "reports").rglob("*.j2"):
        for match in _T_CALL.finditer(path.read_text(encoding="utf-8")):
            keys[match.group(2)] = path.relative_to(ROOT).as_posix()
    return keys


def _python_keys() -> dict[str, str]:
    """Keys Python code asks the report translator for: t("key") / text["key"] with a literal key,
    in the modules that hold a translator (templating.translator or .messages)."""
    keys = {}
    for path in (ROOT / "secops").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "translator" not in source and "messages(" not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            literal = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t" and node.args:
                literal = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "text":
                literal = node.slice
            if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                keys[literal.value] = path.relative_to(ROOT).as_posix()
    return keys


def test_every_key_asked_for_exists() -> None:
    known = _ids(_read(REPORTS["en"], "en"))
    asked = {**_template_keys(), **_python_keys()}
    assert len(asked) > 250  # the scan finds the keys (a broken pattern would pass vacuously)
    missing = {key: where for key, where in asked.items() if key not in known}
    assert missing == {}


def test_placeholders_match() -> None:
    problems = []
    template, vi = _read(POT), _read(SECOPS_VI, "vi")
    for message in template:
        if not message.id:
            continue
        sources = _texts(message.id)
        wanted = set().union(*(_fields(s) for s in sources))
        found = vi.get(message.id)
        for text in _texts(found.string if found else None):
            if _fields(text) != wanted:
                problems.append(("secops.po", message.id, sorted(_fields(text) ^ wanted)))
    en = {m.id: m.string for m in _read(REPORTS["en"], "en") if m.id}
    for message in _read(REPORTS["vi"], "vi"):
        if message.id and message.id in en and _fields(message.string) != _fields(en[message.id]):
            problems.append(("reports.po", message.id, sorted(_fields(message.string) ^ _fields(en[message.id]))))
    assert problems == []


@pytest.mark.parametrize("path", [SECOPS_VI, *REPORTS.values()], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_babel_checkers_pass(path: Path) -> None:
    catalog = _read(path, "vi" if "/vi/" in path.as_posix() else "en")
    errors = [(message.id, [str(e) for e in found]) for message, found in catalog.check() if found]
    assert errors == []


def test_placeholder_check_catches_a_dropped_field() -> None:
    """The check above is not vacuous: a translation that drops a field is found."""
    assert _fields("wrote {path}") != _fields("đã ghi")
    assert _fields("{n:,} rows, {{literal}}") == {"n"}
