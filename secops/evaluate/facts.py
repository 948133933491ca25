"""What the check engine needs from a host (requests) and what a transport brought back (facts).

The engine never touches a host: it lists the facts its rules need, a transport collects them in
one framed script, and the engine evaluates rules against the answers. That keeps evaluation pure
(testable without a host) and lets a host be audited in one or two round trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# file_exists: is PATH a regular file          file_read: the file's bytes
# dir_exists:  is PATH a directory             dir_list:  files under PATH (recursive, bounded)
# processes:   running processes (name\targs)  command:   stdout and exit status of a shell command
# registry:    a Windows registry key (values) os:        uname / os-release / Windows version
# registry_subkeys: a key's subkeys with their DisplayName/DisplayVersion/Publisher (uninstall lists)
Kind = Literal["file_exists", "file_read", "dir_exists", "dir_list", "processes", "command", "registry", "os",
               "registry_subkeys"]

# Status codes a collector reports per request (the END marker's first field).
OK, MISSING, UNREADABLE, NOT_REGULAR = 0, 1, 2, 3


@dataclass(frozen=True, order=True)
class Request:
    kind: Kind
    arg: str = ""


@dataclass
class Item:
    """The answer to one request. For commands, `status` is the command's exit status."""

    status: int
    data: bytes = b""
    truncated: bool = False

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def lines(self) -> list[str]:
        return self.text().splitlines()


@dataclass
class Facts:
    items: dict[Request, Item] = field(default_factory=dict)
    errors: dict[Request, str] = field(default_factory=dict)  # collected but unusable (e.g. cut off)
    # Kinds the transport cannot collect at all (e.g. commands over the SMB registry transport):
    # their rules are "not applicable" with this reason, never passed, failed or errors.
    unsupported: dict[Request, str] = field(default_factory=dict)

    def get(self, request: Request) -> Item | None:
        return self.items.get(request)

    def merge(self, other: Facts) -> None:
        self.items.update(other.items)
        self.errors.update(other.errors)
        self.unsupported.update(other.unsupported)
