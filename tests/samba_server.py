"""A throwaway Samba smbd for tests: its own smb.conf, state directories, user and registry, on loopback.

smbd serves SMB2/3 on a random loopback address and a free port, signing mandatory, NTLMv2 only.
The remote registry (\\PIPE\\winreg) is served by samba-dcerpcd, which this helper starts itself
(`rpc start on demand helpers = no`) so that it has a PID of its own to stop: stopping it is how
a test makes "the remote registry service is not running". samba-dcerpcd outlives smbd, so both
are stopped by their own PIDs (never by name); each runs in a session of its own because smbd
signals its whole process group when it exits. Samba refuses an interface given as a /32, so the
address is bound in its /24 form with `bind interfaces only`.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

UNIX_USER = "secopsaudit"  # a system account with no shell/home; Samba's passdb maps onto it
DCERPCD = "/usr/libexec/samba/samba-dcerpcd"
FIXTURE = Path(__file__).parent / "fixtures" / "smb" / "registry.reg"

_CONF = """[global]
  netbios name = SECOPSTEST
  workgroup = SECOPSLAB
  server role = standalone server
  interfaces = {address}/24
  bind interfaces only = yes
  smb ports = {port}
  server min protocol = SMB2_02
  server signing = mandatory
  server smb encrypt = desired
  ntlm auth = ntlmv2-only
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  private dir = {d}/private
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  binddns dir = {d}/bind-dns
  log file = {d}/log/log.%m
  passdb backend = tdbsam:{d}/private/passdb.tdb
  registry shares = yes
  rpc start on demand helpers = no
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  restrict anonymous = 2
"""


def _run(args: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def _free_address() -> tuple[str, int]:
    """A random 127.a.b.1 with a free port (other test suites use 127.0.0.1 and friends)."""
    for _ in range(50):
        address = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.1"
        with socket.socket() as sock:
            try:
                sock.bind((address, 0))
            except OSError:
                continue
            return address, sock.getsockname()[1]
    raise RuntimeError("no free loopback address/port for smbd")


def filetime_hex(when: float) -> str:
    """A FILETIME (100 ns since 1601) as .reg hex bytes, little-endian, as Defender stores dates."""
    value = int((when + 11644473600) * 10_000_000)
    return ",".join(f"{b:02x}" for b in value.to_bytes(8, "little"))


class SambaServer:
    def __init__(self, registry: str | None = None, extra_conf: str = "") -> None:
        if shutil.which("smbd") is None or not Path(DCERPCD).exists():
            raise RuntimeError("Samba's smbd not found: install Debian's samba package "
                               "(scripts/install-test-deps.sh does)")
        if os.geteuid() != 0:
            raise RuntimeError("the Samba test server needs root (smbd switches to the audit account)")
        self.dir = Path(tempfile.mkdtemp(prefix="secops-smb-"))
        # smbd works as the audit account while it reaches samba-dcerpcd's sockets under this
        # folder: mkdtemp's 0700 makes every remote-registry call fail ("authentication type").
        self.dir.chmod(0o755)
        self.address, self.port = _free_address()
        self.user = UNIX_USER
        self.password = "Pw-" + secrets.token_urlsafe(12)
        self.registry = registry if registry is not None else FIXTURE.read_text(encoding="utf-8")
        self.conf = self.dir / "smb.conf"
        self.smbd: subprocess.Popen[bytes] | None = None
        self.dcerpcd: subprocess.Popen[bytes] | None = None
        self.user_sid = ""
        self.extra_conf = extra_conf  # smb.conf lines appended to [global] (e.g. an SMB1-only server)

    # --- set-up -----------------------------------------------------------------------------
    def _net(self, *args: str) -> str:
        return _run(["net", "-s", str(self.conf), *args])

    def _ensure_unix_user(self) -> None:
        if subprocess.run(["getent", "passwd", self.user], capture_output=True, check=False).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.user],
                           capture_output=True, check=False)  # a parallel run may have created it meanwhile
            _run(["getent", "passwd", self.user])

    def import_registry(self, text: str) -> None:
        reg = self.dir / f"import-{secrets.token_hex(4)}.reg"
        if not text.startswith("Windows Registry Editor"):
            text = "Windows Registry Editor Version 5.00\n\n" + text
        # Samba's .reg parser drops the last value unless the file ends with an empty line.
        reg.write_text(text.rstrip("\n") + "\n\n", encoding="utf-8")
        self._net("registry", "import", str(reg))

    def deny_key(self, key: str) -> None:
        """Give `key` a security descriptor that denies the audit account read access."""
        self._net("registry", "setsd_sddl", key,
                  f"O:BAG:SYD:(D;;RPCCRCSW;;;{self.user_sid})(A;;RPCCRCSW;;;WD)(A;;RPWPCCDCLCRCWOWDSDSW;;;BA)")

    def start(self) -> SambaServer:
        try:
            self._start()
        except BaseException:
            self.stop()  # never leave an smbd or samba-dcerpcd behind a failed start
            raise
        return self

    def _start(self) -> None:
        for sub in ("lock", "state", "cache", "private", "pid", "ncalrpc", "bind-dns", "log"):
            (self.dir / sub).mkdir()
        self.conf.write_text(_CONF.format(address=self.address, port=self.port, d=self.dir) + self.extra_conf,
                             encoding="utf-8")
        self._ensure_unix_user()
        _run(["smbpasswd", "-c", str(self.conf), "-s", "-a", self.user], stdin=f"{self.password}\n{self.password}\n")
        for line in _run(["pdbedit", "-s", str(self.conf), "-L", "-v", self.user]).splitlines():
            if line.startswith("User SID:"):
                self.user_sid = line.split()[-1]
        self.import_registry(self.registry)
        self.deny_key(r"HKLM\SOFTWARE\SecopsDenied")
        self.start_registry()
        self.smbd = subprocess.Popen(["smbd", "-F", "--no-process-group", "-s", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self._wait_listening()

    def start_registry(self) -> None:
        self.dcerpcd = subprocess.Popen([DCERPCD, "--libexec-rpcds", "-F", "--no-process-group", "-s", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any((self.dir / "ncalrpc" / "np").glob("winreg*")):
            time.sleep(0.1)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(1)
                if sock.connect_ex((self.address, self.port)) == 0:
                    return
            if self.smbd is not None and self.smbd.poll() is not None:
                break
            time.sleep(0.1)
        log = "\n".join(p.read_text(errors="replace")[-2000:] for p in (self.dir / "log").glob("*"))
        raise RuntimeError(f"smbd did not listen on {self.address}:{self.port}\n{log}")

    # --- tear-down --------------------------------------------------------------------------
    @staticmethod
    def _stop(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _leftovers(self) -> list[int]:
        """Workers (rpcd_winreg, smbd children) still running with this server's smb.conf."""
        found = []
        marker = str(self.conf).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def stop_registry(self) -> None:
        self._stop(self.dcerpcd)
        self._kill_leftovers(lambda pid: "rpcd" in _comm(pid) or "dcerpcd" in _comm(pid))

    def _kill_leftovers(self, which=lambda pid: True) -> None:  # type: ignore[no-untyped-def]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [p for p in self._leftovers() if which(p)]
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while pids and time.monotonic() < deadline and any(p in self._leftovers() for p in pids):
                time.sleep(0.05)

    def stop_smbd(self) -> None:
        self._stop(self.smbd)

    def stop(self) -> None:
        self._stop(self.smbd)
        self._stop(self.dcerpcd)
        self._kill_leftovers()
        shutil.rmtree(self.dir, ignore_errors=True)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
