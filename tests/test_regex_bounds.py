"""No host output can hold up an audit: OS_Regex runs on RE2 (linear), PCRE2 under its match limit,
every rule's evaluation under a time bound (then "pattern too costly", not applicable), and a stop
signal ends an audit in the middle of a slow evaluation.

The hostile line is the one an audited host can print for the CIS Debian 12 loopback check
(4.4.2.2): on Python `re` (a backtracking translation) 40 repeats took minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from secops.evaluate import regex
from secops.evaluate.engine import evaluate_offline, evaluate_rule
from secops.evaluate.facts import Facts, Item, Request
from secops.evaluate.regex import compile_pattern, python_matcher
from secops.evaluate.rules import parse_rule
from secops.evaluate.sca_load import load_policy
from secops.store.db import Database
from secops.store.tables import RunRow

ROOT = Path(__file__).resolve().parent.parent
CIS_DEBIAN12 = ROOT.parent / "shared" / "sca" / "wazuh-4.14" / "cis_debian12.yml"
HOSTILE = "DROP all * * 127.0.0.0/8 " * 40
LOOPBACK_DROP = r"\.*DROP\.*all\.**\.**\.*127.0.0.0/8\.*0.0.0.0/0"
IPTABLES_OK = ("Chain INPUT (policy DROP 0 packets, 0 bytes)\n"
               " pkts bytes target     prot opt in     out     source               destination\n"
               "    0     0 ACCEPT     all  --  lo     *       0.0.0.0/0            0.0.0.0/0\n"
               "    0     0 DROP       all  --  *      *       127.0.0.0/8          0.0.0.0/0\n")
IPTABLES_OUT = ("Chain OUTPUT (policy DROP 0 packets, 0 bytes)\n"
                "    0     0 ACCEPT     all  --  *      lo      0.0.0.0/0            0.0.0.0/0\n")


def debian12_facts(input_chain: str) -> Facts:
    facts = Facts()
    for path, text in [("/etc/debian_version", "12.8\n"), ("/proc/sys/kernel/ostype", "Linux\n"),
                       ("/etc/os-release", 'NAME="Debian GNU/Linux"\nVERSION="12 (bookworm)"\n')]:
        facts.items[Request("file_read", path)] = Item(0, text.encode())
    facts.items[Request("command", "iptables -L INPUT -v -n")] = Item(0, input_chain.encode())
    facts.items[Request("command", "iptables -L OUTPUT -v -n")] = Item(0, IPTABLES_OUT.encode())
    return facts


@pytest.mark.timeout(120)
@pytest.mark.parametrize("chain, expected", [(HOSTILE + "\n", "failed"), (HOSTILE + "\n" + IPTABLES_OK, "passed")],
                         ids=["hostile-only", "hostile-and-real-rules"])
def test_hostile_iptables_line_against_the_real_cis_debian12_policy(chain: str, expected: str) -> None:
    assert CIS_DEBIAN12.is_file(), f"the real Wazuh policy is expected at {CIS_DEBIAN12} (shared/sca)"
    policy = load_policy(CIS_DEBIAN12)
    started = time.monotonic()
    result = evaluate_offline(policy, debian12_facts(chain))
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the whole policy took {elapsed:.1f} s"
    assert result.applicable
    loopback = {c.check_id: c for c in result.checks}["33147"]
    assert loopback.result == expected, loopback.reason


def test_hostile_line_is_linear_even_far_longer() -> None:
    matcher = compile_pattern(LOOPBACK_DROP, "osregex")
    started = time.monotonic()
    assert not matcher.search("DROP all * * 127.0.0.0/8 " * 40_000)  # 1 MB
    assert time.monotonic() - started < 2
    assert matcher.search(IPTABLES_OK.splitlines()[3])


def test_a_rule_past_its_time_bound_is_not_applicable(monkeypatch: pytest.MonkeyPatch) -> None:
    # PCRE2 backtracks; each search stays under the match limit (2^16 steps), so only the
    # bound per rule stops thousands of them
    monkeypatch.setattr(regex, "RULE_SECONDS", 0.3)
    facts = Facts()
    facts.items[Request("command", "hostile")] = Item(0, (("a" * 16 + "!\n") * 200_000).encode())
    rule = parse_rule(r"c:hostile -> r:^(a+)+$", "pcre2", "4")
    started = time.monotonic()
    result = evaluate_rule(rule, facts, "linux")
    assert time.monotonic() - started < 3
    assert result.outcome == "na" and result.reason.startswith("pattern too costly"), result


def test_pcre2_match_limit_is_too_costly_not_a_hang() -> None:
    facts = Facts()
    facts.items[Request("command", "redos")] = Item(0, ("a" * 40 + "!\n").encode())
    for dialect in ("4", "5"):
        result = evaluate_rule(parse_rule(r"c:redos -> r:^(a+)+$", "pcre2", dialect), facts, "linux")  # type: ignore[arg-type]
        assert result.outcome == "na" and "pattern too costly" in result.reason and "match limit" in result.reason


# --- the RE2 matcher agrees with the Python translation it replaced --------------------------

ATOMS = ["a", "b", "A", "1", " ", ".", "-", "/", "_", "é", "\\w", "\\W", "\\d", "\\D", "\\s", "\\S", "\\p",
         "\\.", "\\t", "\\$", "\\(", "\\)", "\\\\", "\\|", "\\<", "*", "+"]


@st.composite
def os_patterns(draw: st.DrawFn) -> str:
    def piece() -> str:
        atoms = draw(st.lists(st.sampled_from(ATOMS), min_size=0, max_size=4))
        out = []
        for atom in atoms:
            out.append(atom)
            if atom.startswith("\\") and draw(st.booleans()):
                out.append(draw(st.sampled_from(["+", "*"])))
        return "".join(out)

    alternatives = []
    for _ in range(draw(st.integers(1, 2))):
        head = "^" if draw(st.booleans()) else ""
        body = piece()
        if draw(st.booleans()):
            body += "(" + piece() + ")" + piece()
        tail = "$" if draw(st.booleans()) else ""
        alternatives.append(head + body + tail)
    return "|".join(alternatives)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(os_patterns(), st.text(alphabet="abAB1 .-/_\t$()|<\\é!", max_size=12))
def test_re2_matcher_agrees_with_the_python_translation(pattern: str, line: str) -> None:
    new, old = compile_pattern(pattern, "osregex"), python_matcher(pattern)
    assert new.groups == old.groups
    assert new.search(line) == old.search(line)
    assert new.first_value(line) == old.first_value(line)


# --- real processes: an audit on a host printing the hostile line; a stop mid-evaluation ------

HOSTILE_PACK = f"""policy: {{id: test_hostile, name: "Hostile iptables output"}}
secops: {{os: linux}}
checks:
  - id: 1
    title: "Loopback traffic is dropped (CIS Debian 12 4.4.2.2's rule on hostile output)"
    condition: all
    rules:
      - 'c:printf "%s\\n" "{HOSTILE}" -> r:{LOOPBACK_DROP}'
