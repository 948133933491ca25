"""The smb transport against a real Samba smbd on loopback (tests/samba_server.py).

Registry rules of every form and value type, missing keys and values, a key denied to the audit
account, a wrong password, a stopped remote registry and a stopped server, through the real
impacket client and the real audit code path.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from samba_server import FIXTURE, SambaServer, filetime_hex

from secops.collect.audit import HostAudit, HostTarget, audit_host
from secops.collect.config import AuditConfig, Scope
from secops.collect.hostkeys import HostKeyStore
from secops.collect.registry_evidence import load_registry_evidence
from secops.evaluate.sca_load import load_packs, load_policy

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "tests" / "fixtures" / "smb" / "registry_pack.yml"
EXPECTED = {"1": "passed", "2": "failed", "3": "not_applicable", "4": "error"}
PASSWORD_ENV = "SECOPS_TEST_SMB_PASSWORD"


@pytest.fixture(scope="module")
def samba():
    server = SambaServer()
    try:
        yield server.start()
    finally:
        server.stop()


def _config(samba: SambaServer, **changes: object) -> AuditConfig:
    settings: dict[str, object] = {"name": "lab", "hosts": [samba.address], "transport": "smb",
                                   "username": samba.user, "password_env": PASSWORD_ENV, "port": samba.port,
                                   "connect_timeout": 5, "host_timeout": 60}
    settings.update(changes)
    return AuditConfig(scopes=[Scope.model_validate(settings)])


def _audit(samba: SambaServer, tmp_path: Path, password: str | None = None, **changes: object) -> HostAudit:
    os.environ[PASSWORD_ENV] = samba.password if password is None else password
    try:
        target = HostTarget(label="win-lab", address=samba.address, os_family="unknown")
        return audit_host(target, [load_policy(PACK)], _config(samba, **changes),
                          HostKeyStore(tmp_path / "known_hosts"), {})
    finally:
        del os.environ[PASSWORD_ENV]


def test_every_registry_rule_form(samba: SambaServer, tmp_path: Path) -> None:
    audit = _audit(samba, tmp_path)
    assert audit.status == "ok", audit.message
    assert audit.transport == "smb"
    assert "signed, encrypted" in audit.os_info and audit.round_trips == 1
    (result,) = audit.results
    assert result.applicable
    got = {c.check_id: c.result for c in result.checks}
    wrong = {cid: (got[cid], c.title) for c in result.checks for cid in [c.check_id]
             if got[cid] != EXPECTED[cid[0]]}
    assert not wrong, wrong
    reasons = {c.check_id: c.reason for c in result.checks}
    for cid in ("303", "304", "305"):
        assert "needs a command transport" in reasons[cid]
    assert "own profile" in reasons["306"]
    assert "access denied" in reasons["401"] and "SecopsDenied" in reasons["401"]
    assert "NoSuchValue does not exist" in reasons["302"]


def test_wrong_password_is_a_logon_failure(samba: SambaServer, tmp_path: Path) -> None:
    audit = _audit(samba, tmp_path, password="not-the-password")
    assert (audit.status, audit.error_kind) == ("error", "auth"), audit.message
    assert "logon failure" in audit.message
    assert "not-the-password" not in audit.message and samba.password not in audit.message


def test_missing_password_source_names_the_variable(samba: SambaServer, tmp_path: Path) -> None:
    target = HostTarget(label="win-lab", address=samba.address)
    audit = audit_host(target, [load_policy(PACK)], _config(samba, password_env="SECOPS_TEST_SMB_UNSET"),
                       HostKeyStore(tmp_path / "known_hosts"), {})
    assert audit.error_kind == "no credentials" and "SECOPS_TEST_SMB_UNSET" in audit.message


def test_password_file(samba: SambaServer, tmp_path: Path) -> None:
    secret = tmp_path / "smb.secret"
    secret.write_text(samba.password + "\n", encoding="utf-8")
    target = HostTarget(label="win-lab", address=samba.address)
    audit = audit_host(target, [load_policy(PACK)], _config(samba, password_env=None, password_file=secret),
                       HostKeyStore(tmp_path / "known_hosts"), {})
    assert audit.status == "ok", audit.message


def test_unreachable_port(samba: SambaServer, tmp_path: Path) -> None:
    from audit_helpers import free_port

    audit = _audit(samba, tmp_path, port=free_port([samba.address]))
    assert (audit.status, audit.error_kind) == ("error", "unreachable")


def test_account_without_remote_registry_access(tmp_path: Path) -> None:
    # The account logs in but may not open \PIPE\winreg (on Windows: the winreg key of
    # SecurePipeServers; here: IPC$ restricted to another user).
    server = SambaServer(extra_conf="\n[IPC$]\n  path = /tmp\n  valid users = nobody\n")
    try:
        server.start()
        audit = _audit(server, tmp_path)
    finally:
        server.stop()
    assert (audit.status, audit.error_kind) == ("error", "access denied"), audit.message
    assert "winreg" in audit.message and audit.protection.status == "unknown"


def test_silent_server_is_a_timeout(samba: SambaServer, tmp_path: Path) -> None:
    import socket

    # A listener that completes TCP handshakes (kernel backlog) but never answers a byte.
    with socket.socket() as silent:
        silent.bind((samba.address, 0))
        silent.listen(4)
        audit = _audit(samba, tmp_path, port=silent.getsockname()[1], connect_timeout=1)
    assert (audit.status, audit.error_kind) == ("error", "timeout"), audit.message


def test_stopped_registry_then_stopped_server(tmp_path: Path) -> None:
    # A server of its own: this test stops its services.
    server = SambaServer()
    try:
        server.start()
        server.stop_registry()
        audit = _audit(server, tmp_path)
        assert (audit.status, audit.error_kind) == ("error", "registry unavailable"), audit.message
        assert "Remote Registry" in audit.message
        assert audit.protection.status == "unknown"
        server.stop_smbd()
        audit = _audit(server, tmp_path)
        assert (audit.status, audit.error_kind) == ("error", "unreachable"), audit.message
    finally:
        server.stop()
    assert server._leftovers() == []


def test_smb1_only_server_is_never_spoken_to_in_smb1(tmp_path: Path) -> None:
    server = SambaServer(extra_conf="  server min protocol = NT1\n  server max protocol = NT1\n")
    try:
        server.start()
        # Control: the server does answer an SMB1 client (so the refusal below is the protocol).
        from impacket import smb
        from impacket.smbconnection import SMBConnection
        smb1 = SMBConnection(server.address, server.address, sess_port=server.port, timeout=5,
                             preferredDialect=smb.SMB_DIALECT)
        assert smb1.getDialect() == smb.SMB_DIALECT
        smb1.close()
        audit = _audit(server, tmp_path)
    finally:
        server.stop()
    assert (audit.status, audit.error_kind) == ("error", "unreachable"), audit.message
    assert "SMB2/3" in audit.message


def test_scope_validation() -> None:
    scope = Scope(name="w", transport="smb", username="audit", password_env="X")
    assert scope.port == 445
    assert Scope(name="w", transport="smb", username="audit", password_env="X", port=4450).port == 4450
    with pytest.raises(ValueError, match="ssh settings"):
        Scope(name="w", transport="smb", username="audit", key_files=[Path("/k")])
    with pytest.raises(ValueError, match="domain is an smb setting"):
        Scope(name="w", username="audit", domain="CORP", password_env="X")


# --- endpoint protection over the registry ----------------------------------------------------

def _signatures(days_old: float) -> str:
    when = time.time() - days_old * 86400
    return ("[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates]\n"
            f'"SignaturesLastUpdated"=hex:{filetime_hex(when)}\n'
            f'"AVSignatureApplied"=hex:{filetime_hex(when - 3600)}\n')


def _protection_audit(samba: SambaServer, tmp_path: Path) -> HostAudit:
    os.environ[PASSWORD_ENV] = samba.password
    try:
        target = HostTarget(label="win-lab", address=samba.address)
        return audit_host(target, load_packs(ROOT / "checks"), _config(samba), HostKeyStore(tmp_path / "kh"),
                          {"$signature_max_age_days": "7"}, load_registry_evidence(ROOT / "policies"))
    finally:
        del os.environ[PASSWORD_ENV]


def _rows(audit: HostAudit) -> dict[str, tuple[str, str]]:
    pack = next(r for r in audit.results if r.policy_id == "secops_ep_windows")
    return {c.check_id: (c.result, c.reason) for c in pack.checks}


def test_protection_states_from_the_registry(tmp_path: Path) -> None:
    server = SambaServer(registry=FIXTURE.read_text(encoding="utf-8") + "\n" + _signatures(1))
    try:
        server.start()
        audit = _protection_audit(server, tmp_path)
        assert audit.status == "ok", audit.message
        rows = _rows(audit)
        assert audit.protection.status == "protected" and "Microsoft Defender" in (audit.protection.product or "")
        assert rows["9600"][0] == rows["9601"][0] == rows["reg-defender-signatures"][0] == "passed"
        evidence = rows["reg-defender-signatures"][1]
        assert "AVSignatureVersion = 1.421.512.0" in evidence and "SignaturesLastUpdated" in evidence
        assert "1.0 days old" in evidence
        assert rows["reg-eset-program"] == ("passed", "ESET Endpoint Antivirus 11.0.2032.0 (ESET, spol. s r.o.)")
        assert rows["9640"][0] == "passed" and rows["reg-kaspersky-program"][0] == "failed"
        # The command checks of the pack could not run over smb: n/a with the reason, never passed.
        assert rows["9511"] == ("not_applicable", rows["9511"][1]) and "needs a command transport" in rows["9511"][1]

        # Stale signatures: Defender runs but is out of date -> degraded.
        server.import_registry(_signatures(30))
        audit = _protection_audit(server, tmp_path)
        assert _rows(audit)["reg-defender-signatures"][0] == "failed"
        assert audit.protection.status == "degraded"

        # Real-time monitoring turned off (fresh signatures again) -> degraded.
        server.import_registry(_signatures(0.5) + "\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Defender"
                               "\\Real-Time Protection]\n\"DisableRealtimeMonitoring\"=dword:00000001\n")
        audit = _protection_audit(server, tmp_path)
        assert _rows(audit)["9601"][0] == "failed" and audit.protection.status == "degraded"

        # No product left -> unprotected, with every product's evidence rows failed or n/a.
        for key in (r"HKLM\SYSTEM\CurrentControlSet\Services\WinDefend", r"HKLM\SOFTWARE\ESET",
                    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
                    r"\{8C1B5D0E-1F3C-4B2A-9A77-0B1E5B7C0001}"):
            server._net("registry", "deletekey_recursive", key)
        audit = _protection_audit(server, tmp_path)
        assert audit.protection.status == "unprotected", audit.protection
        assert _rows(audit)["reg-eset-program"][0] == "failed"
    finally:
        server.stop()


# --- the CLI end to end: audit config, stored results, the per-host page ---------------------

def test_cli_audit_and_host_page(samba: SambaServer, tmp_path: Path) -> None:
    from conftest import run_cli

    from secops.store.db import Database
    from secops.store.tables import AgencyRow, EndpointRow

    db_path = tmp_path / "secops.db"
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        agency = AgencyRow(code="WIN", name="Sở Windows", kind="department")
        s.add(agency)
        s.flush()
        s.add(EndpointRow(code="ep-win", hostname="win.lab", ips=[samba.address], os_family="windows",
                          role="workstation", agency_id=agency.id))
    db.dispose()
    config = tmp_path / "audit.yaml"
    config.write_text(
        "scopes:\n"
        f"  - {{name: windows, agencies: [WIN], transport: smb, username: {samba.user}, port: {samba.port},\n"
        f"     password_env: {PASSWORD_ENV}, connect_timeout: 5}}\n", encoding="utf-8")
    env = {PASSWORD_ENV: samba.password, "SECOPS_OUTPUT": str(tmp_path / "report")}
    done = run_cli("audit", "--agency", "WIN", "--config", str(config), "--no-progress", db=db_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert samba.password not in done.stdout + done.stderr
    report = run_cli("report", "--lang", "vi", db=db_path, env=env)
    assert report.returncode == 0, report.stdout + report.stderr
    data = json.loads(next((tmp_path / "report").rglob("dashboard.json")).read_text())
    (host,) = data["sections"]["audit"]["hosts"]
    assert host["transport"] == "smb" and host["error"] is None
    page = (next((tmp_path / "report").rglob("dashboard.json")).parent / host["page"]).read_text()
    assert "Registry từ xa qua SMB" in page and 'id="transport-na"' in page
    assert "secops_ep_windows:9511" in page.split('id="transport-na"')[1]  # a command check, listed there
    # Nothing secret stored: the password is in no table.
    raw = db_path.read_bytes()
    assert samba.password.encode() not in raw


# --- the real Wazuh Windows policies --------------------------------------------------------

SHARED_SCA = ROOT.parent / "shared" / "sca"


@pytest.mark.parametrize("relative", ["wazuh-4.14/cis_win11_enterprise.yml", "wazuh-5.0/cis_win10_enterprise.yml"])
def test_wazuh_windows_policy_has_no_errors(samba: SambaServer, tmp_path: Path, relative: str) -> None:
    path = SHARED_SCA / relative
    assert path.exists(), f"{path}: the real Wazuh policies are test data in ../shared/sca"
    policy = load_policy(path)
    os.environ[PASSWORD_ENV] = samba.password
    try:
        target = HostTarget(label="win-lab", address=samba.address)
        # As shipped: Samba generates the values directly under Windows NT\CurrentVersion (no
        # ProductName), so the "Windows 10/11" requirement is not met -> not applicable, not error.
        as_is = audit_host(target, [policy], _config(samba), HostKeyStore(tmp_path / "kh"), {})
        # Without the requirement, as on a real Windows 10/11 host: every check is evaluated.
        bare = policy.model_copy(update={"requirements": None})
        full = audit_host(target, [bare], _config(samba), HostKeyStore(tmp_path / "kh"), {})
    finally:
        del os.environ[PASSWORD_ENV]
    assert as_is.status == full.status == "ok", as_is.message + full.message
    (shipped,) = as_is.results
    assert not shipped.applicable and "ProductName" in shipped.reason
    assert all(c.result == "not_applicable" for c in shipped.checks)
    (result,) = full.results
    counts = {r: result.count(r) for r in ("passed", "failed", "not_applicable", "error")}
    errors = [(c.check_id, c.reason) for c in result.checks if c.result == "error"]
    assert not errors, errors
    assert counts["passed"] > 50 and counts["failed"] > 100, counts
    by_transport = [c for c in result.checks if "needs a command transport" in c.reason]
    assert by_transport and all(c.result == "not_applicable" for c in by_transport)
    assert full.round_trips == 1


def test_a_policy_with_requirements_takes_one_round_over_smb(samba: SambaServer, tmp_path: Path) -> None:
    """Requirements met hold back the policy's command checks for a second round; over SMB those
    can only be refused, so they are refused without one (issue 12: Windows in one round where it
    can). Before: two rounds, the second answering nothing but "needs a command transport"."""
    text = PACK.read_text(encoding="utf-8").replace(
        "secops: {os: windows}\n",
        "secops: {os: windows}\nrequirements:\n  title: \"LSA key present\"\n  condition: all\n"
        "  rules:\n    - 'r:HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa'\n", 1)
    gated = tmp_path / "registry_pack.yml"
    gated.write_text(text, encoding="utf-8")
    os.environ[PASSWORD_ENV] = samba.password
    try:
        target = HostTarget(label="win-lab", address=samba.address, os_family="unknown")
        audit = audit_host(target, [load_policy(gated)], _config(samba), HostKeyStore(tmp_path / "kh"), {})
    finally:
        del os.environ[PASSWORD_ENV]
    assert audit.status == "ok", audit.message
    (result,) = audit.results
    assert result.applicable
    got = {c.check_id: c.result for c in result.checks}
    assert got == {cid: EXPECTED[cid[0]] for cid in got}
    assert "needs a command transport" in {c.check_id: c.reason for c in result.checks}["303"]
    assert audit.round_trips == 1
