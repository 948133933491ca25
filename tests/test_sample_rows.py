"""The sample generated straight in its stored form is what the model path made and stored.

Endpoints are drawn as row tuples (secops.sample.province), written as rows when new
(secops.sample.write), protection-management facts drawn with inlined picks
(secops.sample.requirements), and the SQLite writer converts values with shortcuts
(secops.store.bulk._fast). Each is compared here with the previous code on generated
inputs: the same random draws in the same order, the same models, the same stored rows.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg

import secops.sample.write as sample_write
import secops.store.bulk as bulk
from secops.models import (
    Agency,
    Endpoint,
    EndpointRole,
    EvidenceSource,
    OSFamily,
    ProtectionEvidence,
    ProtectionStatus,
)
from secops.sample.load import load_sample
from secops.sample.province import PRODUCTS, Clock, _agencies, _endpoint, below, endpoint_model, generate
from secops.sample.requirements import FACTS, MANAGED_CUM, MANAGEMENT_COLUMNS, NATIONAL_CUM, _management
from secops.store.db import Database
from secops.store.tables import EndpointRow, EvidenceRow
from tests.test_bulk_copy import snapshot

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- The previous generator (commit 1e4e0ee), kept here as the reference ---------------------

def previous_protection(status: ProtectionStatus, product: str | None, observed_at: dt.datetime,
                        detail: str | None) -> ProtectionEvidence:
    if observed_at.tzinfo is None:
        observed_at = observed_at.replace(tzinfo=dt.UTC)
    fields_set = {"status", "source", "observed_at"}
    if product is not None:
        fields_set.add("product")
    if detail is not None:
        fields_set.add("detail")
    return ProtectionEvidence.model_construct(fields_set, status=status, product=product,
                                              source=EvidenceSource.sample, observed_at=observed_at, detail=detail)


def previous_evidence(rng: random.Random, as_of: dt.datetime) -> ProtectionEvidence | None:
    roll = rng.random()
    fresh = as_of - dt.timedelta(days=rng.randint(0, 6), hours=rng.randint(0, 23))
    if roll < 0.74:
        return previous_protection(ProtectionStatus.protected, rng.choice(PRODUCTS), fresh, None)
    if roll < 0.79:
        return previous_protection(ProtectionStatus.degraded, rng.choice(PRODUCTS), fresh,
                                   "signatures out of date" if rng.random() < 0.5 else "service stopped")
    if roll < 0.85:
        return previous_protection(ProtectionStatus.unprotected, None, fresh, "no protection product found")
    if roll < 0.92:
        return previous_protection(ProtectionStatus.protected, rng.choice(PRODUCTS),
                                   as_of - dt.timedelta(days=rng.randint(9, 90)), None)
    return None


def pick(rng: random.Random, population: list[Any], cum_weights: list[int]) -> Any:
    """The former generator's weighted pick (secops.sample.province at 1e4e0ee), kept with it:
    rng.choices(population, cum_weights=cum_weights)[0], draw for draw."""
    return population[bisect.bisect(cum_weights, rng.random() * (cum_weights[-1] + 0.0), 0, len(population) - 1)]


def previous_endpoint(rng: random.Random, index: int, owner: Agency, as_of: dt.datetime,
                      code_prefix: str = "") -> Endpoint:
    role = pick(rng, list(EndpointRole), [70, 92, 100])
    os_family = OSFamily.linux if role is EndpointRole.server and rng.random() < 0.6 else \
        pick(rng, [OSFamily.windows, OSFamily.linux, OSFamily.macos], [90, 97, 100])
    ip = f"198.{18 + (index >> 16 & 1)}.{index >> 8 & 255}.{index & 255}"
    mac = "02:" + ":".join(f"{b:02X}" for b in index.to_bytes(5, "big"))
    prefix = "SRV" if role is EndpointRole.server else "PC"
    return Endpoint.model_construct(code=f"{code_prefix}EP{index:06d}",
                                    hostname=f"{owner.code.lower()}-{prefix.lower()}-{index:05d}",
                                    ips=[ip], mac=mac, os_family=os_family, role=role, owner=owner.code,
                                    protection=previous_evidence(rng, as_of))


def previous_management(rng: random.Random, endpoints_of: dict[int, list[int]],
                        as_of: dt.datetime) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for ids in endpoints_of.values():
        for endpoint_id in ids:
            managed = rng.choices(FACTS, weights=[68, 17, 15])[0]
            national = rng.choices(FACTS, weights=[42, 30, 28])[0]
            out.append({"endpoint_id": endpoint_id, "observed_at": as_of - dt.timedelta(days=rng.randint(0, 6)),
                        "centrally_managed": managed, "reports_national": national, "console": "sample",
                        "source": "sample"})
    return out


# --- Draws ------------------------------------------------------------------------------------

@given(seed=st.integers(0, 2**32), bounds=st.lists(st.tuples(st.integers(-50, 50), st.integers(1, 300)), max_size=40))
def test_below_draws_what_randint_and_choice_draw(seed, bounds):
    ours, theirs = random.Random(seed), random.Random(seed)
    for low, width in bounds:
        assert low + below(ours.getrandbits, width, width.bit_length()) == theirs.randint(low, low + width - 1)
        population = list(range(width))
        assert population[below(ours.getrandbits, width, width.bit_length())] == theirs.choice(population)
        assert ours.random() == theirs.random()
    assert ours.getstate() == theirs.getstate()


@given(seed=st.integers(0, 2**32), rolls=st.integers(1, 200))
def test_inlined_picks_are_choices(seed, rolls):
    ours, theirs = random.Random(seed), random.Random(seed)
    for _ in range(rolls):
        for cum, weights in ((MANAGED_CUM, [68, 17, 15]), (NATIONAL_CUM, [42, 30, 28]), ([70, 92, 100], [70, 22, 8]),
                             ([90, 97, 100], [90, 7, 3])):
            assert bisect.bisect(cum, ours.random() * 100.0, 0, 2) == theirs.choices(range(3), weights=weights)[0]
    assert ours.getstate() == theirs.getstate()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), prefix=st.sampled_from(["", "A-", "X9."]), start=st.integers(1, 2**40 - 300),
       minutes=st.integers(-60 * 24 * 3000, 60 * 24 * 3000), zone=st.sampled_from([None, dt.UTC, dt.timezone(
           dt.timedelta(hours=7))]), unit=st.integers(0, 106))
def test_endpoint_draws_are_the_previous_models(seed, prefix, start, minutes, zone, unit):
    as_of = (dt.datetime(2026, 6, 1) + dt.timedelta(minutes=minutes)).replace(tzinfo=zone)
    owner = _agencies(prefix)[1 + unit]
    ours, theirs, clock = random.Random(seed), random.Random(seed), Clock(as_of)
    for index in range(start, start + 120):
        draw = _endpoint(ours, index, (owner.code, owner.code.lower()), clock, prefix)
        model, before = endpoint_model(draw), previous_endpoint(theirs, index, owner, as_of, prefix)
        assert model == before and model.model_fields_set == before.model_fields_set
        if before.protection is not None:
            assert model.protection.model_fields_set == before.protection.model_fields_set  # type: ignore[union-attr]
            assert model.protection.observed_at.utcoffset() == before.protection.observed_at.utcoffset()  # type: ignore[union-attr]
        assert draw[4:6] == (before.os_family.value, before.role.value)  # stored as the writer stored them
    assert ours.getstate() == theirs.getstate()


@given(seed=st.integers(0, 2**32), sizes=st.lists(st.integers(0, 30), max_size=8),
       minutes=st.integers(0, 60 * 24 * 400), aware=st.booleans())
def test_management_facts_are_the_previous_ones(seed, sizes, minutes, aware):
    as_of = dt.datetime(2025, 1, 1) + dt.timedelta(minutes=minutes)
    as_of = as_of.replace(tzinfo=dt.UTC) if aware else as_of
    ids = iter(range(1, 10_000))
    endpoints_of = {agency: [next(ids) for _ in range(size)] for agency, size in enumerate(sizes)}
    ours = [dict(zip(MANAGEMENT_COLUMNS, row, strict=True)) for row in _management(random.Random(seed), endpoints_of,
                                                                                   as_of)]
    assert ours == previous_management(random.Random(seed), endpoints_of, as_of)


# --- Stored rows ------------------------------------------------------------------------------

def model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chunk through the models (upsert_endpoints), as if its codes were stored."""
    monkeypatch.setattr(sample_write, "none_stored", lambda session: False)
    monkeypatch.setattr("secops.sample.load.none_stored", lambda session: False)
    monkeypatch.setattr(sample_write, "_any_stored", lambda session, codes: True)


