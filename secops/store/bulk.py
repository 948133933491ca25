"""Bulk inserts inside the caller's transaction: COPY on PostgreSQL (psycopg 3), executemany elsewhere.

`insert_rows(session, table, rows)` writes a list of dicts (one per row, keyed by column name) and
gives the rows written. On postgresql+psycopg the rows go through `COPY table (columns) FROM STDIN`
with psycopg's `write_row`: every value first goes through the column type's own bind processor
(the same conversion an INSERT does: UTC datetimes made naive, JSON serialised), then psycopg's
text-format escaping (tabs, newlines, backslashes, `\\N` arrive intact; NUL is refused by
PostgreSQL as it is for an INSERT). Columns a row leaves out take the column's Python default, or
NULL, as a Core insert would. On SQLite the same bound values go to the sqlite3 cursor's own
executemany (SQLAlchemy's per-row parameter processing was a third of the write time); on any
other database Core `insert()` executemany, in batches. Either way it runs on the session's
connection, in its open transaction: a failure later in the unit of work rolls the rows back.

`insert_values(session, table, names, rows)` writes rows given as values of the named columns (no
dicts built), read from a generator while they are sent; on PostgreSQL in binary COPY where every
column's type allows (PG_BINARY), for the loader's own typed rows. `reserve_ids` (SQLite) and
`sequence_position` (PostgreSQL) tell the ids new rows get, so that rows referring to them need no
reading back.

`in_keys(column, keys)` is the WHERE clause "column is one of keys": `= ANY(:array)` (one bound
array) on PostgreSQL, `IN (...)` elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import JSON, Boolean, Column, Connection, Table, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from secops.store.base import UTCDateTime

BATCH = 5000  # rows per executemany (non-PostgreSQL)
COPY_CHUNK = 20_000  # rows converted at a time for COPY (bounded memory)
SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def _table(table: Any) -> Table:
    return cast(Table, getattr(table, "__table__", table))


def _connection(bind: Session | Connection) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def writer(bind: Session | Connection) -> str:
    """How insert_rows writes on this bind: "copy" (postgresql+psycopg), "sqlite" (the sqlite3
    cursor's executemany of the bound values) or "core" (Core insert() executemany)."""
    dialect = _connection(bind).dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return "copy"
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        return "sqlite"
    return "core"


def _default(column: Column[Any]) -> Callable[[], Any] | None:
    """The Python-side default of a column (scalar or callable), as Core insert() would apply it."""
    default = column.default
    if default is None or getattr(default, "is_sequence", False) or getattr(default, "is_clause_element", False):
        return None
    arg = default.arg  # type: ignore[attr-defined]
    if getattr(default, "is_callable", False):
        return lambda: arg(None)
    return lambda: arg


def _sqlite_utc(value: dt.datetime) -> str:
    """UTCDateTime's bind processing then SQLite DATETIME's default storage format, in one step:
    naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' (tests/test_bulk_copy.py compares the two)."""
    tz = value.tzinfo
    if tz is dt.UTC:  # already UTC: drop the "+00:00" isoformat adds
        return value.isoformat(" ", "microseconds")[:-6]
    if tz is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _processor(column: Column[Any], dialect: Any) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(column.type, UTCDateTime) and \
            getattr(column.type.impl_instance.dialect_impl(dialect), "_storage_format", None) == SQLITE_DATETIME:
        return _sqlite_utc
    return cast(Callable[[Any], Any] | None, column.type._cached_bind_processor(dialect))


def _plan(conn: Connection, table: Table, keys: Sequence[str]) -> tuple[list[Column[Any]], list[Any]]:
    """The columns written for rows naming `keys` (those, then the columns with a Python default
    no row names, which Core insert() would fill) and, per column, (name, processor, default):
    the column type's bind processing (the raw writers' faster equivalent, see _fast) and the
    default that fills it."""
    dialect = conn.dialect
    columns = [table.c[k] for k in keys]
    columns += [c for c in table.c if c.name not in keys and _default(c) is not None]
    return columns, [(c.name, _fast(c, _processor(c, dialect), dialect, named=i < len(keys)), _default(c))
                     for i, c in enumerate(columns)]


def _converter(plan: Sequence[Any], named: int) -> Callable[[list[Any]], list[Any]]:
    """Turn the values of the `named` columns (in plan order) into the row the DBAPI gets: the
    columns no row names filled from their defaults, then every processor applied."""
    fill = [default for _, _, default in plan[named:]]
    process_at = [(i, process) for i, (_, process, _) in enumerate(plan) if process is not None]

    def convert(out: list[Any]) -> list[Any]:
        for default in fill:
            out.append(default())
        for i, process in process_at:
            value = out[i]
            if value is not None:
                out[i] = process(value)
        return out
    return convert


def _bound(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[Column[Any]], Any]:
    """The columns to write and an iterator of each row's values as the DBAPI gets them from an
    INSERT: the column type's bind processor applied (UTC datetimes made naive, JSON serialised),
    a left-out column given its Python default or NULL."""
    keys: list[str] = []
    known: set[str] = set()
    for row in rows:  # every column named by some row (a row leaving one out gets its default)
        if row.keys() != known:  # a row naming the columns already seen (the usual case) adds none
            for k in row:
                if k not in known:
                    keys.append(k)
                    known.add(k)
    columns, plan = _plan(conn, table, keys)
    # A row naming every column some row names (the usual case) is read with one itemgetter; the
    # columns no row names are filled from their defaults, in column order; then the processors.
    # Same values as the general loop (tests/test_bulk_copy.py compares the two).
    named = len(keys)
    getter = itemgetter(*keys) if named > 1 else None
    convert = _converter(plan, named)

    def values() -> Any:
        for row in rows:
            if getter is not None and len(row) == named:
                yield convert(list(getter(row)))
            else:
                yield _row_values(plan, row)

    return columns, values()


def _plain_json_strings(value: Any) -> str | None:
    """json.dumps(value) when value is a list of strings json.dumps writes as they are (printable
    ASCII without quote or backslash), else None: the sample's and most imports' `ips`."""
    if type(value) is not list:
        return None
    for item in value:
        if type(item) is not str or not (item.isascii() and item.isprintable()) or '"' in item or "\\" in item:
            return None
    return '["' + '", "'.join(value) + '"]' if value else "[]"


def _fast(column: Column[Any], process: Callable[[Any], Any] | None, dialect: Any, *,
          named: bool) -> Callable[[Any], Any] | None:
    """A column's bind processing for the raw writers (SQLite's executemany, psycopg's COPY), giving
    the same stored values for less work. A UTC datetime given by the rows (not a clock default) is
    converted once per distinct value in the batch (sample times repeat); a JSON list of plain
    strings is written as json.dumps writes it, without json.dumps (on psycopg, as the text COPY
    sends for the Json wrapper the JSON processor makes); True and False are written as Boolean's
    processor writes them (1 and 0 on SQLite) without its checks. tests/test_sample_rows.py
    compares each with the processor."""
    if named and process is not None and isinstance(column.type, UTCDateTime):
        seen: dict[dt.datetime, Any] = {}
        general_utc = process

        def utc(value: dt.datetime) -> Any:
            if value.tzinfo is not dt.UTC:  # only UTC times: equal values then give equal results
                return general_utc(value)
            done = seen.get(value)
            if done is None:
                done = seen[value] = general_utc(value)
            return done
        return utc
    # JSON's bind processing is json.dumps (psycopg: a Json wrapper COPY dumps with json.dumps)
    # unless the engine was given its own serialiser.
    if process is not None and type(column.type) is JSON and getattr(dialect, "_json_serializer", None) is None:
        general = process

        def json_list(value: Any) -> Any:
            text = _plain_json_strings(value)
            return general(value) if text is None else text
        return json_list
    if process is not None and type(column.type) is Boolean:
        general_bool = process
        if dialect.supports_native_boolean:
            def native(value: Any) -> Any:  # what Boolean's processor gives for True and False: themselves
                return value if value is True or value is False else general_bool(value)
            return native

        def boolean(value: Any) -> Any:  # what Boolean's processor gives for True and False: 1 and 0
            return 1 if value is True else 0 if value is False else general_bool(value)
        return boolean
    return process


def _row_values(plan: Sequence[tuple[str, Callable[[Any], Any] | None, Callable[[], Any] | None]],
                row: dict[str, Any]) -> list[Any]:
    """One row's bound values, column by column: given, else the column's default, else NULL."""
    out = []
    for name, process, default in plan:
        if name in row:
            value = row[name]
        else:
            value = default() if default is not None else None
        if value is not None and process is not None:
            value = process(value)
        out.append(value)
    return out


def _raw(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], how: str) -> None:
    columns, values = _bound(conn, table, rows)
    _send(conn, table, columns, values, how)


