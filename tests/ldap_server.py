"""A throwaway OpenLDAP server (Debian's slapd) for tests: its own config and database in a temp
folder, listening on a loopback port only."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUFFIX = "dc=secops,dc=test"
ADMIN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-only-in-this-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LdapServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="secops-ldap-"))
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        slapd = shutil.which("slapd") or "/usr/sbin/slapd"
        if not Path(slapd).exists():
            raise RuntimeError("Debian's slapd is required (scripts/install-test-deps.sh installs it)")
        (self.dir / "data").mkdir()
        conf = self.dir / "slapd.conf"
        conf.write_text("\n".join([
            "include /etc/ldap/schema/core.schema", "include /etc/ldap/schema/cosine.schema",
            "include /etc/ldap/schema/inetorgperson.schema", "modulepath /usr/lib/ldap", "moduleload back_mdb",
            f"pidfile {self.dir}/slapd.pid", "database mdb", f'suffix "{SUFFIX}"', f'rootdn "{ADMIN}"',
            f"rootpw {ADMIN_PASSWORD}", f"directory {self.dir}/data", "maxsize 10485760", ""]))
        self.proc = subprocess.Popen([slapd, "-f", str(conf), "-h", self.url + "/", "-d", "0"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.dir / "slapd.log", "wb"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited: {(self.dir / 'slapd.log').read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self.url
            time.sleep(0.1)
        raise RuntimeError("slapd did not start listening within 30 s")

    def add(self, ldif: str) -> None:
        done = subprocess.run(["ldapadd", "-x", "-H", self.url, "-D", ADMIN, "-w", ADMIN_PASSWORD],
                              input=ldif, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"ldapadd failed: {done.stderr}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