@SLOW
@given(endpoints=st.integers(0, 1500), seed=st.integers(0, 10_000), chunk=st.integers(97, 700),
       second=st.sampled_from(["", "B-"]))
def test_rows_written_directly_are_the_model_paths(tmp_path_factory, endpoints, seed, chunk, second):
    base = tmp_path_factory.mktemp("rows")
    direct, models = Database(f"sqlite:///{base / 'direct.db'}"), Database(f"sqlite:///{base / 'models.db'}")
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setattr("secops.sample.province.ENDPOINT_CHUNK", chunk)
            m.setattr("secops.inventory.upsert.BATCH", 333)
            tallies = load_sample(direct, AS_OF, endpoints=endpoints, seed=seed)
            model_path(m)
            assert load_sample(models, AS_OF, endpoints=endpoints, seed=seed) == tallies  # what the CLI prints
        assert snapshot(direct) == snapshot(models)  # every column but the write-time clocks
        if second:  # a second province in the same database: new codes in a table holding rows
            from secops.sample.province import stream
            from secops.sample.write import write_part

            for target, forced in ((direct, False), (models, True)):
                with pytest.MonkeyPatch.context() as m, target.session() as s:
                    if forced:
                        model_path(m)
                    for entity, rows in stream(AS_OF, endpoints=300, seed=seed + 1, prefix=second):
                        assert write_part(s, entity, rows).inserted == len(rows)
            assert snapshot(direct) == snapshot(models)
    finally:
        direct.dispose()
        models.dispose()


