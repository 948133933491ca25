"""`secops report`'s fast path (issue 12) writes the same files, byte for byte, as the writer before it
(tests/report_reference.py: pydantic items, three queries per target, the newest evidence by window,
protection_2026 tallied endpoint by endpoint in Python), on a province full of hostile text: formula
starts, HTML, quotes and backslashes, newlines, control and bidi characters, in names, hostnames,
codes, products, evidence details and addresses; with ties between evidence rows and management
facts from both sources."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite_dialect

from secops.cliutil import AppState
from secops.collect.tables import AuditHostRow, CheckResultRow
from secops.config import Settings
from secops.grade.cli import run_grade
from secops.report.export import EndpointTexts, _csv_line, _fix_row, _json_item, fix_csv_row, fix_json_item
from secops.report.fixlist import EndpointFixRows, FixItem
from secops.report.publish import publish
from secops.runs import start_run
from secops.sample.load import load_sample
from secops.store.tables import EndpointRow
from tests.pg_server import PostgresServer
from tests.report_reference import reference_dashboard, reference_publish

AS_OF = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2-3", "@SUM(A1)", "\tTAB", "\rCR", "<script>alert(1)</script>",
           "a\"b\\c'd", "line\nbreak", "\u202eevil\u202c.exe", "zero\u200bwidth", "ctl\x01\x1f\x7f", "\u2028sep\u2029",
           "Đà Nẵng — Ủy ban", "emoji 🛡️", "&amp; &lt;b&gt;", "{{ 7*7 }}", ""]


def hostile(n: int) -> str:
    return HOSTILE[n % len(HOSTILE)] + (f" {n}" if n % 3 else "")


def make_hostile(app_state) -> None:  # type: ignore[no-untyped-def]
    """Hostile text in every column a fix item or section shows; evidence ties; management facts
    in both protection_management and protection_evidence, older and newer than each other."""
    with app_state.db().session() as s:
        for table, column, every in (("agencies", "name", 2), ("information_systems", "name", 1),
                                     ("endpoints", "hostname", 7), ("staff", "name", 3)):
            ids = s.execute(text(f"SELECT id FROM {table} ORDER BY id")).scalars().all()
            for n, row_id in enumerate(ids[::every]):
                s.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": hostile(n), "id": row_id})
        for n, row_id in enumerate(s.execute(text("SELECT id FROM endpoints ORDER BY id")).scalars().all()[::11]):
            s.execute(text("UPDATE endpoints SET code = :c, ips = :ips WHERE id = :id"),
                      {"c": f"{hostile(n)}-{row_id}", "id": row_id,
                       "ips": json.dumps([] if n % 4 == 0 else [hostile(n), f"127.0.{n % 250}.1"])})
        for n, row_id in enumerate(s.execute(text("SELECT id FROM staff ORDER BY id")).scalars().all()[::5]):
            s.execute(text("UPDATE staff SET code = :c WHERE id = :id"), {"c": f"{hostile(n)}#{row_id}", "id": row_id})
        evidence = s.execute(text("SELECT id, endpoint_id, observed_at FROM protection_evidence ORDER BY id")).all()
        for n, (row_id, endpoint_id, observed_at) in enumerate(evidence[::5]):
            s.execute(text("UPDATE protection_evidence SET product = :p, detail = :d WHERE id = :id"),
                      {"p": hostile(n + 1), "d": hostile(n + 2) or None, "id": row_id})
            if n % 3 == 0:  # a tie: another source, the same time, another status (the highest id wins)
                s.execute(text("INSERT INTO protection_evidence (endpoint_id, status, product, source, observed_at, "
                               "detail) VALUES (:e, :st, :p, 'console', :at, :d)"),
                          {"e": endpoint_id, "st": ("unprotected", "degraded", "protected")[n % 3 // 1 % 3],
                           "p": hostile(n + 4), "at": observed_at, "d": hostile(n + 5)})
        # issue 15's management columns on evidence: some newer than the protection_management fact, some older
        for n, row_id in enumerate(s.execute(text("SELECT id FROM protection_evidence ORDER BY id")).scalars().all()[::4]):
            s.execute(text("UPDATE protection_evidence SET centrally_managed = :m, reports_to_national_platform = :r, "
                           "observed_at = datetime(observed_at, :shift) WHERE id = :id"),
                      {"m": (None, 0, 1)[n % 3], "r": (1, None, 0)[n % 3], "shift": f"{(n % 5) - 2} days",
                       "id": row_id})
        # and some at exactly the time of the endpoint's protection_management fact (that fact wins a tie)
        s.execute(text("UPDATE OR IGNORE protection_evidence SET observed_at = (SELECT MAX(pm.observed_at) FROM "
                       "protection_management pm WHERE pm.endpoint_id = protection_evidence.endpoint_id) "
                       "WHERE id % 7 = 0 AND centrally_managed IS NOT NULL AND endpoint_id IN "
                       "(SELECT endpoint_id FROM protection_management)"))


def add_audits(app_state) -> None:  # type: ignore[no-untyped-def]
    """Audited hosts (two audits of some, newest counts; one without an endpoint) with hostile labels."""
    db = app_state.db()
    runs = [start_run(db, "audit", as_of=AS_OF - dt.timedelta(days=d)) for d in (3, 1)]
    with db.session() as s:
        endpoints = s.execute(select(EndpointRow.id, EndpointRow.code).order_by(EndpointRow.id)).all()[::97]
        for n, (endpoint_id, code) in enumerate([*endpoints, (None, None)]):
            for k, run_id in enumerate(runs[: 1 + n % 2]):
                at = AS_OF - dt.timedelta(days=3 - 2 * k, hours=n % 5)
                host = AuditHostRow(run_id=run_id, endpoint_id=endpoint_id, endpoint_code=code, label=hostile(n + k),
                                    address=f"127.0.9.{n % 250}", transport="ssh", status="ok",
                                    protection=("protected", "unprotected")[(n + k) % 2], product=hostile(n + 3),
                                    started_at=at, finished_at=at, policies=[])
                host.checks = [CheckResultRow(policy_id="p", check_id=str(i), title=hostile(n + i),
                                              result=("passed", "failed")[(n + i + k) % 2], severity="high",
                                              serves=[], reason=hostile(i)) for i in range(3)]
                s.add(host)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_same_report(app_state, tmp_path: Path, run_id: int, name: str, *, lang: str = "en",  # type: ignore[no-untyped-def]
                       agency: str | None = None, formats: tuple[str, ...] = ("html", "json", "csv")) -> None:
    db, cfg = app_state.db(), app_state.settings
    new, written = publish(db, cfg, tmp_path / f"{name}-new", run_id=run_id, lang=lang, agency_code=agency,
                           formats=formats)
    old = reference_dashboard(db, cfg, run_id, lang, agency)
    old.generated_at = new.generated_at  # the one field that differs between two runs
    reference_publish(db, cfg, tmp_path / f"{name}-old", old, agency, formats)
    assert new.model_dump() == old.model_dump()
    new_files, old_files = files_of(tmp_path / f"{name}-new"), files_of(tmp_path / f"{name}-old")
    assert sorted(new_files) == sorted(old_files) == sorted(written)
    for path, content in old_files.items():
        assert new_files[path] == content, path


def test_fast_report_is_byte_identical_on_a_hostile_province(app_state, tmp_path):
    load_sample(app_state.db(), AS_OF, endpoints=2500)
    make_hostile(app_state)
    add_audits(app_state)
    run_id = run_grade(app_state, AS_OF)
    assert_same_report(app_state, tmp_path, run_id, "en")
    out = tmp_path / "en-new"
    csv_text = (out / "fix.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in csv_text and "'+1+1" in csv_text and "'@SUM" in csv_text  # neutralised, as before
    assert "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    items = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["fix"]
    assert any("\u202e" in i["label"] for i in items) and any("\n" in i["agency_name"] for i in items)
    assert any(p.parent.name == "hosts" for p in out.rglob("*.html"))  # audit pages written and compared
    assert len(items) == sum(json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["fix_counts"].values())


def test_fast_report_same_in_scope_language_and_format_subsets(app_state, tmp_path):
    load_sample(app_state.db(), AS_OF, endpoints=1200)
    make_hostile(app_state)
    run_id = run_grade(app_state, AS_OF)
    with app_state.db().session() as s:
        unit = s.execute(text("SELECT code FROM agencies WHERE parent_id IS NOT NULL ORDER BY code")).scalars().first()
    assert_same_report(app_state, tmp_path, run_id, "scoped", lang="vi", agency=unit)
    assert_same_report(app_state, tmp_path, run_id, "json", formats=("json",))
    assert_same_report(app_state, tmp_path, run_id, "csv", formats=("csv", "html"))


text_values = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(HOSTILE)
detail_values = st.none() | text_values | st.integers(-10**20, 10**20) | st.booleans() | st.lists(text_values, max_size=3)
odd_values = st.floats(allow_nan=False) | st.dictionaries(text_values, text_values, max_size=2) | st.lists(st.integers())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(text_values, min_size=8, max_size=8),
       st.dictionaries(text_values, detail_values | odd_values, max_size=4), st.booleans())
def test_fast_item_serialisers_equal_pydantic_and_safe_cells(texts, detail, first):
    target_id, entity, *fields = texts
    item = FixItem(target_id=target_id, entity=entity, agency_code=fields[0], agency_name=fields[1], code=fields[2],
                   label=fields[3], status=fields[4], reason=fields[5], detail=detail)
    row = (*fields, detail)
    assert fix_json_item(target_id, entity, row, first) == _json_item(item, first)  # type: ignore[arg-type]
    assert fix_csv_row(target_id, entity, row) == _fix_row(item)  # type: ignore[arg-type]


def test_fast_report_is_byte_identical_on_postgresql(tmp_path):
    server = PostgresServer()  # a throwaway server on loopback
    try:
        state = AppState(Settings(db=server.start(), output=tmp_path / "reports"))
        load_sample(state.db(), AS_OF, endpoints=800)
        add_audits(state)
        run_id = run_grade(state, AS_OF)
        assert_same_report(state, tmp_path, run_id, "pg")
    finally:
        server.stop()


# Endpoint rows as the drivers give them (report/fixlist.py endpoint_fix_rows): the fast texts of
# export.EndpointTexts against the fields tuple (SQLAlchemy's own processors, protection_from) written
# by fix_json_item and csv.writer over fix_csv_row's cells.
AS_OF_NAIVE = AS_OF.replace(tzinfo=None)
WEEK = dt.timedelta(days=7)
moments = st.datetimes(min_value=AS_OF_NAIVE - dt.timedelta(days=60), max_value=AS_OF_NAIVE) | st.sampled_from(
    [AS_OF_NAIVE - WEEK, AS_OF_NAIVE - WEEK - dt.timedelta(microseconds=1), AS_OF_NAIVE - WEEK + dt.timedelta(seconds=1),
     AS_OF_NAIVE, AS_OF_NAIVE - dt.timedelta(days=8, microseconds=999999)])  # at and around the max age
# Mostly text the fast path takes (quotes, commas, newlines, formula starts, non-BMP...), sometimes
# what it leaves to the writers (CR, NUL, a number where text is expected).
plain_texts = st.text(st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=8) | st.sampled_from(
    [s for s in HOSTILE if "\r" not in s]) | st.text(st.sampled_from([",", '"', "\n", "'", "=", "-", "+", "@", "\t", " ",
                                                                       "\\", "é", "\u202e", "🛡"]), max_size=6)


def mostly(common, rare, in_ten=8):  # type: ignore[no-untyped-def]
    """`common` in_ten times out of ten, else `rare` (st.one_of dedupes repeated strategies)."""
    return st.integers(0, 9).flatmap(lambda k: common if k < in_ten else rare)


csv_texts = mostly(plain_texts, text_values)
ip_lists = st.lists(csv_texts | st.sampled_from(["127.0.0.1", "::1", "fe80::1%eth0"]), max_size=3)


def _stored(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="microseconds")  # SQLAlchemy's SQLite DATETIME text


def _hand_made(items: list[str]) -> str:
    """A list written by another hand: raw (not escaped) text, control characters in it make it invalid JSON."""
    return "[" + ", ".join('"' + x + '"' for x in items if '"' not in x and "\\" not in x) + "]"


def _ips_text(draw):  # type: ignore[no-untyped-def]
    """ips as JSON text, as SQLite stores it and PostgreSQL's json column casts it to text."""
    ips = draw(ip_lists)
    return draw(mostly(st.just(json.dumps), st.sampled_from([lambda v: json.dumps(v, ensure_ascii=False),
                lambda v: json.dumps(v, separators=(",", ":")), lambda v: json.dumps(None), _hand_made]), 6))(ips)


