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


# --- Binary COPY (insert_values on PostgreSQL) -------------------------------------------------

def test_the_loaders_big_tables_go_binary(pg_database):
    from secops.requirements.tables import ProtectionManagementRow

    with pg_database.engine.connect() as conn:
        for table in (EndpointRow, EvidenceRow, ProtectionManagementRow):
            core = bulk._table(table)
            kinds = bulk._binary_types(conn, core, list(core.c))
            assert kinds is not None and "text" in kinds, core.name


def test_a_type_binary_copy_does_not_know_is_written_as_text(pg_database):
    """A column of another type (numeric here) sends the table in text format: same rows as insert_rows."""
    from decimal import Decimal

    from sqlalchemy import Column, Integer, MetaData, Numeric, Table, Text

    table = Table("odd_types", MetaData(), Column("id", Integer, primary_key=True), Column("amount", Numeric(8, 2)),
                  Column("note", Text))
    with pg_database.engine.connect() as conn, conn.begin() as transaction:
        table.create(conn)
        assert bulk._binary_types(conn, table, list(table.c)) is None
        bulk.insert_values(conn, table, ("id", "amount", "note"), [(1, Decimal("2.50"), "a\tb"), (2, None, "\\N")])
        bulk.insert_rows(conn, table, [{"id": 3, "amount": Decimal("2.50"), "note": "a\tb"},
                                       {"id": 4, "amount": None, "note": "\\N"}])
        stored = conn.execute(select(table).order_by(table.c.id)).all()
        transaction.rollback()
    assert [tuple(r)[1:] for r in stored[:2]] == [tuple(r)[1:] for r in stored[2:]] == [(Decimal("2.50"), "a\tb"),
                                                                                        (None, "\\N")]


HOSTILE = TEXT | st.sampled_from(["it's \"q\"", "tab\t", "nl\n", "back\\slash", "\\N", "\\.", "Đông Hòa 😀", ""])
ENDPOINT = st.tuples(
    st.text(st.characters(min_codepoint=48, max_codepoint=90), min_size=1, max_size=6),  # code (unique below)
    HOSTILE, st.lists(HOSTILE, max_size=3), st.none() | HOSTILE,
    st.sampled_from(["windows", "linux"]), st.sampled_from(["server", "workstation"]),
    st.none() | st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2100, 1, 1), timezones=ZONES),
    st.none() | st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 1, 1)))
ENDPOINT_NAMES = ("code", "hostname", "ips", "mac", "os_family", "role", "last_seen", "retired_at")
ENDPOINT_READ = [c for c in EndpointRow.__table__.c if c.name not in ("id", "created_at", "updated_at")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ENDPOINT, max_size=10, unique_by=lambda row: row[0]))
def test_binary_copy_stores_what_text_copy_stores(pg_database, rows):
    """Endpoints (JSON lists of hostile text, NULLs, zones, dates) by binary COPY and by text COPY."""
    stored = []
    for write in (lambda conn, rows_: bulk.insert_values(conn, EndpointRow, (*ENDPOINT_NAMES, "agency_id"), rows_),
                  lambda conn, rows_: bulk.insert_rows(conn, EndpointRow, [
                      dict(zip((*ENDPOINT_NAMES, "agency_id"), row, strict=True)) for row in rows_])):
        with pg_database.engine.connect() as conn, conn.begin() as transaction:
            agency = conn.scalar(select(AgencyRow.id))
            codes = [f"Z-{row[0]}" for row in rows]  # not the fixture's E1..E3
            write(conn, [(code, *row[1:], agency) for code, row in zip(codes, rows, strict=True)])
            stored.append([tuple(r) for r in conn.execute(select(*ENDPOINT_READ).where(EndpointRow.code.in_(codes))
                                                          .order_by(EndpointRow.code))])
            transaction.rollback()
    assert stored[0] == stored[1] and len(stored[0]) == len(rows)