def test_rows_written_directly_on_postgresql_are_the_model_paths(fresh_pg, monkeypatch):
    direct, models = fresh_pg(), fresh_pg()
    monkeypatch.setattr("secops.sample.province.ENDPOINT_CHUNK", 600)
    load_sample(direct, AS_OF, endpoints=1500, seed=3)
    with monkeypatch.context() as m:
        model_path(m)
        load_sample(models, AS_OF, endpoints=1500, seed=3)
    assert snapshot(direct) == snapshot(models)


def test_a_chunk_with_a_stored_code_is_upserted(db):
    load_sample(db, AS_OF, endpoints=500, seed=5)
    with db.session() as s:  # one endpoint changed and one evidence gone since the first load
        s.execute(EndpointRow.__table__.update().where(EndpointRow.code == "EP000007").values(hostname="renamed"))
        victim = s.scalar(select(EvidenceRow.id).order_by(EvidenceRow.id).limit(1))
        s.execute(EvidenceRow.__table__.delete().where(EvidenceRow.id == victim))
    again = load_sample(db, AS_OF, endpoints=500, seed=5)  # its codes are stored: upserted through the models
    assert (again["endpoints"].inserted, again["endpoints"].updated, again["endpoints"].unchanged) == (0, 1, 499)
    expected = generate(AS_OF, endpoints=500, seed=5).endpoints
    with db.session() as s:
        assert s.scalar(select(EndpointRow.hostname).where(EndpointRow.code == "EP000007")) == expected[6].hostname
        stored = s.execute(select(EndpointRow.code, EvidenceRow.status, EvidenceRow.observed_at)
                           .join(EvidenceRow, EvidenceRow.endpoint_id == EndpointRow.id)).all()
    assert sorted(stored) == sorted((e.code, e.protection.status.value, e.protection.observed_at)
                                    for e in expected if e.protection)