# PostgreSQL column types whose binary COPY form psycopg writes from the Python values their bind
# processors give (str, int, bool, naive datetime, date), and the type psycopg is told to dump. A
# varchar's binary form is its text; so is json's (json_recv reads text), and a JSON value is sent
# as the text the text COPY sends for it. Any other type: the table is written in text format.
PG_BINARY = {"integer": "int4", "bigint": "int8", "smallint": "int2", "boolean": "bool", "text": "text",
             "character varying": "text", "timestamp without time zone": "timestamp", "date": "date",
             "json": "text"}


def _binary_types(conn: Connection, table: Table, columns: Sequence[Column[Any]]) -> list[str] | None:
    """The types psycopg dumps each column as in a binary COPY, from the database's own column
    types; None when a column's type is not in PG_BINARY (then text COPY)."""
    stored: dict[str, str] = dict(conn.exec_driver_sql(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = to_regclass(%(table)s) "
        "AND attnum > 0 AND NOT attisdropped",
        {"table": conn.dialect.identifier_preparer.format_table(table)}).all())
    kinds = [PG_BINARY.get(stored.get(c.name, "")) for c in columns]
    return None if None in kinds else cast(list[str], kinds)


def _json_texts(raw: Any, columns: Sequence[Column[Any]], kinds: Sequence[str]) -> Callable[[Any], Any] | None:
    """For a binary COPY: turn each json column's value into the text the text COPY sends for it
    (psycopg's own text dumper of the value, with this connection's JSON settings)."""
    from psycopg.adapt import PyFormat

    at = [i for i, c in enumerate(columns) if kinds[i] == "text" and isinstance(c.type, JSON)]
    if not at:
        return None
    dumpers: dict[type, Any] = {}

    def texts(row: Any) -> Any:  # a bound row (a list): changed in place
        for i in at:
            value = row[i]
            if value is not None and type(value) is not str:
                dumper = dumpers.get(type(value))
                if dumper is None:
                    dumper = dumpers[type(value)] = raw.adapters.get_dumper(type(value), PyFormat.TEXT)(type(value),
                                                                                                       raw)
                row[i] = bytes(dumper.dump(value)).decode()
        return row
    return texts


