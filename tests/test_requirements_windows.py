"""Windows requirement evidence over SMB: checks/level_requirements_windows.yml against a real Samba
remote registry (tests/samba_server.py), through `secops audit` with an `smb` scope, moving a
Windows system's checklist items the way the Linux pack moves a Linux system's.

The lab's registry first holds the settings TCVN 14423:2026 asks for (Defender on, 900 s lock,
automatic updates, NTP, a 196 608 KB Security log, RDP NLA, SMBv1 off): every check passes and the
items of system HT-WIN (level 3, one Windows desktop) are met by secops. Then the same values are
set to what they must not be: every check fails and the same items are not met, by the newer run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from samba_server import SambaServer
from sqlalchemy import select

from secops.collect.tables import AuditHostRow
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, SystemRow

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "checks" / "level_requirements_windows.yml"
PASSWORD_ENV = "SECOPS_TEST_SMB_PASSWORD"
CHECKS = [str(n) for n in range(9900, 9907)]
ITEMS = ["R26-MALWARE-REALTIME", "R26-CONFIG-SESSION-LOCK", "R26-VULN-PATCH-USER", "R26-LOG-TIMESYNC",
         "R26-LOG-RETENTION", "R26-CONFIG-BASELINE"]

pytestmark = pytest.mark.timeout(300)


def _reg(defender: tuple[int, int], idle: int, au: tuple[int, int], time_type: str, log_kb: int, nla: int,
         smb1: int) -> str:
    return f"""Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\WinDefend]
"Start"=dword:{defender[0]:08x}

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Defender\\Real-Time Protection]
"DisableRealtimeMonitoring"=dword:{defender[1]:08x}

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System]
"InactivityTimeoutSecs"=dword:{idle:08x}

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU]
"NoAutoUpdate"=dword:{au[0]:08x}
"AUOptions"=dword:{au[1]:08x}

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\W32Time\\Parameters]
"Type"="{time_type}"

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\W32Time]
"Start"=dword:00000003

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows\\EventLog\\Security]
"MaxSize"=dword:{log_kb:08x}

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp]
"UserAuthentication"=dword:{nla:08x}

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters]
"SMB1"=dword:{smb1:08x}

[HKEY_LOCAL_MACHINE\\SOFTWARE\\SecopsDenied]
"Note"="the lab denies this key to the audit account (samba_server.py)"

"""


GOOD = _reg((2, 0), 900, (0, 4), "NTP", 196608, 1, 0)
BAD = _reg((4, 1), 0, (1, 2), "NoSync", 20480, 0, 1)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    server = SambaServer(registry=GOOD)
    try:
        yield server.start()
    finally:
        server.stop()


def _audit(db_path: Path, work: Path, samba: SambaServer) -> None:
    checks = work / "checks"
    checks.mkdir(exist_ok=True)
    (checks / PACK.name).write_text(PACK.read_text(encoding="utf-8"), encoding="utf-8")
    config = work / "audit.yaml"
    config.write_text(json.dumps({"known_hosts": str(work / "known_hosts"), "scopes": [
        {"name": "win", "agencies": ["LAB"], "transport": "smb", "username": samba.user, "password_env": PASSWORD_ENV,
         "port": samba.port, "connect_timeout": 5, "host_timeout": 60}]}))
    done = run_cli("audit", "--agency", "LAB", "--config", str(config), "--checks", str(checks), "--no-progress",
                   db=db_path, env={PASSWORD_ENV: samba.password})
    assert done.returncode == 0, done.stdout + done.stderr


def _results(db: Database) -> dict[str, str]:
    with db.session() as s:
        host = s.scalars(select(AuditHostRow).order_by(AuditHostRow.id.desc())).first()
        assert host is not None and host.status == "ok", host.message if host else None
        assert host.transport == "smb"
        return {c.check_id: c.result for c in host.checks if c.policy_id == "secops_level_windows"}


def _items(db_path: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    done = run_cli("requirements", "show", "HT-WIN", "--json", db=db_path)
    assert done.returncode == 0, done.stderr
    return {i["item"]: i for i in json.loads(done.stdout)["items"]}


def test_windows_pack_passes_then_fails_and_moves_the_checklist(lab: SambaServer, tmp_path: Path) -> None:
    db_path = tmp_path / "secops.db"
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        agency = AgencyRow(code="LAB", name="Sở Thử nghiệm", kind="department")
        s.add(agency)
        s.flush()
        s.add(EndpointRow(code="win-01", hostname="win-01.lab", ips=[lab.address], os_family="windows",
                          role="workstation", agency_id=agency.id))
        s.add(SystemRow(code="HT-WIN", name="Hệ thống Windows", agency_id=agency.id, level=3,
                        state="level_approved"))
    linked = run_cli("requirements", "link", "HT-WIN", "win-01", db=db_path)
    assert linked.returncode == 0, linked.stderr
    before = _items(db_path)
    assert all(before[item]["status"] != "met" for item in ITEMS)

    _audit(db_path, tmp_path, lab)
    assert _results(db) == {c: "passed" for c in CHECKS}
    good = _items(db_path)
    for item in ITEMS:
        assert (good[item]["status"], good[item]["source"]) == ("met", "secops"), good[item]
        assert good[item]["detail"] == "1/1 hosts passed"

    lab.import_registry(BAD)
    _audit(db_path, tmp_path, lab)
    assert _results(db) == {c: "failed" for c in CHECKS}
    bad = _items(db_path)
    for item in ITEMS:
        assert (bad[item]["status"], bad[item]["source"]) == ("not_met", "secops"), bad[item]
        assert bad[item]["run_id"] != good[item]["run_id"]
    db.dispose()
