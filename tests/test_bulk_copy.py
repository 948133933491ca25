"""COPY on PostgreSQL writes the same rows as the executemany writer, and SQLite the same again.

The sample loader and an inventory import (with hostile text) run three ways: on PostgreSQL through
`COPY FROM STDIN` (secops/store/bulk.py), on PostgreSQL through the previous Core executemany path
(bulk.writer forced to "core"), and on SQLite. Every table is then read back in full (all columns,
ordered by primary key) and must be identical, ids included. A failure in the middle of a load
or an import leaves nothing on either database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DataError, IntegrityError

import secops.store.bulk as bulk
from secops.errors import InputRowsError
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.models import Endpoint
from secops.sample.load import load_sample
from secops.sample.province import generate
from secops.store.base import Base
from secops.store.db import Database
from secops.store.tables import AssessmentRow, EndpointRow, EvidenceRow, MetaRow, StaffRow, SystemRow

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
POLICIES = Path(__file__).resolve().parent.parent / "policies"
# Set at write time from the clock (utcnow), so they differ between any two loads.
CLOCK_COLUMNS = {"updated_at", "created_at"}
HOSTILE = ["it's \"quoted\"", "tab\there", "line\nbreak", "back\\slash \\\\ \\t \\n", "\\N", "\\.", "",
           "Phường Đông Hòa — ※ 😀 ﬁ", "a,b;c|d", "end\\"]
_names = itertools.count()


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table, every column but the write-time clock ones, ordered by primary key."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = [c for c in table.c if c.name not in CLOCK_COLUMNS]
            order = list(table.primary_key.columns) or columns
            out[table.name] = [tuple(r) for r in session.execute(select(*columns).order_by(*order))]
    return out


def digest(tables: dict[str, list[tuple[Any, ...]]]) -> str:
    out = hashlib.sha256()
    for name in sorted(tables):
        if tables[name]:
            out.update(f"{name}:{len(tables[name])}\n".encode())
            for row in tables[name]:
                out.update((repr(row) + "\n").encode())
    return out.hexdigest()


# digest(snapshot(...)) of load_sample(AS_OF, endpoints=3000, seed=7) into SQLite. First taken as commit 50a8034
# (ORM checklist inserts, one INSERT per assessment, validated endpoints, Core executemany) wrote it; taken
# again at 845f508, whose sample holds each system's type and the whole TCVN 14423 catalogue's checklists.
PREVIOUS_WRITER_3000 = "3b7b50bac420b05fb2592f4af7df18804b4682c6f36e0b1f191fe900ad8ea4c2"


def test_sample_is_row_for_row_what_the_previous_writer_stored(db, fresh_pg):
    copied = fresh_pg()
    for target in (db, copied):
        load_sample(target, AS_OF, endpoints=3000, seed=7)
        assert digest(snapshot(target)) == PREVIOUS_WRITER_3000


def previous_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """insert_rows through Core insert() executemany, as before COPY and the raw sqlite3 path."""
    monkeypatch.setattr(bulk, "writer", lambda bind: "core")


@pytest.fixture
def sqlite_core(tmp_path: Path) -> Iterator[Database]:
    """A second SQLite database, for the previous (Core executemany) writer."""
    database = Database(f"sqlite:///{tmp_path / 'core.db'}")
    yield database
    database.dispose()


def test_sample_through_copy_is_row_for_row_the_executemany_and_sqlite_load(db, sqlite_core, fresh_pg, monkeypatch):
    monkeypatch.setattr("secops.sample.province.ENDPOINT_CHUNK", 700)  # several chunks, one transaction
    monkeypatch.setattr(bulk, "COPY_CHUNK", 450)  # several COPYs per table
    monkeypatch.setattr(bulk, "BATCH", 333)  # several sqlite3 executemany per table
    copied, executed = fresh_pg(), fresh_pg()
    load_sample(copied, AS_OF, endpoints=1800)
    load_sample(db, AS_OF, endpoints=1800)
    with monkeypatch.context() as m:
        previous_writer(m)
        load_sample(executed, AS_OF, endpoints=1800)
        load_sample(sqlite_core, AS_OF, endpoints=1800)
    via_copy, via_executemany, on_sqlite = snapshot(copied), snapshot(executed), snapshot(db)
    sqlite_before = snapshot(sqlite_core)
    assert len(via_copy["endpoints"]) == 1800 and via_copy["protection_evidence"]
    assert via_copy["system_assessments"] and via_copy["requirement_status"] and via_copy["protection_management"]
    for table in via_copy:
        assert via_copy[table] == via_executemany[table], table
        assert on_sqlite[table] == sqlite_before[table], table
        assert via_copy[table] == on_sqlite[table], table
    for target in (copied, db):  # idempotent through the ANY(:array) / IN lookups too
        again = load_sample(target, AS_OF, endpoints=1800)
        assert all(t.inserted == 0 and t.updated == 0 for t in again.values())


def _name(text: str) -> str:
    """Names refuse control characters at import (tests/test_control_chars.py): tab and line break become spaces
    there; every other hostile text stays."""
    return text.replace("\t", " ").replace("\n", " ")


def _hostile_files(tmp_path: Path) -> list[Path]:
    agencies = [{"code": "P", "name": "Tỉnh " + HOSTILE[0], "kind": "province"}]
    agencies += [{"code": f"S{i}", "name": f"Sở {i} {_name(h)}x", "kind": "department", "parent": "P"}
                 for i, h in enumerate(HOSTILE)]
    systems = [{"code": f"SYS{i}", "name": f"Hệ thống {_name(h)}x", "owner": f"S{i}", "level": 2, "state": "plan_deployed",
                "approval_decision": f"{i}/QĐ", "approval_date": dt.date(2025, 3, 1),
                "plan_deployed_date": dt.date(2025, 4, 1), "operator": f"op {h.replace(chr(9), ' ')}x".strip()
                .replace("\n", " ")} for i, h in enumerate(HOSTILE)]
    assessments = [{"system": f"SYS{i}", "kind": "periodic", "date": dt.date(2026, 1, 2 + i),
                    "assessor": f"kiểm định {h}x", "independent": i % 2 == 0, "report_ref": f"{h}x"}
                   for i, h in enumerate(HOSTILE)]
    endpoints = [{"code": f"E{i}", "hostname": f"host {h}x", "ips": [f"127.0.3.{i + 1}"], "owner": f"S{i}",
                  "os_family": "windows", "role": "workstation",
                  "protection": {"status": "degraded", "product": f"AV {h}x", "source": "console",
                                 "observed_at": "2026-11-19T08:00:00Z", "detail": f"{h}x"}}
                 for i, h in enumerate(HOSTILE)]
    staff = [{"code": f"CB{i}", "agency": f"S{i}", "name": f"Nguyễn {_name(h)}x", "is_head": i == 0}
             for i, h in enumerate(HOSTILE)]
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump({"agencies": agencies, "systems": systems, "assessments": assessments,
                                    "endpoints": endpoints, "staff": staff}, allow_unicode=True), encoding="utf-8")
    return [path]


def test_hostile_import_through_copy_is_intact_and_the_same_everywhere(db, sqlite_core, fresh_pg, monkeypatch,
                                                                       tmp_path):
    files, levels = _hostile_files(tmp_path), load_levels(POLICIES)
    copied, executed = fresh_pg(), fresh_pg()
    for target in (copied, db):
        result = import_files(target, files, levels, today=AS_OF.date())
        assert result.tallies["endpoints"].inserted == len(HOSTILE) and not result.skipped
    with monkeypatch.context() as m:
        previous_writer(m)
        import_files(executed, files, levels, today=AS_OF.date())
        import_files(sqlite_core, files, levels, today=AS_OF.date())
    via_copy = snapshot(copied)
    assert via_copy == snapshot(executed) == snapshot(db) == snapshot(sqlite_core)
    for target in (copied, db):  # the text arrived byte for byte
        with target.session() as s:
            assert sorted(s.scalars(select(EvidenceRow.detail))) == sorted(f"{h}x" for h in HOSTILE)
            assert sorted(s.scalars(select(AssessmentRow.report_ref))) == sorted(f"{h}x" for h in HOSTILE)
            assert sorted(s.scalars(select(StaffRow.name))) == sorted(f"Nguyễn {_name(h)}x" for h in HOSTILE)
    again = import_files(copied, files, levels, today=AS_OF.date())
    assert all(t.inserted == 0 and t.updated == 0 for t in again.tallies.values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                               max_size=40), min_size=1, max_size=30))
def test_any_text_but_nul_goes_through_copy_as_through_insert(fresh_pg_pair, db, sqlite_core, values):
    rows = [{"key": f"k{i}", "value": v} for i, v in enumerate(values)]
    for target, how in ((fresh_pg_pair[0], "copy"), (fresh_pg_pair[1], "core"), (db, "sqlite"), (sqlite_core, "core")):
        with target.session() as s:
            s.execute(delete(MetaRow))
            if how == "core":
                bulk._write(s.connection(), MetaRow.__table__, rows, "core")  # the previous writer
            else:
                assert bulk.writer(s) == how
                bulk.insert_rows(s, MetaRow, rows)
        with target.session() as s:
            assert [tuple(r) for r in s.execute(select(MetaRow.key, MetaRow.value).order_by(MetaRow.key))] == \
                sorted((r["key"], r["value"]) for r in rows)


@pytest.fixture
def fresh_pg_pair(fresh_pg):
    return fresh_pg(), fresh_pg()


def test_nul_is_refused_by_copy_as_by_insert_and_kept_by_sqlite(fresh_pg_pair, db, sqlite_core):
    rows = [{"key": "a", "value": "ok"}, {"key": "b", "value": "nul\x00here"}]
    for target, how in ((fresh_pg_pair[0], "copy"), (fresh_pg_pair[1], "core")):
        with pytest.raises(DataError), target.session() as s:
            bulk._write(s.connection(), MetaRow.__table__, rows, how)
        with target.session() as s:
            assert s.scalar(select(func.count()).select_from(MetaRow)) == 0
    for target, how in ((db, "sqlite"), (sqlite_core, "core")):
        with target.session() as s:
            bulk._write(s.connection(), MetaRow.__table__, rows, how)
        with target.session() as s:
            assert s.scalar(select(MetaRow.value).where(MetaRow.key == "b")) == "nul\x00here"


def test_fast_writers_raise_the_insert_exceptions(fresh_pg_pair, db):
    for target in (fresh_pg_pair[0], db):  # what the CLI reports for an INSERT too
        with pytest.raises(IntegrityError), target.session() as s:
            bulk.insert_rows(s, MetaRow, [{"key": "same", "value": "1"}, {"key": "same", "value": "2"}])


def _count(db: Database, table: Any) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


def test_failure_mid_load_writes_nothing_on_either_database(db, fresh_pg, monkeypatch):
    import secops.sample.province as sample_module

    monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 500)
    real = sample_module._endpoint
    for target in (fresh_pg(), db):
        calls = {"n": 0}

        def failing(*args: Any, _calls: dict[str, int] = calls, **kwargs: Any) -> Endpoint:
            _calls["n"] += 1
            if _calls["n"] > 1200:  # after two chunks went through COPY / executemany
                raise RuntimeError("disk full")
            return real(*args, **kwargs)

        monkeypatch.setattr(sample_module, "_endpoint", failing)
        with pytest.raises(RuntimeError):
            load_sample(target, AS_OF, endpoints=2000)
        assert _count(target, EndpointRow) == _count(target, EvidenceRow) == _count(target, SystemRow) == 0


def test_failure_mid_import_writes_nothing_on_either_database(db, fresh_pg, monkeypatch, tmp_path):
    files, levels = _hostile_files(tmp_path), load_levels(POLICIES)

    def broken(session: Any, staff: Any) -> Any:  # staff is written after endpoints and evidence were copied
        raise RuntimeError("connection lost")

    monkeypatch.setattr("secops.inventory.importer.upsert_staff", broken)
    for target in (fresh_pg(), db):
        with pytest.raises(RuntimeError):
            import_files(target, files, levels, today=AS_OF.date())
        assert _count(target, EndpointRow) == _count(target, EvidenceRow) == _count(target, SystemRow) == 0
        assert _count(target, AssessmentRow) == 0


def test_user_files_are_still_validated_row_by_row(db, tmp_path):
    bad = tmp_path / "endpoints.csv"
    bad.write_text("code,hostname,ips,owner\nE1,h1,999.1.1.1,P\nE2,bad\x01host,127.0.0.1,P\n", encoding="utf-8")
    with pytest.raises(InputRowsError) as caught:
        import_files(db, [bad], load_levels(POLICIES), today=AS_OF.date())
    message = str(caught.value)
    assert "999.1.1.1" in message and "control characters" in message


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), prefix=st.sampled_from(["", "A-", "X9."]),
       minutes=st.integers(0, 60 * 24 * 400), aware=st.booleans())
def test_sample_endpoints_built_unvalidated_equal_validated_ones(seed, prefix, minutes, aware):
    as_of = dt.datetime(2025, 1, 1) + dt.timedelta(minutes=minutes)  # in the past: staff dates are checked
    sample = generate(as_of.replace(tzinfo=dt.UTC) if aware else as_of, endpoints=60, seed=seed, prefix=prefix)
    for endpoint in sample.endpoints:
        checked = Endpoint.model_validate(endpoint.model_dump(exclude_unset=True))
        assert checked == endpoint and checked.model_dump() == endpoint.model_dump()
        assert checked.model_fields_set == endpoint.model_fields_set
        if endpoint.protection is not None:
            assert checked.protection.model_fields_set == endpoint.protection.model_fields_set  # type: ignore[union-attr]


@given(moment=st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                           timezones=st.one_of(st.none(), st.just(dt.UTC),
                                               st.builds(dt.timezone, st.timedeltas(dt.timedelta(hours=-23),
                                                                                    dt.timedelta(hours=23))))))
def test_sqlite_datetime_shortcut_is_sqlalchemys_processing(moment):
    from sqlalchemy.dialects import sqlite

    column = EvidenceRow.__table__.c.observed_at
    dialect = sqlite.dialect()
    assert bulk._processor(column, dialect) is bulk._sqlite_utc
    assert bulk._sqlite_utc(moment) == column.type._cached_bind_processor(dialect)(moment)


ENDPOINT_VALUES = {
    "code": st.text(max_size=8), "hostname": st.text(max_size=8),
    "ips": st.none() | st.lists(st.sampled_from(["198.18.0.1", "::1"]), max_size=2),
    "mac": st.none() | st.just("02:00:00:00:00:01"), "os_family": st.sampled_from(["windows", "linux"]),
    "role": st.sampled_from(["server", "workstation"]), "agency_id": st.integers(1, 99),
    "last_seen": st.none() | st.datetimes(timezones=st.one_of(st.none(), st.just(dt.UTC))),
    "retired_at": st.none() | st.dates(), "updated_at": st.datetimes(timezones=st.just(dt.UTC)),
}


def _reference_values(conn: Any, table: Any, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The bound values as the general per-column loop made them (before the itemgetter path)."""
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    columns = [table.c[k] for k in keys] + [c for c in table.c if c.name not in keys and bulk._default(c)]
    plan = [(c.name, bulk._processor(c, conn.dialect), bulk._default(c)) for c in columns]
    out = []
    for row in rows:
        values = []
        for name, process, default in plan:
            value = row[name] if name in row else (default() if default is not None else None)
            values.append(process(value) if value is not None and process is not None else value)
        out.append(values)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.sets(st.sampled_from(sorted(ENDPOINT_VALUES)), min_size=1).flatmap(
    lambda names: st.fixed_dictionaries({n: ENDPOINT_VALUES[n] for n in sorted(names)})), min_size=1, max_size=6))
def test_bound_values_are_the_per_column_loops(db, rows):
    table = EndpointRow.__table__
    with db.engine.connect() as conn:
        start = bulk._sqlite_utc(dt.datetime.now(dt.UTC))
        columns, values = bulk._bound(conn, table, rows)
        fast = list(values)
        slow = _reference_values(conn, table, rows)
        end = bulk._sqlite_utc(dt.datetime.now(dt.UTC))
    assert len(fast) == len(slow) == len(rows)
    for row, got, expected in zip(rows, fast, slow, strict=True):
        assert len(got) == len(expected) == len(columns)
        for column, a, b in zip(columns, got, expected, strict=True):
            if column.name == "updated_at" and column.name not in row:  # the clock, as Core fills it
                assert start <= a <= b <= end
            else:  # given, or left out: the column's default (ips: []) or NULL
                assert a == b and type(a) is type(b)
