"""Render the dashboard to a self-contained HTML file (Jinja2, autoescape always on)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from secops.report import visible
from secops.report.data import Dashboard
from secops.yamlsafe import load_yaml


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
                             finalize=visible.finalize)  # bidi/zero-width characters shown, not obeyed
    env.filters["pct"] = pct
    return env


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


def render_page(dashboard: Dashboard, templates: Path, template: str, context: dict[str, Any]) -> str:
    """A detail page that a section links to (e.g. one audited endpoint), same style as the dashboard."""
    env = environment(templates)
    css = (templates / "dashboard.css").read_text(encoding="utf-8")
    return env.get_template(template).render(d=dashboard, t=translator(templates, dashboard.lang), pct=pct,
                                             css=css, page=context)


def render_html(dashboard: Dashboard, templates: Path, *, fix_limit: int = 300) -> str:
    env = environment(templates)
    css = (templates / "dashboard.css").read_text(encoding="utf-8")
    template = env.get_template("dashboard.html.j2")
    t = translator(templates, dashboard.lang)
    return template.render(d=dashboard, t=t, pct=pct, css=css, fix_limit=fix_limit,
                           reason_text=visible.reason_text(t), missing_text=visible.missing_text(t))
