"""Console exports (issue 15): each profile's fixture imported end to end into a real database.

The fixtures (tests/fixtures/evidence/, written by make_fixtures.py) mirror the consoles' real
formats. Expected statuses are worked by hand from the profile rules: a row's status is the worst
that any of its fields says (unprotected > degraded > unknown > protected); signatures older than
7 days are degraded; evidence older than T2's 7 days counts as stale. The export time is
2026-11-20 09:00 +07:00 (02:00 UTC); grading is as of 2026-11-20 12:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.grade.record import grade_store
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow
from secops.targets import load_targets

FIX = Path(__file__).parent / "fixtures" / "evidence"
POLICIES = Path(__file__).resolve().parent.parent / "policies"
EXPORTED = "2026-11-20T09:00:00+07:00"
AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
P, D, U, K = "protected", "degraded", "unprotected", "unknown"

# fixture, profile auto must choose, extra options, endpoint -> status, per-status line, T2 numerator (of 9)
CASES = [
    ("ksc_devices.txt", "kaspersky_ksc_devices", [],
     {"ws-01": P, "ws-02": D, "ws-03": U, "ws-04": D, "ws-05": D, "ws-06": K, "ws-07": P, "ws-08": P},
     "per status: protected 4, degraded 3, unprotected 1, unknown 1",
     "per reason: matched 8, unmatched 1, conflicting 0, stale 1", 2),
    ("ksc_report.xlsx", "kaspersky_ksc_report", [], {"ws-01": P, "ws-02": D, "ws-03": U, "ws-04": P},
     "per status: protected 2, degraded 1, unprotected 1, unknown 0",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 0", 2),
    ("ksc_report.xml", "kaspersky_ksc_report", [], {"ws-01": P, "ws-02": D, "ws-03": U, "ws-04": P},
     "per status: protected 2, degraded 1, unprotected 1, unknown 0",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 0", 2),
    ("defender_ps51.csv", "microsoft_defender_mpcomputerstatus", ["--date-order", "mdy"],
     {"ws-01": P, "ws-02": D, "ws-03": D, "ws-04": D}, "per status: protected 1, degraded 3, unprotected 0, unknown 0",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 0", 1),
    ("defender_ps7.csv", "microsoft_defender_mpcomputerstatus", ["--date-order", "dmy"],
     {"ws-01": P, "ws-02": D, "ws-03": D, "ws-04": D}, "per status: protected 1, degraded 3, unprotected 0, unknown 0",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 0", 1),
    ("intune_antivirus.csv", "microsoft_intune_antivirus", [], {"ws-01": P, "ws-02": D, "ws-03": D, "ws-04": D},
     "per status: protected 1, degraded 3, unprotected 0, unknown 0",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 0", 1),
    ("mde_devices.csv", "microsoft_defender_endpoint_devices", [], {"ws-01": P, "ws-02": D, "ws-03": D, "ws-04": D},
     "per status: protected 1, degraded 3, unprotected 0, unknown 0",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 1", 1),
    ("eset_computers.csv", "eset_protect_computers", [], {"ws-01": P, "ws-02": D, "ws-03": D},
     "per status: protected 1, degraded 2, unprotected 0, unknown 0",
     "per reason: matched 3, unmatched 0, conflicting 0, stale 0", 1),
    ("bkav_vi.csv", "user_mapped", [], {"ws-01": P, "ws-02": D, "ws-03": U, "ws-04": K},
     "per status: protected 1, degraded 1, unprotected 1, unknown 1",
     "per reason: matched 4, unmatched 0, conflicting 0, stale 1", 1),
]


def inventory(db: Database) -> None:
    with db.session() as s:
        prov = AgencyRow(code="PROV", name="Tỉnh", kind="province")
        s.add(prov)
        s.flush()
        for i in range(1, 10):
            s.add(EndpointRow(code=f"ws-0{i}", hostname=f"ws-0{i}.so-tttt.local", ips=[f"127.0.5.{i}"],
                              os_family="windows", role="workstation", agency_id=prov.id))


def statuses(db: Database) -> dict[str, str]:
    with db.session() as s:
        rows = s.execute(select(EndpointRow.code, EvidenceRow.status).join(EndpointRow,
                                                                            EvidenceRow.endpoint_id == EndpointRow.id))
        return dict(rows.all())


def t2(db: Database) -> tuple[int, int]:
    cell = next(c for c in grade_store(db, load_targets(POLICIES), AS_OF)
                if c.target_id == "T2" and c.agency_code == "PROV")
    return cell.numerator, cell.denominator


@pytest.mark.parametrize("name,profile,extra,expected,per_status,per_reason,numerator", CASES,
                         ids=[c[0] for c in CASES])
def test_fixture_imports_with_auto_profile(db: Database, db_path: Path, cli, name: str, profile: str,
                                           extra: list[str], expected: dict[str, str], per_status: str,
                                           per_reason: str, numerator: int) -> None:
    inventory(db)
    done = cli("evidence", "import", str(FIX / name), "--profile", "auto", "--exported-at", EXPORTED, *extra,
               "--no-regrade", db=db_path)
    assert done.returncode == 0, done.stderr
    assert f"profile {profile} (" in done.stdout and "recognised by its headers" in done.stdout
    assert "resolved against the export time (--exported-at) 2026-11-20T09:00:00+07:00" in done.stdout
    assert per_status in done.stdout and per_reason in done.stdout
    assert statuses(db) == expected
    assert t2(db) == (numerator, 9)
    again = cli("evidence", "import", str(FIX / name), "--profile", profile, "--exported-at", EXPORTED, *extra,
                "--no-regrade", db=db_path)
    assert again.returncode == 0 and f"{len(expected)} already present" in again.stdout, again.stdout


def test_ksc_rows_keep_console_words_and_management(db: Database, db_path: Path, cli) -> None:
    inventory(db)
    done = cli("evidence", "import", str(FIX / "ksc_devices.txt"), "--exported-at", EXPORTED, db=db_path)
    assert done.returncode == 0, done.stderr
    assert "UTF-16 LE with BOM, tab-separated" in done.stdout
    assert "unmatched " in done.stderr and "UNKNOWN-PC" in done.stderr
    with db.session() as s:
        rows = {s.get(EndpointRow, e.endpoint_id).code: e for e in s.scalars(select(EvidenceRow))}
    ws01, ws02, ws07 = rows["ws-01"], rows["ws-02"], rows["ws-07"]
    assert (ws01.console_status, ws01.centrally_managed, ws01.product) == ("OK", True, "Kaspersky Endpoint Security")
    assert ws01.reports_to_national_platform is None
    # "5 minutes ago" against the export time 02:00 UTC; KSC's local dates are UTC+7.
    assert ws01.observed_at == dt.datetime(2026, 11, 20, 1, 55, tzinfo=dt.UTC)
    assert ws02.observed_at == dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
    assert ws02.console_status == "Critical" and "realtime=Stopped" in ws02.detail
    assert "signatures 16 day(s) old" in rows["ws-04"].detail
    assert ws07.observed_at == dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC)
    defender = cli("evidence", "import", str(FIX / "defender_ps51.csv"), "--date-order", "mdy", "--exported-at",
                   EXPORTED, "--no-regrade", db=db_path)
    assert defender.returncode == 0, defender.stderr
    with db.session() as s:
        row = s.scalars(select(EvidenceRow).where(EvidenceRow.product == "Microsoft Defender Antivirus")).first()
        assert row is not None and row.centrally_managed is False


def test_ambiguous_day_month_is_refused_not_guessed(db: Database, db_path: Path, cli) -> None:
    inventory(db)
    path = FIX / "defender_ps7.csv"
    done = cli("evidence", "import", str(path), "--exported-at", EXPORTED, db=db_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"{path}:4: signatures_updated: ambiguous date '08/11/2026 9:00:00 SA' (11 Aug 2026 or 08 Nov 2026): "
            "day/month order unknown; pass --date-order dmy or --date-order mdy") in done.stderr
    assert statuses(db) == {}


def test_import_time_is_stated_without_exported_at(db: Database, db_path: Path, cli) -> None:
    inventory(db)
    done = cli("evidence", "import", str(FIX / "ksc_devices.txt"), "--no-regrade", db=db_path)
    assert done.returncode == 0, done.stderr
    assert "resolved against the import time 20" in done.stdout


def test_named_profile_that_does_not_fit_says_which_columns(db: Database, db_path: Path, cli) -> None:
    done = cli("evidence", "import", str(FIX / "intune_antivirus.csv"), "--profile", "kaspersky_ksc_devices",
               db=db_path)
    assert done.returncode == 2
    assert "missing column(s): hostname, realtime (profile kaspersky_ksc_devices" in done.stderr
    wrong_kind = cli("evidence", "import", str(FIX / "ksc_report.xlsx"), "--profile", "kaspersky_ksc_devices",
                     db=db_path)
    assert wrong_kind.returncode == 2 and "profile kaspersky_ksc_devices reads text, this file is xlsx" in \
        wrong_kind.stderr


def test_profile_new_proposes_a_mapping_the_import_accepts(db: Database, db_path: Path, cli, tmp_path: Path) -> None:
    inventory(db)
    sample = tmp_path / "cyradar.csv"
    sample.write_text("Hostname,Địa chỉ IP,Tình trạng,Lần kết nối cuối,Phiên bản\n"
                      "WS-01,127.0.5.1,An toàn,2026-11-20 08:00:00,5.1\n"
                      "WS-02,127.0.5.2,Cần quét lại,2026-11-20 08:00:00,5.1\n", encoding="utf-8")
    done = cli("evidence", "profile", "new", str(sample), db=db_path)
    assert done.returncode == 0, done.stderr
    proposal = tmp_path / "cyradar.profile.yaml"
    text = proposal.read_text(encoding="utf-8")
    assert "columns:\n    - Tình trạng" in text and "an toàn: protected" in text and "cần quét lại: unknown" in text
    assert "status word 'cần quét lại' proposed as unknown (CONFIRM)" in done.stdout
    assert "columns not used: Phiên bản" in done.stdout
    again = cli("evidence", "profile", "new", str(sample), db=db_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    imported = cli("evidence", "import", str(sample), "--profile", str(proposal), "--no-regrade", db=db_path)
    assert imported.returncode == 0, imported.stderr
    assert "DRAFT profile" in imported.stdout
    assert statuses(db) == {"ws-01": P, "ws-02": K}
    listed = cli("evidence", "profile", "list", db=db_path)
    assert "eset_protect_computers [draft]" in listed.stdout and "kaspersky_ksc_devices" in listed.stdout