def _send(conn: Connection, table: Table, columns: Sequence[Column[Any]], values: Iterable[Sequence[Any]],
          how: str, *, binary: bool = False) -> None:
    """Write bound values: one COPY ("copy"), or the sqlite3 cursor's executemany ("sqlite"). The
    values are read as they are written, so a generator's rows are built while the database
    takes the ones before (PostgreSQL works on a COPY's rows as they arrive). binary: the COPY
    is in binary format when every column's type allows (PG_BINARY); the values must then be of
    the Python types the column's bind processor gives (str, int, bool, datetime, date)."""
    dialect = conn.dialect
    names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in columns)
    target = dialect.identifier_preparer.format_table(table)
    raw = conn.connection.driver_connection
    assert raw is not None
    dbapi = dialect.loaded_dbapi
    kinds = _binary_types(conn, table, columns) if how == "copy" and binary else None
    if how == "copy":
        statement = f"COPY {target} ({names}) FROM STDIN" + (" (FORMAT BINARY)" if kinds else "")
    else:
        statement = f"INSERT INTO {target} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    try:
        if how == "copy":
            texts = _json_texts(raw, columns, kinds) if kinds else None
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                if kinds:
                    copy.set_types(kinds)
                for row in values if texts is None else map(texts, values):
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            try:
                cursor.executemany(statement, values)
            finally:
                cursor.close()
    except dbapi.Error as error:  # the same exception classes an INSERT raises (IntegrityError, DataError...)
        raise DBAPIError.instance(statement, None, error, dbapi.Error, dialect=dialect) from error


