"""Apply a reorganisation plan (merges and splits of agencies) in one transaction.

Records (systems, endpoints, staff) and sub-units of the old agencies move to their new owners;
the old agencies are retired on the effective date and linked to their successors, so reports can
name predecessors and trends can carry their history. Every problem is found before anything is
written and reported as file:row: field: reason; re-running an applied plan changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from secops.errors import InputRowsError, RowError, SecopsError
from secops.inventory.history import add_link
from secops.inventory.importer import known_agencies, write_models
from secops.inventory.kinds import ROOT_KIND, KindPolicy
from secops.inventory.levels import LevelPolicy
from secops.inventory.readers import RawRow, read_file
from secops.inventory.reorg_file import Entry, NewAgency, Plan
from secops.inventory.tables import AgencyLinkRow
from secops.inventory.validate import validate
from secops.store.db import Database
from secops.store.tables import (
    AgencyRow,
    EndpointRow,
    GradeRow,
    RunRow,
    StaffRow,
    SystemRow,
)

RECORDS: dict[str, Any] = {"systems": SystemRow, "endpoints": EndpointRow, "staff": StaffRow}


@dataclass
class EntryOutcome:
    row: int
    kind: str  # merge | split
    olds: list[str]
    targets: list[str]
    effective_date: dt.date
    status: str = "applied"  # applied | unchanged
    created: list[str] = field(default_factory=list)
    moved: dict[str, dict[str, int]] = field(default_factory=dict)  # target -> entity -> count


@dataclass
class Outcome:
    entries: list[EntryOutcome]
    imported: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(e.status == "applied" for e in self.entries)


def data_begins(session: Session) -> dt.date | None:
    """The day of the first graded run: reorganisations cannot reach back before recorded history."""
    first = session.scalar(select(func.min(RunRow.as_of)).where(RunRow.id.in_(select(GradeRow.run_id))))
    return first.date() if first else None


class _Checker:
    def __init__(self, session: Session, plan: Plan, kinds: KindPolicy, today: dt.date):
        self.session, self.plan, self.kinds, self.today = session, plan, kinds, today
        self.errors: list[RowError] = []
        self.rows = {a.code: a for a in session.scalars(select(AgencyRow))}
        self.retired_here = {old for e in plan.entries for old in e.olds}
        self.begins = data_begins(session)

    def error(self, entry: Entry, fld: str, reason: str) -> None:
        self.errors.append(RowError(self.plan.file, entry.row, fld, reason))

    def linked(self, old: str, target: str) -> bool:
        a, b = self.rows.get(old), self.rows.get(target)
        return bool(a and b and self.session.scalar(select(AgencyLinkRow.id).where(
            AgencyLinkRow.predecessor_id == a.id, AgencyLinkRow.successor_id == b.id)))

    def applied(self, entry: Entry) -> bool:
        return all(self.rows.get(o) is not None and self.rows[o].retired_at is not None
                   and all(self.linked(o, t) for t, _ in entry.targets) for o in entry.olds)

    def check_twice(self) -> None:
        seen: dict[str, int] = {}
        for entry in self.plan.entries:
            for old in entry.olds:
                if old in seen:
                    self.error(entry, "merge" if entry.merge else "split",
                               f"agency {old!r} is mapped twice (also on row {seen[old]})")
                seen.setdefault(old, entry.row)

    def check_cycles(self) -> None:
        edges: dict[str, set[str]] = {}
        for entry in self.plan.entries:
            for old in entry.olds:
                edges.setdefault(old, set()).update(t for t, _ in entry.targets)
        for entry in self.plan.entries:
            for old in entry.olds:
                path = self._loop(old, edges)
                if path:
                    self.error(entry, "into", "a cycle: " + " → ".join(path))
                    return

    @staticmethod
    def _loop(start: str, edges: dict[str, set[str]]) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        for _ in range(10_000):  # bounded: plans are small
            if not stack:
                return None
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    return [*path, nxt]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    def check_date(self, entry: Entry) -> None:
        day = entry.effective_date
        assert day is not None
        if day > self.today:
            self.error(entry, "effective_date", f"{day.isoformat()} is in the future")
        elif self.begins is not None and day < self.begins:
            self.error(entry, "effective_date", f"{day.isoformat()} is before the data begins "
                                                f"(first graded run as of {self.begins.isoformat()})")

    def check_old(self, entry: Entry, old: str) -> None:
        row = self.rows.get(old)
        if row is None:
            self.error(entry, "merge" if entry.merge else "split", f"agency {old!r} is not in the inventory")
        elif row.retired_at is not None:
            self.error(entry, "merge" if entry.merge else "split",
                       f"agency {old!r} is already retired (on {row.retired_at.isoformat()}: {row.retired_reason})")

    def check_target(self, entry: Entry, target: str, new: NewAgency | None) -> str | None:
        """Problems with a successor; returns its kind when it can be known."""
        row = self.rows.get(target)
        if target in self.retired_here:
            self.error(entry, "into", f"cannot map into {target!r}: this file retires it")
            return None
        if row is not None:
            if row.retired_at is not None:
                self.error(entry, "into", f"cannot map into {target!r}: it is retired "
                                          f"(on {row.retired_at.isoformat()}: {row.retired_reason})")
            return row.kind
        if new is None:
            self.error(entry, "into", f"agency {target!r} is not in the inventory; describe it with "
                                      "`new: {name, kind, parent}`")
            return None
        if new.kind not in self.kinds.kinds:
            self.error(entry, "new.kind", f"kind {new.kind!r} is not in policies/agency_kinds.yaml")
            return None
        if (new.kind == ROOT_KIND) != (new.parent is None):
            self.error(entry, "new.parent", f"a {ROOT_KIND} has no parent; any other kind needs one")
            return new.kind
        if new.parent is not None:
            parent = self.rows.get(new.parent)
            created = {t for e in self.plan.entries for t, n in e.targets if n is not None}
            if new.parent in self.retired_here or (parent is not None and parent.retired_at is not None):
                self.error(entry, "new.parent", f"parent {new.parent!r} is retired")
            elif parent is None and new.parent not in created:
                self.error(entry, "new.parent", f"parent {new.parent!r} is not in the inventory")
            elif parent is not None and (reason := self.kinds.parent_error(new.kind, parent.kind)):
                self.error(entry, "new.parent", reason)
        return new.kind

    def owned(self, table: Any, agency: AgencyRow) -> dict[str, int]:
        return dict(self.session.execute(select(table.code, table.id).where(
            table.agency_id == agency.id, table.retired_at.is_(None))).all())

    def children(self, agency: AgencyRow) -> dict[str, int]:
        return dict(self.session.execute(select(AgencyRow.code, AgencyRow.id).where(
            AgencyRow.parent_id == agency.id, AgencyRow.retired_at.is_(None))).all())

    def check_children(self, entry: Entry, old: AgencyRow, target_kind: str | None, codes: list[str]) -> None:
        for code in codes:
            child = self.rows[code]
            if code in self.retired_here or target_kind is None:
                continue
            reason = self.kinds.parent_error(child.kind, target_kind)
            if reason:
                self.error(entry, "into", f"sub-unit {code!r} of {old.code!r} cannot move: {reason}")

    def check_split(self, entry: Entry, kinds: dict[str, str | None]) -> None:
        old = self.rows.get(entry.split or "")
        if old is None or old.retired_at is not None:
            return
        pools = {"agencies": self.children(old), **{n: self.owned(t, old) for n, t in RECORDS.items()}}
        listed: dict[tuple[str, str], str] = {}
        for part in entry.parts:
            self.check_part(entry, old, part, pools, listed)
            if part.agencies:
                self.check_children(entry, old, kinds.get(part.into), part.agencies)
        rest = next((p for p in entry.parts if p.rest), None)
        left = [f"{entity} {code}" for entity, pool in pools.items() for code in pool if (entity, code) not in listed]
        if left and rest is None:
            shown = ", ".join(left[:5]) + (" …" if len(left) > 5 else "")
            self.error(entry, "parts", f"{len(left)} record(s) of {old.code!r} are not assigned ({shown}): "
                                       "list them, or let one part take the rest (`rest: true`)")
        if rest is not None:
            self.check_children(entry, old, kinds.get(rest.into),
                                [c for c in pools["agencies"] if ("agencies", c) not in listed])

    def check_part(self, entry: Entry, old: AgencyRow, part: Any, pools: dict[str, Any],
                   listed: dict[tuple[str, str], str]) -> None:
        """A split's part lists records of the old agency only, each once across the parts."""
        for entity, pool in pools.items():
            for code in getattr(part, entity):
                if code not in pool:
                    self.error(entry, f"parts.{entity}", f"{entity} {code!r} does not belong to {old.code!r} "
                                                         "(or is retired)")
                elif (entity, code) in listed:
                    self.error(entry, f"parts.{entity}", f"{entity} {code!r} is assigned twice "
                                                         f"({listed[(entity, code)]} and {part.into})")
                listed.setdefault((entity, code), part.into)

    def check(self, pending: list[Entry]) -> None:
        self.check_twice()
        self.check_cycles()
        for entry in pending:
            self.check_date(entry)
            for old in entry.olds:
                self.check_old(entry, old)
            kinds = {t: self.check_target(entry, t, n) for t, n in entry.targets}
            if entry.merge is not None:
                for old in entry.merge:
                    row = self.rows.get(old)
                    if row is not None and row.retired_at is None:
                        self.check_children(entry, row, kinds[entry.into or ""], list(self.children(row)))
            else:
                self.check_split(entry, kinds)


