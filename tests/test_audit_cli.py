"""`secops checks` and `secops hosts` commands, and audit config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_checks_list_show_validate(cli, tmp_path: Path, db_path: Path) -> None:
    listed = cli("checks", "list", db=db_path)
    assert listed.returncode == 0 and "secops_ep_linux" in listed.stdout
    shown = cli("checks", "show", "secops_ep_linux:9102", db=db_path)
    assert shown.returncode == 0 and "signature_max_age_days" in shown.stdout and "freshclam" in shown.stdout
    assert cli("checks", "show", "nope", db=db_path).returncode == 2
    packs = sorted((ROOT / "checks").glob("*.yml"))
    ok = cli("checks", "validate", *map(str, packs), db=db_path)
    assert ok.returncode == 0 and ok.stdout.count(": ok, policy") == len(packs) >= 3
    bad = tmp_path / "bad.yml"
    bad.write_text("policy: {id: b}\nchecks:\n  - {id: 1, title: t, condition: all, rules: ['f:/x -> n:x compare ~ 1']}\n")
    done = cli("checks", "validate", str(bad), db=db_path)  # a bad rule is a per-check warning, not a refusal
    assert done.returncode == 0 and f"warning: {bad}: check 1: rule" in done.stdout and "Unrecognized" in done.stdout
    assert cli("checks", "validate", "--strict", str(bad), db=db_path).returncode == 1
    bad.write_text("policy: {id: b}\nchecks:\n  - {id: 1, title: t, condition: all, rules: []}\n")
    done = cli("checks", "validate", str(bad), db=db_path)  # structural fault: refused
    assert done.returncode == 2 and f"{bad}: checks.0.rules" in done.stderr


def test_hosts_trust_refuses_a_wrong_fingerprint_and_unreachable(cli, tmp_path: Path, db_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text(f"known_hosts: {tmp_path / 'kh'}\n")
    done = cli("hosts", "trust", "127.0.4.250", "--port", "1", "--config", str(config), db=db_path)
    assert done.returncode == 2 and "cannot fetch the host key" in done.stderr
    assert not (tmp_path / "kh").exists()


def test_bad_audit_config_is_a_clear_error(cli, tmp_path: Path, db_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("scopes:\n  - name: x\n    password: hunter2\n")
    done = cli("audit", "--hosts", "127.0.4.250", "--config", str(config), "--no-progress", db=db_path)
    assert done.returncode == 2
    assert f"{config}: scopes.0.password" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_no_credentials_and_password_from_env_is_never_stored(cli, tmp_path: Path, db_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("scopes:\n  - {name: x, username: u, password_env: SECOPS_TEST_PW, connect_timeout: 2}\n")
    done = cli("audit", "--hosts", "127.0.4.250", "--config", str(config), "--no-progress", db=db_path)
    assert done.returncode == 0 and "no credentials" in done.stdout
    done = cli("audit", "--hosts", "127.0.4.250", "--config", str(config), "--no-progress", db=db_path,
               env={"SECOPS_TEST_PW": "s3cr3t-pw-value"})
    assert done.returncode == 0 and "unreachable" in done.stdout
    for stored in db_path.parent.glob(db_path.name + "*"):  # the database and its WAL
        assert b"s3cr3t-pw-value" not in stored.read_bytes()
    assert "s3cr3t-pw-value" not in done.stdout + done.stderr


def test_tofu_with_a_password_is_refused_at_load(tmp_path: Path) -> None:
    from secops.collect.config import load_config
    from secops.errors import SecopsError

    config = tmp_path / "audit.yaml"
    config.write_text("scopes:\n  - {name: lab, hosts: [127.0.4.9], username: u, password_env: PW,\n"
                      "     trust_on_first_use: true}\n", encoding="utf-8")
    with pytest.raises(SecopsError, match="trust_on_first_use cannot be combined with a password"):
        load_config(config)
