"""Console status as checklist evidence: a protection console's export, imported with
`secops evidence import`, makes "anti-malware installed and kept" (TCVN 14423:2026 x.10.2.1 a)) met
when every host of the system is protected, partly met when some are, as of the export's time."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from secops.requirements.tables import SystemHostRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, SystemRow

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "audit" / "console_export.csv"


def _province(db: Database) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        eps = [EndpointRow(code=f"ws-0{i}", hostname=f"ws-0{i}.lab", ips=[f"127.0.4.2{i}"], os_family="windows",
                           role="workstation", agency_id=prov.id) for i in (1, 2, 3)]
        good = SystemRow(code="HT-GOOD", name="Một máy", agency_id=prov.id, level=1, state="level_approved")
        mixed = SystemRow(code="HT-MIXED", name="Ba máy", agency_id=prov.id, level=2, state="level_approved")
        s.add_all([*eps, good, mixed])
        s.flush()
        s.add(SystemHostRow(system_id=good.id, endpoint_id=eps[0].id, linked_at=dt.datetime(2026, 11, 1)))
        s.add_all([SystemHostRow(system_id=mixed.id, endpoint_id=e.id, linked_at=dt.datetime(2026, 11, 1))
                   for e in eps])


def _item(cli, db_path: Path, system: str, as_of: str) -> dict:
    done = cli("requirements", "show", system, "--json", "--as-of", as_of, db=db_path)
    assert done.returncode == 0, done.stderr
    return next(i for i in json.loads(done.stdout)["items"] if i["item"] == "R26-MALWARE-INSTALLED")


def test_console_export_is_evidence_for_the_anti_malware_item(db: Database, db_path: Path, cli) -> None:
    _province(db)
    before = _item(cli, db_path, "HT-GOOD", "2026-11-25")
    assert (before["status"], before["detail"]) == ("not_met", "no evidence")
    done = cli("evidence", "import", str(FIXTURE), "--source", "Kaspersky Security Center", db=db_path)
    assert done.returncode == 0, done.stderr
    good = _item(cli, db_path, "HT-GOOD", "2026-11-25")
    assert (good["status"], good["source"], good["clause"]) == ("met", "secops", "3.10.2.1 a)")
    assert good["detail"] == "1/1 hosts protected"
    mixed = _item(cli, db_path, "HT-MIXED", "2026-11-25")
    assert (mixed["status"], mixed["clause"], mixed["detail"]) == ("partly_met", "4.10.2.1 a)", "1/3 hosts protected")
    # The export is dated 19-20/11/2026: a week before it, nothing was known.
    assert _item(cli, db_path, "HT-GOOD", "2026-11-12")["status"] == "not_met"
    # Without a fresh export the evidence ages out (the catalogue's 31 days for undated items).
    assert _item(cli, db_path, "HT-GOOD", "2027-01-15")["status"] == "overdue"
