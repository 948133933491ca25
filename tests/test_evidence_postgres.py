"""A console export imported into a real PostgreSQL server: same statuses and T2 as on SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from secops.evidence.importer import ImportOptions, import_evidence
from secops.store.db import Database
from secops.store.tables import EndpointRow, EvidenceRow
from tests.pg_server import PostgresServer
from tests.test_evidence_profiles import FIX, POLICIES, inventory, statuses, t2


@pytest.fixture(scope="module")
def pg_url():
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


def test_ksc_device_list_into_postgres(pg_url: str) -> None:
    pg = Database(pg_url)
    try:
        inventory(pg)
        exported = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
        options = ImportOptions(exported_at=exported, max_age_days=7)
        result = import_evidence(pg, FIX / "ksc_devices.txt", None, POLICIES, options=options)
        assert (result.profile, result.imported, result.unmatched_count, result.stale) == \
            ("kaspersky_ksc_devices", 8, 1, 1)
        assert statuses(pg) == {"ws-01": "protected", "ws-02": "degraded", "ws-03": "unprotected",
                                "ws-04": "degraded", "ws-05": "degraded", "ws-06": "unknown", "ws-07": "protected",
                                "ws-08": "protected"}
        assert t2(pg) == (2, 9)
        with pg.session() as s:
            row = s.scalars(select(EvidenceRow).join(EndpointRow, EvidenceRow.endpoint_id == EndpointRow.id)
                            .where(EndpointRow.code == "ws-02")).one()
            assert (row.console_status, row.centrally_managed) == ("Critical", True)
        again = import_evidence(pg, FIX / "ksc_devices.txt", None, POLICIES, options=options)
        assert (again.imported, again.duplicates) == (0, 8)
    finally:
        pg.dispose()
