"""The command line's own words in the user's language: `_()` and `ngettext` over the gettext domain `secops`.

msgid = the English text; secops/locale/vi/LC_MESSAGES/secops.po holds the Vietnamese, read and
compiled in memory when first needed (Babel), so nothing is built at install time. English needs
no catalogue: `_()` then returns its argument without importing Babel.

Which language the terminal speaks (README "Languages"):
1. `--lang` on the command line, or SECOPS_LANG: vi or en;
2. otherwise the standard gettext variables, in gettext's order (LANGUAGE, LC_ALL, LC_MESSAGES,
   LANG): Vietnamese when the first one set names vi (LANGUAGE may list several: vi:en);
3. otherwise English.
Reports and documents keep their own language (Settings.lang, Vietnamese by default).

Messages are formatted after translation with str.format placeholders, so a translation may move
them: `_("wrote {path}").format(path=...)`, never an f-string inside `_()`.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

DOMAIN = "secops"
LANGUAGES = ("vi", "en")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

MAX_CATALOGUE_BYTES = 4 * 1024 * 1024  # a user's copy of the report templates is read too: bounded (ours are ~100 KB)

_chosen: str | None = None
# A web request's language (the console's page language), over the process's for that request only.
_request_language: ContextVar[str | None] = ContextVar("secops_request_language", default=None)


def compile_po(path: Path, lang: str) -> gettext.GNUTranslations:
    """A .po file compiled in memory (Babel: read_po -> write_mo): fuzzy and empty entries are left
    out, as msgfmt leaves them out, so they fall back to English and then to the key."""
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po

    from secops.errors import SecopsError

    try:
        if path.stat().st_size > MAX_CATALOGUE_BYTES:
            raise SecopsError(f"{path}: catalogue larger than {MAX_CATALOGUE_BYTES // (1024 * 1024)} MiB")
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=lang, abort_invalid=True)
    except (OSError, PoFileError, ValueError) as exc:
        raise SecopsError(f"{path}: not a readable gettext catalogue: {exc}") from exc
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def locale_language(environ: Mapping[str, str]) -> str | None:
    """vi or en from the gettext variables (the first one set wins, as in gettext), else None."""
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if not value:
            continue
        for part in value.split(":") if name == "LANGUAGE" else [value]:  # LANGUAGE is a list: "vi:en"
            code = part.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in LANGUAGES:
                return code
        if name != "LANGUAGE":
            return None  # LC_ALL, LC_MESSAGES or LANG names one locale: not vi, so English
    return None


def argv_language(argv: Sequence[str]) -> str | None:
    """The value of a `--lang X` / `--lang=X` given anywhere on the command line, if vi or en: known
    before the command's module is imported, so its help texts are already in that language."""
    for position, arg in enumerate(argv):
        if arg == "--":
            break
        value = None
        if arg == "--lang" and position + 1 < len(argv):
            value = argv[position + 1]
        elif arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
        if value in LANGUAGES:
            return value
    return None


