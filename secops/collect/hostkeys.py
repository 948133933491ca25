"""secops' own known_hosts file (OpenSSH format) and the host-key verification policy.

Hosts are verified against this file only (not ~/.ssh/known_hosts), so what secops trusts is
explicit: an officer adds a key with `secops hosts trust HOST` after checking its fingerprint.
An unknown or changed key refuses the connection before authentication, so nothing runs on the
host. Trust-on-first-use records unknown keys, and only where a scope enables it.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from pathlib import Path

import paramiko

from secops.i18n import _
from secops.safeio import ensure_folder, write_file


class HostKeyError(Exception):
    """Unknown or changed host key: the host is reported as `error: host key`."""


def host_id(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class HostKeyStore:
    """Thread-safe view of the known_hosts file; writes are atomic (temp file + rename)."""

    _lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = path
        self.keys = paramiko.HostKeys()
        if path.exists():
            self.keys.load(str(path))

    def known(self, host: str, port: int) -> dict[str, paramiko.PKey]:
        entry = self.keys.lookup(host_id(host, port))
        return dict(entry) if entry else {}

    def add(self, host: str, port: int, key: paramiko.PKey) -> None:
        with self._lock:
            fresh = paramiko.HostKeys()
            if self.path.exists():
                fresh.load(str(self.path))
            fresh.add(host_id(host, port), key.get_name(), key)
            ensure_folder(self.path.parent)
            # HostKeys.save() opens by name; the same lines go through write_file (no link followed).
            lines = "".join(entry.to_line() or "" for entry in fresh._entries)  # type: ignore[attr-defined]
            write_file(self.path, lines, mode=0o600)
            self.keys = fresh


class VerifyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for keys the client does not know: refuse, or record (TOFU)."""

    def __init__(self, store: HostKeyStore, host: str, port: int, trust_on_first_use: bool):
        self.store, self.host, self.port, self.tofu = store, host, port, trust_on_first_use

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        known = self.store.known(self.host, self.port)
        if known:
            raise HostKeyError(_("host key changed: server offered {key}, known_hosts has {known}").format(
                key=f"{key.get_name()} {fingerprint(key)}", known=", ".join(sorted(known))))
        if not self.tofu:
            trust = f"secops hosts trust {self.host}" + (f" --port {self.port}" if self.port != 22 else "")
            raise HostKeyError(_("unknown host key {key}; check it and run `{command}`").format(
                key=f"{key.get_name()} {fingerprint(key)}", command=trust))
        self.store.add(self.host, self.port, key)


def fetch_host_key(host: str, port: int, timeout: float = 10) -> paramiko.PKey:
    """The key a server presents (no authentication), for `secops hosts trust`."""
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()
