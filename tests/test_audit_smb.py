"""The smb transport against a real Samba smbd on loopback (tests/samba_server.py).

Registry rules of every form and value type, missing keys and values, a key denied to the audit
account, a wrong password, a stopped remote registry and a stopped server, through the real
impacket client and the real audit code path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from samba_server import SambaServer

from secops.collect.audit import HostAudit, HostTarget, audit_host
from secops.collect.config import AuditConfig, Scope
from secops.collect.hostkeys import HostKeyStore
from secops.evaluate.sca_load import load_policy

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
    assert "signed" in audit.os_info and audit.round_trips == 1
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


def test_scope_validation() -> None:
    scope = Scope(name="w", transport="smb", username="audit", password_env="X")
    assert scope.port == 445
    assert Scope(name="w", transport="smb", username="audit", password_env="X", port=4450).port == 4450
    with pytest.raises(ValueError, match="ssh settings"):
        Scope(name="w", transport="smb", username="audit", key_files=[Path("/k")])
    with pytest.raises(ValueError, match="domain is an smb setting"):
        Scope(name="w", username="audit", domain="CORP", password_env="X")
