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
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from secops.i18n import compile_po
from secops.textsafe import INVISIBLE

_INVISIBLE = INVISIBLE  # one set of characters for pages and the terminal (secops.textsafe)


def visible(text: str) -> str:
    if text.isascii():  # none of the marked characters is ASCII: codes, host names, addresses pass at once
        return text
    return _INVISIBLE.sub(lambda m: f"⟦U+{ord(m.group(0)):04X}⟧", text)


class Shown(Markup):
    """The output of a template rendered by `environment` (every value in it escaped and made
    visible by `finalize`), kept to be put in another page as it is (a cached part of a page):
    `finalize` does not scan it again."""


def finalize(value: Any) -> Any:
    """Jinja2 `finalize`: applied to every {{ value }} before autoescaping.

    Markup (a macro's output) is already escaped: it stays Markup, or it would be escaped twice.
    The marks inserted contain no HTML special characters, so that is safe."""
    if type(value) is Shown:
        return value
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
    env.filters["zone"] = zone_name
    env.filters["breakable"] = breakable
    return env


def local_time(when: dt.datetime | str | None, zone: str | None = None, named: bool = True,
               fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (UTC; a datetime or its ISO text, as dashboard.json carries it) as people read
    it: the province's local time, the zone named (or, with named=False, named once in the column's
    header by `zone_name`)."""
    from zoneinfo import ZoneInfo

    from secops.localtime import PROVINCE_ZONE, as_local, shown

    if isinstance(when, str):
        if not when:
            return ""
        when = dt.datetime.fromisoformat(when)
    if when is None:
        return ""
    tz = ZoneInfo(zone or PROVINCE_ZONE)
    return shown(when, tz, fmt) if named else as_local(when, tz).strftime(fmt)


def zone_name(zone: str | None = None) -> str:
    """The zone that times without a name are in, as people read it: "UTC+07:00 Asia/Ho_Chi_Minh"."""
    from zoneinfo import ZoneInfo

    from secops.localtime import PROVINCE_ZONE, zone_label

    return zone_label(dt.datetime.now(ZoneInfo(zone or PROVINCE_ZONE)))


LONG_TOKEN = 24  # characters: a run of text without spaces longer than this is "genuinely long"
_HYPHENS = re.compile(r"[-\u2010-\u2014]")  # where a browser would break a word of its own accord
_AFTER_SEPARATOR = re.compile(r"(?<=[._-])")  # where a long host name or code may break


def breakable(value: Any) -> Markup:
    """Text for a table cell: words stay whole (also codes and dates with a hyphen, kept on one
    line); a token longer than LONG_TOKEN characters (a long host name) may wrap after its dots,
    hyphens and underscores; a value holding a run of more than LONG_TOKEN characters without
    such a separator (an unbroken name) may wrap anywhere (CSS class "long"). The value's escaped
    text stays in one piece wherever it has no separator."""
    if value is None:
        return Markup("")
    if isinstance(value, Markup):  # a macro's output: already escaped and laid out
        return value
    text = visible(str(value))
    pieces = re.split(r"(\s+)", text)
    if any(len(part) > LONG_TOKEN for piece in pieces for part in _AFTER_SEPARATOR.split(piece)):
        return Markup('<span class="long">') + escape(text) + Markup("</span>")
    out: list[Markup] = []
    for piece in pieces:
        if len(piece) > LONG_TOKEN:
            out.append(Markup("<wbr>").join(escape(part) for part in _AFTER_SEPARATOR.split(piece) if part))
        elif _HYPHENS.search(piece):
            out.append(Markup('<span class="nw">') + escape(piece) + Markup("</span>"))
        else:
            out.append(escape(piece))
    return Markup("").join(out)


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
