"""Helpers for the discovery tests: loopback listeners in 127.0.3.0/24, inventory, scope files,
and an nmap wrapper that records every start (to prove when nmap did NOT start)."""

from __future__ import annotations

import datetime as dt
import http.server
import os
import shutil
import socket
import socketserver
import stat
import threading
from pathlib import Path

import yaml

from secops.inventory.upsert import upsert_agencies, upsert_endpoints
from secops.models import Agency, AgencyKind, Endpoint
from secops.store.db import Database

NMAP = shutil.which("nmap")
AGENCY = "DISC"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class _Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class Listeners:
    """Real TCP services on loopback addresses; every one is closed by close()."""

    def __init__(self) -> None:
        self._servers: list[socketserver.BaseServer] = []

    def http(self, ip: str, port: int = 0) -> int:
        server = _Threaded((ip, port), _Quiet)
        self._start(server)
        return server.server_address[1]

    def tcp(self, ip: str, port: int = 0) -> int:
        """A plain TCP service that accepts and closes (no banner)."""

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                pass

        server = socketserver.ThreadingTCPServer((ip, port), Handler, bind_and_activate=True)
        server.daemon_threads = True
        self._start(server)
        return server.server_address[1]

    def _start(self, server: socketserver.BaseServer) -> None:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        self._servers.append(server)

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def seed_inventory(db: Database, endpoints: list[dict]) -> None:
    agencies = [Agency(code=AGENCY, name="Tỉnh Thử nghiệm", kind=AgencyKind.province),
                Agency(code="DISC-SO", name="Sở Thử nghiệm", kind=AgencyKind.department, parent=AGENCY)]
    with db.session() as session:
        upsert_agencies(session, agencies)
        upsert_endpoints(session, [Endpoint(owner="DISC-SO", **e) for e in endpoints])


def write_scope(path: Path, authorised: list[str], exclude: list[dict] | None = None,
                max_addresses: int = 65536, agency: str = AGENCY) -> Path:
    doc = {"version": 1, "limits": {"max_addresses": max_addresses},
           "agencies": {agency: {"authorised": [{"cidr": c} for c in authorised], "exclude": exclude or []}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def recording_nmap(folder: Path, fail_on: str | None = None) -> tuple[Path, Path]:
    """A bin folder whose `nmap` logs its argv to a file, then runs the real nmap.

    With fail_on, a scan whose arguments contain that target prints garbage and fails instead
    (fault injection for one chunk; every other call is the real nmap)."""
    assert NMAP, "nmap must be installed for the discovery tests"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "nmap-calls.log"
    fail = ""
    if fail_on:
        fail = (f'case " $* " in *" {fail_on} "*|*" {fail_on}/32 "*) '
                'echo "<nmaprun><host>"; echo "injected failure" >&2; exit 3;; esac\n')
    script = folder / "nmap"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{fail}exec "{NMAP}" "$@"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder, log


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def days_ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
