"""Templates of reports/ (Jinja2, autoescape always on) and their message catalogues, for every page and document.

The wording of pages and documents is a gettext catalogue beside the templates:
reports/locale/<lang>/LC_MESSAGES/reports.po (msgid = the key templates pass to `t`, msgstr = the
text), edited by translators with standard tools. It is read and compiled in memory when first used
(no .mo file to rebuild), once per folder and language. A templates folder that is a user's copy
without catalogues of its own uses the bundled ones.

Every value shown says what it is: bidirectional controls (U+202A-202E, U+2066-2069, U+200E/200F, U+061C)
can make a hostname read backwards ("Trojan Source"), zero-width characters (U+200B-200D, U+2060, U+FEFF)
make two different names look the same; in pages they are shown as a visible ⟦U+202E⟧ mark.
"""

from __future__ import annotations

import datetime as dt
import gettext
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from secops.i18n import compile_po
from secops.textsafe import INVISIBLE

_INVISIBLE = INVISIBLE  # one set of characters for pages and the terminal (secops.textsafe)


def visible(text: str) -> str:
    return _INVISIBLE.sub(lambda m: f"⟦U+{ord(m.group(0)):04X}⟧", text)


def finalize(value: Any) -> Any:
    """Jinja2 `finalize`: applied to every {{ value }} before autoescaping.

    Markup (a macro's output) is already escaped: it stays Markup, or it would be escaped twice.
    The marks inserted contain no HTML special characters, so that is safe."""
    if isinstance(value, Markup):
        return Markup(visible(str(value)))
    return visible(value) if isinstance(value, str) else value


DOMAIN = "reports"


def catalogue_path(templates: Path, lang: str) -> Path:
    """The catalogue of LANG for a templates folder; the bundled one when the folder has none."""
    path = templates / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        from secops.config import bundled

        path = bundled("reports") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    return path


@lru_cache(maxsize=8)
def translations(templates: Path, lang: str) -> gettext.NullTranslations:
    """LANG's catalogue with English behind it; a key found in neither is shown as itself."""
    path = catalogue_path(templates, lang)
    found: gettext.NullTranslations = compile_po(path, lang) if path.is_file() else gettext.NullTranslations()
    if lang != "en":
        found.add_fallback(translations(templates, "en"))
    return found


def messages(templates: Path, lang: str) -> dict[str, str]:
    """Every key of LANG's catalogue (English where LANG has no text) and its text."""
    english = translations(templates, "en")
    table = dict(getattr(english, "_catalog", {}))
    if lang != "en":
        table.update(getattr(translations(templates, lang), "_catalog", {}))
    table.pop("", None)  # the catalogue's header
    return table


@lru_cache(maxsize=4)  # one per templates folder: a report with hundreds of pages compiles each template once
def environment(templates: Path) -> jinja2.Environment:
    # autoescape=True for every template, whatever its extension: hostnames, banners and command
    # output are untrusted and must never become markup.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=finalize)  # bidi/zero-width characters shown, not obeyed
    env.filters["pct"] = pct
    env.filters["local"] = local_time
    return env


def local_time(when: dt.datetime | None, zone: str | None = None) -> str:
    """A stored time (UTC) as people read it: the province's local time, the zone named."""
    from zoneinfo import ZoneInfo

    from secops.localtime import PROVINCE_ZONE, shown

    return shown(when, ZoneInfo(zone or PROVINCE_ZONE), "%Y-%m-%d %H:%M")


def pct(value: float | str | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def translator(templates: Path, lang: str) -> Any:
    found = translations(templates, lang)

    def t(key: str, **kwargs: Any) -> str:
        text = found.gettext(key)
        return text.format(**kwargs) if kwargs else text

    return t