def insert_values(bind: Session | Connection, table: Any, names: Sequence[str], rows: Iterable[Sequence[Any]], *,
                  batch: int | None = None) -> int:
    """Insert rows given as values of the columns `names`, in that order, in the bind's
    transaction; returns how many. The same rows insert_rows writes for the dicts
    {name: value}, without building them: rows may be a generator, read while they are written
    (one COPY on PostgreSQL, one executemany on SQLite; Core executemany in batches elsewhere).
    On PostgreSQL the COPY is binary where the columns' types allow (_send): each value must be
    of its column's Python type (str, int, bool, datetime, date; anything JSON can hold), as the
    loader's own rows are; imported data goes through insert_rows and text COPY."""
    core = _table(table)
    conn = _connection(bind)
    how = writer(conn)
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    if how == "core":
        return insert_rows(conn, core, (dict(zip(names, row, strict=True)) for row in chain((first,), rows)),
                           batch=batch)
    columns, plan = _plan(conn, core, names)
    convert = _converter(plan, len(names))
    written = 0

    def values() -> Iterator[list[Any]]:
        nonlocal written
        for row in chain((first,), rows):
            if len(row) != len(names):
                raise ValueError(f"{core.name}: a row of {len(row)} values for {len(names)} columns")
            written += 1
            yield convert(list(row))

    _send(conn, core, columns, values(), how, binary=True)
    return written


def insert_rows(bind: Session | Connection, table: Any, rows: Iterable[dict[str, Any]], *,
                batch: int | None = None) -> int:
    """Insert rows (dicts by column name) in the bind's transaction; returns how many.

    For the Core path every row must name the same columns (Core takes them from the first
    row); batch sets the rows per executemany (BATCH by default)."""
    core = _table(table)
    conn = _connection(bind)
    how = writer(conn)
    size = COPY_CHUNK if how == "copy" else (batch or BATCH)
    written = 0
    part: list[dict[str, Any]] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            written += _write(conn, core, part, how)
            part = []
    if part:
        written += _write(conn, core, part, how)
    return written


def _write(conn: Connection, table: Table, batch: list[dict[str, Any]], how: str) -> int:
    if how == "core":
        conn.execute(insert(table), batch)  # the previous writer, and any other database
    else:
        _raw(conn, table, batch, how)
    return len(batch)


ANALYZE_LOCK_TIMEOUT_MS = 5000  # the longest analyze_tables waits for its lock
SQLITE_LOAD_CACHE_KIB = 256 * 1024  # page cache of a bulk load on SQLite (default: 2 MiB)


