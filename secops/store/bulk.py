"""Bulk inserts inside the caller's transaction: COPY on PostgreSQL (psycopg 3), executemany elsewhere.

`insert_rows(session, table, rows)` writes a list of dicts (one per row, keyed by column name) and
gives the rows written. On postgresql+psycopg the rows go through `COPY table (columns) FROM STDIN`
with psycopg's `write_row`: every value first goes through the column type's own bind processor
(the same conversion an INSERT does: UTC datetimes made naive, JSON serialised), then psycopg's
text-format escaping (tabs, newlines, backslashes, `\\N` arrive intact; NUL is refused by
PostgreSQL as it is for an INSERT). Columns a row leaves out take the column's Python default, or
NULL, as a Core insert would. Elsewhere the rows are written with Core `insert()` executemany in
batches. Either way it runs on the session's connection, in its open transaction: a failure later
in the unit of work rolls the rows back.

`in_keys(column, keys)` is the WHERE clause "column is one of keys": `= ANY(:array)` (one bound
array) on PostgreSQL, `IN (...)` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Column, Connection, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

BATCH = 5000  # rows per executemany (non-PostgreSQL)
COPY_CHUNK = 20_000  # rows converted at a time for COPY (bounded memory)


def _table(table: Any) -> Table:
    return cast(Table, getattr(table, "__table__", table))


def _connection(bind: Session | Connection) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def uses_copy(bind: Session | Connection) -> bool:
    conn = _connection(bind)
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def _default(column: Column[Any]) -> Callable[[], Any] | None:
    """The Python-side default of a column (scalar or callable), as Core insert() would apply it."""
    default = column.default
    if default is None or getattr(default, "is_sequence", False) or getattr(default, "is_clause_element", False):
        return None
    arg = default.arg  # type: ignore[attr-defined]
    if getattr(default, "is_callable", False):
        return lambda: arg(None)
    return lambda: arg


def _copy(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in rows:  # every column named by some row (a row leaving one out gets its default)
        keys.extend(k for k in row if k not in keys)
    dialect = conn.dialect
    columns = [table.c[k] for k in keys]
    # Columns with a Python default that no row names are filled like Core insert() fills them.
    extra = [c for c in table.c if c.name not in keys and _default(c) is not None]
    columns += extra
    processors = [c.type._cached_bind_processor(dialect) for c in columns]
    defaults = [_default(c) for c in columns]
    names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in columns)
    target = dialect.identifier_preparer.format_table(table)
    statement = f"COPY {target} ({names}) FROM STDIN"
    raw = conn.connection.driver_connection
    assert raw is not None
    dbapi = dialect.loaded_dbapi
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = []
                for column, process, default in zip(columns, processors, defaults, strict=True):
                    if column.name in row:
                        value = row[column.name]
                    else:
                        value = default() if default is not None else None
                    if value is not None and process is not None:
                        value = process(value)
                    values.append(value)
                copy.write_row(values)
    except dbapi.Error as error:  # the same exception classes an INSERT raises (IntegrityError, DataError...)
        raise DBAPIError.instance(statement, None, error, dbapi.Error, dialect=dialect) from error


def insert_rows(bind: Session | Connection, table: Any, rows: Iterable[dict[str, Any]], *,
                batch: int | None = None) -> int:
    """Insert rows (dicts by column name) in the bind's transaction; returns how many.

    For executemany every row must name the same columns (Core takes them from the first row);
    batch sets the rows per executemany (BATCH by default)."""
    core = _table(table)
    conn = _connection(bind)
    copy = uses_copy(conn)
    size = COPY_CHUNK if copy else (batch or BATCH)
    written = 0
    part: list[dict[str, Any]] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            written += _write(conn, core, part, copy)
            part = []
    if part:
        written += _write(conn, core, part, copy)
    return written


def _write(conn: Connection, table: Table, batch: list[dict[str, Any]], copy: bool) -> int:
    if copy:
        _copy(conn, table, batch)
    else:
        conn.execute(insert(table), batch)
    return len(batch)


def in_keys(bind: Session | Connection, column: Any, keys: Sequence[Any]) -> ColumnElement[bool]:
    """column IN keys: one bound array (`= ANY`) on PostgreSQL, an IN list elsewhere."""
    if _connection(bind).dialect.name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        array = bindparam("keys", list(keys), type_=ARRAY(column.type), unique=True)
        return cast(ColumnElement[bool], column == any_(array))
    return cast(ColumnElement[bool], column.in_(list(keys)))
