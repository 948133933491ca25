"""policies/sites.yaml: which agencies are scanned from which site, and the settings of the link.

Without sites (the bundled default) every stage runs in-process, exactly as on a single machine.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import policy_path
from secops.policyfile import load_model

SITE_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TLS(_Strict):
    """TLS to Redis (`rediss://` URLs): the CA that signs the server, and a client certificate if required."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


# How long after a task's message is restored a scanner polls it up (kombu restores every 10 s), plus margin.
RESTORE_SLACK_SECONDS = 20


class Link(_Strict):
    """The link settings: the central side and every scanner must read the same ones (the same sites.yaml)."""

    task_deadline_seconds: int = Field(default=3600, ge=5, le=86400,
                                       description="a site whose task has not finished by then is recorded failed")
    scanner_wait_seconds: int = Field(default=120, ge=1, le=3600,
                                      description="a task no scanner has started by then: the site has no live scanner")
    task_seconds: int = Field(default=900, ge=1, le=86400,
                              description="the longest one task (a site's discover or audit of one agency) takes")
    visibility_timeout_seconds: int = Field(default=1200, ge=5, le=86400,
                                            description="an unacknowledged task is redelivered after this")
    reconnect_seconds: int = Field(default=300, ge=1, le=86400,
                                   description="the central side waits this long for a lost broker to come back")
    max_payload_bytes: int = Field(default=64 * 1024 * 1024, ge=4096, le=1024 * 1024 * 1024)
    connect_timeout_seconds: float = Field(default=5, gt=0, le=120)
    heartbeat_seconds: int = Field(default=30, ge=1, le=3600)
    allow_unauthenticated_broker: bool = Field(
        default=False, description="accept a broker URL with no user/password (tests on loopback only)")
    tls: TLS | None = None

    @model_validator(mode="after")
    def _redelivery_fits(self) -> Link:
        """A killed scanner's task must be redelivered, and finished, before its deadline."""
        if self.visibility_timeout_seconds <= self.task_seconds:
            raise ValueError(
                f"visibility_timeout_seconds ({self.visibility_timeout_seconds}) must be longer than task_seconds "
                f"({self.task_seconds}): otherwise a task still running is handed to a second scanner")
        needed = (self.scanner_wait_seconds + self.visibility_timeout_seconds + RESTORE_SLACK_SECONDS
                  + self.task_seconds)
        if needed > self.task_deadline_seconds:
            raise ValueError(
                f"task_deadline_seconds ({self.task_deadline_seconds}) is too short for a killed scanner's task to be "
                f"redelivered and finished: scanner_wait_seconds + visibility_timeout_seconds + "
                f"{RESTORE_SLACK_SECONDS} + task_seconds = {needed}")
        return self


class Site(_Strict):
    code: str = Field(pattern=SITE_CODE)
    name: str = ""
    agencies: list[str] = Field(min_length=1, description="agency codes whose discover/audit run at this site")

    @property
    def broker_user(self) -> str:
        """This site's scanners' Redis ACL user (`secops scanners acl` writes it)."""
        return broker_user(self.code)


class SitesFile(_Strict):
    version: int = 1
    link: Link = Field(default_factory=Link)
    sites: list[Site] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> SitesFile:
        codes = [s.code for s in self.sites]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"site codes used twice: {', '.join(dupes)}")
        owner: dict[str, str] = {}
        for site in self.sites:
            for agency in site.agencies:
                if agency in owner and owner[agency] != site.code:
                    raise ValueError(f"agency {agency!r} is mapped to two sites: {owner[agency]} and {site.code}")
                owner[agency] = site.code
        return self

    def site(self, code: str) -> Site | None:
        return next((s for s in self.sites if s.code == code), None)

    def site_for(self, agency_code: str) -> Site | None:
        return next((s for s in self.sites if agency_code in s.agencies), None)

    def remote_agencies(self) -> set[str]:
        return {a for s in self.sites for a in s.agencies}


def load_sites(policies: Path) -> SitesFile:
    path = policy_path(policies, "sites.yaml")
    return load_model(path, SitesFile) if path.exists() else SitesFile()


def queue_name(site_code: str) -> str:
    return f"secops.site.{site_code}"


def broker_user(site_code: str) -> str:
    return f"secops-site-{site_code}"


CENTRAL_USER = "secops-central"
