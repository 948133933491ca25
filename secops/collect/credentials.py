"""Resolve a scope's credential references at connect time; secrets live only in memory.

A password comes from an environment variable or a secret file named in the config, is handed
to paramiko and dropped; it is never written to the database, a log line or a report, and the
reprs here never show it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from secops.collect.config import Scope
from secops.i18n import _


class NoCredentials(Exception):
    """The scope does not give a usable way to log in (recorded as the host's result)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    key_files: list[str] = field(default_factory=list)
    use_agent: bool = False
    password: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Safe to log: which methods, never the secrets."""
        methods = [f"key {k}" for k in self.key_files] + (["agent"] if self.use_agent else [])
        if self.password is not None:
            methods.append("password")
        return f"{self.username} via " + ", ".join(methods)


def _read_secret_file(path: Path) -> str:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise NoCredentials(_("password file {path} cannot be read: {why}").format(path=path, why=exc.strerror)) from exc
    return text.splitlines()[0] if text else ""


def resolve(scope: Scope | None) -> Credentials:
    if scope is None:
        raise NoCredentials(_("no audit scope matches this host"))
    if not scope.username:
        raise NoCredentials(_("scope {name} has no username").format(name=repr(scope.name)))
    password = None
    if scope.password_env:
        password = os.environ.get(scope.password_env)
        if password is None:
            raise NoCredentials(_("environment variable {name} is not set").format(name=scope.password_env))
    elif scope.password_file:
        password = _read_secret_file(scope.password_file)
    keys = []
    for key in scope.key_files:
        path = key.expanduser()
        if not path.is_file():
            raise NoCredentials(_("key file {path} not found").format(path=path))
        keys.append(str(path))
    if not keys and not scope.use_agent and password is None:
        raise NoCredentials(_("scope {name} gives no key file, agent or password").format(name=repr(scope.name)))
    passphrase = os.environ.get(scope.passphrase_env) if scope.passphrase_env else None
    return Credentials(scope.username, keys, scope.use_agent, password, passphrase)
