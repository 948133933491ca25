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


class Link(_Strict):
    task_deadline_seconds: int = Field(default=3600, ge=5, le=86400,
                                       description="a site whose task has not finished by then is recorded failed")
    scanner_wait_seconds: int = Field(default=120, ge=1, le=3600,
                                      description="a task no scanner has started by then: the site has no live scanner")
    visibility_timeout_seconds: int = Field(default=3600, ge=5, le=86400,
                                            description="an unacknowledged task is redelivered after this")
    max_payload_bytes: int = Field(default=64 * 1024 * 1024, ge=4096, le=1024 * 1024 * 1024)
    connect_timeout_seconds: float = Field(default=5, gt=0, le=120)
    heartbeat_seconds: int = Field(default=30, ge=1, le=3600)
    tls: TLS | None = None


class Site(_Strict):
    code: str = Field(pattern=SITE_CODE)
    name: str = ""
    agencies: list[str] = Field(min_length=1, description="agency codes whose discover/audit run at this site")


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
