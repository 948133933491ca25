"""One framed script per host and round: build it (POSIX sh) and split its output reliably.

Framing: every request's output is base64-encoded (hex when the host has no base64) and placed
between two marker lines that carry a random per-run nonce:

    <nonce> B <index>
    <base64 of the output, no newlines>
    <nonce> E <index> <status>

Nothing a command prints can forge a marker: its bytes only ever appear encoded, and encoded text
has no spaces. A request whose END marker never arrives (timeout, cut connection) is reported as
an error for that request only. Every value from a policy, the inventory or the network enters the
script through shlex.quote. A check pack's command runs as Wazuh runs it, without a shell: split
into words as Wazuh's w_strtok does (wazuh_argv), each word quoted, run through `timeout` (or
`env`), which exec the program directly, with stdout and stderr in one pipe, stdin from /dev/null,
its own timeout and a size cap.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import shlex
from dataclasses import dataclass

from secops.collect.guards import HostPlan
from secops.collect.wazuh_exec import command_line
from secops.evaluate.engine import MAX_DIR_FILES
from secops.evaluate.facts import Facts, Item, Request

MAX_OUTPUT = 4 * 1024 * 1024  # bytes kept per request
MAX_DIR_ENTRIES = 5000
DIR_DEPTH = 4

_PRELUDE = r"""
export LC_ALL=C PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
N={nonce}
if command -v base64 >/dev/null 2>&1; then enc() {{ base64 | tr -d '\n\r '; }}; E=b64
else enc() {{ od -An -v -tx1 | tr -d ' \n'; }}; E=hex; fi
if command -v timeout >/dev/null 2>&1; then tmo() {{ timeout "$@"; }}; else tmo() {{ shift; env "$@"; }}; fi
printf '\n%s H %s\n' "$N" "$E"
b() {{ printf '\n%s B %s\n' "$N" "$1"; }}
e() {{ printf '\n%s E %s %s\n' "$N" "$1" "$2"; }}
k() {{ printf '\n%s S %s\n' "$N" "$1"; }}
r() {{ printf '\n%s F %s\n' "$N" "$(printf '%s' "$1" | enc)"; if [ -f "$1" ]; then if [ -r "$1" ]; then
  head -c {max_output} -- "$1" 2>/dev/null | enc; t=0; else t=2; fi; elif [ -e "$1" ]; then t=3; else t=1; fi
  printf '\n%s G %s\n' "$N" "$t"; }}
"""


def _file_exists(i: int, path: str) -> str:
    p = shlex.quote(path)
    return f"b {i}; if [ -f {p} ]; then s=0; elif [ -e {p} ]; then s=3; else s=1; fi; e {i} $s"


def _file_read(i: int, path: str) -> str:
    p = shlex.quote(path)
    return (f"b {i}; if [ -f {p} ]; then if [ -r {p} ]; then head -c {MAX_OUTPUT} -- {p} 2>/dev/null | enc; s=0; "
            f"else s=2; fi; elif [ -e {p} ]; then s=3; else s=1; fi; e {i} $s")


def _dir_exists(i: int, path: str) -> str:
    p = shlex.quote(path)
    return f"b {i}; if [ -d {p} ]; then s=0; elif [ -e {p} ]; then s=3; else s=1; fi; e {i} $s"


def _dir_list(i: int, path: str, reads: list[str] | None | bool = False) -> str:
    """List PATH; with `reads` (a name filter, None = every file) also read the listed files whose
    path holds one of the filter's strings, up to MAX_DIR_FILES in sorted order (the
    contents come in the same round trip as the listing)."""
    # find has no `--`: a relative path starting with "-" would be read as an option, so anchor it.
    p = shlex.quote(path if path.startswith("/") else "./" + path)
    listing = f"find {p} -maxdepth {DIR_DEPTH} \\( -type f -o -type l \\) 2>/dev/null | head -n {MAX_DIR_ENTRIES}"
    if reads is False:
        return f"b {i}; if [ -d {p} ]; then {listing} | enc; s=0; else s=1; fi; e {i} $s"
    keep = "cat" if reads is None or reads is True else "grep -iF " + " ".join(f"-e {shlex.quote(x)}" for x in reads)
    return (f"b {i}; if [ -d {p} ]; then l=$({listing}); if [ -n \"$l\" ]; then printf '%s\\n' \"$l\" | enc; fi; s=0; "
            f"else l=; s=1; fi; e {i} $s\n"
            f"if [ -n \"$l\" ]; then printf '%s\\n' \"$l\" | {keep} | sort | head -n {MAX_DIR_FILES} | "
            "while IFS= read -r f; do r \"$f\"; done; fi")


def _processes(i: int) -> str:
    # /proc gives the kernel's process name (comm) and the full command line; ps is the fallback.
    return (f"b {i}; if [ -r /proc/self/comm ]; then for d in /proc/[0-9]*; do "
            "read -r n 2>/dev/null < \"$d/comm\" || continue; "
            "a=$(tr '\\000' ' ' < \"$d/cmdline\" 2>/dev/null); printf '%s\\t%s\\n' \"$n\" \"$a\"; done | enc; "
            "else ps -e -o comm= -o args= 2>/dev/null | sed 's/  */\\t/' | enc; fi; "
            f"e {i} 0")


def _command(i: int, command: str, timeout: int) -> str:
    # The exit status travels through fd 3; fds 3 and 4 are closed for the command so it cannot
    # write into them.
    return (f"b {i}; {{ rc=$( {{ {{ {command_line(command, timeout)} 3>&- 4>&-; echo $? >&3; }} "
            f"| head -c {MAX_OUTPUT} | enc >&4; }} 3>&1 ); }} 4>&1; e {i} \"${{rc:-125}}\"")


def _os(i: int) -> str:
    return f"b {i}; {{ uname -srm; cat /etc/os-release 2>/dev/null; }} | enc; e {i} 0"


@dataclass
class Batch:
    """A script for a list of requests; `parse` turns the raw output back into Facts."""

    requests: list[Request]
    script: str
    nonce: str


def _gated(i: int, block: str, guards: set[int]) -> str:
    """Run a command block only if one of its policies' requirement guards holds (see guards.py)."""
    test = " || ".join(f"[ \"$g{g}\" = 1 ]" for g in sorted(guards))
    return f"if {test}; then {block}; else k {i}; fi"


