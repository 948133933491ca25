"""The agency pages' fix lists, read with the report's fast path (report/fixlist.target_fix_fields:
the newest evidence by index seek or DISTINCT ON, Core rows, no server-side OFFSET walk).

`fix_heads`: one pass per graded run over each target's province list (most urgent first, as the
dashboard lists it) fills the first pages (KEPT_ITEMS) of every agency's list at once — an agency's
list is the province's list filtered to its subtree, in the same order — so the warm-up and a cold
agency page cost one ordered query per target for the whole province instead of one per agency
and target. A page past those is read on its own (`fix_page_read`: OFFSET/LIMIT on the fast path
inside the one or two targets the page falls in)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from secops.web.context import Console

KEPT_ITEMS = 200  # items of every agency's fix list kept per graded run, in whole pages, at least one page
# (4 pages of the default 50: most readers read page 1); an item is one object however many lists hold it


@dataclass(frozen=True)
class FixHeads:
    """The first `capacity` items of each agency's fix list (all of it where it is shorter)."""

    capacity: int
    items: dict[str, list[Any]]

    def page(self, code: str, page: int, size: int) -> list[Any] | None:
        """Page PAGE of CODE's list, or None when it lies past what is kept."""
        held = self.items.get(code)
        if held is None:
            return None
        end = page * size
        if end <= len(held) or len(held) < self.capacity:
            return held[(page - 1) * size:end]
        return None


def fix_heads(console: Console, run_id: int, as_of: Any, size: int) -> FixHeads:
    """The first pages (KEPT_ITEMS, at least one page) of every active agency's fix list for the
    run, built once per graded run and page size (per_run)."""
    heads: FixHeads = console.per_run((run_id, "fixheads", size), lambda: _build_heads(console, as_of, size))
    return heads


def _scopes(console: Console) -> tuple[str, dict[str, list[str]]]:
    """(the root's code, for each agency code the scopes whose list it is in: itself and its
    ancestors among the active agencies, the root excepted: the root's list takes every item)."""
    root = console.root_code()
    within: dict[str, list[str]] = {}
    for scope in sorted(console.subtree_codes(root) - {root}):
        for code in console.subtree_codes(scope):
            within.setdefault(code, []).append(scope)
    return root, within


def _build_heads(console: Console, as_of: Any, size: int) -> FixHeads:
    from secops.grade.sql import endpoint_credits, endpoint_max_age
    from secops.report.fixlist import endpoint_fix_rows, fix_item, target_fix_fields
    from secops.targets import load_targets

    policy = load_targets(console.settings.policies)
    max_age, credits = endpoint_max_age(policy), endpoint_credits(policy)
    root, within = _scopes(console)
    capacity = size * max(1, KEPT_ITEMS // size)
    items: dict[str, list[Any]] = {root: [], **{scope: [] for scopes in within.values() for scope in scopes}}
    open_scopes = len(items)
    with console.db.session() as session:
        for target in sorted(policy.targets, key=lambda t: t.id):
            if open_scopes == 0:
                break  # every list is full: no later item is kept
            if target.entity == "endpoints":
                raw = endpoint_fix_rows(session, target, as_of, max_age, None, credits)
                rows: Iterator[Any] = ((row[-2], row, raw.fields) for row in raw.rows)
            else:
                rows = ((fields[0], fields, None)
                        for fields in target_fix_fields(session, target, as_of, max_age, None, credits))
            for agency_code, row, convert in rows:
                wanted = [scope for scope in (root, *within.get(agency_code, ())) if len(items[scope]) < capacity]
                if not wanted:
                    continue
                fields = convert(row) if convert is not None else row
                item = fix_item(target.id, target.entity, fields)
                for scope in wanted:
                    items[scope].append(item)
                    if len(items[scope]) == capacity:
                        open_scopes -= 1
                if open_scopes == 0:
                    break
    return FixHeads(capacity, items)


def fix_page_read(console: Console, as_of: Any, codes: Collection[str] | None, counts: dict[str, int], page: int,
                  size: int) -> list[Any]:
    """Page `page` of the scope's fix list (targets in id order, each most urgent first, as the
    dashboard lists them), read with OFFSET/LIMIT on the fast path from the one or two targets the
    page falls in; each target's length is its stored gap to the denominator (denominator -
    numerator), no COUNT."""
    from secops.grade.sql import endpoint_credits, endpoint_max_age
    from secops.report.fixlist import fix_item, target_fix_fields
    from secops.store.tables import AgencyRow
    from secops.targets import load_targets

    policy = load_targets(console.settings.policies)
    max_age, credits = endpoint_max_age(policy), endpoint_credits(policy)
    skip, need, items = (page - 1) * size, size, list[Any]()
    with console.db.session() as session:
        ids = None if codes is None else set(session.scalars(select(AgencyRow.id).where(AgencyRow.code.in_(codes))))
        for target in sorted(policy.targets, key=lambda t: t.id):
            length = counts.get(target.id, 0)
            if skip >= length:
                skip -= length
                continue
            for fields in target_fix_fields(session, target, as_of, max_age, ids, credits, limit=need, offset=skip):
                items.append(fix_item(target.id, target.entity, fields))
            need, skip = size - len(items), 0
            if need <= 0:
                break
    return items