@st.composite
def sqlite_rows(draw):  # type: ignore[no-untyped-def]
    ips_text = _ips_text(draw)
    seen = draw(st.none() | moments)
    seen_text = None if seen is None else draw(st.sampled_from([_stored, str, lambda m: m.isoformat(),
                                                                lambda m: _stored(m)[:19]]))(seen)
    return _endpoint_row(draw, ips_text, seen_text)


@st.composite
def pg_rows(draw):  # type: ignore[no-untyped-def]
    ips = _ips_text(draw) if draw(st.booleans()) else json.dumps(draw(st.lists(st.integers(), max_size=2) | st.none()))
    return _endpoint_row(draw, ips, draw(st.none() | moments))


def _endpoint_row(draw, ips, seen):  # type: ignore[no-untyped-def]
    text_or_odd = mostly(csv_texts, st.none() | st.integers(), 9)
    status = draw(st.sampled_from(["protected", "unprotected", "degraded", "unknown", None]) | csv_texts)
    return (draw(csv_texts), draw(text_or_odd), ips,
            draw(st.sampled_from(["unprotected", "degraded", "unknown"]) | csv_texts), status,
            draw(csv_texts | st.none()), draw(csv_texts | st.none()), seen, draw(csv_texts | st.none()),
            draw(st.sampled_from(["A1", "=A2"]) | csv_texts), draw(st.sampled_from(["Ủy ban, tỉnh", "-x"]) | csv_texts))


