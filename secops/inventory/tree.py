"""The agency tree: its nodes as of a day, and an agency's subtree in display order (parents before children)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.errors import SecopsError
from secops.i18n import _
from secops.inventory.retire import active_on
from secops.store.tables import AgencyRow


@dataclass(frozen=True)
class AgencyNode:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None



def load_agencies(session: Session, on: dt.date | None = None) -> dict[int, AgencyNode]:
    """Agencies active on that day (default: today, UTC)."""
    day = on or dt.datetime.now(dt.UTC).date()
    return {row.id: AgencyNode(row.id, row.code, row.name, row.kind, row.parent_id)
            for row in session.scalars(select(AgencyRow).where(active_on(AgencyRow, day)).order_by(AgencyRow.id))}


@functools.cache
def kind_order() -> dict[str, int]:
    """Display order of kinds from the bundled policies/agency_kinds.yaml (units of unknown kinds last)."""
    from secops.config import bundled
    from secops.inventory.kinds import load_kinds

    return {name: info.order for name, info in load_kinds(bundled("policies")).kinds.items()}


def subtree(agencies: dict[int, AgencyNode], root: AgencyNode) -> list[tuple[AgencyNode, int]]:
    children: dict[int | None, list[AgencyNode]] = {}
    for node in agencies.values():
        children.setdefault(node.parent_id, []).append(node)
    order = kind_order()
    out: list[tuple[AgencyNode, int]] = []
    stack = [(root, 0)]
    while stack:  # depth-first, parents before children
        node, depth = stack.pop()
        out.append((node, depth))
        kids = sorted(children.get(node.id, []), key=lambda n: (order.get(n.kind, 99), n.code), reverse=True)
        stack.extend((kid, depth + 1) for kid in kids)
    return out


def check_one_root(agencies: dict[int, AgencyNode]) -> None:
    """Grading and reports need one province at the top; say which ones are there when not."""
    roots = sorted(n.code for n in agencies.values() if n.parent_id is None)
    if not roots:
        raise SecopsError(_("the inventory holds no agency: import one first (`secops inventory import FILE`, see "
                            "examples/inventory.yaml) or load the sample (`secops inventory sample`)"))
    if len(roots) > 1:
        raise SecopsError(_("the inventory has {n} top-level agencies ({items}); one database holds one province: retire "
                            "the wrong one with `secops inventory remove agencies CODE --reason ...` or merge them with "
                            "`secops inventory reorganise`").format(n=len(roots), items=', '.join(roots[:5])))


def find_agency(agencies: dict[int, AgencyNode], code: str | None) -> AgencyNode:
    """The agency with that code, or the single root (the province) when code is None."""
    if code:
        for node in agencies.values():
            if node.code == code:
                return node
        raise SecopsError(_("agency {code} is not in the inventory").format(code=repr(code)))
    roots = [n for n in agencies.values() if n.parent_id is None]
    if len(roots) != 1:
        raise SecopsError(_("expected one top-level agency (the province), found {n}; use --agency").format(
                              n=len(roots)))
    return roots[0]