@contextmanager
def bulk_load(session: Session, analyze: Sequence[Any] = ()) -> Iterator[None]:
    """Settings for a big load in the session's (one) transaction, put back afterwards.

    SQLite: a bigger page cache, so that index pages stay in memory rather than being spilled to
    the WAL and read back while a million rows go in. Durability and all-or-nothing are untouched
    (journal mode, synchronous, foreign keys stay as they are).

    PostgreSQL: the tables in `analyze` get fresh planner statistics when the block ends without
    error, still in the transaction (see analyze_tables)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        analyze_tables(conn, analyze)
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}")
    try:
        yield
    finally:
        with suppress(DBAPIError):  # never hide the load's own error
            conn.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")


def analyze_tables(bind: Session | Connection, tables: Sequence[Any]) -> list[str]:
    """PostgreSQL: ANALYZE the tables, as its manual asks after a bulk load; returns their names,
    or [] where it was not done. Never fails the load it ends.

    Until autovacuum gets to it (a minute or more later), the planner knows the size of a freshly
    loaded table but nothing of its columns. The first report after loading a million endpoints
    took 8.0-11.0 s without (mean 9.7 s, three loads), 7.7-10.3 s with (mean 8.7 s, five); ANALYZE
    costs 0.6-0.8 s of the load. It runs in the load's transaction: PostgreSQL samples the rows
    that transaction inserted, and the column statistics (pg_statistic) commit or roll back with
    them; the row and page counts it writes into pg_class are not transactional and stay after a
    rollback (an estimate, corrected by the next ANALYZE or VACUUM).

    Its lock (SHARE UPDATE EXCLUSIVE) conflicts with a VACUUM, CREATE INDEX CONCURRENTLY or
    another ANALYZE of the same tables: it waits at most ANALYZE_LOCK_TIMEOUT, in a savepoint, and
    any failure (that wait, a statement_timeout) is rolled back to the savepoint and logged; the
    load then commits without fresh statistics, as before. A role that does not own a table gets
    PostgreSQL's own warning and no statistics for it. Other databases: nothing (SQLite's planner
    keeps the plans secops was measured with)."""
    conn = _connection(bind)
    if conn.dialect.name != "postgresql" or not tables:
        return []
    names = [conn.dialect.identifier_preparer.format_table(_table(t)) for t in tables]
    timeout = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ANALYZE_LOCK_TIMEOUT_MS}ms'")
            conn.exec_driver_sql("ANALYZE " + ", ".join(names))
            conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": timeout})
    except DBAPIError as error:
        logging.getLogger(__name__).warning("ANALYZE %s skipped, the load is kept without fresh statistics: %s",
                                            ", ".join(names), str(error.orig).strip()[:300])
        return []
    return names


def reserve_ids(bind: Session | Connection, table: Any, count: int) -> list[int] | None:
    """SQLite: count new primary-key values of table, in increasing order, taken now, so that rows
    can be written with their ids and need no reading back; None where that is not known to be
    safe, and on other databases (PostgreSQL: sequence_position around the insert instead).

    The values after the largest id are the ones SQLite itself gives new rows of an INTEGER
    PRIMARY KEY table without AUTOINCREMENT. They are read inside the open transaction, which can
    only write afterwards if no other connection committed since it read (SQLite's locking; in WAL
    mode SQLITE_BUSY_SNAPSHOT), so the ids are still free when the rows go in; an id that were
    taken would fail the insert on the primary key, never overwrite a row."""
    conn = _connection(bind)
    core = _table(table)
    if count <= 0:
        return []
    if conn.dialect.name != "sqlite" or len(core.primary_key.columns) != 1 or core.kwargs.get("sqlite_autoincrement"):
        return None
    raw = conn.connection.driver_connection
    if raw is None or not raw.in_transaction:
        return None
    target = conn.dialect.identifier_preparer.format_table(core)
    largest = conn.exec_driver_sql(f"SELECT max(rowid) FROM {target}").scalar() or 0
    return list(range(largest + 1, largest + 1 + count))


def sequence_position(bind: Session | Connection, table: Any) -> int | None:
    """PostgreSQL: the last value the sequence of table's primary key has given (its start less
    one before the first), when that sequence hands out one value at a time (increment 1, cache 1)
    and may be read; else None, and on other databases.

    Read before and after a COPY that leaves the ids to the sequence: when the two differ by
    exactly the number of rows, no other session took a value in between, and the rows got the
    values between, in order (COPY evaluates each row's default as it reads the row). Cheaper
    than taking the ids first (nextval n times is work the client waits for, while COPY's own
    nextval runs as the rows stream) and than looking them up afterwards."""
    conn = _connection(bind)
    core = _table(table)
    key = list(core.primary_key.columns)
    if conn.dialect.name != "postgresql" or len(key) != 1:
        return None
    found = conn.exec_driver_sql(
        "SELECT c.oid::regclass::text, s.seqstart FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
        "WHERE s.seqrelid = to_regclass(pg_get_serial_sequence(%(table)s, %(column)s)) "
        "AND s.seqincrement = 1 AND s.seqcache = 1 AND has_sequence_privilege(c.oid, 'SELECT')",
        {"table": conn.dialect.identifier_preparer.format_table(core), "column": key[0].name}).first()
    if found is None:
        return None
    sequence, start = found  # the sequence's name as PostgreSQL quotes it (regclass output)
    last, called = conn.exec_driver_sql(f"SELECT last_value, is_called FROM {sequence}").one()
    return int(last) if called else int(start) - 1


def in_keys(bind: Session | Connection, column: Any, keys: Sequence[Any]) -> ColumnElement[bool]:
    """column IN keys: one bound array (`= ANY`) on PostgreSQL, an IN list elsewhere."""
    if _connection(bind).dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        array = bindparam("keys", list(keys), type_=ARRAY(column.type), unique=True)
        return cast(ColumnElement[bool], column == any_(array))
    return cast(ColumnElement[bool], column.in_(list(keys)))


def _begin(conn: Connection) -> None:
    """Make sure the database itself is inside the session's transaction before any DDL.

    pysqlite (legacy transaction control) sends BEGIN only before an INSERT/UPDATE/DELETE, so a
    DROP INDEX issued first would commit on its own; send BEGIN ourselves then, as SQLAlchemy's
    own recipe for transactional DDL on SQLite does. PostgreSQL (psycopg) is always inside it."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        if raw is not None and not raw.in_transaction:
            raw.execute("BEGIN")


def _is_empty(conn: Connection, table: Table) -> bool:
    target = conn.dialect.identifier_preparer.format_table(table)
    return conn.exec_driver_sql(f"SELECT 1 FROM {target} LIMIT 1").first() is None


def _empty_tables(conn: Connection, tables: Sequence[Any]) -> list[Table]:
    """The Core tables among these that hold no row now (what a deferral may touch)."""
    return [core for core in map(_table, tables) if _is_empty(conn, core)]


def secondary_indexes(bind: Session | Connection, table: Any) -> list[tuple[str, str]]:
    """(name, definition) of the table's plain secondary indexes as the database holds them:
    not unique, not the primary key, not backing a constraint. The definition is the database's
    own (sqlite_master.sql, pg_get_indexdef), so re-running it gives the same index."""
    conn = _connection(bind)
    core = _table(table)
    if conn.dialect.name == "sqlite":
        listed = conn.exec_driver_sql(f"PRAGMA index_list({conn.dialect.identifier_preparer.quote(core.name)})")
        names = sorted(row[1] for row in listed if row[2] == 0 and row[3] == "c")  # unique = 0, CREATE INDEX
        sql: dict[str, str | None] = dict(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (core.name,)).all())
        return [(name, definition) for name in names if (definition := sql.get(name))]
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(%(table)s) AND NOT i.indisunique AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
            "ORDER BY c.relname", {"table": conn.dialect.identifier_preparer.format_table(core)})
        return [(name, definition) for name, definition in rows]
    return []