def choose_language(given: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The terminal's language: the one given (--lang, SECOPS_LANG), else the locale's, else English."""
    if given in LANGUAGES:
        return given
    env = os.environ if environ is None else environ
    from_env = env.get("SECOPS_LANG", "").strip().lower()
    if from_env in LANGUAGES:
        return from_env
    return locale_language(env) or "en"


def set_language(lang: str | None) -> str:
    """Make LANG (or the language chosen from the environment when None) the terminal's language."""
    global _chosen
    _chosen = choose_language(lang)
    return _chosen


def speak(lang: str | None) -> object:
    """Make LANG the language of the current context (a web request and what it calls), whatever the
    process speaks; returns the token for `unspeak`. None: the process's language again."""
    return _request_language.set(lang if lang in LANGUAGES else None)


def unspeak(token: object) -> None:
    _request_language.reset(token)  # type: ignore[arg-type]


def language() -> str:
    if (asked := _request_language.get()) is not None:
        return asked
    if _chosen is None:
        return set_language(None)
    return _chosen


@lru_cache(maxsize=2)
def catalogue(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()  # msgid is the English text
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    return compile_po(path, lang) if path.is_file() else gettext.NullTranslations()


def _(message: str) -> str:
    """MESSAGE (English) in the terminal's language."""
    lang = language()
    return message if lang == "en" else catalogue(lang).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = language()
    if lang == "en":
        return singular if n == 1 else plural
    return catalogue(lang).ngettext(singular, plural, n)


def in_language(lang: str, message: str) -> str:
    """MESSAGE in LANG whatever the terminal speaks (a report's own language)."""
    return message if lang == "en" else catalogue(lang).gettext(message)


def status_text(status: str) -> str:
    """A run's or stage's status (ok, partial, failed, interrupted, running) in words."""
    words = {"ok": _("ok"), "partial": _("partial"), "failed": _("failed"), "interrupted": _("interrupted"),
             "running": _("running"), "skipped": _("skipped"),
             # an endpoint's protection
             "protected": _("protected"), "degraded": _("degraded"), "unprotected": _("unprotected"),
             "unknown": _("unknown")}
    return words.get(status, status)


def result_text(result: str) -> str:
    """A check's result (passed, failed, not_applicable, error, waived) in words ("failed" in English:
    the msgid says "check failed" because a failed run is another word in Vietnamese)."""
    if language() == "en":
        return result.replace("_", " ")
    words = {"passed": _("passed"), "failed": _("check failed"), "not_applicable": _("not applicable"),
             "error": _("error"), "waived": _("waived")}
    return words.get(result, result)


def validation_reason(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ValidationError.errors()) as a reason in the terminal's language.
    Our own validators raise translated messages (pydantic's "Value error, " prefix dropped); the
    commonest of pydantic's own are said here, any other as pydantic words it."""
    kind, ctx = str(error.get("type", "")), dict(error.get("ctx") or {})
    if isinstance(ctx.get("expected"), str):  # pydantic lists choices as "'a', 'b' or 'c'"
        ctx["expected"] = ctx["expected"].replace(" or ", " " + _("or") + " ")
    message = str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if language() == "en" or kind in ("value_error", "assertion_error"):
        return message
    words: dict[str, Callable[[], str]] = {
        "missing": lambda: _("required, missing"),
        "extra_forbidden": lambda: _("unknown field (not allowed here)"),
        "string_too_short": lambda: _("at least {n} character(s)").format(n=ctx.get("min_length")),
        "string_too_long": lambda: _("at most {n} character(s)").format(n=ctx.get("max_length")),
        "string_pattern_mismatch": lambda: _("does not match the pattern {pattern}").format(pattern=ctx.get("pattern")),
        "string_type": lambda: _("should be text"),
        "int_parsing": lambda: _("should be a whole number"),
        "int_type": lambda: _("should be a whole number"),
        "int_from_float": lambda: _("should be a whole number"),
        "float_parsing": lambda: _("should be a number"),
        "bool_parsing": lambda: _("should be true or false"),
        "enum": lambda: _("should be one of {expected}").format(expected=ctx.get("expected")),
        "literal_error": lambda: _("should be one of {expected}").format(expected=ctx.get("expected")),
        "greater_than_equal": lambda: _("should be at least {n}").format(n=ctx.get("ge")),
        "less_than_equal": lambda: _("should be at most {n}").format(n=ctx.get("le")),
        "greater_than": lambda: _("should be greater than {n}").format(n=ctx.get("gt")),
        "less_than": lambda: _("should be less than {n}").format(n=ctx.get("lt")),
        "date_parsing": lambda: _("not a date: use YYYY-MM-DD or DD/MM/YYYY"),
        "date_from_datetime_parsing": lambda: _("not a date: use YYYY-MM-DD or DD/MM/YYYY"),
        "date_type": lambda: _("not a date: use YYYY-MM-DD or DD/MM/YYYY"),
        "datetime_parsing": lambda: _("not a date-time: use YYYY-MM-DD HH:MM or an ISO date-time"),
        "datetime_from_date_parsing": lambda: _("not a date-time: use YYYY-MM-DD HH:MM or an ISO date-time"),
        "list_type": lambda: _("should be a list"),
        "dict_type": lambda: _("should be a mapping (key: value)"),
        "model_type": lambda: _("should be a mapping (key: value)"),
    }
    said = words.get(kind)
    return said() if said else message


def doc(text: str) -> Callable[[F], F]:
    """A command's help (typer reads the docstring) given as a translated message:
    `@doc(_("Run ..."))` above the function, where a docstring cannot be translated."""

    def apply(func: F) -> F:
        func.__doc__ = text
        return func

    return apply
