"""Run nmap, one chunk of targets per process.

nmap is started with an argument list (no shell). Targets reach it only after the scope guard
turned them into CIDR strings, and the arguments come from profiles.build_arguments, so nothing
from untrusted data can become an nmap option.

The command a chunk runs may be started ahead of time (`prestart`): `secops discover`
starts nmap as soon as the scope guard has passed and imports, opens the database and records the
run while it scans; `run_chunk` then adopts the process that runs the same command instead of
starting another. python-nmap is used only for its `nmap -V` check (`scanner`).
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import os
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from secops.errors import SecopsError

if TYPE_CHECKING:  # python-nmap is imported only for the version check, off the early-start path
    import nmap

INSTALL_HINT = "install it with `apt-get install nmap` (Debian/Ubuntu) or from https://nmap.org/download"
_WARNING = re.compile("^Warning: .*", re.IGNORECASE)


@dataclass
class ChunkOutput:
    targets: list[str]
    command: list[str]
    started_at: dt.datetime
    finished_at: dt.datetime
    xml: str = ""
    status: str = "ok"  # ok | failed | timeout
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # The XML as parsed once here (run_chunk checks that nmap wrote XML), so storing does not
    # parse the document a second time; not sent anywhere, not compared.
    document: ET.Element | None = field(default=None, repr=False, compare=False)


def find_nmap() -> str:
    """The nmap on PATH (or $SECOPS_NMAP); one clear error with the install hint when missing."""
    configured = os.environ.get("SECOPS_NMAP")
    path = shutil.which(configured) if configured else shutil.which("nmap")
    if not path:
        raise SecopsError(f"nmap was not found{f' at {configured!r}' if configured else ' on PATH'}: {INSTALL_HINT}")
    return path


_checked: dict[tuple[str, int, int], nmap.PortScanner] = {}
_checked_lock = threading.Lock()


def scanner(nmap_path: str) -> nmap.PortScanner:
    """A checked PortScanner. python-nmap runs `nmap -V` in its constructor; that check is done
    once per nmap binary (path, mtime, size) and later calls get copies of the checked one."""
    import nmap

    try:
        info = os.stat(nmap_path)
    except OSError as exc:
        raise SecopsError(f"nmap at {nmap_path} does not work ({exc}): {INSTALL_HINT}") from exc
    key = (nmap_path, info.st_mtime_ns, info.st_size)
    with _checked_lock:
        template = _checked.get(key)
        if template is None:
            try:
                template = nmap.PortScanner(nmap_search_path=(nmap_path,))
            except nmap.PortScannerError as exc:
                raise SecopsError(f"nmap at {nmap_path} does not work ({exc}): {INSTALL_HINT}") from exc
            _checked[key] = template
    return copy.copy(template)


def nmap_version(port_scanner: nmap.PortScanner) -> str:
    major, minor = port_scanner.nmap_version()
    return f"{major}.{minor}"


def _check_targets(targets: list[str]) -> None:
    # Defence in depth: whatever reaches here must be a CIDR (the guard already made it one).
    for target in targets:
        ipaddress.IPv4Network(target)


def command_for(nmap_path: str, targets: list[str], arguments: list[str]) -> list[str]:
    """The argv of one chunk's nmap process: XML on stdout, then targets, then arguments."""
    _check_targets(targets)
    return [nmap_path, "-oX", "-", *targets, *arguments]


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    started_at: dt.datetime
    began: float  # time.monotonic() at start: a chunk's timeout counts from here


def _launch(command: list[str]) -> _Process:
    started_at, began = dt.datetime.now(dt.UTC), time.monotonic()
    popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return _Process(popen, started_at, began)


_prestarted: dict[tuple[str, ...], list[_Process]] = {}
_prestarted_lock = threading.Lock()


def prestart(nmap_path: str, targets: list[str], arguments: list[str]) -> None:
    """Start a chunk's nmap now; the run_chunk call for the same command adopts it.
    Call only after the scope guard accepted the targets; `discard_prestarted` ends what
    no run_chunk adopted."""
    command = command_for(nmap_path, targets, arguments)
    process = _launch(command)
    with _prestarted_lock:
        _prestarted.setdefault(tuple(command), []).append(process)


def _adopt(command: list[str]) -> _Process | None:
    with _prestarted_lock:
        waiting = _prestarted.get(tuple(command))
        if not waiting:
            return None
        process = waiting.pop(0)
        if not waiting:
            del _prestarted[tuple(command)]
        return process


def discard_prestarted() -> int:
    """Stop and reap every prestarted nmap that no chunk adopted (the run failed before scanning)."""
    with _prestarted_lock:
        left = [p for waiting in _prestarted.values() for p in waiting]
        _prestarted.clear()
    for process in left:
        if process.popen.poll() is None:
            process.popen.kill()
        process.popen.communicate()
    return len(left)


_running: dict[int, subprocess.Popen[bytes]] = {}  # pid -> nmap process run_chunk is waiting for
_running_lock = threading.Lock()


def stop_running() -> int:
    """Kill the nmap processes run_chunk calls are waiting for (a stage failing mid-scan); each
    of those calls then returns its chunk as failed. Returns how many were still running."""
    with _running_lock:
        running = list(_running.values())
    stopped = 0
    for popen in running:
        if popen.poll() is None:
            popen.kill()
            stopped += 1
    return stopped


def _stderr_lines(stderr: str) -> list[str]:
    """nmap's stderr as python-nmap sorted it: `Warning: ...` lines, then the other lines."""
    lines = [line for line in stderr.split(os.linesep) if line]
    warnings = [line.strip() for line in lines if _WARNING.search(line)]
    return warnings + [line.strip() for line in lines if not _WARNING.search(line)]


def run_chunk(nmap_path: str, targets: list[str], arguments: list[str], timeout_seconds: int) -> ChunkOutput:
    """Scan one chunk; a failure or timeout is returned as the chunk's status, not raised."""
    command = command_for(nmap_path, targets, arguments)
    now = dt.datetime.now(dt.UTC)
    out = ChunkOutput(targets=targets, command=command, started_at=now, finished_at=now)
    try:
        process = _adopt(command) or _launch(command)
    except OSError as exc:
        out.status, out.error = "failed", f"nmap failed: {exc}"[:2000]
        return out
    out.started_at = process.started_at
    with _running_lock:
        _running[process.popen.pid] = process.popen
    try:
        remaining = max(0.0, timeout_seconds - (time.monotonic() - process.began))
        stdout, stderr = process.popen.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        process.popen.kill()
        process.popen.communicate()  # reap it; its partial output is not kept
        out.status, out.error = "timeout", f"nmap did not finish within {timeout_seconds}s and was stopped"
    except BaseException:  # the process must not outlive the run
        process.popen.kill()
        raise
    else:
        text, err = stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")
        out.xml, out.warnings = text, _stderr_lines(err)
        try:
            out.document = ET.fromstring(stdout)
        except ET.ParseError:
            # No XML is a failure, named by stderr (else stdout) in the words python-nmap used
            # (its PortScannerError printed the repr of the text), so stored errors read as before.
            out.status, out.error = "failed", f"nmap failed: {repr(err or stdout).strip()[:2000]}"
    finally:
        with _running_lock:
            _running.pop(process.popen.pid, None)
    out.finished_at = dt.datetime.now(dt.UTC)
    return out
