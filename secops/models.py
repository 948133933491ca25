"""Pydantic domain models shared by every stage (inventory, discover, collect, grade, report).

These are the typed boundary: importers produce them, the store persists them, graders read them.
Cross-row rules (parent exists, approver matches the level policy) live in the importer, which
sees the whole file and the database; rules about a single record live here.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
Code = Annotated[str, Field(pattern=CODE_PATTERN, description="Stable identifier, upsert key")]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class AgencyKind(str, enum.Enum):
    """The kinds secops ships (policies/agency_kinds.yaml); a site may add its own there."""

    province = "province"
    department = "department"
    district = "district"  # before 1 July 2025 only
    commune = "commune"
    ward = "ward"
    special_zone = "special_zone"


class Lifecycle(str, enum.Enum):
    """Decree 85 lifecycle of an information system; only plan_deployed counts toward T1."""

    unclassified = "unclassified"
    dossier_submitted = "dossier_submitted"
    level_approved = "level_approved"
    plan_deployed = "plan_deployed"


class Approver(str, enum.Enum):
    owner = "owner"
    province = "province"
    ministry = "ministry"
    prime_minister = "prime_minister"


class OSFamily(str, enum.Enum):
    linux = "linux"
    windows = "windows"
    macos = "macos"
    other = "other"
    unknown = "unknown"


class EndpointRole(str, enum.Enum):
    workstation = "workstation"
    laptop = "laptop"
    server = "server"


class ProtectionStatus(str, enum.Enum):
    protected = "protected"
    degraded = "degraded"
    unprotected = "unprotected"
    unknown = "unknown"


class EvidenceSource(str, enum.Enum):
    audit = "audit"  # secops audited the host (SSH or local)
    console = "console"  # export of a protection product's management console
    inventory = "inventory"  # declared in an inventory file (lowest trust, still dated)
    sample = "sample"  # synthetic sample province


class RunStatus(str, enum.Enum):
    running = "running"
    ok = "ok"
    partial = "partial"
    failed = "failed"
    interrupted = "interrupted"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=False)


def _no_future(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    today = (info.context or {}).get("today") or dt.date.today()
    if value is not None and value > today:
        raise ValueError(f"date {value.isoformat()} is in the future")
    return value


class Agency(_Model):
    code: Code
    name: str = Field(min_length=1, max_length=300, description="Vietnamese name, with diacritics")
    kind: str = Field(pattern=r"^[a-z][a-z_]{0,19}$", description="a kind of policies/agency_kinds.yaml")
    parent: Code | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_name(cls, value: Any) -> Any:
        return value.value if isinstance(value, AgencyKind) else value

    @model_validator(mode="after")
    def _parent_rule(self) -> "Agency":
        if self.kind == AgencyKind.province.value and self.parent:
            raise ValueError("a province has no parent")
        if self.kind != AgencyKind.province.value and not self.parent:
            raise ValueError(f"a {self.kind} needs a parent agency")
        if self.parent == self.code:
            raise ValueError("an agency cannot be its own parent")
        return self


class InformationSystem(_Model):
    code: Code
    name: str = Field(min_length=1, max_length=300)
    owner: Code = Field(description="code of the owning agency")
    level: int | None = Field(default=None, ge=1, le=5)
    state: Lifecycle = Lifecycle.unclassified
    approval_decision: str | None = Field(default=None, max_length=120)
    approval_date: dt.date | None = None
    approved_by: Approver | None = None
    plan_deployed_date: dt.date | None = None
    last_inspection_date: dt.date | None = None

    _dates = field_validator("approval_date", "plan_deployed_date", "last_inspection_date")(_no_future)

    @model_validator(mode="after")
    def _lifecycle_rules(self) -> "InformationSystem":
        approved = self.state in (Lifecycle.level_approved, Lifecycle.plan_deployed)
        if approved and self.level is None:
            raise ValueError(f"state {self.state.value} requires an approved level (1-5)")
        if approved and not (self.approval_decision and self.approval_date):
            raise ValueError(f"state {self.state.value} requires approval_decision and approval_date")
        if not approved and (self.approval_decision or self.approval_date):
            raise ValueError(f"state {self.state.value} cannot carry an approval decision")
        if self.state is not Lifecycle.plan_deployed and self.plan_deployed_date:
            raise ValueError("plan_deployed_date given but state is not plan_deployed")
        if self.state is Lifecycle.unclassified and self.level is not None:
            raise ValueError("an unclassified system has no level; use dossier_submitted for a proposed level")
        if self.plan_deployed_date and self.approval_date and self.plan_deployed_date < self.approval_date:
            raise ValueError("plan_deployed_date is before approval_date")
        return self


def normalise_mac(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    hexdigits = re.sub(r"[^0-9A-Fa-f]", "", value)
    if len(hexdigits) != 12:
        raise ValueError(f"MAC address {value!r} must have 12 hex digits")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2)).upper()


class ProtectionEvidence(_Model):
    status: ProtectionStatus
    product: str | None = Field(default=None, max_length=200)
    source: EvidenceSource = EvidenceSource.inventory
    observed_at: dt.datetime
    detail: str | None = Field(default=None, max_length=2000)

    @field_validator("observed_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        # Naive timestamps are taken as UTC so comparisons with max-age never mix kinds.
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class Endpoint(_Model):
    code: Code
    hostname: str = Field(min_length=1, max_length=255)
    ips: list[str] = Field(default_factory=list)
    mac: str | None = None
    os_family: OSFamily = OSFamily.unknown
    role: EndpointRole = EndpointRole.workstation
    owner: Code
    protection: ProtectionEvidence | None = None

    @field_validator("hostname")
    @classmethod
    def _printable(cls, value: str) -> str:
        # Hostnames are untrusted; anything printable is kept (and escaped on output), controls are not.
        if _CONTROL.search(value):
            raise ValueError("hostname contains control characters")
        return value

    @field_validator("ips", mode="before")
    @classmethod
    def _split_ips(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in re.split(r"[\s,;]+", value) if part]
        return value

    @field_validator("ips")
    @classmethod
    def _valid_ips(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(item)) for item in value]

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return normalise_mac(value)


class StaffMember(_Model):
    code: Code
    agency: Code
    name: str | None = Field(default=None, max_length=200)
    is_head: bool = False
    awareness_date: dt.date | None = None
    informed_date: dt.date | None = None
    training_date: dt.date | None = None

    _dates = field_validator("awareness_date", "informed_date", "training_date")(_no_future)
