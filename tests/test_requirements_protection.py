"""2026 protection facts per endpoint (centrally managed, reports to the national platform):
import all-or-nothing, blank = unknown, and the shares per agency beside T2, worked by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from conftest import run_cli

from secops.requirements.tables import ProtectionManagementRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, SystemRow


def _inventory(db: Database) -> None:
    with db.session() as s:
        prov = AgencyRow(code="P", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        d1 = AgencyRow(code="D1", name="Sở Một", kind="department", parent_id=prov.id)
        d2 = AgencyRow(code="D2", name="Sở Hai", kind="department", parent_id=prov.id)
        s.add_all([d1, d2])
        s.flush()
        s.add(SystemRow(code="HT-1", name="Hệ thống", agency_id=d1.id, level=1, state="level_approved"))
        for code, agency in (("E1", d1), ("E2", d1), ("E3", d2)):
            s.add(EndpointRow(code=code, hostname=code.lower(), ips=[], os_family="windows", role="workstation",
                              agency_id=agency.id))


def test_import_and_shares_beside_t2(db: Database, db_path: Path, tmp_path: Path):
    _inventory(db)
    bad = tmp_path / "console.csv"
    bad.write_text("endpoint,centrally_managed,reports_national,console,observed_at\n"
                   "E1,yes,yes,BKAV,2026-11-28\n"
                   "E9,yes,,BKAV,2026-11-28\n"
                   "E2,maybe,,BKAV,2026-11-28\n"
                   "E3,no,no,BKAV,\n", encoding="utf-8")
    done = run_cli("requirements", "protection-import", str(bad), db=db_path)
    assert done.returncode == 2
    assert f"{bad}:3: endpoint: no endpoint 'E9'" in done.stderr
    assert f"{bad}:4: centrally_managed: use yes / no" in done.stderr
    assert f"{bad}:5: observed_at:" in done.stderr
    with db.session() as s:
        assert s.query(ProtectionManagementRow).count() == 0
    good = tmp_path / "console.yaml"
    good.write_text("- {endpoint: E1, centrally_managed: yes, reports_national: có, console: BKAV,"
                    " observed_at: 2026-11-28}\n"
                    "- {endpoint: E2, centrally_managed: 'no', reports_national: '', observed_at: 2026-11-28}\n",
                    encoding="utf-8")
    done = run_cli("requirements", "protection-import", str(good), db=db_path)
    assert done.returncode == 0 and "2 endpoint fact(s) imported" in done.stdout, done.stderr
    # Issue 15's console import keeps the same facts on protection_evidence: the newer observation wins.
    with db.session() as s:
        ids = {e.code: e.id for e in s.query(EndpointRow)}
        s.add(EvidenceRow(endpoint_id=ids["E3"], status="protected", product="BKAV", source="console",
                          observed_at=dt.datetime(2026, 11, 29, tzinfo=dt.UTC), centrally_managed=True,
                          reports_to_national_platform=None))
        s.add(EvidenceRow(endpoint_id=ids["E2"], status="protected", product="BKAV", source="console",
                          observed_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC), centrally_managed=True,
                          reports_to_national_platform=True))  # older than the 28 Nov import: ignored
    assert run_cli("grade", "--as-of", "2026-11-30", db=db_path).returncode in (0, 1)
    out = tmp_path / "out"
    assert run_cli("report", "--format", "json", "--out", str(out), db=db_path).returncode == 0
    rows = json.loads((out / "dashboard.json").read_text())["sections"]["requirements"]["protection_2026"]
    by_code = {r["code"]: r for r in rows}
    # By hand: D1 has E1 (managed, national) and E2 (not managed, national unknown: the import of
    # 28 Nov is newer than the console row of 27 Nov); D2 has E3 (managed per the console, national unknown).
    keys = ("endpoints", "managed", "managed_known", "national", "national_known")
    assert {k: by_code["D1"][k] for k in keys} == {"endpoints": 2, "managed": 1, "managed_known": 2, "national": 1,
                                                    "national_known": 1}
    assert {k: by_code["D2"][k] for k in keys} == {"endpoints": 1, "managed": 1, "managed_known": 1, "national": 0,
                                                    "national_known": 0}
    assert {k: by_code["P"][k] for k in keys} == {"endpoints": 3, "managed": 2, "managed_known": 3, "national": 1,
                                                   "national_known": 1}
    assert rows[0]["code"] == "P" and "t2" in rows[0]
