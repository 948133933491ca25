"""The scope guard: which addresses an agency authorises secops to scan, checked before nmap runs.

Targets are IPv4 addresses, CIDRs or ranges only (never hostnames or anything nmap could read as
an option). A target outside every authorised range of the agency is refused unless the user gives
an explicit override reason, which is recorded in the run. Exclusions are hard: an address inside
an exclusion is never scanned (a target wholly inside one is refused, a wider one is trimmed).
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator

from secops.errors import SecopsError
from secops.i18n import _
from secops.policyfile import load_model

Net = ipaddress.IPv4Network
_RANGE = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,3}(?:\.\d{1,3}){3}|\d{1,3})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _network(value: str, strict: bool = False) -> Net:
    try:
        net = ipaddress.ip_network(value.strip(), strict=strict)
    except ValueError as exc:
        if strict and "host bits set" in str(exc):
            raise ValueError(_("{value} has host bits set: write the network itself (e.g. {ip_network}) so a typo "
                               "cannot widen what is authorised").format(
                                 value=repr(value), ip_network=ipaddress.ip_network(value.strip(), strict=False))) from exc
        raise ValueError(_("{value} is not an IP network (CIDR)").format(value=repr(value))) from exc
    if not isinstance(net, Net):
        raise ValueError(_("{value}: IPv6 is not supported by discovery yet").format(value=repr(value)))
    return net


class Authorised(_Strict):
    cidr: str
    note: str | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(_network(value, strict=True))  # an authorisation must say exactly what it means


class Exclusion(_Strict):
    cidr: str
    reason: str = Field(min_length=1)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(_network(value))


class AgencyScope(_Strict):
    authorised: list[Authorised] = Field(min_length=1)
    exclude: list[Exclusion] = Field(default_factory=list)


class Limits(_Strict):
    max_addresses: int = Field(default=65536, ge=1, description="addresses one run may scan")


class ScopeFile(_Strict):
    version: int = 1
    limits: Limits = Field(default_factory=Limits)
    exclude: list[Exclusion] = Field(default_factory=list,
                                     description="never scanned, for any agency, even with --override-scope")
    agencies: dict[str, AgencyScope]


class ScopePlan(BaseModel):
    """The guard's decision: what will be scanned, and every rule that shaped it."""

    agency_code: str
    scope_file: str
    requested: list[str]
    networks: list[str] = Field(description="CIDRs to scan, exclusions removed")
    trimmed: list[str] = Field(default_factory=list, description="exclusions that removed addresses")
    override_reason: str | None = None
    outside_scope: list[str] = Field(default_factory=list, description="targets allowed only by the override")
    addresses: int = 0

    def override_note(self) -> str | None:
        if not self.override_reason:
            return None
        return (f"SCOPE OVERRIDE by {getpass.getuser()}: {self.override_reason!r}; scanned outside the "
                f"authorised ranges: {', '.join(self.outside_scope) or 'nothing'}")

    def notes(self) -> list[str]:
        override = self.override_note()
        return [f"exclusion applied: {t}" for t in self.trimmed] + ([override] if override else [])


def default_scope_path() -> Path:
    return Path(platformdirs.user_config_dir("secops", appauthor=False)) / "scope.yaml"


def locate_scope_file(explicit: Path | str | None) -> Path:
    """--scope FILE, else $SECOPS_SCOPE, else the user's config folder."""
    if explicit:
        return Path(explicit)
    if os.environ.get("SECOPS_SCOPE"):
        return Path(os.environ["SECOPS_SCOPE"])
    path = default_scope_path()
    if not path.exists():
        raise SecopsError(_("no scope file: pass --scope FILE or set SECOPS_SCOPE (looked for {path}); "
                            "examples/scope.yaml shows the format").format(path=path))
    return path


def load_scope(path: Path) -> ScopeFile:
    return load_model(path, ScopeFile)


def parse_target(text: str) -> list[Net]:
    """One target: an address, a CIDR, or a range (a.b.c.d-e or a.b.c.d-a.b.c.e)."""
    value = text.strip()
    if not value or not re.fullmatch(r"[0-9./\-]+", value):
        raise SecopsError(_("target {text}: not an IPv4 address, CIDR or range (hostnames and nmap options are not "
                            "accepted)").format(text=repr(text)))
    match = _RANGE.match(value)
    try:
        if match:
            first = ipaddress.IPv4Address(match.group(1))
            end = match.group(2)
            last = ipaddress.IPv4Address(end if "." in end else f"{match.group(1).rsplit('.', 1)[0]}.{end}")
            if last < first:
                raise ValueError(_("range ends before it starts"))
            return list(ipaddress.summarize_address_range(first, last))
        return [_network(value)]
    except ValueError as exc:
        raise SecopsError(_("target {text}: {exc}").format(text=repr(text), exc=exc)) from exc


def split_targets(values: Iterable[str]) -> list[str]:
    """Targets from options: comma- or space-separated, possibly repeated."""
    return [part for value in values for part in re.split(r"[\s,]+", value) if part]


def _subtract(nets: list[Net], cut: Net) -> list[Net]:
    out: list[Net] = []
    for net in nets:
        if not net.overlaps(cut):
            out.append(net)
        elif net.subnet_of(cut):
            continue
        else:
            out.extend(net.address_exclude(cut))
    return out


