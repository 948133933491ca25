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


class OidcMapping(BaseModel):
    """Who may sign in by single sign-on, and as what: the first mapping whose group (in the groups
    claim) and claims (all equal) match the ID token gives the role and agency; none: refused."""

    model_config = ConfigDict(extra="forbid")

    group: str | None = None
    claims: dict[str, str] = Field(default_factory=dict)
    role: str
    agency: str | None = None


class OidcSettings(BaseModel):
    """OpenID Connect sign-in (authorisation code flow with PKCE, state and nonce), by Authlib."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="https URL (http only on loopback); its discovery document is read")
    client_id: str
    client_secret_file: Path = Field(description="file holding the client secret (never in this file)")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    name_claim: str = "preferred_username"
    groups_claim: str = "groups"
    redirect_uri: str | None = Field(default=None, description="[the console's own /oidc/callback]")
    mappings: list[OidcMapping] = Field(min_length=1)
    timeout_seconds: int = Field(default=5, ge=1, le=60)
    label: str = "SSO"


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
    warm_caches: bool = Field(default=True, description="build every agency's figures when a worker starts and "
                                                       "when a new graded run appears (web/warm.py)")
    signin_wait_seconds: int = Field(default=60, ge=1, le=600,
                                     description="longest wait for a sign-in slot under several workers (then 503)")
    ldap: LdapSettings | None = None
    oidc: OidcSettings | None = None

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
    if policy.oidc is not None:
        _check_oidc(path, policy.oidc)
    return policy


def _check_oidc(path: Path, oidc: OidcSettings) -> None:
    from urllib.parse import urlsplit

    from secops.errors import SecopsError

    url = urlsplit(oidc.issuer)
    loopback = url.hostname in ("127.0.0.1", "::1", "localhost")
    if url.scheme != "https" and not (url.scheme == "http" and loopback):
        raise SecopsError(f"{path}: oidc.issuer {oidc.issuer!r}: must be an https URL")
    for number, mapping in enumerate(oidc.mappings, 1):
        if mapping.role not in ROLES:
            raise SecopsError(f"{path}: oidc.mappings[{number}].role {mapping.role!r}: roles are {', '.join(ROLES)}")
        if mapping.group is None and not mapping.claims:
            raise SecopsError(f"{path}: oidc.mappings[{number}]: give a group or claims to match")