@SLOW
@given(stored=st.sets(st.integers(1, 400), max_size=60), asked=st.sets(st.integers(1, 800), max_size=900))
def test_any_stored_is_the_truth_both_ways(db, stored, asked):
    with db.session() as s:
        s.execute(EndpointRow.__table__.delete())
        if stored:
            from secops.store.tables import AgencyRow

            agency = s.scalar(select(AgencyRow.id).limit(1))
            if agency is None:
                s.add(AgencyRow(code="P", name="P", kind="province"))
                s.flush()
                agency = s.scalar(select(AgencyRow.id).limit(1))
            bulk.insert_rows(s, EndpointRow, [{"code": f"EP{i:06d}", "hostname": "h", "os_family": "linux",
                                               "role": "server", "agency_id": agency} for i in sorted(stored)])
        codes = [f"EP{i:06d}" for i in sorted(asked)]
        truth = bool(stored & asked)
        assert sample_write._any_stored(s, codes) is truth
        assert sample_write._any_stored_in_lists(s, codes) is truth


# --- The SQLite writer's shortcuts ------------------------------------------------------------

@given(st.lists(st.one_of(st.text(max_size=12), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)),
                max_size=5))
def test_plain_json_shortcut_is_json_dumps(value):
    text = bulk._plain_json_strings(value)
    assert text is None or text == json.dumps(value)
    if all(type(v) is str and v.isascii() and v.isprintable() and '"' not in v and "\\" not in v for v in value):
        assert text is not None


ZONES = st.one_of(st.none(), st.just(dt.UTC), st.builds(dt.timezone, st.timedeltas(dt.timedelta(hours=-23),
                                                                                      dt.timedelta(hours=23))))


@given(moments=st.lists(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                                     timezones=ZONES), min_size=1, max_size=30).map(lambda m: m + m[::-1]))
def test_memoised_utc_conversion_is_the_processors(moments):
    column = EvidenceRow.__table__.c.observed_at
    for dialect in (sqlite.dialect(), psycopg.dialect()):
        process = bulk._processor(column, dialect)
        fast = bulk._fast(column, process, dialect, named=True)
        assert fast is not None and fast is not process
        reference = column.type._cached_bind_processor(dialect)
        assert [fast(m) for m in moments] == [reference(m) for m in moments]


EVIDENCE_VALUES = {
    "endpoint_id": st.integers(1, 9), "status": st.sampled_from(["protected", "degraded"]),
    "product": st.none() | st.text(max_size=5), "source": st.just("sample"),
    "observed_at": st.sampled_from([AS_OF, AS_OF - dt.timedelta(days=3), AS_OF.replace(tzinfo=None),
                                    AS_OF.astimezone(dt.timezone(dt.timedelta(hours=7)))]),
    "detail": st.none() | st.text(max_size=5), "run_id": st.none() | st.integers(1, 3),
    "centrally_managed": st.none() | st.booleans() | st.sampled_from([0, 1]),
    "reports_to_national_platform": st.none() | st.booleans(),
}


def typed(rows: list[list[Any]]) -> list[list[tuple[Any, type]]]:
    return [[(value, type(value)) for value in row] for row in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.sets(st.sampled_from(sorted(EVIDENCE_VALUES)), min_size=1).flatmap(
    lambda names: st.fixed_dictionaries({n: EVIDENCE_VALUES[n] for n in sorted(names)})), min_size=1, max_size=8))
def test_sqlite_bound_values_are_the_processors(db, rows):
    from tests.test_bulk_copy import _reference_values

    table = EvidenceRow.__table__
    with db.engine.connect() as conn:
        columns, values = bulk._bound(conn, table, rows)
        assert typed(list(values)) == typed(_reference_values(conn, table, rows))  # 1, not True
        assert [c.name for c in columns][:len(rows[0])] == list(rows[0])  # columns in first-named order


@pytest.mark.parametrize("kind", [sqlite.dialect, psycopg.dialect])
def test_json_shortcut_only_where_json_dumps_is_the_serialiser(kind):
    column = EndpointRow.__table__.c.ips
    plain, custom = kind(), kind(json_serializer=lambda value: "custom")
    fast = bulk._fast(column, bulk._processor(column, plain), plain, named=True)
    assert fast is not None and fast(["1.2.3.4"]) == '["1.2.3.4"]'
    assert _dumped(fast(['a"b'])) == json.dumps(['a"b'])  # not plain: the processor's own
    process = bulk._processor(column, custom)
    assert bulk._fast(column, process, custom, named=True) is process


