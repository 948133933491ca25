"""Render the dashboard to a self-contained HTML file (Jinja2, autoescape always on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secops.report import reasons
from secops.report.data import Dashboard
from secops.templating import environment, pct, translator


def render_page(dashboard: Dashboard, templates: Path, template: str, context: dict[str, Any]) -> str:
    """A detail page that a section links to (e.g. one audited endpoint), same style as the dashboard."""
    env = environment(templates)
    css = (templates / "dashboard.css").read_text(encoding="utf-8")
    t = translator(templates, dashboard.lang)
    return env.get_template(template).render(d=dashboard, t=t, pct=pct, css=css, page=context,
                                             reason_text=reasons.reason_text(t))


def render_html(dashboard: Dashboard, templates: Path, *, fix_limit: int = 300) -> str:
    env = environment(templates)
    css = (templates / "dashboard.css").read_text(encoding="utf-8")
    template = env.get_template("dashboard.html.j2")
    t = translator(templates, dashboard.lang)
    return template.render(d=dashboard, t=t, pct=pct, css=css, fix_limit=fix_limit,
                           reason_text=reasons.reason_text(t), missing_text=reasons.missing_text(t))
