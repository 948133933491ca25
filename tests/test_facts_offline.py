"""`secops audit --save-facts` keeps what the host answered; `secops checks eval --facts` re-grades
it with no host, and gets the same answers as the live audit (real local transport)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from secops.evaluate.facts import Facts, Item, Request
from secops.evaluate.facts_file import HostFacts, load_facts, save_facts

ROOT = Path(__file__).resolve().parent.parent


def test_facts_file_round_trip_keeps_bytes_and_errors(tmp_path: Path) -> None:
    facts = Facts()
    facts.items[Request("file_read", "/etc/x")] = Item(0, "PermitRootLogin no\nđ\n".encode())
    facts.items[Request("command", "head -c4 /dev/urandom")] = Item(0, b"\xff\x00\xfe\x01", truncated=True)
    facts.items[Request("file_exists", "/nope")] = Item(1)
    facts.errors[Request("command", "slow")] = "no answer (the script was cut off or timed out)"
    path = tmp_path / "facts.json"
    save_facts(path, [HostFacts.from_facts("h1", "127.0.0.1", "linux", "Linux 6", facts)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = load_facts(path).hosts[0].to_facts()
    assert back.items == facts.items and back.errors == facts.errors
    raw = json.loads(path.read_text())
    assert raw["format"] == "secops-facts/1" and any("b64" in a for a in raw["hosts"][0]["answers"])


def test_save_facts_never_writes_through_a_symlink(tmp_path: Path) -> None:
    import pytest

    from secops.errors import SecopsError

    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "facts.json"
    link.symlink_to(victim)
    with pytest.raises(SecopsError, match="symbolic link"):
        save_facts(link, [])
    assert victim.read_text() == "keep me"


def test_bad_facts_file_is_a_clear_error(cli, tmp_path: Path, db_path: Path) -> None:
    bad = tmp_path / "facts.json"
    bad.write_text('{"format": "secops-facts/1", "hosts": [{"label": "h", "answers": [{"kind": "nope", "status": 0}]}]}')
    done = cli("checks", "eval", str(ROOT / "checks" / "linux_ssh_hardening.yml"), "--facts", str(bad), db=db_path)
    assert done.returncode == 2 and f"{bad}: hosts.0.answers.0.kind" in done.stderr and "Traceback" not in done.stderr


def test_audit_save_facts_then_offline_eval_gives_the_same_results(cli, tmp_path: Path, db_path: Path) -> None:
    facts_path = tmp_path / "facts.json"
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    refused = cli("audit", "--local", "--no-progress", "--save-facts", str(link), db=db_path)
    assert refused.returncode == 2 and "symbolic link" in refused.stderr
    assert not (tmp_path / "elsewhere.json").exists()

    done = cli("audit", "--local", "--no-progress", "--save-facts", str(facts_path), db=db_path)
    assert done.returncode == 0, done.stderr
    saved = load_facts(facts_path)
    assert len(saved.hosts) == 1 and saved.hosts[0].answers

    from secops.collect.tables import AuditHostRow
    from secops.store.db import Database

    database = Database(f"sqlite:///{db_path}")
    try:
        with database.session() as session:
            host = session.query(AuditHostRow).order_by(AuditHostRow.id.desc()).first()
            assert host is not None
            live = {(c.policy_id, c.check_id): c.result for c in host.checks}
    finally:
        database.dispose()
    packs = sorted(map(str, (ROOT / "checks").glob("*.yml")))
    offline = cli("checks", "eval", *packs, "--facts", str(facts_path), "--json", db=db_path)
    assert offline.returncode == 0, offline.stderr
    again = {(c["policy_id"], c["check_id"]): c["result"] for p in json.loads(offline.stdout) for c in p["checks"]}
    assert again == live and live
    table = cli("checks", "eval", *packs, "--facts", str(facts_path), db=db_path)
    assert table.returncode == 0 and "Wazuh 4.x dialect" in table.stdout