# Where deferring pays (bench/perf.py --load-only, interleaved with the previous code): SQLite, 5-8 %
# of a 1M-endpoint sample and about 10 % at 200k. PostgreSQL: no better at 1M while each row's foreign
# keys were still checked by a query; with those deferred too (deferred_foreign_keys), about 10 % of
# the 1M load (85-116 s against 105-127 s, four interleaved pairs). DROP INDEX holds an ACCESS
# EXCLUSIVE lock on the table until the load commits: the same lock the foreign-key drop of that
# (empty) table already holds, so it costs other sessions nothing more.
DEFER_ON = ("sqlite", "postgresql")
PG_INDEX_BUILD_KIB = 256 * 1024  # maintenance_work_mem for the rebuilds (SET LOCAL; default 64 MiB)


@contextmanager
def deferred_indexes(session: Session, tables: Sequence[Any]) -> Iterator[list[str]]:
    """Build the plain secondary indexes of the tables that are empty now once, at the end.

    For each of the tables holding no row when the block starts, its secondary indexes (see
    secondary_indexes: unique indexes and constraints stay, so every check the loader relies on is
    still made row by row) are dropped inside the session's transaction and created again, from
    their own definitions, when the block ends without error; still in that transaction. A failure
    anywhere rolls the drops back with the rows (DDL is transactional on SQLite and PostgreSQL):
    the database keeps every index. A table that already holds rows keeps its indexes throughout.
    Yields the names of the indexes deferred. Only on the databases in DEFER_ON (SQLite and
    PostgreSQL; tests/test_bulk_indexes.py runs it on both)."""
    conn = session.connection()
    dropped: list[tuple[str, str]] = []
    if conn.dialect.name in DEFER_ON:
        _begin(conn)
        quote = conn.dialect.identifier_preparer.quote
        for core in _empty_tables(conn, tables):
            for name, definition in secondary_indexes(conn, core):
                conn.exec_driver_sql(f"DROP INDEX {quote(name)}")
                dropped.append((name, definition))
    yield [name for name, _ in dropped]
    if dropped and conn.dialect.name == "postgresql":  # sort each index in memory; back at commit
        memory = int(conn.exec_driver_sql("SELECT setting FROM pg_settings WHERE name = 'maintenance_work_mem'")
                     .scalar_one())
        if memory < PG_INDEX_BUILD_KIB:
            conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_BUILD_KIB}kB'")
    for _, definition in dropped:  # not reached after an error: the rollback restores them
        conn.exec_driver_sql(definition)


