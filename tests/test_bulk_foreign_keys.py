"""Deferred foreign keys (secops.store.bulk.deferred_foreign_keys) in the sample load on PostgreSQL.

A sample into a new PostgreSQL database drops the foreign-key constraints of its big, empty tables
inside the load's transaction and adds them again, from pg_get_constraintdef, at its end: PostgreSQL
then checks every row's keys in one query per constraint instead of one query per row. Afterwards
the schema (every constraint, index and trigger in pg_catalog) is exactly the one migrations made; a
failure mid-load leaves every constraint and no row; a row whose key has no referenced row fails the
load with PostgreSQL's own foreign-key error (the same as when checked row by row) and writes
nothing; a table that already holds rows keeps its constraints throughout; and the rows are those of
a load that defers nothing. SQLite is untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import secops.sample.load as load_module
import secops.sample.province as sample_module
from secops.sample.load import DEFERRED, load_sample
from secops.store import bulk
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, SystemRow
from tests.test_bulk_copy import snapshot
from tests.test_bulk_indexes import schema as index_schema

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
BIG = [bulk._table(t).name for t in DEFERRED]
# Every foreign key of the big tables, as migrations make them.
BIG_FKS = {
    "endpoints.fk_endpoints_agency_id_agencies",
    "protection_evidence.fk_protection_evidence_endpoint_id_endpoints",
    "protection_evidence.fk_protection_evidence_run_id_runs",
    "staff.fk_staff_agency_id_agencies",
    "system_hosts.fk_system_hosts_endpoint_id_endpoints",
    "system_hosts.fk_system_hosts_system_id_information_systems",
    "requirement_status.fk_requirement_status_run_id_runs",
    "requirement_status.fk_requirement_status_system_id_information_systems",
    "protection_management.fk_protection_management_endpoint_id_endpoints",
    "protection_management.fk_protection_management_run_id_runs",
}


def catalog(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """The database's schema as pg_catalog holds it, OIDs left out: every constraint (kind, columns,
    referenced table and columns, actions, match, deferrability, validation, definition), every
    index (tests/test_bulk_indexes.schema) and every trigger (the RI triggers a constraint makes)."""
    with db.engine.connect() as conn:
        constraints = conn.execute(text(
            "SELECT k.conrelid::regclass::text, k.conname, k.contype, k.condeferrable, k.condeferred, "
            "k.convalidated, k.confrelid::regclass::text, k.confupdtype, k.confdeltype, k.confmatchtype, "
            "k.conkey, k.confkey, k.conindid::regclass::text, k.conislocal, k.coninhcount, "
            "pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace "
            "WHERE n.nspname = 'public'")).all()
        triggers = conn.execute(text(
            "SELECT t.tgrelid::regclass::text, t.tgfoid::regproc::text, t.tgtype, t.tgenabled, t.tgisinternal, "
            "t.tgconstrrelid::regclass::text, t.tgdeferrable, t.tginitdeferred, t.tgnargs, k.conname "
            "FROM pg_trigger t LEFT JOIN pg_constraint k ON k.oid = t.tgconstraint "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'")).all()
    return {"constraints": sorted((tuple(r) for r in constraints), key=repr),
            "triggers": sorted((tuple(r) for r in triggers), key=repr),
            "indexes": index_schema(db)}


def counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {bulk._table(t).name: s.scalar(select(func.count()).select_from(t))  # type: ignore[misc]
                for t in (*DEFERRED, SystemRow, AgencyRow)}


class Watch:
    """deferred_foreign_keys as load_sample uses it, watched, and every bulk write of the load seen
    from inside its transaction (bulk._send): what the constraints of the big tables were then."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.deferred: list[list[str]] = []
        self.session: Session | None = None
        self.writes: list[tuple[str, list[str]]] = []  # (table written, the big tables' foreign keys then)
        # called with (table, columns, rows as lists of values) before each write; may change them
        # in place (add a column, change a value) or raise
        self.before_write: Any = None
        monkeypatch.setattr(load_module, "deferred_foreign_keys", self)
        real = bulk._send

        def send(conn: Any, table: Any, columns: Any, values: Any, how: str, **options: Any) -> None:
            self.writes.append((table.name, self.foreign_keys()))
            if self.before_write is not None:
                columns, values = list(columns), [list(row) for row in values]
                self.before_write(table, columns, values)
            real(conn, table, columns, values, how, **options)

        monkeypatch.setattr(bulk, "_send", send)

    @contextmanager
    def __call__(self, session: Session, tables: Any) -> Iterator[list[str]]:
        with bulk.deferred_foreign_keys(session, tables) as names:
            self.deferred.append(names)
            self.session = session
            yield names

    def foreign_keys(self) -> list[str]:
        if self.session is None:
            return ["(before the load's block)"]
        return [f"{bulk._table(t).name}.{name}" for t in DEFERRED for name, _ in bulk.foreign_keys(self.session, t)]


