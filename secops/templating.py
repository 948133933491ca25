"""Templates of reports/ (Jinja2, autoescape always on) and their i18n tables, for every page and document.

Every value shown says what it is: bidirectional controls (U+202A-202E, U+2066-2069, U+200E/200F, U+061C)
can make a hostname read backwards ("Trojan Source"), zero-width characters (U+200B-200D, U+2060, U+FEFF)
make two different names look the same; in pages they are shown as a visible ⟦U+202E⟧ mark.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

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
    table = messages(templates, lang)
    fallback = messages(templates, "en")

    def t(key: str, **kwargs: Any) -> str:
        text = table.get(key) or fallback.get(key) or key
        return text.format(**kwargs) if kwargs else text

    return t