def _target_row(session: Session, code: str, new: NewAgency | None, outcome: EntryOutcome) -> AgencyRow:
    row = session.scalar(select(AgencyRow).where(AgencyRow.code == code))
    if row is None:
        assert new is not None
        parent = session.scalar(select(AgencyRow).where(AgencyRow.code == new.parent)) if new.parent else None
        row = AgencyRow(code=code, name=new.name, kind=new.kind, parent_id=parent.id if parent else None)
        session.add(row)
        session.flush()
        outcome.created.append(code)
    return row


def _move(session: Session, table: Any, ids: Sequence[int], target: AgencyRow) -> int:
    for chunk in range(0, len(ids), 500):
        for row in session.scalars(select(table).where(table.id.in_(ids[chunk:chunk + 500]))):
            if table is AgencyRow:
                row.parent_id = target.id
            else:
                row.agency_id = target.id
    return len(ids)


def _apply(session: Session, plan: Plan, entry: Entry, retired_here: set[str]) -> EntryOutcome:
    assert entry.effective_date is not None
    outcome = EntryOutcome(row=entry.row, kind="merge" if entry.merge else "split", olds=entry.olds,
                           targets=[t for t, _ in entry.targets], effective_date=entry.effective_date)
    source = Path(plan.file).name
    targets = {code: _target_row(session, code, new, outcome) for code, new in entry.targets}
    for old_code in entry.olds:
        old = session.scalar(select(AgencyRow).where(AgencyRow.code == old_code))
        assert old is not None
        pools: dict[str, dict[str, int]] = {
            "agencies": {c: i for c, i in session.execute(select(AgencyRow.code, AgencyRow.id).where(
                AgencyRow.parent_id == old.id, AgencyRow.retired_at.is_(None))) if c not in retired_here},
            **{n: dict(session.execute(select(t.code, t.id).where(t.agency_id == old.id, t.retired_at.is_(None))).all())
               for n, t in RECORDS.items()}}
        assignment = _assign(entry, pools)
        for target_code, per_entity in assignment.items():
            moved = outcome.moved.setdefault(target_code, {})
            for entity, ids in per_entity.items():
                table = AgencyRow if entity == "agencies" else RECORDS[entity]
                moved[entity] = moved.get(entity, 0) + _move(session, table, ids, targets[target_code])
        into = ", ".join(outcome.targets)
        old.retired_at = entry.effective_date
        old.retired_reason = f"{'merged into' if entry.merge else 'split into'} {into} ({source})"
        for target in targets.values():
            add_link(session, old.id, target.id, outcome.kind, entry.effective_date, source)
    session.flush()
    return outcome