"""

SLOW_PCRE2_PACK = """policy: {id: test_slow_regex, name: "Slow regex"}
secops: {os: linux}
checks:
""" + "".join(f"""  - id: {n}
    title: "Backtracking pattern on many lines ({n})"
    regex_type: pcre2
    condition: all
    rules:
      - 'c:sh -c "touch {{marker}}; yes aaaaaaaaaaaaaaaaa! | head -n 150000" -> r:^(a+)+$'
""" for n in range(1, 11))


def _audit(db_path: Path, checks: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "secops", "--db", str(db_path), "audit", "--local", "--endpoint",
                             "QT-STTTT-SRV01", "--checks", str(checks), "--no-progress"],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _audit_run(db_path: Path) -> RunRow:
    db = Database(f"sqlite:///{db_path}")
    try:
        with db.session() as session:
            run = session.scalars(select(RunRow).where(RunRow.kind == "audit")).one()
            session.expunge(run)
            return run
    finally:
        db.dispose()


@pytest.mark.timeout(180)
def test_local_audit_of_a_host_printing_the_hostile_line_finishes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = tmp_path / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "hostile.yml").write_text(HOSTILE_PACK, encoding="utf-8")
    proc = _audit(db_path, checks)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert _audit_run(db_path).status == "ok"


def _audit_status(db_path: Path) -> str:
    import sqlite3

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as connection:
        row = connection.execute("SELECT status FROM runs WHERE kind = 'audit' ORDER BY id DESC LIMIT 1").fetchone()
    return str(row[0]) if row else "running"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.timeout(180)
def test_sigterm_during_a_slow_evaluation_stops_the_audit_within_a_second(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = tmp_path / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    checks = tmp_path / "checks"
    checks.mkdir()
    marker = tmp_path / "collected"
    (checks / "slow.yml").write_text(SLOW_PCRE2_PACK.replace("{marker}", str(marker)), encoding="utf-8")
    proc = _audit(db_path, checks)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not marker.exists():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert marker.exists(), "the host's commands did not run"
        # the commands ran; wait until the engine has spent a second of CPU evaluating
        base = _cpu_seconds(proc.pid)
        while time.monotonic() < deadline and _cpu_seconds(proc.pid) - base < 1.0:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert proc.poll() is None, "the audit finished before it could be stopped"
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        # the audit's end (its run recorded interrupted) within a second; the interpreter's own exit
        # after it is not the audit's work (and is slower on a loaded machine)
        while time.monotonic() - sent < 5 and _audit_status(db_path) == "running":
            time.sleep(0.02)
        recorded_in = time.monotonic() - sent
        _out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert recorded_in < 1.0, f"recorded {recorded_in:.2f} s after SIGTERM"
    assert stopped_in < 5.0, f"exited {stopped_in:.2f} s after SIGTERM"
    assert "Traceback" not in err and "interrupted by SIGTERM" in err
    run = _audit_run(db_path)
    assert run.status == "interrupted" and "interrupted by SIGTERM" in (run.errors or "")
