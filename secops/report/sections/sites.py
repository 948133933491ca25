"""Dashboard section `sites`: what each remote site did in the latest run that used sites.

A leader must see which sites were not scanned (no live scanner, broker down, refused, late), not
only the figures that the scanned sites produced.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from secops.config import Settings
from secops.discover.sites import load_sites
from secops.remote.tables import RemoteTaskRow
from secops.report.data import Dashboard
from secops.store.tables import RunRow


def sites_section(session: Session, dashboard: Dashboard, settings: Settings) -> dict[str, Any] | None:
    run_id = session.scalar(select(func.max(RemoteTaskRow.run_id)).where(RemoteTaskRow.run_id <= dashboard.run.id))
    if run_id is None:
        return None
    run = session.get(RunRow, run_id)
    tasks = session.scalars(select(RemoteTaskRow).where(RemoteTaskRow.run_id == run_id)
                            .order_by(RemoteTaskRow.site, RemoteTaskRow.stage, RemoteTaskRow.id)).all()
    configured = {s.code: s.name for s in load_sites(settings.policies).sites}
    bad = {t.site for t in tasks if t.status != "stored"}
    if run is not None and run.agency_code is None:
        bad |= set(configured) - {t.site for t in tasks}  # a province-wide run that never reached a site
    return {
        "run_id": run_id,
        "tasks": [{"site": t.site, "site_name": configured.get(t.site, ""), "stage": t.stage,
                   "agency": t.agency_code, "status": t.status, "scanner": t.scanner, "error": t.error,
                   "sent_at": t.sent_at.isoformat(timespec="minutes"),
                   "finished_at": t.finished_at.isoformat(timespec="minutes") if t.finished_at else None}
                  for t in tasks],
        "not_scanned": sorted(bad),
    }
