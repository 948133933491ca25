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

from secops.grade.policy import load_levels
from secops.inventory import importer
from secops.inventory.load_sample import DEFERRED, load_sample
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


@pytest.mark.parametrize("threshold, analysed", [(10, True), (10**6, False)])
def test_an_import_analyses_only_when_it_is_big(fresh_pg, monkeypatch, threshold: int, analysed: bool) -> None:  # type: ignore[no-untyped-def]
    db = fresh_pg()
    monkeypatch.setattr(importer, "ANALYZE_ROWS", threshold)
    importer.import_files(db, FILES, load_levels(ROOT / "policies"), today=dt.date(2026, 11, 20))
    assert ("endpoints" in _analysed(db)) is analysed


def test_statistics_roll_back_with_the_rows(fresh_pg) -> None:  # type: ignore[no-untyped-def]
    """ANALYZE in the load's transaction: a load that fails leaves no statistics of its rows either."""
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
