"""Bulk writes: the sample loader and imports give the same rows as the row-by-row writer did."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select

from secops.sample.load import load_sample
from secops.sample.province import generate
from secops.store.tables import EndpointRow, EvidenceRow, StaffRow, SystemRow

AS_OF = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def test_streamed_sample_is_the_same_province():
    # Digest of generate(AS_OF, endpoints=300) as the whole-province generator (before streaming) made it.
    sample = generate(AS_OF, endpoints=300)
    rows = [x.model_dump(mode="json") for x in sample.agencies + sample.systems + sample.endpoints + sample.staff]
    # The system type fields came later, drawn from a generator of their own: everything else is as it was.
    added = [(r.pop("system_type", None), r.pop("national_security_list", None)) for r in rows]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    assert digest == "e854c33704ae6b16b4a9eb6e4e59e83112a8c4474f6bdd0f333882762d4d9063"
    assert any(kind for kind, _ in added)


def test_bulk_loaded_sample_matches_models_and_reload_is_idempotent(db, monkeypatch):
    monkeypatch.setattr("secops.sample.province.ENDPOINT_CHUNK", 700)  # several chunks, one transaction
    monkeypatch.setattr("secops.inventory.upsert.BATCH", 333)
    first = load_sample(db, AS_OF, endpoints=2000)
    assert first["endpoints"].inserted == 2000
    sample = generate(AS_OF, endpoints=2000)
    with db.session() as s:
        stored = {r.code: r for r in s.scalars(select(EndpointRow))}
        assert {e.code for e in sample.endpoints} == set(stored)
        for e in sample.endpoints[::97]:
            row = stored[e.code]
            assert (row.hostname, row.ips, row.mac, row.os_family) == (e.hostname, e.ips, e.mac, e.os_family.value)
        evidence = {(r.endpoint_id, r.status, r.observed_at) for r in s.scalars(select(EvidenceRow))}
        expected = {(stored[e.code].id, e.protection.status.value, e.protection.observed_at)
                    for e in sample.endpoints if e.protection}
        assert evidence == expected
        assert s.scalar(select(func.count()).select_from(StaffRow)) == len(sample.staff)
        assert s.scalar(select(func.count()).select_from(SystemRow)) == len(sample.systems)
    again = load_sample(db, AS_OF, endpoints=2000)
    assert all(t.inserted == 0 and t.updated == 0 for t in again.values())


def test_failure_mid_load_writes_nothing(db, monkeypatch):
    import secops.sample.province as sample_module

    monkeypatch.setattr(sample_module, "ENDPOINT_CHUNK", 500)
    real = sample_module._endpoint
    calls = {"n": 0}

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1200:  # after two chunks were written
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(sample_module, "_endpoint", failing)
    with pytest.raises(RuntimeError):
        load_sample(db, AS_OF, endpoints=2000)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(EndpointRow)) == 0
        assert s.scalar(select(func.count()).select_from(SystemRow)) == 0
