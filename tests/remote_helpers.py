"""A real Redis server on loopback and real `secops scanner` processes, for the remote-scanner tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """redis-server on 127.0.0.1:<free port>, optional password, ACL file and persistence (append-only
    file, so a restart keeps queues and results as a production broker must); stop() kills it."""

    def __init__(self, password: str | None = None, acl_file: Path | None = None, persist: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="secops-redis-"))
        self.port = _free_port()
        self.password = password
        self.acl_file = acl_file
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def url_for(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found: install Debian's redis-server (scripts/install-test-deps.sh)")
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "yes" if self.persist else "no", "--appendfsync", "always",
                "--dir", str(self.dir), "--protected-mode", "yes"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.acl_file:
            args += ["--aclfile", str(self.acl_file)]
        self.proc = subprocess.Popen(args, stdout=(self.dir / "redis.log").open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Scanner:
    """`python -m secops scanner` in its own process group, its output in a log file."""

    def __init__(self, site: str, broker_url: str, scope: Path, config: Path | None, policies: Path, log: Path,
                 checks: Path | None = None, name: str | None = None, env: dict[str, str] | None = None,
                 key: Path | None = None) -> None:
        self.log = log
        args = [sys.executable, "-m", "secops", "--policies", str(policies), "scanner", "--site", site,
                "--scope", str(scope)]
        if key:
            args += ["--key", str(key)]
        if config:
            args += ["--config", str(config)]
        if checks:
            args += ["--checks", str(checks)]
        if name:
            args += ["--name", name]
        # The URL (with its password) goes through the environment, never argv (visible in ps).
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "SECOPS_BROKER_URL": broker_url, **(env or {})}
        self.proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scanner exited ({self.proc.returncode}): {self.log.read_text(errors='replace')}")
            if "ready" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"scanner not ready: {self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def site_keys(folder: Path, sites: list[str]) -> dict[str, Path]:
    """An Ed25519 key per site (secops.remote.signing.generate): {site: private key file}; FILE.pub beside."""
    from secops.remote.signing import generate

    folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for site in sites:
        path = folder / f"{site}.key"
        if not path.exists():
            generate(path)
        keys[site] = path
    return keys
