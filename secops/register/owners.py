"""The system owners of a reporting period: agencies that own at least one system in service."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.inventory.retire import active_on
from secops.store.tables import AgencyRow, SystemRow


def owners_with_systems(session: Session, period_end: dt.date) -> list[str]:
    """Agency codes, sorted, owning a system not retired by the end of the data period."""
    query = (select(AgencyRow.code).join(SystemRow, SystemRow.agency_id == AgencyRow.id)
             .where(active_on(SystemRow, period_end)).distinct().order_by(AgencyRow.code))
    return list(session.scalars(query))
