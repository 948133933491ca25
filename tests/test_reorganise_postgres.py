"""Reorganisation on a real PostgreSQL server and on SQLite: same result, and a plan refused after its
writes began (a second province left unmerged) is rolled back whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from secops.errors import SecopsError
from secops.grade.record import grade_store
from secops.inventory.importer import import_files
from secops.inventory.kinds import load_kinds
from secops.inventory.levels import load_levels
from secops.inventory.reorg_file import read_plan
from secops.inventory.reorganise import reorganise
from secops.inventory.tables import AgencyLinkRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow
from secops.targets import load_targets
from tests.pg_server import PostgresServer

FIXTURES = Path(__file__).parent / "fixtures" / "reorganise"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
LEVELS, KINDS = load_levels(POLICIES), load_kinds(POLICIES)
AFTER = dt.datetime(2025, 7, 3, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pg_url():
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


def _state(db: Database) -> tuple:
    with db.session() as s:
        return (sorted(s.execute(select(AgencyRow.code, AgencyRow.retired_at)).all()),
                sorted(s.execute(select(EndpointRow.code, EndpointRow.agency_id)).all()),
                s.scalar(select(func.count()).select_from(AgencyLinkRow)))


def test_merge_on_postgres_matches_sqlite(pg_url, db):
    pg = Database(pg_url)
    try:
        results = []
        for database in (pg, db):
            import_files(database, [FIXTURES / "communes.yaml"], LEVELS, today=dt.date(2025, 7, 1))
            outcome = reorganise(database, read_plan(FIXTURES / "merge_communes.yaml"), LEVELS, KINDS)
            assert outcome.changed and outcome.entries[0].moved["CX"] == {"agencies": 0, "systems": 2,
                                                                          "endpoints": 6, "staff": 4}
            again = reorganise(database, read_plan(FIXTURES / "merge_communes.csv"), LEVELS, KINDS)
            assert not again.changed  # the CSV form of the same mapping is already applied
            cells = {(c.target_id, c.agency_code): (c.numerator, c.denominator)
                     for c in grade_store(database, load_targets(POLICIES), AFTER)}
            assert cells[("T2", "CX")] == (4, 6)
            results.append(sorted(cells.items()))
        assert results[0] == results[1]
    finally:
        pg.dispose()


def test_refusal_after_writes_began_rolls_back(pg_url, tmp_path):
    pg = Database(pg_url)
    try:
        with pg.session() as s:
            present = s.scalar(select(AgencyRow.id).where(AgencyRow.code == "C4")) is not None
        if not present:  # run on its own
            import_files(pg, [FIXTURES / "communes.yaml"], LEVELS, today=dt.date(2025, 7, 1))
        before = _state(pg)
        (tmp_path / "other.yaml").write_text(
            'agencies:\n  - {code: Q, name: "Tỉnh Khác", kind: province}\n'
            '  - {code: QX, name: "Xã Khác", kind: commune, parent: Q}\n', encoding="utf-8")
        plan = tmp_path / "plan.yaml"
        plan.write_text("version: 1\neffective_date: 2025-07-02\ninventories: [other.yaml]\nreorganisations:\n"
                        "  - {merge: [QX], into: C4}\n", encoding="utf-8")
        with pytest.raises(SecopsError, match="would have 2 top-level agencies .P, Q."):
            reorganise(pg, read_plan(plan), LEVELS, KINDS)
        assert _state(pg) == before  # the imported province and the moves are gone
    finally:
        pg.dispose()