def _override(reason: str | None) -> str | None:
    override = (reason or "").strip() or None
    if override is not None and len(override) < 5:
        raise SecopsError(_("--override-scope needs a real reason (at least 5 characters); it is recorded in the "
                            "run"))
    return override


def check_scope(scope: ScopeFile, scope_path: Path, agency_code: str, targets: list[str],
                override_reason: str | None = None) -> ScopePlan:
    """Decide what may be scanned; raise SecopsError naming the target and the rule otherwise."""
    override = _override(override_reason)
    rules = scope.agencies.get(agency_code)
    if rules is None and not (override and targets):
        raise SecopsError(_("{scope_path}: agency {agency_code} has no authorised ranges (known: {value})").format(
                              scope_path=scope_path, agency_code=repr(agency_code),
                              value=', '.join(sorted(scope.agencies)) or 'none'))
    authorised = [ipaddress.IPv4Network(a.cidr) for a in rules.authorised] if rules else []
    exclusions = [(ipaddress.IPv4Network(e.cidr), e.reason) for e in [*scope.exclude, *(rules.exclude if rules else [])]]
    requested = targets or [a.cidr for a in rules.authorised]  # type: ignore[union-attr]
    walk = _Walk(agency_code, scope_path, authorised, exclusions, override)
    for target in requested:
        walk.target(target)
    networks = walk.verdict()
    addresses = sum(n.num_addresses for n in networks)
    if addresses > scope.limits.max_addresses:
        raise SecopsError(_("{addresses} addresses requested for {agency_code}, more than limits.max_addresses "
                            "({max_addresses}) in {scope_path}: split the scan into smaller --targets runs, or "
                            "raise the limit in the scope file").format(
                              addresses=addresses, agency_code=agency_code,
                              max_addresses=scope.limits.max_addresses, scope_path=scope_path))
    return ScopePlan(agency_code=agency_code, scope_file=str(scope_path), requested=requested,
                     networks=[str(n) for n in networks], trimmed=walk.trimmed, override_reason=override,
                     outside_scope=walk.outside, addresses=addresses)


@dataclass
class _Walk:
    """check_scope's verdict on each requested target: planned, refused, trimmed or emptied by exclusions."""

    agency_code: str
    scope_path: Path
    authorised: list[Net]
    exclusions: list[tuple[Net, str]]
    override: str | None
    planned: list[Net] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    trimmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # every uncovered block of every target: one fix covers all
    emptied: list[str] = field(default_factory=list)  # targets an exclusion removed entirely

    def verdict(self) -> list[Net]:
        """The networks to scan, or the refusal naming every target that cannot be scanned."""
        if self.refused:
            raise SecopsError("\n".join(self.refused) + "; nothing was scanned")
        if self.emptied and not self.planned:
            raise SecopsError("; ".join(self.emptied) + "; nothing was scanned")
        return list(ipaddress.collapse_addresses(self.planned))

    def target(self, target: str) -> None:
        nets = parse_target(target)
        uncovered = nets
        for auth in self.authorised:
            uncovered = _subtract(uncovered, auth)
        if uncovered:
            if not self.override:
                self.refused.append(
                    _("target {target} is outside the ranges authorised for {agency_code} in {scope_path} "
                      "(authorised: {value}; not covered: {items})").format(
                        target=target, agency_code=self.agency_code, scope_path=self.scope_path,
                        value=', '.join(str(a) for a in self.authorised) or 'none',
                        items=', '.join(str(n) for n in uncovered)))
                return
            self.outside.extend(str(n) for n in uncovered)
        self.planned.extend(self.excluded(target, nets))

    def excluded(self, target: str, nets: list[Net]) -> list[Net]:
        """The target's blocks less the exclusions; an exclusion covering it all empties this target only
        (the other targets, the other authorised ranges, are still scanned)."""
        for cut, reason in self.exclusions:
            remaining = _subtract(nets, cut)
            if remaining == nets:
                continue
            if not remaining:
                self.emptied.append(_("target {target} is inside the exclusion {cut} of {agency_code} in "
                                      "{scope_path} ({reason})").format(
                                        target=target, cut=cut, agency_code=self.agency_code,
                                        scope_path=self.scope_path, reason=reason))
                self.trimmed.append(_("{cut} ({reason}) removed all of {target}").format(
                                        cut=cut, reason=reason, target=target))
                return []
            self.trimmed.append(_("{cut} ({reason}) removed from {target}").format(
                                    cut=cut, reason=reason, target=target))
            nets = remaining
        return nets


def plan_chunks(networks: list[str], chunk_prefix: int) -> list[list[str]]:
    """Split into chunks of at most one /chunk_prefix worth of addresses (one nmap process each)."""
    size = 2 ** (32 - chunk_prefix)
    pieces: list[Net] = []
    for text in networks:
        net = ipaddress.IPv4Network(text)
        pieces.extend(net.subnets(new_prefix=chunk_prefix) if net.prefixlen < chunk_prefix else [net])
    chunks: list[list[str]] = []
    current: list[str] = []
    filled = 0
    for net in pieces:
        if current and filled + net.num_addresses > size:
            chunks.append(current)
            current, filled = [], 0
        current.append(str(net))
        filled += net.num_addresses
    if current:
        chunks.append(current)
    return chunks