def _assign(entry: Entry, pools: dict[str, dict[str, int]]) -> dict[str, dict[str, list[int]]]:
    """Target code -> entity -> ids: a merge takes everything, a split follows its lists and rest rule."""
    if entry.merge is not None:
        return {entry.into or "": {entity: list(pool.values()) for entity, pool in pools.items()}}
    out: dict[str, dict[str, list[int]]] = {}
    taken: set[tuple[str, str]] = set()
    for part in entry.parts:
        out[part.into] = {e: [pools[e][c] for c in getattr(part, e)] for e in pools}
        taken.update((e, c) for e in pools for c in getattr(part, e))
    rest = next((p for p in entry.parts if p.rest), None)
    if rest is not None:
        for entity, pool in pools.items():
            out[rest.into][entity] += [i for c, i in pool.items() if (entity, c) not in taken]
    return out


def _import(session: Session, plan: Plan, levels: LevelPolicy, kinds: KindPolicy, today: dt.date) -> dict[str, Any]:
    raw: list[RawRow] = []
    for path in plan.inventories:
        raw.extend(read_file(path))
    # A former province comes with its own top-level agency; the plan must merge it (checked at the end).
    checked = validate(raw, known_agencies(session), levels, today, kinds=kinds, one_root=False)
    if checked.errors:
        raise InputRowsError(checked.errors)
    return write_models(session, {entity: [m for _, m in pairs] for entity, pairs in checked.rows.items()})


