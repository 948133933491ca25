"""Write the generated sample province: its endpoints straight from their stored form.

secops.sample.province.stream gives endpoints as EndpointDraw tuples (the values they are stored
as), not models. When none of a chunk's codes is stored yet (a sample into a new database, or a
sample with another prefix) its endpoint and evidence rows are written as they are: the rows the
model path (secops.inventory.upsert.upsert_endpoints, for new endpoints) writes, without building
a million models and looking every code up. A chunk of which any code is already stored goes
through that model path, as imported files do, so reloading the sample still upserts (and
counts) exactly as before. tests/test_sample_rows.py compares the two paths.

Into an empty endpoints table (none_stored, read once before the stream) no chunk is looked up at
all: the stream's codes are distinct. The ids new endpoints get are known without reading them back
(secops.store.bulk: on SQLite reserve_ids takes the ones SQLite would give; on PostgreSQL
sequence_position, read around the COPY, shows the sequence gave them in order), so their evidence
rows are built at once; both are written as values (insert_values), built while they are sent.

Imported files never come here: they are validated row by row and written by the model path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import secops.inventory.upsert as upsert
from secops.inventory.importer import write_models
from secops.inventory.upsert import Tally, agency_ids, upsert_endpoints
from secops.sample.province import EndpointDraw, endpoint_model
from secops.store.bulk import in_keys, insert_values, reserve_ids, sequence_position
from secops.store.tables import EndpointRow, EvidenceRow

ENDPOINT_COLUMNS = ("code", "hostname", "ips", "mac", "os_family", "role", "agency_id")
EVIDENCE_COLUMNS = ("endpoint_id", "status", "product", "source", "observed_at", "detail", "run_id")


def write_part(session: Session, entity: str, rows: Sequence[Any], *, fresh: bool = False) -> Tally:
    """Write one (entity, rows) part of secops.sample.province.stream; the tally of that entity.
    fresh: the endpoints table held no row when this stream began (see none_stored)."""
    if entity == "endpoints":
        return write_endpoints(session, rows, fresh=fresh)
    return write_models(session, {entity: list(rows)})[entity]


def none_stored(session: Session) -> bool:
    """Whether the endpoints table holds no row. Read before a stream's first chunk: the stream's
    codes are distinct, so then none of its chunks' codes can be stored but by this stream (no
    per-chunk lookup). Another session adding one of those codes meanwhile fails the load on the
    codes' unique index (on PostgreSQL the load's foreign-key deferral even locks the table)."""
    return session.scalar(select(EndpointRow.id).limit(1)) is None


def write_endpoints(session: Session, draws: Sequence[EndpointDraw], *, fresh: bool = False) -> Tally:
    """Generated endpoints and their evidence: rows as they are when all are new, else upserted.
    fresh: the caller knows none of these codes is stored (none_stored before the stream)."""
    if not draws:
        return Tally()
    codes = [draw[0] for draw in draws]
    if not fresh and _any_stored(session, codes):
        return upsert_endpoints(session, [endpoint_model(draw) for draw in draws])
    agency = agency_ids(session)
    # The rows upsert._upsert writes for new endpoints (same columns, same order of rows), as
    # values rather than dicts, built while they are written.
    rows = ((code, hostname, ips, mac, os_family, role, agency[owner])
            for code, hostname, ips, mac, os_family, role, owner, _ in draws)
    reserved = reserve_ids(session, EndpointRow, len(draws))
    if reserved is not None:  # the ids the database would give, taken first: nothing to read back
        insert_values(session, EndpointRow, ("id",) + ENDPOINT_COLUMNS,
                      ((id_, *row) for id_, row in zip(reserved, rows, strict=True)))
        ids = dict(zip(codes, reserved, strict=True))
    else:
        position = sequence_position(session, EndpointRow)
        # Only the SQLite range read of _new_ids needs the largest id before; PostgreSQL looks codes up.
        before = 0 if position is not None else \
            session.scalar(select(EndpointRow.id).order_by(EndpointRow.id.desc()).limit(1)) or 0
        insert_values(session, EndpointRow, ENDPOINT_COLUMNS, rows, batch=upsert.BATCH)
        after = sequence_position(session, EndpointRow) if position is not None else None
        if position is not None and after == position + len(draws):  # the sequence gave them all, in order
            ids = dict(zip(codes, range(position + 1, after + 1), strict=True))
        else:
            ids = _new_ids(session, codes, before)
    # The rows upsert.add_inventory_evidence writes for new endpoints (each has one observation).
    insert_values(session, EvidenceRow, EVIDENCE_COLUMNS,
                  ((ids[draw[0]], evidence[0], evidence[1], "sample", evidence[2], evidence[3], None)
                   for draw in draws if (evidence := draw[7]) is not None), batch=upsert.BATCH)
    return Tally(inserted=len(draws))


def _any_stored(session: Session, codes: list[str]) -> bool:
    """Whether any of these endpoint codes is stored: one query (one bound array on PostgreSQL, one
    JSON array on SQLite), else IN lists of upsert.LOOKUP codes."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return session.scalar(select(EndpointRow.id).where(in_keys(session, EndpointRow.code, codes)).limit(1)) \
            is not None
    if dialect == "sqlite":
        try:
            found = session.connection().exec_driver_sql(
                "SELECT 1 FROM endpoints WHERE code IN (SELECT value FROM json_each(?)) LIMIT 1",
                (json.dumps(codes),)).first()
            return found is not None
        except OperationalError:  # an SQLite built without JSON: the general lookup below
            pass
    return _any_stored_in_lists(session, codes)


def _any_stored_in_lists(session: Session, codes: list[str]) -> bool:
    return any(session.scalar(select(EndpointRow.id).where(EndpointRow.code.in_(codes[start:start + upsert.LOOKUP]))
                              .limit(1)) is not None for start in range(0, len(codes), upsert.LOOKUP))


def _new_ids(session: Session, codes: list[str], before: int) -> dict[str, int]:
    """code -> id of endpoints just inserted. On SQLite new rows take ids above the largest before
    the insert (and the load holds the write lock), so one range read gives them; anything else,
    or anything missing from it, is looked up by code."""
    ids: dict[str, int] = {}
    if session.get_bind().dialect.name == "sqlite":
        ids.update(session.connection().exec_driver_sql("SELECT code, id FROM endpoints WHERE id > ?",
                                                        (before,)).all())
    missing = [code for code in codes if code not in ids]
    size = upsert.PG_LOOKUP if session.get_bind().dialect.name == "postgresql" else upsert.LOOKUP
    for start in range(0, len(missing), size):
        ids.update(session.execute(select(EndpointRow.code, EndpointRow.id)
                                   .where(in_keys(session, EndpointRow.code, missing[start:start + size]))).all())
    return ids