def test_load_leaves_exactly_the_schema_migrations_made(fresh_pg, monkeypatch):
    target, migrated = fresh_pg(), fresh_pg()
    made = catalog(target)
    assert made == catalog(migrated)  # a freshly migrated database, untouched: the reference
    assert {f"{r[0]}.{r[1]}" for r in made["constraints"] if r[2] == "f" and r[0] in BIG} == BIG_FKS
    watch = Watch(monkeypatch)
    load_sample(target, AS_OF, endpoints=1500)
    assert set(watch.deferred[0]) == BIG_FKS  # every big table was empty: all their foreign keys deferred
    written = {table for table, _ in watch.writes}
    assert set(BIG) <= written
    assert all(fks == [] for table, fks in watch.writes if table in BIG)  # mid-load: none of them there
    assert catalog(target) == catalog(migrated)
    assert counts(target)["endpoints"] == 1500


def test_failure_mid_load_keeps_every_constraint_and_writes_no_row(fresh_pg, monkeypatch):
    target = fresh_pg()
    made = catalog(target)
    watch = Watch(monkeypatch)
    evidence = {"writes": 0}

    def fail(table: Any, columns: list[Any], rows: list[list[Any]]) -> None:
        if table.name == "protection_evidence":
            evidence["writes"] += 1
            if evidence["writes"] == 2:  # endpoints and evidence already written, with the keys dropped
                assert watch.foreign_keys() == []
                raise RuntimeError("disk full")

    watch.before_write = fail
    monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 400)
    with pytest.raises(RuntimeError, match="disk full"):
        load_sample(target, AS_OF, endpoints=1200)
    assert set(watch.deferred[0]) == BIG_FKS
    assert catalog(target) == made
    assert set(counts(target).values()) == {0}


def _fk_columns() -> list[tuple[str, str]]:
    return sorted((bulk._table(t).name, c.parent.name) for t in DEFERRED for c in bulk._table(t).foreign_keys)


@pytest.mark.parametrize("where", _fk_columns(), ids="-".join)
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(min_value=0, max_value=10_000))
def test_a_row_whose_key_has_no_referenced_row_fails_the_load_and_writes_nothing(fresh_pg, where, row):
    """A bad key in each foreign-key column of the big tables (in a row hypothesis picks): the load
    fails with the error PostgreSQL gives when it checks row by row (same constraint, same key in
    the message), nothing is written and every constraint is there."""
    table_name, column = where
    errors = []
    for defer in (True, False):
        target = fresh_pg()
        made = catalog(target)
        with pytest.MonkeyPatch.context() as m:
            watch = Watch(m)
            if not defer:
                m.setattr(load_module, "deferred_foreign_keys", lambda session, tables: nullcontext([]))
            injected: list[Any] = []

            def bad(table: Any, columns: list[Any], rows: list[list[Any]], _injected: list[Any] = injected) -> None:
                if table.name == table_name and not _injected:
                    names = [c.name for c in columns]
                    if column not in names:  # a column the load leaves NULL (run_id): written too, then
                        columns.append(table.c[column])
                        names.append(column)
                        for other in rows:
                            other.append(None)
                    victim = rows[row % len(rows)]
                    victim[names.index(column)] = -7  # no table has a row with id -7
                    _injected.append(victim)

            watch.before_write = bad
            with pytest.raises(IntegrityError) as raised:
                load_sample(target, AS_OF, endpoints=300, seed=row)
        assert injected, where
        assert raised.value.orig is not None
        diag = raised.value.orig.diag  # type: ignore[attr-defined]
        errors.append((diag.sqlstate, diag.table_name, diag.constraint_name, diag.message_primary,
                       diag.message_detail))
        assert catalog(target) == made
        assert set(counts(target).values()) == {0}
    assert errors[0] == errors[1]
    sqlstate, table, constraint, primary, detail = errors[0]
    assert sqlstate == "23503" and table == table_name and constraint.startswith(f"fk_{table_name}_{column}_")
    assert primary == f'insert or update on table "{table_name}" violates foreign key constraint "{constraint}"'
    assert detail.startswith(f"Key ({column})=(-7) is not present in table ")


