"""Deferred secondary indexes (secops.store.bulk.deferred_indexes) in the sample load.

A sample into a new database drops the plain secondary indexes of its big, empty tables inside
the load's transaction and builds them again at its end. Afterwards the schema (every index: name,
table, columns, uniqueness, definition) is exactly the one migrations made, on SQLite and on
PostgreSQL; a failure after the drops leaves every index and no row; a table that already holds
rows keeps its indexes throughout; and the rows are those of a load that defers nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

import secops.sample.load as load_module
import secops.sample.province as sample_module
from secops.models import Endpoint
from secops.sample.load import DEFERRED, load_sample
from secops.store import bulk
from secops.store.db import Database
from secops.store.tables import EndpointRow, EvidenceRow, SystemRow
from tests.test_bulk_copy import snapshot

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
_names = itertools.count()


def schema(db: Database) -> list[tuple[Any, ...]]:
    """Every index of the database as it stores it: table, name, unique, columns, definition."""
    out: list[tuple[Any, ...]] = []
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            tables = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
            sql = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index'").all())
            for table in tables:
                for _, name, unique, origin, partial in conn.exec_driver_sql(f'PRAGMA index_list("{table}")'):
                    columns = [r[2] for r in conn.exec_driver_sql(f'PRAGMA index_info("{name}")')]
                    out.append((table, name, unique, origin, partial, tuple(columns), sql.get(name)))
        else:
            rows = conn.execute(text(
                "SELECT t.relname, c.relname, i.indisunique, i.indisprimary, "
                "array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), ','), "
                "pg_get_indexdef(i.indexrelid), p.indexdef "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
                "JOIN pg_namespace s ON s.oid = t.relnamespace "
                "JOIN pg_indexes p ON p.schemaname = s.nspname AND p.indexname = c.relname "
                "WHERE s.nspname = 'public'"))
            out = [tuple(r) for r in rows]
    return sorted(out, key=repr)


class Watch:
    """deferred_indexes as load_sample uses it, watched: what it deferred, and the session."""

    def __init__(self) -> None:
        self.deferred: list[list[str]] = []
        self.session: Session | None = None

    @contextmanager
    def __call__(self, session: Session, tables: Any) -> Iterator[list[str]]:
        with bulk.deferred_indexes(session, tables) as names:
            self.deferred.append(names)
            self.session = session
            yield names

    def indexes(self, table: Any) -> list[tuple[str, str]]:
        """The table's secondary indexes as the load's own transaction sees them now."""
        assert self.session is not None
        return bulk.secondary_indexes(self.session, table)


@pytest.fixture
def both(db: Database, fresh_pg: Any, monkeypatch: pytest.MonkeyPatch) -> list[Database]:
    """SQLite and PostgreSQL, with deferring on for both (as it is by default)."""
    monkeypatch.setattr(bulk, "DEFER_ON", ("sqlite", "postgresql"))
    return [db, fresh_pg()]


def test_postgresql_defers_its_indexes_by_default(fresh_pg, monkeypatch):
    """Since its foreign keys are deferred too (tests/test_bulk_foreign_keys.py), PostgreSQL defers
    the secondary indexes of empty big tables as SQLite does; and puts its memory setting back."""
    assert set(bulk.DEFER_ON) == {"sqlite", "postgresql"}
    target = fresh_pg()
    made = schema(target)
    watch = Watch()
    monkeypatch.setattr(load_module, "deferred_indexes", watch)
    load_sample(target, AS_OF, endpoints=300)
    assert "ix_endpoints_agency_id" in watch.deferred[0]
    assert schema(target) == made
    with target.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW maintenance_work_mem").scalar() == "64MB"  # SET LOCAL: the load's only


def test_deferred_load_leaves_exactly_the_schema_migrations_made(both, monkeypatch):
    real = sample_module._endpoint
    for target in both:
        monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 700)
        made = schema(target)
        assert any(r[1] == "ix_endpoints_agency_id" for r in made)
        watch = Watch()
        monkeypatch.setattr(load_module, "deferred_indexes", watch)
        seen: list[list[tuple[str, str]]] = []

        def endpoint(*args: Any, _seen: list[Any] = seen, _watch: Watch = watch, **kwargs: Any) -> Endpoint:
            if not _seen:  # mid-load, in the load's transaction: the indexes are gone
                _seen.append(_watch.indexes(EndpointRow) + _watch.indexes(EvidenceRow))
            return real(*args, **kwargs)

        monkeypatch.setattr(sample_module, "_endpoint", endpoint)
        load_sample(target, AS_OF, endpoints=1500)
        monkeypatch.setattr(sample_module, "_endpoint", real)
        assert seen == [[]]
        names = set(watch.deferred[0])
        assert {"ix_endpoints_agency_id", "ix_endpoints_hostname", "ix_endpoints_mac", "ix_evidence_endpoint_time",
                "ix_protection_management_endpoint_time", "ix_requirement_status_lookup"} <= names
        assert not any(r[2] for r in made if r[1] in names)  # no unique index was ever dropped
        assert schema(target) == made
        with target.session() as s:
            assert s.scalar(select(func.count()).select_from(EndpointRow)) == 1500


def test_failure_after_the_drops_leaves_every_index_and_no_row(both, monkeypatch):
    monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 500)
    real = sample_module._endpoint
    for target in both:
        made = schema(target)
        watch = Watch()
        monkeypatch.setattr(load_module, "deferred_indexes", watch)
        calls = {"n": 0}

        def failing(*args: Any, _calls: dict[str, int] = calls, _watch: Watch = watch, **kwargs: Any) -> Endpoint:
            _calls["n"] += 1
            if _calls["n"] > 1200:  # two chunks written, with the indexes dropped
                assert _watch.indexes(EndpointRow) == []
                raise RuntimeError("disk full")
            return real(*args, **kwargs)

        monkeypatch.setattr(sample_module, "_endpoint", failing)
        with pytest.raises(RuntimeError, match="disk full"):
            load_sample(target, AS_OF, endpoints=2000)
        assert "ix_endpoints_agency_id" in watch.deferred[0]
        assert schema(target) == made
        with target.session() as s:
            for table in (*DEFERRED, SystemRow):
                assert s.scalar(select(func.count()).select_from(table)) == 0, table


def test_a_table_holding_rows_keeps_its_indexes_throughout(both, monkeypatch):
    real = sample_module._endpoint
    for target in both:
        monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 400)
        load_sample(target, AS_OF, endpoints=900)
        made = schema(target)
        with target.session() as s:  # protection_management emptied: only its indexes may be deferred
            s.execute(bulk._table(DEFERRED[-1]).delete())
        watch = Watch()
        monkeypatch.setattr(load_module, "deferred_indexes", watch)
        mid: list[list[tuple[str, str]]] = []

        def endpoint(*args: Any, _mid: list[Any] = mid, _watch: Watch = watch, **kwargs: Any) -> Endpoint:
            _mid.append([i for table in DEFERRED[:-1] for i in _watch.indexes(table)])
            return real(*args, **kwargs)

        with target.session() as s:
            before = {t: bulk.secondary_indexes(s, t) for t in DEFERRED}
        monkeypatch.setattr(sample_module, "_endpoint", endpoint)
        load_sample(target, AS_OF, endpoints=1300)  # 400 more endpoints, evidence, facts
        monkeypatch.setattr(sample_module, "_endpoint", real)
        assert watch.deferred[0] == [name for name, _ in before[DEFERRED[-1]]]
        kept = [i for table in DEFERRED[:-1] for i in before[table]]
        assert kept and all(m == kept for m in mid) and len(mid) == 1300
        assert schema(target) == made
        with target.session() as s:
            assert s.scalar(select(func.count()).select_from(EndpointRow)) == 1300


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoints=st.integers(min_value=0, max_value=1200), seed=st.integers(min_value=0, max_value=10_000))
def test_deferred_load_stores_the_rows_of_a_load_that_defers_nothing(tmp_path_factory, endpoints, seed):
    base = tmp_path_factory.mktemp("defer")
    deferred, plain = Database(f"sqlite:///{base / 'deferred.db'}"), Database(f"sqlite:///{base / 'plain.db'}")
    try:
        load_sample(deferred, AS_OF, endpoints=endpoints, seed=seed)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(load_module, "deferred_indexes", lambda session, tables: nullcontext([]))
            load_sample(plain, AS_OF, endpoints=endpoints, seed=seed)
        assert snapshot(deferred) == snapshot(plain)
        assert schema(deferred) == schema(plain)
    finally:
        deferred.dispose()
        plain.dispose()