def build_posix(requests: list[Request], command_timeout: int, nonce: str | None = None,
                plan: HostPlan | None = None) -> Batch:
    nonce = nonce or secrets.token_hex(16)
    plan = plan or HostPlan()
    lines = [_PRELUDE.format(nonce=nonce, max_output=MAX_OUTPUT)]
    lines += [f"if {guard}; then g{n}=1; else g{n}=0; fi" for n, guard in enumerate(plan.guards)]
    always = plan.always()
    for i, req in enumerate(requests):
        if req.kind == "file_exists":
            lines.append(_file_exists(i, req.arg))
        elif req.kind == "file_read":
            lines.append(_file_read(i, req.arg))
        elif req.kind == "dir_exists":
            lines.append(_dir_exists(i, req.arg))
        elif req.kind == "dir_list":
            lines.append(_dir_list(i, req.arg, plan.dir_reads[req.arg] if req.arg in plan.dir_reads else False))
        elif req.kind == "processes":
            lines.append(_processes(i))
        elif req.kind == "command":
            block = _command(i, req.arg, command_timeout)
            gated = req in plan.gated and req not in always
            lines.append(_gated(i, block, plan.gated[req]) if gated else block)
        elif req.kind == "os":
            lines.append(_os(i))
        else:  # registry on a POSIX host: answer "missing" without running anything
            lines.append(f"b {i}; e {i} 1")
    lines.append("exit 0")
    return Batch(requests, "\n".join(lines) + "\n", nonce)


def _decode(payload: str, encoding: str) -> bytes:
    payload = re.sub(r"\s+", "", payload)
    if encoding == "hex":
        return binascii.unhexlify(payload)
    return base64.b64decode(payload, validate=True)


def parse_output(batch: Batch, raw: bytes) -> Facts:
    """Split framed output into Facts; anything outside markers (login banners...) is ignored.

    Besides the numbered requests (B … E), the host may send files it read on its own (F <path> …
    G <status>: a directory's files, see _dir_list) and say a gated command was skipped (S <index>:
    its policy's requirements cannot hold, so it is neither an answer nor an error)."""
    reader = _FrameReader(batch)
    marker = re.compile(rf"^{re.escape(batch.nonce)} (H|B|E|S|F|G) ?(.*)$")
    for line in raw.decode("ascii", errors="replace").splitlines():
        match = marker.match(line.rstrip("\r"))
        if match:
            reader.tag(match.group(1), match.group(2).split())
        elif reader.current is not None:
            reader.chunks.append(line)
    facts = reader.facts
    for index, request in enumerate(batch.requests):
        if index not in reader.done and request not in facts.errors and request not in facts.items:
            facts.errors[request] = "no answer (the script was cut off or timed out)"
    return facts


class _FrameReader:
    """parse_output's state between marker lines: the open frame and the chunks read into it."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.facts = Facts()
        self.encoding = "b64"
        self.current: int | str | None = None  # a request's index, or the path of a file the host chose to read
        self.chunks: list[str] = []
        self.done: set[int] = set()

    def tag(self, tag: str, rest: list[str]) -> None:
        if tag == "H":
            self.encoding = rest[0] if rest and rest[0] in ("b64", "hex") else "b64"
        elif tag == "B" and rest and rest[0].isdigit():
            self.current, self.chunks = int(rest[0]), []
        elif tag == "S" and rest and rest[0].isdigit():
            self.done.add(int(rest[0]))
            self.current = None
        elif tag == "F":
            self.open_file(rest)
        elif tag == "G" and isinstance(self.current, str) and rest:
            self.close_file(self.current, rest[0])
        elif tag == "E" and len(rest) >= 2 and rest[0].isdigit() and self.current == int(rest[0]):
            self.close_request(int(rest[0]), rest[1])

    def open_file(self, rest: list[str]) -> None:
        try:
            self.current = _decode(rest[0] if rest else "", self.encoding).decode("utf-8", errors="replace")
        except (ValueError, binascii.Error):
            self.current = None
        self.chunks = []

    def close_file(self, path: str, status: str) -> None:
        request, self.current = Request("file_read", path), None
        try:
            data, code = _decode("".join(self.chunks), self.encoding), int(status)
        except (ValueError, binascii.Error):
            return  # asked again in the next round if it is needed
        self.facts.items[request] = Item(status=code, data=data, truncated=len(data) >= MAX_OUTPUT)

    def close_request(self, index: int, status: str) -> None:
        self.current = None
        if index >= len(self.batch.requests):
            return
        request = self.batch.requests[index]
        try:
            data = _decode("".join(self.chunks), self.encoding)
            code = int(status)
        except (ValueError, binascii.Error):
            self.facts.errors[request] = "output could not be decoded"
            return
        self.facts.items[request] = Item(status=code, data=data, truncated=len(data) >= MAX_OUTPUT)
        self.done.add(index)