def test_a_table_holding_rows_keeps_its_constraints_throughout(fresh_pg, monkeypatch):
    target = fresh_pg()
    monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 400)
    load_sample(target, AS_OF, endpoints=900)
    made = catalog(target)
    with target.session() as s:  # protection_management emptied: only its foreign keys may be deferred
        s.execute(bulk._table(DEFERRED[-1]).delete())
    watch = Watch(monkeypatch)
    load_sample(target, AS_OF, endpoints=1300)  # 400 more endpoints, evidence, facts
    assert sorted(watch.deferred[0]) == ["protection_management.fk_protection_management_endpoint_id_endpoints",
                                         "protection_management.fk_protection_management_run_id_runs"]
    kept = sorted(BIG_FKS - set(watch.deferred[0]))
    mid = [sorted(fks) for table, fks in watch.writes if table in BIG]
    assert len(mid) >= 5 and all(fks == kept for fks in mid)
    assert catalog(target) == made
    assert counts(target)["endpoints"] == 1300


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoints=st.integers(min_value=0, max_value=1200), seed=st.integers(min_value=0, max_value=10_000))
def test_deferred_load_stores_the_rows_of_a_load_that_defers_nothing(fresh_pg, endpoints, seed):
    """Foreign keys and indexes deferred (the default) against both checked and kept row by row."""
    deferred, plain = fresh_pg(), fresh_pg()
    load_sample(deferred, AS_OF, endpoints=endpoints, seed=seed)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(load_module, "deferred_foreign_keys", lambda session, tables: nullcontext([]))
        m.setattr(load_module, "deferred_indexes", lambda session, tables: nullcontext([]))
        load_sample(plain, AS_OF, endpoints=endpoints, seed=seed)
    assert snapshot(deferred) == snapshot(plain)
    assert catalog(deferred) == catalog(plain)


def test_definitions_are_re_added_as_they_were(fresh_pg):
    """Every clause pg_get_constraintdef writes survives the drop and re-add (composite keys, MATCH
    FULL, ON UPDATE/DELETE actions, DEFERRABLE, quoted names); a NOT VALID constraint is not
    deferred (re-adding it would not check the new rows), and its rows are checked row by row."""
    target = fresh_pg()
    with target.engine.begin() as conn:
        for statement in (
            'CREATE TABLE parent (a int, b text, PRIMARY KEY (a, b), UNIQUE (b))',
            'CREATE TABLE "Child Table" (id serial PRIMARY KEY, a int, b text, c text, d int)',
            'ALTER TABLE "Child Table" ADD CONSTRAINT "Composite Key" FOREIGN KEY (a, b) REFERENCES parent (a, b) '
            "MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED",
            'ALTER TABLE "Child Table" ADD CONSTRAINT by_b FOREIGN KEY (c) REFERENCES parent (b) ON DELETE RESTRICT',
            'ALTER TABLE "Child Table" ADD CONSTRAINT unchecked FOREIGN KEY (d) REFERENCES endpoints (id) NOT VALID',
            "INSERT INTO parent VALUES (1, 'x'), (2, 'y')",
        ):
            conn.execute(text(statement))
    made = catalog(target)
    child = text('INSERT INTO "Child Table" (a, b, c, d) VALUES (:a, :b, :c, NULL)')
    child_table, parent = table("Child Table"), table("parent")
    with target.session() as s, bulk.deferred_foreign_keys(s, [child_table, parent]) as names:
        assert sorted(names) == ["Child Table.Composite Key", "Child Table.by_b"]
        s.execute(child, [{"a": 1, "b": "x", "c": "y"}, {"a": None, "b": None, "c": None}])
        with pytest.raises(IntegrityError, match="unchecked"):  # still there, checked row by row
            with s.begin_nested():
                s.execute(text('INSERT INTO "Child Table" (d) VALUES (-1)'))
    assert catalog(target) == made
    with target.session() as s, bulk.deferred_foreign_keys(s, [child_table]) as names:
        assert names == []  # holds rows now
    with target.session() as s:
        s.execute(text('DELETE FROM "Child Table"'))
    with pytest.raises(IntegrityError, match='"Composite Key"'):  # a bad key fails the block, nothing kept
        with target.session() as s, bulk.deferred_foreign_keys(s, [child_table]) as names:
            assert len(names) == 2
            s.execute(child, [{"a": 2, "b": "x", "c": "x"}])  # MATCH FULL: (2, 'x') has no parent row
    assert catalog(target) == made
    with target.session() as s:
        assert s.scalar(text('SELECT count(*) FROM "Child Table"')) == 0


def test_sqlite_defers_no_foreign_key(db, monkeypatch):
    watch = Watch(monkeypatch)
    load_sample(db, AS_OF, endpoints=200)
    assert watch.deferred == [[]]
    with db.engine.connect() as conn:
        assert bulk.foreign_keys(conn, EndpointRow) == []