def _dumped(value: Any) -> Any:
    """What COPY sends for a bound value: psycopg's Json wrapper is sent as its json.dumps text."""
    from psycopg.types.json import Json

    return json.dumps(value.obj) if isinstance(value, Json) else value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.sets(st.sampled_from(sorted(EVIDENCE_VALUES)), min_size=1).flatmap(
    lambda names: st.fixed_dictionaries({n: EVIDENCE_VALUES[n] for n in sorted(names)})), min_size=1, max_size=8),
    ips=st.lists(st.lists(st.text(max_size=6), max_size=3), min_size=1, max_size=4))
def test_copy_bound_values_are_the_processors(pg_engine, rows, ips):
    from tests.test_bulk_copy import _reference_values

    with pg_engine.connect() as conn:
        for table, batch in ((EvidenceRow.__table__, rows), (EndpointRow.__table__, [{"ips": v} for v in ips])):
            _, values = bulk._bound(conn, table, batch)
            given_ = len({name for row in batch for name in row})  # not the clock defaults filled in after them
            ours = [[_dumped(v) for v in row[:given_]] for row in values]
            assert typed(ours) == typed([[_dumped(v) for v in row[:given_]]
                                         for row in _reference_values(conn, table, batch)])


@pytest.fixture(scope="module")
def pg_engine(pg_url):
    from sqlalchemy import create_engine

    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


# --- Ids known without reading back (bulk.reserve_ids, bulk.sequence_position), empty tables ---

def _load_two_provinces(target: Database) -> None:
    """The sample into an empty table, then a second province into the table now holding rows."""
    from secops.sample.province import stream
    from secops.sample.write import write_part

    load_sample(target, AS_OF, endpoints=1300, seed=11)
    with target.session() as s:
        for entity, rows in stream(AS_OF, endpoints=450, seed=12, prefix="B-"):
            assert write_part(s, entity, rows).inserted == len(rows)


def _counting_lookups(m: pytest.MonkeyPatch, lookups: list[int]) -> None:
    real = sample_write._new_ids

    def counted(session, codes, before):  # type: ignore[no-untyped-def]
        lookups.append(len(codes))
        return real(session, codes, before)
    m.setattr(sample_write, "_new_ids", counted)


def _read_back(m: pytest.MonkeyPatch) -> None:
    """New endpoints' ids looked up after the insert (the path before ids were known)."""
    m.setattr(sample_write, "reserve_ids", lambda bind, table, count: None)
    m.setattr(sample_write, "sequence_position", lambda bind, table: None)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_ids_known_without_reading_back_are_the_ones_the_database_gives(backend, tmp_path, fresh_pg, monkeypatch):
    def make(name: str) -> Database:
        return fresh_pg() if backend == "postgresql" else Database(f"sqlite:///{tmp_path / name}")

    known, read_back = make("known.db"), make("read_back.db")
    monkeypatch.setattr("secops.sample.province.ENDPOINT_CHUNK", 400)
    lookups: list[int] = []
    with monkeypatch.context() as m:
        _counting_lookups(m, lookups)
        _load_two_provinces(known)
    assert lookups == [], "every chunk's ids were known without a lookup"
    with monkeypatch.context() as m:
        _counting_lookups(m, lookups)
        _read_back(m)
        _load_two_provinces(read_back)
    assert sum(lookups) == 1300 + 450
    assert snapshot(known) == snapshot(read_back)
    with known.session() as s:  # and the database goes on from there for the next row
        s.execute(EndpointRow.__table__.insert().values(code="NEXT", hostname="n", os_family="linux",
                                                        role="server", agency_id=1))
        ids = s.scalars(select(EndpointRow.id).order_by(EndpointRow.id)).all()
    assert ids == list(range(1, 1300 + 450 + 2))
    known.dispose()
    read_back.dispose()


