"""Audit configuration (YAML): who to connect as, where host keys live, limits per scope.

Credentials are *references*: a key file path, the ssh-agent, or the name of an environment
variable / a secret file that holds a password. secops never stores or prints the secret itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import default_data_dir
from secops.i18n import _
from secops.policyfile import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scope(_Strict):
    """Connection settings for a group of hosts: agencies (with their sub-units) and/or hosts."""

    name: str
    agencies: list[str] = Field(default_factory=list, description="agency codes; their subtrees are included")
    hosts: list[str] = Field(default_factory=list, description="endpoint codes, hostnames or addresses")
    transport: Literal["ssh", "smb"] = Field(default="ssh", description="ssh (commands) or smb (remote registry)")
    domain: str | None = Field(default=None, description="smb: the account's domain; none for a local account")
    username: str | None = None
    port: int = Field(default=22, ge=1, le=65535, description="[default: 22 for ssh, 445 for smb]")
    key_files: list[Path] = Field(default_factory=list)
    passphrase_env: str | None = Field(default=None, description="env var holding the key passphrase")
    use_agent: bool = False
    password_env: str | None = Field(default=None, description="env var holding the password")
    password_file: Path | None = Field(default=None, description="file holding the password (first line)")
    trust_on_first_use: bool = Field(default=False, description="record unknown host keys instead of refusing")
    connect_timeout: float = Field(default=10, gt=0, le=300)
    command_timeout: int = Field(default=30, ge=1, le=3600)
    host_timeout: float = Field(default=300, gt=0, le=7200, description="whole audit of one host")

    @model_validator(mode="after")
    def _one_password_source(self) -> Scope:
        if self.password_env and self.password_file:
            raise ValueError(_("give password_env or password_file, not both"))
        if self.transport == "smb":
            if "port" not in self.model_fields_set:
                self.port = 445
            if self.key_files or self.use_agent or self.passphrase_env or self.trust_on_first_use:
                raise ValueError(_("the smb transport logs in with a password (password_env or password_file); "
                                   "key_files, use_agent, passphrase_env and trust_on_first_use are ssh settings"))
        elif self.domain:
            raise ValueError(_("domain is an smb setting; for ssh write the account as the username"))
        if self.trust_on_first_use and (self.password_env or self.password_file):
            # On first contact the key is not verified yet: a password would go to whoever answers.
            raise ValueError(_("trust_on_first_use cannot be combined with a password; use key files or the agent, "
                               "or record the host keys first with `secops hosts trust`"))
        return self

    @property
    def has_credentials(self) -> bool:
        return bool(self.username and (self.key_files or self.use_agent or self.password_env or self.password_file))


class AuditConfig(_Strict):
    version: int = 1
    concurrency: int = Field(default=8, ge=1, le=256)
    known_hosts: Path | None = Field(default=None, description="secops' own known_hosts [default: data dir]")
    scopes: list[Scope] = Field(default_factory=list, description="first matching scope wins")

    def known_hosts_path(self) -> Path:
        env = os.environ.get("SECOPS_KNOWN_HOSTS")
        if env:
            return Path(env).expanduser()
        return (self.known_hosts or default_data_dir() / "known_hosts").expanduser()


def default_config_path() -> Path:
    env = os.environ.get("SECOPS_AUDIT_CONFIG")
    return Path(env).expanduser() if env else default_data_dir() / "audit.yaml"


def load_config(path: Path | None) -> AuditConfig:
    """The given file, else $SECOPS_AUDIT_CONFIG, else <data dir>/audit.yaml, else no scopes."""
    if path is not None:
        return load_model(path, AuditConfig)
    default = default_config_path()
    return load_model(default, AuditConfig) if default.exists() else AuditConfig()
