"""SMB remote-registry transport (impacket): Windows facts without an agent and without OpenSSH.

One SMB2/3 session per host (never SMB1: the negotiation itself is an SMB2 NEGOTIATE), message
signing required, encryption whenever the server offers SMB 3 encryption, NTLMv2. Over it, one
DCE/RPC binding to \\PIPE\\winreg; every registry key a round needs is opened once, its values
enumerated, and the handle closed. Only `registry` (and `os`) requests can be answered: the other
request kinds are reported as unsupported, so the engine marks their rules "not applicable: needs
a command transport" instead of passing or failing them.

Values are rendered as text the way Wazuh's Windows agent renders them for its rules: REG_SZ and
REG_EXPAND_SZ as stored (not expanded), REG_DWORD in decimal, REG_BINARY as lower-case hex bytes;
secops also renders REG_QWORD in decimal (Wazuh would print its bytes in hex, which no numeric
rule can compare) and REG_MULTI_SZ one string per line (the facts format of every transport).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from impacket import nt_errors, ntlm
from impacket.dcerpc.v5 import rrp, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.nmb import NetBIOSError, NetBIOSTimeout
from impacket.smb3 import SMB3
from impacket.smb3structs import SMB2_SESSION_FLAG_ENCRYPT_DATA
from impacket.smbconnection import SessionError, SMBConnection

from secops.collect.credentials import Credentials
from secops.collect.ssh import AuthFailed, Unreachable
from secops.evaluate.facts import MISSING, OK, Facts, Item, Request
from secops.i18n import _

SUPPORTED = frozenset({"registry", "registry_subkeys", "os"})
MAX_SUBKEYS = 2000  # subkeys listed per key (uninstall lists hold a few hundred)
_PROGRAM_VALUES = ("DisplayName", "DisplayVersion", "Publisher")
NEEDS_COMMANDS = "needs a command transport (the smb transport reads only the registry)"
OWN_HIVE = ("HKEY_CURRENT_USER over the remote registry is the audit account's own profile, "
            "not a user's: needs a command transport or HKEY_USERS\\<SID>")
MAX_VALUES = 4096  # values read per key: bounded so a huge key cannot stall the audit
MAX_DATA = 1024 * 1024  # bytes per value

ERROR_FILE_NOT_FOUND, ERROR_ACCESS_DENIED, ERROR_NO_MORE_ITEMS = 2, 5, 259

_HIVES = {
    "HKEY_LOCAL_MACHINE": rrp.hOpenLocalMachine, "HKLM": rrp.hOpenLocalMachine,
    "HKEY_USERS": rrp.hOpenUsers, "HKU": rrp.hOpenUsers,
    "HKEY_CLASSES_ROOT": rrp.hOpenClassesRoot, "HKCR": rrp.hOpenClassesRoot,
    "HKEY_CURRENT_CONFIG": rrp.hOpenCurrentConfig, "HKCC": rrp.hOpenCurrentConfig,
}
_OWN_HIVE = ("HKEY_CURRENT_USER", "HKCU")


class AccessDenied(Exception):
    """The account may log in but not use the remote registry."""


class RegistryUnavailable(Exception):
    """\\PIPE\\winreg is not there: the Remote Registry service is stopped or disabled."""


class _SignedSMB3(SMB3):  # type: ignore[misc]
    """impacket's SMB2/3 client, asking for signing as *required* from the first packet."""

    def negotiateSession(self, preferredDialect: Any = None, negSessionResponse: Any = None) -> Any:
        self.RequireMessageSigning = True
        return super().negotiateSession(preferredDialect, negSessionResponse)


def _code(exc: Exception) -> int:
    # smbconnection.SessionError spells it getErrorCode, DCERPCException get_error_code.
    getter = getattr(exc, "getErrorCode", None) or getattr(exc, "get_error_code", None)
    try:
        return int(getter()) if getter else -1
    except (TypeError, ValueError):
        return -1


def split_key(key: str) -> tuple[str, str]:
    hive, _, path = key.strip().strip("\\").partition("\\")
    return hive.upper(), path.strip("\\")


