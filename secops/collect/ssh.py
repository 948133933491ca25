"""SSH transport (paramiko): one verified connection per host, one channel per batch round."""

from __future__ import annotations

import time

import paramiko

from secops.collect.batch import Batch
from secops.collect.batch_windows import encoded_command
from secops.collect.credentials import Credentials
from secops.collect.hostkeys import HostKeyError, HostKeyStore, VerifyPolicy, host_id
from secops.i18n import _

MAX_TOTAL_OUTPUT = 64 * 1024 * 1024


class Unreachable(Exception):
    """TCP or SSH handshake failed (refused, timed out, no route)."""


class AuthFailed(Exception):
    """The host refused every credential offered."""


class SSHTransport:
    name = "ssh"

    def __init__(self, client: paramiko.SSHClient, os_family: str):
        self.client = client
        self.os_family = os_family

    @classmethod
    def connect(cls, host: str, port: int, creds: Credentials, store: HostKeyStore, *, tofu: bool,
                timeout: float, os_family: str) -> SSHTransport:
        client = paramiko.SSHClient()
        # Only secops' own known_hosts: load this host's known keys so paramiko negotiates one of
        # those key types and raises BadHostKeyException itself on a changed key.
        for keytype, key in store.known(host, port).items():
            client.get_host_keys().add(host_id(host, port), keytype, key)
        client.set_missing_host_key_policy(VerifyPolicy(store, host, port, tofu))
        try:
            client.connect(host, port=port, username=creds.username, key_filename=creds.key_files or None,  # type: ignore[arg-type]  # paramiko accepts a list
                           passphrase=creds.passphrase, password=creds.password, allow_agent=creds.use_agent,
                           look_for_keys=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(_("host key changed: server offered {key}; known_hosts holds a different key (possible "
                                 "interception)").format(key=exc.key.get_name())) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthFailed(_("authentication failed for {account}").format(account=creds.describe())) from exc
        except (TimeoutError, OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        return cls(client, os_family)

    def run(self, batch: Batch, timeout: float) -> bytes:
        transport = self.client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=timeout)
        channel.settimeout(1.0)
        if self.os_family == "windows":
            channel.exec_command(encoded_command(batch.script))
        else:
            channel.exec_command("/bin/sh -s")
            channel.sendall(batch.script.encode())
            channel.shutdown_write()
        chunks: list[bytes] = []
        size, ended = 0, False
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and size < MAX_TOTAL_OUTPUT:
                while channel.recv_stderr_ready():  # drained and dropped: never evaluated, never logged
                    channel.recv_stderr(65536)
                try:
                    data = channel.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    ended = True
                    break
                chunks.append(data)
                size += len(data)
        finally:
            channel.close()
        if not ended and size < MAX_TOTAL_OUTPUT:
            # The host's time ran out before its answer ended: an attempt that did not finish (kind
            # "timeout"), not a half answer to evaluate.
            raise TimeoutError(_("the host's audit did not finish within {seconds} s").format(seconds=f"{timeout:.0f}"))
        return b"".join(chunks)

    def close(self) -> None:
        self.client.close()
