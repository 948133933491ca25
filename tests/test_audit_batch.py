"""Framing of the per-host batch script: survives any output, including the marker itself."""

from __future__ import annotations

import shlex

from secops.collect.batch import build_posix, parse_output
from secops.collect.batch_windows import build_powershell, encoded_command, ps_quote
from secops.collect.local import LocalTransport
from secops.evaluate.facts import MISSING, NOT_REGULAR, OK, Request

NONCE = "0123456789abcdef0123456789abcdef"


def run(requests: list[Request], nonce: str = NONCE, timeout: float = 60):
    batch = build_posix(requests, command_timeout=10, nonce=nonce)
    return parse_output(batch, LocalTransport().run(batch, timeout))


def test_output_that_forges_markers_is_returned_verbatim(tmp_path) -> None:
    evil = (f"\n{NONCE} E 0 0\n{NONCE} B 1\n\x1b[31m<script>alert(1)</script>\n{NONCE} H hex\n"
            f"{NONCE} E 1 0\n").encode()
    payload = tmp_path / "evil.txt"
    payload.write_bytes(evil + b"\x00\xff binary tail")
    requests = [Request("file_read", str(payload)), Request("command", f"cat {shlex.quote(str(payload))}"),
                Request("command", "echo after")]
    facts = run(requests)
    assert not facts.errors
    assert facts.items[requests[0]].data == evil + b"\x00\xff binary tail"
    assert facts.items[requests[1]].data == evil + b"\x00\xff binary tail"
    assert facts.items[requests[2]].data == b"after\n"  # later requests are not shifted


def test_statuses_and_quoting(tmp_path) -> None:
    odd = tmp_path / "it's $(touch pwned) `x` ;name"
    odd.write_text("line1\nline2\n")
    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0o000)
    requests = [Request("file_exists", str(odd)), Request("file_read", str(odd)),
                Request("file_read", str(tmp_path / "nope")), Request("file_read", str(tmp_path)),
                Request("dir_exists", str(tmp_path)), Request("dir_list", str(tmp_path)),
                Request("command", "exit 3"), Request("command", "no-such-command-xyz"),
                Request("command", "sleep 30"), Request("processes"), Request("os"), Request("command", 'sh -c "exit 3"')]
    batch = build_posix(requests, command_timeout=1, nonce=NONCE)
    facts = parse_output(batch, LocalTransport().run(batch, 60))
    assert facts.items[requests[0]].status == OK
    assert facts.items[requests[1]].lines() == ["line1", "line2"]
    assert facts.items[requests[2]].status == MISSING
    assert facts.items[requests[3]].status == NOT_REGULAR
    assert facts.items[requests[4]].status == OK
    assert str(odd) in facts.items[requests[5]].lines()
    # Commands run as Wazuh runs them, without a shell (execvp): `exit` is no program, so 127, as
    # Wazuh's wm_exec gives; `sh -c "exit 3"` (w_strtok keeps the quoted words together) exits 3.
    assert facts.items[requests[6]].status == 127
    assert facts.items[requests[11]].status == 3
    assert facts.items[requests[7]].status == 127
    assert facts.items[requests[8]].status == 124  # command timeout
    names = [line.split("\t")[0] for line in facts.items[requests[9]].lines()]
    assert "sh" in names or "dash" in names or "bash" in names
    assert facts.items[requests[10]].text().startswith("Linux")
    assert not (tmp_path / "pwned").exists() and not list(tmp_path.glob("pwned*"))


def test_cut_off_output_marks_unanswered_requests_as_errors() -> None:
    requests = [Request("command", "echo one"), Request("command", "echo two")]
    batch = build_posix(requests, command_timeout=5, nonce=NONCE)
    raw = LocalTransport().run(batch, 30)
    cut = raw[: raw.index(f"{NONCE} B 1".encode())]
    facts = parse_output(batch, cut)
    assert facts.items[requests[0]].data == b"one\n"
    assert requests[1] in facts.errors and "cut off" in facts.errors[requests[1]]


def test_noise_outside_markers_is_ignored() -> None:
    requests = [Request("command", "echo hi")]
    batch = build_posix(requests, command_timeout=5, nonce=NONCE)
    raw = b"Welcome! motd \x1b[0m\n" + LocalTransport().run(batch, 30) + b"\ntrailing noise\n"
    assert parse_output(batch, raw).items[requests[0]].data == b"hi\n"


def test_powershell_script_quotes_values() -> None:
    assert ps_quote("a'b") == "'a''b'"
    # Typographic quotes end a PowerShell string too: a file name from the host must not break out.
    assert ps_quote("x\u2019;Start-Process calc;\u2019.conf") == "'x\u2019\u2019;Start-Process calc;\u2019\u2019.conf'"
    assert ps_quote("\u2018\u201a\u201b") == "'\u2018\u2018\u201a\u201a\u201b\u201b'"
    batch = build_powershell([Request("file_read", "C:\\it's.txt"), Request("registry", r"HKEY_LOCAL_MACHINE\X")],
                             command_timeout=5, nonce=NONCE)
    assert "'C:\\it''s.txt'" in batch.script
    assert "'HKLM:\\X'" in batch.script
    line = encoded_command(batch.script)
    assert line.startswith("powershell.exe -NoProfile") and "'" not in line.split()[-1]
