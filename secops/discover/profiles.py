"""Discovery settings (policies/discovery.yaml): profiles, timing, chunking, staleness window.

A profile is a typed description (ports? service detection? OS detection?), turned into nmap
arguments here in one place; the YAML cannot smuggle arbitrary nmap options in.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from secops.config import policy_path
from secops.errors import SecopsError
from secops.policyfile import load_model

_PORTS = re.compile(r"^(?:[TU]:)?\d{1,5}(?:-\d{1,5})?(?:,(?:[TU]:)?\d{1,5}(?:-\d{1,5})?)*$")
_DURATION = re.compile(r"^\d{1,6}(?:ms|s|m|h)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Profile(_Strict):
    description: str = ""
    host_discovery_only: bool = Field(default=False, description="nmap -sn: which hosts are up, no ports")
    top_ports: int | None = Field(default=None, ge=1, le=65535, description="nmap --top-ports N")
    service_detection: bool = Field(default=False, description="nmap -sV")
    version_intensity: int | None = Field(default=None, ge=0, le=9, description="nmap --version-intensity")
    os_detection: bool = Field(default=False, description="nmap -O --osscan-limit, only when running as root")


class ScanSettings(_Strict):
    timing: int = Field(default=3, ge=0, le=5)
    max_rate: int | None = Field(default=None, ge=1)
    host_timeout: str | None = "15m"
    chunk_prefix: int = Field(default=24, ge=16, le=32)
    parallel: int = Field(default=2, ge=1, le=16)
    chunk_timeout_seconds: int = Field(default=3600, ge=1)
    no_ping: bool = False
    # Off by default: nmap's reverse-DNS (PTR) lookups go to the site's DNS servers, i.e. to
    # addresses outside the authorised scope, and disclose every scanned address to them.
    reverse_dns: bool = False

    @field_validator("host_timeout")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError(f"{value!r} is not an nmap time (e.g. 30s, 15m)")
        return value


class DiscoveryConfig(_Strict):
    version: int = 1
    stale_after_days: int = Field(default=30, ge=1)
    defaults: ScanSettings = Field(default_factory=ScanSettings)
    profiles: dict[str, Profile]


def load_config(policies_dir: Path) -> DiscoveryConfig:
    return load_model(policy_path(policies_dir, "discovery.yaml"), DiscoveryConfig)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def validate_ports(ports: str) -> str:
    value = ports.replace(" ", "")
    if not _PORTS.match(value):
        raise SecopsError(f"--ports {ports!r}: use nmap port syntax such as 22,80,8000-8100")
    return value


def build_arguments(profile_name: str, profile: Profile, settings: ScanSettings, *, ports: str | None = None,
                    root: bool | None = None) -> tuple[list[str], list[str]]:
    """nmap arguments (targets excluded) for a profile, plus notes on what was left out and why."""
    notes: list[str] = []
    args = [f"-T{settings.timing}"]
    if not settings.reverse_dns:
        args.append("-n")
    if settings.max_rate:
        args += ["--max-rate", str(settings.max_rate)]
    if settings.host_timeout:
        args += ["--host-timeout", settings.host_timeout]
    if settings.no_ping:
        args.append("-Pn")
    if profile.host_discovery_only:
        if ports:
            raise SecopsError(f"profile {profile_name!r} does host discovery only; --ports does not apply")
        return args + ["-sn"], notes
    if ports:
        args += ["-p", validate_ports(ports)]
    elif profile.top_ports:
        args += ["--top-ports", str(profile.top_ports)]
    if profile.service_detection:
        args.append("-sV")
        if profile.version_intensity is not None:
            args += ["--version-intensity", str(profile.version_intensity)]
    if profile.os_detection:
        if root if root is not None else is_root():
            args += ["-O", "--osscan-limit"]
        else:
            notes.append("OS detection skipped: it needs root privileges")
    return args, notes


def get_profile(config: DiscoveryConfig, name: str) -> Profile:
    if name not in config.profiles:
        raise SecopsError(f"unknown profile {name!r}; profiles are {', '.join(config.profiles)}")
    return config.profiles[name]