def _joined(database: Database) -> list[tuple[Any, ...]]:
    with database.session() as s:
        return sorted(tuple(r) for r in s.execute(select(EndpointRow.code, EvidenceRow.status, EvidenceRow.observed_at)
                                                  .join(EvidenceRow, EvidenceRow.endpoint_id == EndpointRow.id)))


def test_a_sequence_value_taken_meanwhile_sends_the_ids_to_a_lookup(fresh_pg, monkeypatch):
    """Another session takes an id from the endpoints' sequence while a chunk is written: the ids
    are then looked up, and every evidence row still belongs to its own endpoint."""
    from sqlalchemy import create_engine

    clean, disturbed = fresh_pg(), fresh_pg()
    monkeypatch.setattr("secops.sample.province.ENDPOINT_CHUNK", 400)
    load_sample(clean, AS_OF, endpoints=1000, seed=9)
    other = create_engine(disturbed.url, isolation_level="AUTOCOMMIT")
    real_insert = sample_write.insert_values
    taken: list[int] = []

    def insert_meanwhile(session, table, names, rows, **options):  # type: ignore[no-untyped-def]
        if table is EndpointRow and len(taken) < 2:  # the first two chunks
            with other.connect() as conn:
                taken.append(conn.exec_driver_sql("SELECT nextval(pg_get_serial_sequence('endpoints', 'id'))").scalar())
        return real_insert(session, table, names, rows, **options)

    lookups: list[int] = []
    with monkeypatch.context() as m:
        m.setattr(sample_write, "insert_values", insert_meanwhile)
        _counting_lookups(m, lookups)
        load_sample(disturbed, AS_OF, endpoints=1000, seed=9)
    other.dispose()
    assert len(taken) == 2 and lookups == [400, 400]  # the third chunk's ids came from the sequence again
    assert _joined(disturbed) == _joined(clean)
    with disturbed.session() as s:
        ids = set(s.scalars(select(EndpointRow.id)))
    assert not ids & set(taken) and len(ids) == 1000


def test_sequence_position_only_where_it_tells_the_ids(fresh_pg, db):
    from sqlalchemy import text

    with db.session() as s:
        assert bulk.sequence_position(s, EndpointRow) is None  # SQLite: reserve_ids instead
    database = fresh_pg()
    with database.session() as s:
        assert bulk.sequence_position(s, EndpointRow) == 0  # never called: its start less one
        s.execute(text("SELECT nextval(pg_get_serial_sequence('endpoints', 'id'))"))
        assert bulk.sequence_position(s, EndpointRow) == 1
        assert bulk.reserve_ids(s, EndpointRow, 3) is None  # PostgreSQL: not by reservation
        s.execute(text("ALTER SEQUENCE endpoints_id_seq CACHE 20"))  # a session may then hold values unseen
        assert bulk.sequence_position(s, EndpointRow) is None


def test_reserved_ids_on_sqlite_only_inside_a_transaction(db):
    with db.session() as s:
        assert bulk.reserve_ids(s, EndpointRow, 3) is None  # nothing begun yet: a later writer could come between
        assert bulk.reserve_ids(s, EndpointRow, 0) == []
        s.execute(EndpointRow.__table__.delete().where(EndpointRow.id < 0))  # begins the transaction
        largest = s.scalar(select(EndpointRow.id).order_by(EndpointRow.id.desc()).limit(1)) or 0
        assert bulk.reserve_ids(s, EndpointRow, 3) == [largest + 1, largest + 2, largest + 3]


def test_a_load_into_an_empty_table_looks_no_code_up(db, monkeypatch):
    asked: list[int] = []
    real = sample_write._any_stored
    monkeypatch.setattr(sample_write, "_any_stored", lambda s, codes: asked.append(len(codes)) or real(s, codes))
    monkeypatch.setattr("secops.sample.province.ENDPOINT_CHUNK", 300)
    load_sample(db, AS_OF, endpoints=900, seed=4)
    assert asked == []  # the table was empty and the stream's codes are distinct
    again = load_sample(db, AS_OF, endpoints=900, seed=4)  # now stored: looked up, and upserted
    assert asked == [300, 300, 300] and again["endpoints"].unchanged == 900
