"""Templates of reports/ (Jinja2, autoescape always on) and their i18n tables, for every page and document.

Every value shown says what it is: bidirectional controls (U+202A-202E, U+2066-2069, U+200E/200F, U+061C)
can make a hostname read backwards ("Trojan Source"), zero-width characters (U+200B-200D, U+2060, U+FEFF)
make two different names look the same; in pages they are shown as a visible ⟦U+202E⟧ mark.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from secops.textsafe import INVISIBLE
from secops.yamlsafe import load_yaml

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


@lru_cache(maxsize=4)
def messages(templates: Path, lang: str) -> dict[str, str]:
    """i18n/<lang>.yaml plus every i18n/<section>.<lang>.yaml a stage adds for its own section."""
    table: dict[str, str] = {}
    for path in [templates / "i18n" / f"{lang}.yaml", *sorted((templates / "i18n").glob(f"*.{lang}.yaml"))]:
        table.update(load_yaml(path) or {})  # templates may be a user's copy: bounded loader
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
    table = messages(templates, lang)
    fallback = messages(templates, "en")

    def t(key: str, **kwargs: Any) -> str:
        text = table.get(key) or fallback.get(key) or key
        return text.format(**kwargs) if kwargs else text

    return t
