"""What the dashboard says about agency kinds and reorganisations.

Kind labels and the grouping follow policies/agency_kinds.yaml and the kinds present in the scope;
an agency formed by a merge or split names its predecessors ("hình thành từ …" / "formed from …").
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from secops.config import Settings
from secops.inventory.history import predecessors
from secops.inventory.kinds import load_kinds
from secops.report.data import Dashboard


def add_lineage(session: Session, dashboard: Dashboard, settings: Settings) -> None:
    policy = load_kinds(settings.policies)
    present: dict[str, int] = {}
    for agency in dashboard.agencies:
        present[agency.kind] = present.get(agency.kind, 0) + 1
    kinds = sorted(present, key=lambda k: (policy.order(k), k))
    dashboard.kind_labels = {k: policy.label(k, dashboard.lang) for k in kinds}
    dashboard.kind_groups = [{"kind": k, "label": policy.kinds[k].group.get(dashboard.lang) if k in policy.kinds
                              else k, "count": present[k]} for k in kinds]
    links = predecessors(session, [a.code for a in dashboard.agencies])
    dashboard.predecessors = {
        code: [{"code": p.code, "name": p.name, "kind": p.kind, "link": p.link,
                "effective_date": p.effective_date.isoformat()} for p in items]
        for code, items in links.items()}
