"""grade/sources.join_newest picks, per endpoint, the same newest row at or before the as-of time
(ties on observed_at to the highest id) in both of its forms: the correlated id subquery (SQLite,
any database) and PostgreSQL's DISTINCT ON, which the report uses there because PostgreSQL ran the
first as a hash join evaluating the subquery twice per endpoint (issue 12). Checked against a
count by hand on generated rows: ties, rows after the as-of time, endpoints without any row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql

from secops.grade.sources import join_newest
from secops.requirements.tables import ProtectionManagementRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow

AS_OF = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
ENDPOINTS = 6
# Few distinct times, so ties are common; the last one is after AS_OF and must never be chosen.
TIMES = [AS_OF - dt.timedelta(days=3), AS_OF - dt.timedelta(hours=1), AS_OF, AS_OF + dt.timedelta(minutes=1)]

SOURCES = ["import", "audit", "console"]
# (endpoint, time, flag, source); evidence is unique per endpoint, source and time, so ties come
# from different sources.
Row = tuple[int, int, bool, str]
rows_strategy = st.lists(st.tuples(st.integers(0, ENDPOINTS - 1), st.sampled_from(range(len(TIMES))), st.booleans(),
                                   st.sampled_from(SOURCES)),
                         max_size=30, unique_by=lambda r: (r[0], r[1], r[3]))


def _seed(db: Database) -> list[int]:
    with db.engine.begin() as conn:
        agency = conn.execute(insert(AgencyRow).values(code="P", name="P", kind="province")
                              .returning(AgencyRow.id)).scalar_one()
        return [conn.execute(insert(EndpointRow).values(code=f"E{n}", hostname=f"h{n}", ips=[], os_family="linux",
                                                        role="server", agency_id=agency).returning(EndpointRow.id))
                .scalar_one() for n in range(ENDPOINTS)]


def _expected(inserted: list[tuple[int, int, dt.datetime, bool]]) -> dict[int, tuple[int, bool] | None]:
    """By hand: the row with the greatest (observed_at, id) not after AS_OF, per endpoint."""
    out: dict[int, tuple[int, bool] | None] = {}
    best: dict[int, tuple[dt.datetime, int, bool]] = {}
    for row_id, endpoint, when, flag in inserted:
        if when <= AS_OF and (endpoint not in best or (when, row_id) > best[endpoint][:2]):
            best[endpoint] = (when, row_id, flag)
    for endpoint, (_when, row_id, flag) in best.items():
        out[endpoint] = (row_id, flag)
    return out


def _chosen(db: Database, table: Any, flag: str, distinct_on: bool) -> dict[int, tuple[int, bool] | None]:
    endpoints = EndpointRow.__table__
    joined, newest = join_newest(endpoints, table, AS_OF, "newest", (flag,), distinct_on=distinct_on)
    with db.engine.connect() as conn:
        rows = conn.execute(select(endpoints.c.id, newest.c.id, newest.c[flag]).select_from(joined)).all()
    assert len(rows) == ENDPOINTS  # a LEFT JOIN of at most one row: every endpoint, once
    return {endpoint: (row_id, bool(value)) for endpoint, row_id, value in rows if row_id is not None}


def _check(db: Database, ids: list[int], rows: list[Row], forms: list[bool]) -> None:
    for table, flag, extra in ((EvidenceRow.__table__, "centrally_managed", {"status": "protected"}),
                               (ProtectionManagementRow.__table__, "centrally_managed", {})):
        with db.engine.begin() as conn:
            conn.execute(delete(table))
            inserted = []
            for endpoint, time_index, value, source in rows:
                when = TIMES[time_index]
                row_id = conn.execute(insert(table).values(endpoint_id=ids[endpoint], observed_at=when, source=source,
                                                           centrally_managed=value, **extra)
                                      .returning(table.c.id)).scalar_one()
                inserted.append((row_id, ids[endpoint], when, value))
        expected = _expected(inserted)
        for distinct_on in forms:
            assert _chosen(db, table, flag, distinct_on) == expected, (table.name, distinct_on)


@pytest.fixture(scope="module")
def pg_db(pg_url: str) -> Any:
    from sqlalchemy import create_engine, text

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE newest_join"))
    admin.dispose()
    database = Database(pg_url.rsplit("/", 1)[0] + "/newest_join")
    yield database, _seed(database)
    database.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_postgresql_distinct_on_chooses_the_row_the_seek_chooses(pg_db: Any, rows: list[Row]) -> None:
    database, ids = pg_db
    _check(database, ids, rows, [True, False])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_sqlite_seek_chooses_the_newest_row(db: Database, rows: list[Row]) -> None:
    ids = getattr(db, "_newest_ids", None) or _seed(db)
    db._newest_ids = ids  # type: ignore[attr-defined]  # seeded once per test's database
    _check(db, ids, rows, [False])


def _lowest_id_first(endpoints: Any, table: Any, as_of: dt.datetime, name: str, columns: Any, *,
                     distinct_on: bool) -> tuple[Any, Any]:
    newest = (select(table).where(table.c.observed_at <= as_of).ext(postgresql.distinct_on(table.c.endpoint_id))
              .order_by(table.c.endpoint_id, table.c.observed_at.desc(), table.c.id.asc()).subquery(name))
    return endpoints.outerjoin(newest, newest.c.endpoint_id == endpoints.c.id), newest


def test_a_wrong_tie_break_is_caught(pg_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: DISTINCT ON breaking ties towards the lowest id chooses other rows."""
    database, ids = pg_db
    rows: list[Row] = [(0, 1, True, "import"), (0, 1, False, "audit")]  # one time: the higher id is newest
    _check(database, ids, rows, [True])
    monkeypatch.setattr(f"{__name__}.join_newest", _lowest_id_first)
    with pytest.raises(AssertionError):
        _check(database, ids, rows, [True])
