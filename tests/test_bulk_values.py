"""bulk.insert_values (rows as values of named columns, read while written) stores what insert_rows
stores for the same rows as dicts: on SQLite, through COPY on PostgreSQL and through Core
executemany (any other database), on generated rows with hostile text, NULLs, zones and booleans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import secops.store.bulk as bulk
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
ZONES = st.one_of(st.none(), st.just(dt.UTC), st.just(dt.timezone(dt.timedelta(hours=7))))
EVIDENCE = {
    "status": st.sampled_from(["protected", "degraded", "absent"]), "product": st.none() | TEXT,
    "source": st.sampled_from(["sample", "import"]), "detail": st.none() | TEXT,
    "observed_at": st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2100, 1, 1),
                                timezones=ZONES),
    "centrally_managed": st.none() | st.booleans(), "reports_to_national_platform": st.none() | st.booleans(),
}
NAMES = ("endpoint_id", *sorted(EVIDENCE))


def _observation(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The unique key of an evidence row (endpoint, source, time as UTC): generated rows differ in it."""
    moment = row[3] if row[3].tzinfo else row[3].replace(tzinfo=dt.UTC)
    return row[0], row[6], moment.astimezone(dt.UTC)


ROWS = st.lists(st.tuples(st.integers(1, 3), *(EVIDENCE[n] for n in sorted(EVIDENCE))), max_size=12,
                unique_by=_observation)
# The rows written, without the id (PostgreSQL's sequence is not rolled back) and clock columns.
AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
ROW = (1, None, None, AS_OF, None, None, "sample", "protected")  # values of NAMES
READ = [c for c in EvidenceRow.__table__.c if c.name not in ("id", "created_at", "updated_at")]


def _with_endpoints(database: Database) -> Database:
    with database.session() as s:
        s.add(AgencyRow(code="P", name="P", kind="province"))
        s.flush()
        agency = s.scalar(select(AgencyRow.id))
        bulk.insert_rows(s, EndpointRow, [{"code": f"E{i}", "hostname": f"h{i}", "os_family": "linux",
                                           "role": "server", "agency_id": agency} for i in (1, 2, 3)])
    return database


@pytest.fixture(scope="module")
def pg_database(pg_url: str) -> Iterator[Database]:
    database = _with_endpoints(Database(pg_url))
    yield database
    database.dispose()


def _stored(database: Database, write: Any, how: str | None, monkeypatch: Any) -> list[tuple[Any, ...]]:
    """The evidence rows a write stores, read in its transaction, then rolled back."""
    with monkeypatch.context() as m, database.engine.connect() as conn, conn.begin() as transaction:
        if how is not None:
            m.setattr(bulk, "writer", lambda bind: how)
        written = write(conn)
        rows = [tuple(r) for r in conn.execute(select(*READ).order_by(EvidenceRow.id))]
        transaction.rollback()
    return [(written,), *rows]


@pytest.mark.parametrize("how", [None, "core"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_values_store_what_dicts_store(pg_database, db, how, rows, monkeypatch):
    sqlite = _with_endpoints(db) if not _has_endpoints(db) else db
    for database in (pg_database, sqlite):
        by_values = _stored(database, lambda conn: bulk.insert_values(conn, EvidenceRow, NAMES, iter(rows)), how,
                            monkeypatch)
        by_dicts = _stored(database, lambda conn: bulk.insert_rows(
            conn, EvidenceRow, [dict(zip(NAMES, row, strict=True)) for row in rows]), how, monkeypatch)
        assert by_values == by_dicts
        assert by_values[0] == (len(rows),)


def _has_endpoints(database: Database) -> bool:
    with database.session() as s:
        return s.scalar(select(EndpointRow.id).limit(1)) is not None


def test_rows_are_read_while_they_are_written(pg_database):
    """A generator's rows reach PostgreSQL as they are made: the COPY is under way while the
    generator is still giving rows (no list of them is built first)."""
    from psycopg import pq

    states: list[pq.TransactionStatus] = []

    def rows(raw: Any) -> Iterator[tuple[Any, ...]]:
        for i in range(30_000):
            if i in (1, 15_000, 29_999):  # the first row is read before, to see that there is one
                states.append(raw.pgconn.transaction_status)
            yield (*ROW[:3], AS_OF - dt.timedelta(seconds=i), *ROW[4:])

    with pg_database.engine.connect() as conn, conn.begin() as transaction:
        raw = conn.connection.driver_connection
        assert bulk.insert_values(conn, EvidenceRow, NAMES, rows(raw)) == 30_000
        assert raw.pgconn.transaction_status == pq.TransactionStatus.INTRANS  # the COPY has ended
        transaction.rollback()
    assert states == [pq.TransactionStatus.ACTIVE] * 3  # a command (the COPY) in progress


def test_a_row_of_the_wrong_length_is_refused_and_nothing_stays(pg_database, db):
    for database in (pg_database, _with_endpoints(db)):
        with database.engine.connect() as conn, conn.begin() as transaction:
            with pytest.raises(ValueError, match="protection_evidence: a row of 2 values for 8 columns"):
                bulk.insert_values(conn, EvidenceRow, NAMES, [ROW, (1, None)])
            transaction.rollback()
        with database.session() as s:
            assert s.scalar(select(EvidenceRow.id).limit(1)) is None


def test_a_bad_key_fails_as_an_insert_does(pg_database):
    with pg_database.engine.connect() as conn, conn.begin(), pytest.raises(IntegrityError):
        bulk.insert_values(conn, EvidenceRow, NAMES, [(999, *ROW[1:])])


def test_no_rows_write_nothing(pg_database, db):
    for database in (pg_database, db):
        with database.engine.connect() as conn:
            assert bulk.insert_values(conn, EvidenceRow, NAMES, iter(())) == 0
