"""policies/console.yaml: the console's security settings as data."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from secops.config import policy_path
from secops.users.tables import ROLES


class LdapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    user_dn: str = Field(description="DN template; {name} is the escaped user name")
    group_dn: str | None = Field(default=None, description="required group (its member attribute lists the user)")
    role: str = "leader"
    agency: str | None = None
    timeout_seconds: int = Field(default=5, ge=1, le=60)


class ConsolePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    lockout_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    idle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 7)
    mfa_roles: list[str] = Field(default_factory=lambda: ["province-officer", "agency-officer"])
    totp_issuer: str = "secops"
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    upload_max_rows: int = Field(default=200_000, ge=1)
    api_rate_per_minute: int = Field(default=120, ge=1)
    page_size: int = Field(default=50, ge=5, le=1000)
    signin_concurrency: int = Field(default=2, ge=1, le=64, description="password checks (argon2id) at once")
    ldap: LdapSettings | None = None

    def needs_mfa(self, role: str) -> bool:
        return role in self.mfa_roles


def load_console_policy(policies: Path) -> ConsolePolicy:
    from secops.policyfile import load_model

    path = policy_path(policies, "console.yaml")
    policy = load_model(path, ConsolePolicy)
    unknown = [r for r in policy.mfa_roles if r not in ROLES]
    if unknown:
        from secops.errors import SecopsError

        raise SecopsError(f"{path}: mfa_roles: unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    return policy
