"""The same store, migrations and grading on a real PostgreSQL server (any SQLAlchemy URL works)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from secops.errors import InputRowsError
from secops.grade.record import grade_store
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.store.db import Database, current_revision, head_revision
from secops.targets import load_targets
from tests.pg_server import PostgresServer

FIXTURES = Path(__file__).parent / "fixtures" / "core"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
FILES = [FIXTURES / "small.yaml", FIXTURES / "endpoints.csv", FIXTURES / "staff.csv"]
AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pg_url():
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


def test_postgres_migrates_imports_and_grades_like_sqlite(pg_url, db):
    pg = Database(pg_url)
    try:
        assert current_revision(pg.engine) == head_revision(pg_url)
        levels = load_levels(POLICIES)
        import_files(pg, FILES, levels, today=dt.date(2026, 11, 20))
        again = import_files(pg, FILES, levels, today=dt.date(2026, 11, 20))
        assert all(t.inserted == 0 for t in again.tallies.values())
        import_files(db, FILES, levels, today=dt.date(2026, 11, 20))
        policy = load_targets(POLICIES)
        on_pg = [c.model_dump() for c in grade_store(pg, policy, AS_OF)]
        on_sqlite = [c.model_dump() for c in grade_store(db, policy, AS_OF)]
        assert on_pg == on_sqlite and len(on_pg) == 25
    finally:
        pg.dispose()


def test_postgres_failed_import_writes_nothing(pg_url, tmp_path):
    pg = Database(pg_url)
    try:
        bad = tmp_path / "agencies.csv"
        bad.write_text("code,name,kind,parent\nNEWP,Tỉnh mới,province,\nZ,Xã,commune,NOPE\n", encoding="utf-8")
        with pytest.raises(InputRowsError):
            import_files(pg, [bad], load_levels(POLICIES))
        with pg.session() as session:
            from sqlalchemy import select

            from secops.store.tables import AgencyRow
            assert session.scalar(select(AgencyRow).where(AgencyRow.code == "NEWP")) is None
    finally:
        pg.dispose()
