"""A lab of real OpenSSH servers on 127.0.4.0/24, each in its own host environment.

Each server is Debian's /usr/sbin/sshd with its own config, host key and authorized_keys, started
inside `unshare --pid --mount --mount-proc`: it sees only its own processes, and overlay mounts
(private to its mount namespace) add files such as a product binary or a signature database on
top of the real /usr/sbin, /var/lib, /usr/bin. So the check packs test their real paths and
process names, and each host is in its own state, without touching this machine's filesystem.
A "running" product is a copy of `sleep` named like the vendor's daemon, started in the namespace.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

OVERLAY_DIRS = ("/usr/sbin", "/usr/bin", "/var/lib")


def free_port(addresses: list[str]) -> int:
    """A port that is free on every given loopback address (bounded tries)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        ok = True
        for address in addresses:
            with socket.socket() as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no common free port found")


def keygen(path: Path, comment: str = "secops-test") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


def sha256_fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]


@dataclass
class Host:
    """One test host: files to add (path -> bytes or source file), processes to start, its sshd."""

    name: str
    address: str
    files: dict[str, bytes | Path] = field(default_factory=dict)
    mtimes: dict[str, float] = field(default_factory=dict)  # path -> seconds since epoch
    processes: list[str] = field(default_factory=list)  # command lines started before sshd
    extra_dirs: tuple[str, ...] = ()  # more folders to overlay (e.g. "/etc"), besides OVERLAY_DIRS
    root: Path | None = None
    host_key: Path | None = None
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None


class SshLab:
    def __init__(self, base: Path, hosts: list[Host]):
        self.base = base
        self.hosts = {h.name: h for h in hosts}
        self.port = free_port([h.address for h in hosts])
        self.client_key = keygen(base / "client_key")

    def start(self) -> None:
        try:
            for host in self.hosts.values():
                self._start(host)
            for host in self.hosts.values():
                self._wait(host)
        except Exception:
            self.stop()
            raise

    def _start(self, host: Host) -> None:
        root = self.base / host.name
        root.mkdir()
        host.root, host.log = root, root / "sshd.log"
        host.host_key = keygen(root / "host_key", f"host-{host.name}")
        authorized = root / "authorized_keys"
        shutil.copy(self.client_key.with_suffix(".pub"), authorized)
        config = root / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {host.address}:{self.port}", f"HostKey {host.host_key}",
            f"AuthorizedKeysFile {authorized}", "PidFile none", "UsePAM no", "StrictModes no",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "LogLevel VERBOSE", "MaxStartups 50", ""]))
        steps = ["set -e", "mount -t tmpfs tmpfs /run", "mkdir -p /run/sshd"]
        for directory in OVERLAY_DIRS + host.extra_dirs:
            upper, work = root / "upper" / directory.strip("/"), root / "work" / directory.strip("/")
            upper.mkdir(parents=True)
            work.mkdir(parents=True)
            for path, content in host.files.items():
                if path.startswith(directory + "/"):
                    target = upper / path[len(directory) + 1:]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if isinstance(content, Path):
                        shutil.copy2(content, target)
                    else:
                        target.write_bytes(content)
                    target.chmod(0o755)
                    if path in host.mtimes:
                        os.utime(target, (host.mtimes[path], host.mtimes[path]))
            steps.append(f"mount -t overlay overlay -o lowerdir={directory},upperdir={upper},workdir={work} {directory}")
        steps += [f"{cmd} >/dev/null 2>&1 &" for cmd in host.processes]
        steps.append(f"exec /usr/sbin/sshd -D -f {shlex.quote(str(config))} -E {shlex.quote(str(host.log))}")
        host.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child", "sh", "-c", "\n".join(steps)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(root / "unshare.err").open("wb"))

    def _wait(self, host: Host) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert host.proc is not None
            if host.proc.poll() is not None:
                raise RuntimeError(f"sshd for {host.name} exited: {(host.root / 'unshare.err').read_text()}"  # type: ignore[operator]
                                   f" {host.log.read_text() if host.log and host.log.exists() else ''}")
            try:
                with socket.create_connection((host.address, self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd for {host.name} did not start")

    def stop(self) -> None:
        for host in self.hosts.values():
            if host.proc is not None and host.proc.poll() is None:
                # SIGKILL to unshare: --kill-child then kills the namespace's PID 1, which ends every
                # process in it (sshd, its sessions, the stub daemons). SIGTERM is forwarded and ignored.
                host.proc.send_signal(signal.SIGKILL)
                host.proc.wait(timeout=10)

    def log(self, name: str) -> str:
        host = self.hosts[name]
        return host.log.read_text(errors="replace") if host.log and host.log.exists() else ""
