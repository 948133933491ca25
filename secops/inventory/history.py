"""Predecessor links between agencies (merges and splits) and what reports say about them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from secops.inventory.tables import AgencyLinkRow
from secops.store.tables import AgencyRow


@dataclass(frozen=True)
class Predecessor:
    code: str
    name: str
    kind: str
    link: str  # merge | split
    effective_date: dt.date


def add_link(session: Session, predecessor_id: int, successor_id: int, kind: str, effective: dt.date,
             source: str | None) -> bool:
    """Record predecessor -> successor once; False when it is already recorded (re-runs change nothing)."""
    found = session.scalar(select(AgencyLinkRow).where(AgencyLinkRow.predecessor_id == predecessor_id,
                                                       AgencyLinkRow.successor_id == successor_id))
    if found is not None:
        return False
    session.add(AgencyLinkRow(predecessor_id=predecessor_id, successor_id=successor_id, kind=kind,
                              effective_date=effective, source=source))
    session.flush()
    return True


def predecessors(session: Session, codes: list[str] | None = None) -> dict[str, list[Predecessor]]:
    """Successor code -> its direct predecessors (by code), for the given successors or all."""
    old, new = aliased(AgencyRow), aliased(AgencyRow)
    query = select(new.code, old.code, old.name, old.kind, AgencyLinkRow.kind, AgencyLinkRow.effective_date) \
        .join(old, old.id == AgencyLinkRow.predecessor_id).join(new, new.id == AgencyLinkRow.successor_id) \
        .order_by(new.code, old.code)
    if codes is not None:
        query = query.where(new.code.in_(codes))
    out: dict[str, list[Predecessor]] = {}
    for successor, code, name, kind, link, effective in session.execute(query):
        out.setdefault(successor, []).append(Predecessor(code, name, kind, link, effective))
    return out