def _one_root(session: Session) -> None:
    roots = sorted(session.scalars(select(AgencyRow.code).where(AgencyRow.parent_id.is_(None),
                                                                AgencyRow.retired_at.is_(None))))
    if len(roots) > 1:
        raise SecopsError(f"after this reorganisation the inventory would have {len(roots)} top-level agencies "
                          f"({', '.join(roots[:5])}); merge the former province into the new one; nothing was written")


def reorganise(db: Database, plan: Plan, levels: LevelPolicy, kinds: KindPolicy,
               today: dt.date | None = None) -> Outcome:
    # The province's today, as `effective_date: today` is read and as people date their decisions:
    # UTC's date refused the README's example as "in the future" from 17:00 UTC (midnight in Hanoi).
    from secops.localtime import local_today

    today = today or local_today()
    with db.session() as session:  # one transaction: any refusal or crash writes nothing
        checker = _Checker(session, plan, kinds, today)
        applied = [e for e in plan.entries if checker.applied(e)]
        if len(applied) == len(plan.entries):
            return Outcome([_unchanged(e) for e in plan.entries])
        if applied and plan.inventories:
            raise SecopsError(f"{plan.file}: part of this plan was applied before (row {applied[0].row}); "
                              "re-importing its inventories would undo it: remove `inventories` or the applied rows")
        imported = _import(session, plan, levels, kinds, today) if plan.inventories else {}
        checker = _Checker(session, plan, kinds, today)  # again, now that the inventories are in
        pending = [e for e in plan.entries if e not in applied]
        checker.check(pending)
        if checker.errors:
            raise InputRowsError(sorted(checker.errors, key=lambda e: (e.row, e.field)))
        outcomes = [_unchanged(e) if e in applied else _apply(session, plan, e, checker.retired_here)
                    for e in plan.entries]
        _one_root(session)
        return Outcome(outcomes, imported)


def _unchanged(entry: Entry) -> EntryOutcome:
    assert entry.effective_date is not None
    return EntryOutcome(row=entry.row, kind="merge" if entry.merge else "split", olds=entry.olds,
                        targets=[t for t, _ in entry.targets], effective_date=entry.effective_date,
                        status="unchanged")