def _reference_texts(raw, target_id, row):  # type: ignore[no-untyped-def]
    try:
        fields = raw.fields(row)
    except (TypeError, ValueError):
        return None  # the old path fails on this row too: the fast path must not take it
    return fix_json_item(target_id, "endpoints", fields, True), _csv_line(fix_csv_row(target_id, "endpoints", fields))


def _check_endpoint_texts(dialect, rows, target_id, max_age):  # type: ignore[no-untyped-def]
    raw = EndpointFixRows.of_driver(rows, dialect, AS_OF, max_age)
    texts = EndpointTexts(target_id, raw)
    for row in rows:
        fast = texts.of(row)
        if fast is not None:
            assert fast == _reference_texts(raw, target_id, row)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sqlite_rows(), min_size=1, max_size=4), st.sampled_from(["T2", "=T", "a,b"]),
       st.sampled_from([7, None, 0]))
def test_endpoint_texts_equal_the_fields_writers_on_sqlite_values(rows, target_id, max_age):
    _check_endpoint_texts(sqlite_dialect(), rows, target_id, max_age)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pg_rows(), min_size=1, max_size=4), st.sampled_from(["T2", "-T"]), st.sampled_from([7, None]))
def test_endpoint_texts_equal_the_fields_writers_on_postgresql_values(rows, target_id, max_age):
    _check_endpoint_texts(psycopg_dialect(), rows, target_id, max_age)


