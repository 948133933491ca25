"""Run nmap through python-nmap, one chunk of targets per process.

python-nmap starts nmap with an argument list (no shell). Targets reach it only after the scope
guard turned them into CIDR strings, and the arguments come from profiles.build_arguments, so
nothing from untrusted data can become an nmap option.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import os
import shutil
import threading
from dataclasses import dataclass, field

import nmap

from secops.errors import SecopsError

INSTALL_HINT = "install it with `apt-get install nmap` (Debian/Ubuntu) or from https://nmap.org/download"


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
    """A fresh PortScanner for one scan. python-nmap runs `nmap -V` in its constructor; that
    check is done once per nmap binary (path, mtime, size) and later scanners are copies of the
    checked one (each scan keeps its results on its own copy, so threads do not share them)."""
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


def _check_targets(targets: list[str]) -> str:
    # Defence in depth: whatever reaches here must be a CIDR (the guard already made it one).
    for target in targets:
        ipaddress.IPv4Network(target)
    return " ".join(targets)


def run_chunk(nmap_path: str, targets: list[str], arguments: list[str], timeout_seconds: int) -> ChunkOutput:
    """Scan one chunk; a failure or timeout is returned as the chunk's status, not raised."""
    hosts = _check_targets(targets)
    started = dt.datetime.now(dt.UTC)
    port_scanner = scanner(nmap_path)
    command = [nmap_path, "-oX", "-", *targets, *arguments]
    out = ChunkOutput(targets=targets, command=command, started_at=started, finished_at=started)
    try:
        result = port_scanner.scan(hosts=hosts, arguments=" ".join(arguments), timeout=timeout_seconds)
        info = result.get("nmap", {}).get("scaninfo", {})
        out.warnings = [w.strip() for w in info.get("warning", [])]
        if info.get("error"):
            out.warnings += [e.strip() for e in info["error"]]
    except nmap.PortScannerTimeout:
        out.status, out.error = "timeout", f"nmap did not finish within {timeout_seconds}s and was stopped"
    except nmap.PortScannerError as exc:
        out.status, out.error = "failed", f"nmap failed: {str(exc).strip()[:2000]}"
    if out.status != "timeout":  # after a timeout python-nmap holds no output of this scan
        raw = port_scanner.get_nmap_last_output()
        out.xml = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
    out.finished_at = dt.datetime.now(dt.UTC)
    return out
