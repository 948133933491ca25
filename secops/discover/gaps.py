"""Discovery gaps: unregistered hosts and conflicts of the latest runs, and stale endpoints.

Stale: a registered endpoint that discovery saw once but not in the last `stale_after_days` days
(policies/discovery.yaml). Endpoints discovery has never seen are counted apart ("never seen"):
their addresses may simply not have been scanned yet.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from secops.discover.tables import DiscoveredHostRow, DiscoveryScanRow
from secops.store.tables import AgencyRow, EndpointRow, RunRow

FINISHED = ("ok", "partial")


def latest_scans(session: Session, agency_codes: list[str]) -> list[tuple[DiscoveryScanRow, RunRow]]:
    """The latest finished discovery scan of each agency (that has one), newest first.

    A scan inside a job run counts as soon as the scan itself has finished: the job's report stage
    runs before the job run is closed, and must show the discovery it just made.
    """
    done = or_(RunRow.status.in_(FINISHED), DiscoveryScanRow.finished_at.is_not(None))
    latest = (select(func.max(DiscoveryScanRow.run_id)).join(RunRow, RunRow.id == DiscoveryScanRow.run_id)
              .where(DiscoveryScanRow.agency_code.in_(agency_codes), done)
              .group_by(DiscoveryScanRow.agency_code))
    rows = session.execute(select(DiscoveryScanRow, RunRow).join(RunRow, RunRow.id == DiscoveryScanRow.run_id)
                           .where(DiscoveryScanRow.run_id.in_(latest)).order_by(RunRow.id.desc()))
    return [(scan, run) for scan, run in rows]


def gap_hosts(session: Session, run_ids: list[int]) -> list[DiscoveredHostRow]:
    """Unregistered and conflicting hosts of these runs."""
    return list(session.scalars(select(DiscoveredHostRow)
                                .where(DiscoveredHostRow.run_id.in_(run_ids),
                                       DiscoveredHostRow.match_status.in_(("unregistered", "conflict")))
                                .options(selectinload(DiscoveredHostRow.ports))
                                .order_by(DiscoveredHostRow.run_id.desc(), DiscoveredHostRow.address)))


def stale_endpoints(session: Session, agency_codes: list[str], as_of: dt.datetime,
                    days: int) -> list[tuple[EndpointRow, AgencyRow]]:
    cutoff = as_of - dt.timedelta(days=days)
    rows = session.execute(select(EndpointRow, AgencyRow).join(AgencyRow, AgencyRow.id == EndpointRow.agency_id)
                           .where(AgencyRow.code.in_(agency_codes), EndpointRow.last_seen.is_not(None),
                                  EndpointRow.last_seen < cutoff)
                           .order_by(EndpointRow.last_seen, EndpointRow.code))
    return [(e, a) for e, a in rows]


def never_seen(session: Session, agency_codes: list[str]) -> int:
    return session.scalar(select(func.count(EndpointRow.id)).join(AgencyRow, AgencyRow.id == EndpointRow.agency_id)
                          .where(AgencyRow.code.in_(agency_codes), EndpointRow.last_seen.is_(None))) or 0
