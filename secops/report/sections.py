"""Extension point: stages add their own dashboard sections without touching the core report.

A provider is `fn(session, dashboard) -> dict | None`. What it returns is stored under
`dashboard.sections[name]` (so it lands in the JSON export too) and rendered in the HTML by the
template `reports/sections/<name>.html.j2`, which sees it as `section` (plus `d`, `t`, `pct`).
Return None when the stage has nothing to say for this database (e.g. no discovery run yet).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from secops.report.data import Dashboard

Provider = Callable[[Session, Dashboard], "dict[str, Any] | None"]

# name -> "module:function"; order is the order of the sections on the dashboard.
PROVIDERS: dict[str, str] = {
    "trends": "secops.schedule.trends:trends_section",
}


def add_sections(session: Session, dashboard: Dashboard) -> None:
    for name, target in PROVIDERS.items():
        module_name, func_name = target.split(":")
        provider: Provider = getattr(importlib.import_module(module_name), func_name)
        data = provider(session, dashboard)
        if data is not None:
            dashboard.sections[name] = data