def render(value_type: int, data: bytes) -> list[str]:
    """A value's data as the text lines rules match (see the module docstring)."""
    if value_type in (rrp.REG_SZ, rrp.REG_EXPAND_SZ, rrp.REG_LINK):
        text = data.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
        return [" ".join(text.splitlines())]
    if value_type == rrp.REG_MULTI_SZ:
        strings = data.decode("utf-16-le", errors="replace").split("\x00")
        return [" ".join(s.splitlines()) for s in strings if s] or [""]
    if value_type == rrp.REG_DWORD and len(data) >= 4:
        return [str(int.from_bytes(data[:4], "little"))]
    if value_type == rrp.REG_DWORD_BIG_ENDIAN and len(data) >= 4:
        return [str(int.from_bytes(data[:4], "big"))]
    if value_type == rrp.REG_QWORD and len(data) >= 8:
        return [str(int.from_bytes(data[:8], "little"))]
    return [data.hex()]


class SMBRegistryTransport:
    name = "smb"
    os_family = "windows"
    supported = SUPPORTED

    def __init__(self, conn: SMBConnection, dce: Any, host: str):
        self.conn = conn
        self.dce = dce
        self.host = host
        self.hives: dict[str, Any] = {}
        self.encrypted = bool(conn.getSMBServer()._Session["SessionFlags"] & SMB2_SESSION_FLAG_ENCRYPT_DATA)
        self.dialect = conn.getDialect()

    @classmethod
    def connect(cls, host: str, port: int, creds: Credentials, domain: str, *, timeout: float) -> SMBRegistryTransport:
        if creds.password is None:
            raise AuthFailed(_("the smb transport needs a password for {user} (password_env or password_file)").format(
                user=creds.username))
        if not ntlm.USE_NTLMv2:  # impacket's default; something changed it: never answer with NTLMv1
            raise AccessDenied(_("impacket is set to NTLMv1 (ntlm.USE_NTLMv2 is False); refusing to log in"))
        try:
            smb = _SignedSMB3(host, host, sess_port=port, timeout=timeout)
            conn = SMBConnection(host, host, sess_port=port, timeout=timeout, existingConnection=smb)
        except (TimeoutError, NetBIOSTimeout) as exc:
            raise TimeoutError(_("{host}:{port} did not answer the SMB2/3 negotiation within {seconds} s").format(
                host=host, port=port, seconds=f"{timeout:g}")) from exc
        except (OSError, NetBIOSError, SessionError) as exc:
            raise Unreachable(_("SMB2/3 connection to {host}:{port} failed: {why}").format(
                host=host, port=port, why=_describe(exc))) from exc
        try:
            conn.login(creds.username, creds.password, domain or "")
        except SessionError as exc:
            conn.close()
            if _code(exc) in (nt_errors.STATUS_LOGON_FAILURE, nt_errors.STATUS_ACCOUNT_DISABLED,
                              nt_errors.STATUS_ACCOUNT_LOCKED_OUT, nt_errors.STATUS_PASSWORD_EXPIRED,
                              nt_errors.STATUS_ACCOUNT_RESTRICTION, nt_errors.STATUS_LOGON_TYPE_NOT_GRANTED):
                raise AuthFailed(_("logon failure for {account}: {why}").format(
                    account=_account(creds, domain), why=_describe(exc))) from exc
            raise Unreachable(_("SMB session setup failed: {why}").format(why=_describe(exc))) from exc
        except (TimeoutError, NetBIOSTimeout) as exc:
            conn.close()
            raise TimeoutError(_("{host}:{port} did not finish the SMB session setup within {seconds} s").format(
                host=host, port=port, seconds=f"{timeout:g}")) from exc
        except (OSError, NetBIOSError) as exc:
            conn.close()
            raise Unreachable(_("SMB session setup failed: {why}").format(why=_describe(exc))) from exc
        session = conn.getSMBServer()._Session
        if not (session["SigningActivated"] or session["SessionFlags"] & SMB2_SESSION_FLAG_ENCRYPT_DATA) \
                or conn.isGuestSession():
            conn.close()
            raise AccessDenied(_("the server did not sign the session (or logged in as guest); refusing to go on"))
        try:
            rpc = transport.SMBTransport(host, port, r"\winreg", smb_connection=conn)
            dce = rpc.get_dce_rpc()
            dce.connect()
            dce.bind(rrp.MSRPC_UUID_RRP)
        except (TimeoutError, NetBIOSTimeout) as exc:
            conn.close()
            raise TimeoutError(_("{host}:{port} did not answer while opening the remote registry").format(
                host=host, port=port)) from exc
        except SessionError as exc:
            conn.close()
            # Windows answers "name not found" when RemoteRegistry is stopped; Samba, whose pipe is
            # served by samba-dcerpcd, answers "connection refused" when that helper is down.
            if _code(exc) in (nt_errors.STATUS_OBJECT_NAME_NOT_FOUND, nt_errors.STATUS_PIPE_NOT_AVAILABLE,
                              nt_errors.STATUS_CONNECTION_REFUSED):
                raise RegistryUnavailable(
                    _("the Remote Registry service is not running (\\PIPE\\winreg not found)")) from exc
            if _code(exc) == nt_errors.STATUS_ACCESS_DENIED:
                raise AccessDenied(_("{account} may not open \\PIPE\\winreg").format(
                    account=_account(creds, domain))) from exc
            raise
        except DCERPCException as exc:
            conn.close()
            if _code(exc) == ERROR_ACCESS_DENIED or "access_denied" in str(exc):
                raise AccessDenied(_("{account} may not bind to the remote registry").format(
                    account=_account(creds, domain))) from exc
            raise RegistryUnavailable(_("remote registry binding failed: {why}").format(why=_describe(exc))) from exc
        return cls(conn, dce, host)

    # --- reading ----------------------------------------------------------------------------
    def _hive(self, name: str) -> Any:
        if name not in self.hives:
            try:
                self.hives[name] = _HIVES[name](self.dce)["phKey"]
            except DCERPCException as exc:
                if _code(exc) == ERROR_ACCESS_DENIED:
                    raise AccessDenied(_("the account may not open {hive} remotely (winreg security / 'Network access: "
                                         "Remotely accessible registry paths')").format(hive=name)) from exc
                raise
        return self.hives[name]

    def _query_info(self, handle: Any) -> Any:
        # impacket's hBaseRegQueryInfoKey sends an empty class string that Samba (and strict
        # servers) reject as bad stub data; a terminated empty string is what Windows itself sends.
        request = rrp.BaseRegQueryInfoKey()
        request["hKey"] = handle
        request["lpClassIn"] = "\x00"
        return self.dce.request(request)

    def read_key(self, key: str) -> Item | str:
        """The key's values as "name<TAB>data" lines, MISSING, or an error message."""
        opened = self._open(key)
        if not isinstance(opened, tuple):
            return opened
        hive, handle = opened
        try:
            return Item(status=OK, data="\n".join(self._values(handle)).encode("utf-8"))
        except DCERPCException as exc:
            return f"cannot read {key}: {_describe(exc)}"
        finally:
            self._close(hive, handle)

    def _values(self, handle: Any) -> Iterable[str]:
        info = self._query_info(handle)
        count = min(int(info["lpcValues"]), MAX_VALUES)
        name_len = int(info["lpcbMaxValueNameLen"]) + 2
        data_len = min(int(info["lpcbMaxValueLen"]) + 2, MAX_DATA)
        lines: list[str] = []
        for index in range(count):
            try:
                answer = rrp.hBaseRegEnumValue(self.dce, handle, index, max(name_len, data_len, 256))
            except DCERPCException as exc:
                if _code(exc) == ERROR_NO_MORE_ITEMS:
                    break
                raise
            name = str(answer["lpValueNameOut"]).rstrip("\x00")
            if not name:
                continue  # the key's unnamed default value: no Wazuh rule can name it
            data = b"".join(answer["lpData"])[: int(answer["lpcbData"])]
            lines.extend(f"{name}\t{line}" for line in render(int(answer["lpType"]), data))
        return lines

    def _open(self, key: str) -> tuple[Any, Any] | Item | str:
        """(hive handle, key handle), MISSING, or an error message."""
        hive_name, path = split_key(key)
        if hive_name not in _HIVES:
            return f"unknown registry hive {hive_name!r}"
        hive = self._hive(hive_name)
        if not path:
            return hive, hive
        try:
            return hive, rrp.hBaseRegOpenKey(self.dce, hive, path, samDesired=rrp.KEY_READ)["phkResult"]
        except DCERPCException as exc:
            if _code(exc) == ERROR_FILE_NOT_FOUND:
                return Item(status=MISSING)
            if _code(exc) == ERROR_ACCESS_DENIED:
                return f"access denied: the audit account may not read {key}"
            return f"cannot open {key}: {_describe(exc)}"

    def _close(self, hive: Any, handle: Any) -> None:
        if handle is not hive:
            with contextlib.suppress(DCERPCException):
                rrp.hBaseRegCloseKey(self.dce, handle)

    def read_subkeys(self, key: str) -> Item | str:
        """Each subkey as "name<TAB>DisplayName<TAB>DisplayVersion<TAB>Publisher" (installed programs)."""
        opened = self._open(key)
        if not isinstance(opened, tuple):
            return opened
        hive, handle = opened
        lines: list[str] = []
        try:
            count = min(int(self._query_info(handle)["lpcSubKeys"]), MAX_SUBKEYS)
            for index in range(count):
                try:
                    name = str(rrp.hBaseRegEnumKey(self.dce, handle, index)["lpNameOut"]).rstrip("\x00")
                except DCERPCException as exc:
                    if _code(exc) == ERROR_NO_MORE_ITEMS:
                        break
                    raise
                lines.append("\t".join([name, *self._program(handle, name)]))
        except DCERPCException as exc:
            return f"cannot list {key}: {_describe(exc)}"
        finally:
            self._close(hive, handle)
        return Item(status=OK, data="\n".join(lines).encode("utf-8"))

    def _program(self, parent: Any, name: str) -> list[str]:
        try:
            handle = rrp.hBaseRegOpenKey(self.dce, parent, name, samDesired=rrp.KEY_QUERY_VALUE)["phkResult"]
        except DCERPCException:
            return ["", "", ""]  # an entry the account may not read: listed by name only
        out = []
        try:
            for value in _PROGRAM_VALUES:
                try:
                    kind, data = rrp.hBaseRegQueryValue(self.dce, handle, value)
                    out.append(" ".join(str(data).rstrip("\x00").split()) if kind in (rrp.REG_SZ, rrp.REG_EXPAND_SZ) else "")
                except DCERPCException:
                    out.append("")
        finally:
            self._close(None, handle)
        return out

    def _os(self) -> Item:
        item = self.read_key(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion")
        values: dict[str, str] = {}
        if isinstance(item, Item) and item.status == OK:
            for line in item.lines():
                name, _, data = line.partition("\t")
                values.setdefault(name, data)
        parts = [values.get("ProductName") or "Windows", values.get("DisplayVersion", ""),
                 f"build {values['CurrentBuild']}" if values.get("CurrentBuild") else ""]
        security = f"SMB {self.dialect:#x}, signed" + (", encrypted" if self.encrypted else "")
        text = " ".join(p for p in parts if p) + f" ({security})"
        return Item(status=OK, data=text.encode("utf-8"))

    def refusals(self, requests: Iterable[Request]) -> dict[Request, str]:
        """What the remote registry cannot answer, with the reason, known without asking the host."""
        refused: dict[Request, str] = {}
        for request in requests:
            if request.kind not in SUPPORTED:
                refused[request] = NEEDS_COMMANDS
            elif request.kind == "registry" and split_key(request.arg)[0] in _OWN_HIVE:
                refused[request] = OWN_HIVE
        return refused

    def collect(self, requests: list[Request], timeout: float) -> Facts:
        """Answer one round: registry keys over the open binding, the rest marked unsupported."""
        facts = Facts()
        deadline = time.monotonic() + timeout
        facts.unsupported.update(self.refusals(requests))
        for request in requests:
            if request in facts.unsupported:
                continue
            if time.monotonic() > deadline:
                facts.errors[request] = "not read: the host's time budget ran out"
                continue
            try:
                if request.kind == "os":
                    answer: Item | str = self._os()
                elif request.kind == "registry_subkeys":
                    answer = self.read_subkeys(request.arg)
                else:
                    answer = self.read_key(request.arg)
            except (TimeoutError, NetBIOSTimeout) as exc:
                raise TimeoutError(_("the remote registry stopped answering while reading {key}").format(
                    key=request.arg or "os")) from exc
            if isinstance(answer, Item):
                facts.items[request] = answer
            else:
                facts.errors[request] = answer
        return facts

    def close(self) -> None:
        # Closing a broken connection must not hide the host's result.
        with contextlib.suppress(Exception):
            self.dce.disconnect()
        with contextlib.suppress(Exception):
            self.conn.close()


def _account(creds: Credentials, domain: str) -> str:
    return f"{domain}\\{creds.username}" if domain else creds.username


def _describe(exc: Exception) -> str:
    if isinstance(exc, SessionError):
        return str(nt_errors.ERROR_MESSAGES.get(exc.getErrorCode(), (hex(exc.getErrorCode()),))[0])
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


__all__ = [
    "NEEDS_COMMANDS",
    "SUPPORTED",
    "AccessDenied",
    "RegistryUnavailable",
    "SMBRegistryTransport",
    "render",
    "split_key",
]
