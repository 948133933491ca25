"""A bulk load on PostgreSQL leaves the planner statistics of what it wrote (issue 12): the sample
loader and big imports ANALYZE their tables inside their transaction (store/bulk.analyze_tables).
Before, the first grade and report after a load were planned without any statistics of its columns
until autovacuum came by. `last_analyze` is set only by a manual ANALYZE, never
by autovacuum, so these checks do not depend on when autovacuum runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from secops.inventory import importer
from secops.inventory.levels import load_levels
from secops.sample.load import DEFERRED, load_sample
from secops.store.bulk import analyze_tables
from secops.store.db import Database
from secops.store.tables import AgencyRow

AS_OF = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "tests" / "fixtures" / "core" / name for name in ("small.yaml", "endpoints.csv", "staff.csv")]


def _analysed(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.execute(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"))
                   .scalars())


def _column_statistics(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = :t"), {"t": table}).scalar_one())


def test_the_sample_load_leaves_statistics_of_its_tables(fresh_pg) -> None:  # type: ignore[no-untyped-def]
    db = fresh_pg()
    assert _analysed(db) == set()
    load_sample(db, AS_OF, endpoints=1500, seed=4)
    assert {t.__tablename__ for t in DEFERRED} <= _analysed(db)
    assert _column_statistics(db, "protection_evidence") > 0  # the columns, not only the row count


def test_sqlite_is_left_as_it_was(db: Database) -> None:
    load_sample(db, AS_OF, endpoints=300, seed=4)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is None


@pytest.mark.parametrize("threshold", [1, 10, 10**6])
def test_an_import_analyses_the_tables_it_wrote_enough_of(fresh_pg, monkeypatch, threshold: int) -> None:  # type: ignore[no-untyped-def]
    db = fresh_pg()
    monkeypatch.setattr(importer, "ANALYZE_ROWS", threshold)
    result = importer.import_files(db, FILES, load_levels(ROOT / "policies"), today=dt.date(2026, 11, 20))
    written = {entity: t.inserted + t.updated for entity, t in result.tallies.items()}
    expected = {table.__tablename__ for entity, count in written.items() if count >= threshold
                for table in importer.TABLES_OF[entity]}
    assert _analysed(db) == expected
    if threshold == 10:  # the fixture has tables on both sides of it: the choice is per table
        assert 0 < len(expected) < len({t.__tablename__ for tables in importer.TABLES_OF.values() for t in tables})


def test_statistics_roll_back_with_the_rows(fresh_pg) -> None:  # type: ignore[no-untyped-def]
    """ANALYZE in the load's transaction: a load that fails leaves no column statistics of its rows
    either (pg_statistic is transactional; pg_class's row estimate is not, and is not checked)."""
    db = fresh_pg()
    engine = create_engine(db.engine.url)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            conn.execute(insert(AgencyRow), [{"code": f"A{n}", "name": f"Unit {n}", "kind": "commune"}
                                             for n in range(200)])
            assert analyze_tables(conn, [AgencyRow]) == ["agencies"]
            inside = conn.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = 'agencies'")).scalar_one()
            transaction.rollback()
        assert inside > 0  # the load's own rows were sampled
        assert _column_statistics(db, "agencies") == 0
    finally:
        engine.dispose()


def test_a_table_locked_elsewhere_does_not_fail_the_load(fresh_pg, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """ANALYZE waits for its lock at most ANALYZE_LOCK_TIMEOUT_MS, in a savepoint: the load's rows
    still commit (a VACUUM or another ANALYZE holding the lock used to be able to fail the load)."""
    from secops.store import bulk

    monkeypatch.setattr(bulk, "ANALYZE_LOCK_TIMEOUT_MS", 200)
    db = fresh_pg()
    engine = create_engine(db.engine.url)
    other = engine.connect()
    try:
        other.begin()
        other.execute(text("LOCK TABLE agencies IN SHARE UPDATE EXCLUSIVE MODE"))  # as a VACUUM holds it
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(insert(AgencyRow), [{"code": f"A{n}", "name": f"Unit {n}", "kind": "commune"}
                                                 for n in range(50)])
                conn.execute(text("SET LOCAL lock_timeout = '7s'"))
                assert analyze_tables(conn, [AgencyRow]) == []
                assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "7s"  # the load's own, back
        other.rollback()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM agencies")).scalar_one() == 50
        assert "ANALYZE" in caplog.text and "skipped" in caplog.text
    finally:
        other.close()
        engine.dispose()


def test_the_load_keeps_its_own_lock_timeout(fresh_pg) -> None:  # type: ignore[no-untyped-def]
    db = fresh_pg()
    with db.engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL lock_timeout = '123ms'"))
        assert analyze_tables(conn, [AgencyRow]) == ["agencies"]
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "123ms"