def _ips_not_decoded(value):  # type: ignore[no-untyped-def]
    raise AssertionError(f"ips decoded: {value!r}")  # not caught by EndpointTexts.of


@pytest.mark.parametrize("dialect", [sqlite_dialect(), psycopg_dialect()], ids=["sqlite", "postgresql"])
def test_endpoint_texts_take_the_sample_rows(dialect):  # type: ignore[no-untyped-def]
    """The fast path is the one taken on ordinary rows (not a fallback every time), also on ips
    whose items hold the separator: ips are written from their JSON text, never decoded (on
    PostgreSQL too, where the query casts them to text: issue 12)."""
    raw = EndpointFixRows.of_driver([], dialect, AS_OF, 7)
    plain = EndpointTexts("T2", dataclasses.replace(raw, ips=_ips_not_decoded))
    escaped = EndpointTexts("T2", raw)  # an escape in an item: decoded, still the fast path
    seen = _stored if dialect.name == "sqlite" else (lambda naive: naive)  # psycopg: naive UTC datetimes
    rows = [("EP1", "pc-1", '["127.0.0.1", "::1"]', "unknown", "protected", "ESET", "sample",
             seen(AS_OF_NAIVE - dt.timedelta(days=9)), None, "X1", "Xã, Phong", plain),
            ("EP2", "pc-2", "[]", "unprotected", "unprotected", None, "sample", seen(AS_OF_NAIVE), "off", "X1",
             "Xã, Phong", plain),
            ("EP3", "pc-3", '["127.0.0.3"]', "unknown", None, None, None, None, None, "X2", "=Xã", plain),
            ("EP4", "pc-4", '[", ", "a", "", "\\u00e9", "\u00e9"]', "unknown", None, None, None, None, None, "X2",
             "=Xã", escaped),
            ("EP5", "pc-5", '[", "]', "unknown", None, None, None, None, None, "X2", "=Xã", plain)]
    for *row, texts in rows:
        fast = texts.of(tuple(row))
        assert fast is not None and fast == _reference_texts(raw, "T2", tuple(row))
