"""Dashboard sections of the stages (one module each), beside the core report.

A provider is `fn(session, dashboard, settings) -> dict | None` (settings: the run's Settings,
so `--policies` and friends reach it). What it returns is stored under
`dashboard.sections[name]` (so it lands in the JSON export too) and rendered in the HTML by the
template `reports/sections/<name>.html.j2`, which sees it as `section` (plus `d`, `t`, `pct`).
Return None when the stage has nothing to say for this database (e.g. no discovery run yet).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from secops.config import Settings
from secops.report.data import Dashboard

Provider = Callable[[Session, Dashboard, Settings], "dict[str, Any] | None"]

# Section name -> the function of this package's module of that name that provides it; order is the
# order of the sections on the dashboard. Each module is imported only when a report is built (a test
# checks every entry): `secops grade` does not pay for them.
PROVIDERS: dict[str, str] = {
    "discovery": "discovery_section",
    "audit": "audit_section",
    "trends": "trends_section",
    "sites": "sites_section",
    "reporting": "reporting_section",
    "requirements": "requirements_section",
}


def load_providers() -> list[tuple[str, Provider]]:
    """The providers, their modules imported (and with them their tables' ORM classes)."""
    return [(name, getattr(importlib.import_module(f"{__name__}.{name}"), function))
            for name, function in PROVIDERS.items()]


def add_sections(session: Session, dashboard: Dashboard, settings: Settings,
                 providers: list[tuple[str, Provider]] | None = None) -> None:
    """providers: load_providers() done beforehand (publish reads sections on another thread: every
    module imported and every mapper configured first, in the calling thread)."""
    for name, provider in providers if providers is not None else load_providers():
        data = provider(session, dashboard, settings)
        if data is not None:
            dashboard.sections[name] = data