def foreign_keys(bind: Session | Connection, table: Any) -> list[tuple[str, str]]:
    """(name, definition) of the table's own validated foreign-key constraints as PostgreSQL holds
    them (pg_get_constraintdef: columns, referenced table and columns, ON DELETE/UPDATE, MATCH,
    DEFERRABLE), so `ALTER TABLE ... ADD CONSTRAINT name definition` gives the same constraint.
    A NOT VALID or inherited constraint is left out (re-adding it would not check the new rows, or
    is not the table's own to drop). Empty on other databases."""
    conn = _connection(bind)
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%(table)s) AND contype = 'f' AND convalidated "
        "AND conislocal AND coninhcount = 0 AND conparentid = 0 ORDER BY conname",
        {"table": conn.dialect.identifier_preparer.format_table(_table(table))})
    return [(name, definition) for name, definition in rows]


# Where deferring foreign keys pays: PostgreSQL checks each row's keys with a query from an AFTER
# trigger (43 % of the server's CPU in a sample load, perf); SQLite's checks are cheap lookups
# inside the insert (and its constraints cannot be dropped).
FK_DEFER_ON = ("postgresql",)


@contextmanager
def deferred_foreign_keys(session: Session, tables: Sequence[Any]) -> Iterator[list[str]]:
    """Check the foreign keys of the tables that are empty now once, in bulk, at the end.

    For each of the tables holding no row when the block starts, its foreign-key constraints (see
    foreign_keys) are dropped inside the session's transaction and added again, from the database's
    own definitions, when the block ends without error; still in that transaction. Adding one back
    validates every row of the table in one query: a row whose key has no referenced row fails the
    load there with PostgreSQL's own foreign-key violation (IntegrityError: which table, constraint
    and key) and the whole transaction rolls back, drops included, as it does after any other
    failure: the database keeps every constraint and gets no row. A table that already holds rows
    keeps its constraints throughout. Rows inserted after the block are checked row by row as usual.

    The cost: ALTER TABLE ... DROP CONSTRAINT holds an ACCESS EXCLUSIVE lock on the table and on the
    table it references (agencies, endpoints, information_systems, runs) until the load commits, so
    other sessions' reads and writes of those wait for the load rather than seeing the state before
    it. Only when one of the tables is empty, i.e. a first load. Yields "table.constraint" of each
    constraint deferred. Only on the databases in FK_DEFER_ON."""
    conn = session.connection()
    dropped: list[tuple[Table, str, str]] = []
    preparer = conn.dialect.identifier_preparer
    if conn.dialect.name in FK_DEFER_ON:
        for core in _empty_tables(conn, tables):
            for name, definition in foreign_keys(conn, core):
                conn.exec_driver_sql(f"ALTER TABLE {preparer.format_table(core)} DROP CONSTRAINT {preparer.quote(name)}")
                dropped.append((core, name, definition))
    yield [f"{core.name}.{name}" for core, name, _ in dropped]
    for core, name, definition in dropped:  # not reached after an error: the rollback restores them
        conn.exec_driver_sql(f"ALTER TABLE {preparer.format_table(core)} ADD CONSTRAINT {preparer.quote(name)} "
                             f"{definition}")
