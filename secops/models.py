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

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from secops.i18n import _
from secops.textsafe import control_problem

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
Code = Annotated[str, Field(pattern=CODE_PATTERN, description="Stable identifier, upsert key")]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _name_without_controls(value: str | None) -> str | None:
    if (problem := control_problem(value)) is not None:
        raise ValueError(problem)
    return value


# Names are printed in terminals and documents: no control character of any kind (C0, DEL, C1),
# so no escape sequence can retitle a window or clear a screen.
Name = Annotated[str, AfterValidator(_name_without_controls)]


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


class ApprovalStatus(str, enum.Enum):
    """Approval status of a level dossier (Form 08 column 6, plus "not started")."""

    not_started = "not_started"
    drafting = "drafting"
    sent_for_appraisal = "sent_for_appraisal"
    appraised = "appraised"
    approved = "approved"


class PlanDeployment(str, enum.Enum):
    """Deployment of the protection plan by level (Form 08 column 10)."""

    not_deployed = "not_deployed"
    partly_deployed = "partly_deployed"
    fully_deployed = "fully_deployed"


class AssessmentKind(str, enum.Enum):
    before_operation = "before_operation"
    periodic = "periodic"
    ad_hoc = "ad_hoc"


# The former single lifecycle state, as register fields (used by import of old files and migration 0005).
STATE_TO_REGISTER: dict[str, tuple[str, str]] = {
    "unclassified": ("not_started", "not_deployed"),
    "dossier_submitted": ("sent_for_appraisal", "not_deployed"),
    "level_approved": ("approved", "not_deployed"),
    "plan_deployed": ("approved", "fully_deployed"),
}


def state_of(status: ApprovalStatus, plan: PlanDeployment) -> Lifecycle:
    """The former lifecycle state that a register row corresponds to (kept for old readers)."""
    if status is ApprovalStatus.approved:
        return Lifecycle.plan_deployed if plan is PlanDeployment.fully_deployed else Lifecycle.level_approved
    if status in (ApprovalStatus.sent_for_appraisal, ApprovalStatus.appraised):
        return Lifecycle.dossier_submitted
    return Lifecycle.unclassified


class SystemType(str, enum.Enum):
    """Type of an information system (loại hình, Decree 331/2026 Art. 9.2.a-đ)."""

    internal = "internal"  # a) internal operations of the body
    public_service = "public_service"  # b) online services to citizens and businesses
    infrastructure = "infrastructure"  # c) information infrastructure shared by several bodies
    industrial_control = "industrial_control"  # d) industrial control of construction works
    other = "other"  # đ) any other, serving a specialised field


SYSTEM_TYPE_LETTERS = {"a": SystemType.internal, "b": SystemType.public_service, "c": SystemType.infrastructure,
                       "d": SystemType.industrial_control, "đ": SystemType.other, "dd": SystemType.other}


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


def _day_first(value: object) -> object:
    """A Vietnamese date (DD/MM/YYYY) as a date; a value that is not a date says which forms are read."""
    from secops.localtime import DAY_FORMATS, day_or_text

    value = day_or_text(value)
    if isinstance(value, str) and value.strip():
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(_("{value} is not a date: use {day_formats}").format(
                                 value=repr(value), day_formats=DAY_FORMATS)) from None
    return value


def _no_future(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    from secops.localtime import local_today  # the province's date: what "today" is where the rows were written

    today = (info.context or {}).get("today") or local_today()
    if value is not None and value > today:
        raise ValueError(_("date {date} is in the future").format(date=value.isoformat()))
    return value


class Agency(_Model):
    code: Code
    name: Name = Field(min_length=1, max_length=300, description="Vietnamese name, with diacritics")
    kind: str = Field(pattern=r"^[a-z][a-z_]{0,19}$", description="a kind of policies/agency_kinds.yaml")
    parent: Code | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_name(cls, value: Any) -> Any:
        return value.value if isinstance(value, AgencyKind) else value

    @model_validator(mode="after")
    def _parent_rule(self) -> Agency:
        if self.kind == AgencyKind.province.value and self.parent:
            raise ValueError(_("a province has no parent"))
        if self.kind != AgencyKind.province.value and not self.parent:
            raise ValueError(_("a {kind} needs a parent agency").format(kind=self.kind))
        if self.parent == self.code:
            raise ValueError(_("an agency cannot be its own parent"))
        return self


class InformationSystem(_Model):
    """One row of the level-dossier register (Decree 331/2026 Art. 36, Form 08 section 3).

    `level` is the approved level; `proposed_level` the level the dossier asks for. Files of the
    previous release give only `state`: the register fields are then derived from it.
    """

    code: Code
    name: Name = Field(min_length=1, max_length=300)
    owner: Code = Field(description="code of the owning agency")
    operator: str | None = Field(default=None, max_length=300, description="unit that operates the system")
    proposed_level: int | None = Field(default=None, ge=1, le=5)
    level: int | None = Field(default=None, ge=1, le=5, description="approved level")
    system_type: SystemType | None = Field(default=None, description="loại hình, Decree 331 Art. 9.2 (a-đ or a name)")
    national_security_list: bool = Field(default=False, description="on the list of systems important to "
                                                                     "national security (Decree 331 Art. 16-17, 20.4)")
    state: Lifecycle | None = Field(default=None, description="former lifecycle state; derived when omitted")
    approval_status: ApprovalStatus = ApprovalStatus.not_started
    approval_decision: str | None = Field(default=None, max_length=120)
    approval_date: dt.date | None = None
    approved_by: Approver | None = None
    approval_body: str | None = Field(default=None, max_length=300, description="name of the approving body")
    regulation_decision: str | None = Field(default=None, max_length=120)
    regulation_date: dt.date | None = None
    regulation_body: str | None = Field(default=None, max_length=300)
    expected_approval_date: dt.date | None = None
    plan_deployment: PlanDeployment = PlanDeployment.not_deployed
    plan_deployed_date: dt.date | None = None
    expected_deployment_date: dt.date | None = None
    last_inspection_date: dt.date | None = None

    _dates = field_validator("approval_date", "plan_deployed_date", "last_inspection_date",
                             "regulation_date")(_no_future)
    _dmy = field_validator("approval_date", "plan_deployed_date", "last_inspection_date", "regulation_date",
                           "expected_approval_date", "expected_deployment_date", mode="before")(_day_first)

    @model_validator(mode="before")
    @classmethod
    def _from_state(cls, data: Any) -> Any:
        """A row with only the former `state` gets the register fields that state meant."""
        if not isinstance(data, dict) or not data.get("state") or data.get("approval_status"):
            return data
        mapped = STATE_TO_REGISTER.get(str(getattr(data["state"], "value", data["state"])))
        if mapped is None:
            return data  # the enum check reports the bad value
        data = dict(data, approval_status=mapped[0])
        data.setdefault("plan_deployment", mapped[1])
        if mapped[0] != "approved" and data.get("level") is not None and data.get("proposed_level") is None:
            data["proposed_level"] = data.pop("level")  # a submitted dossier's level is only proposed
        return data

    @field_validator("system_type", mode="before")
    @classmethod
    def _type_letter(cls, value: Any) -> Any:
        """The article's letter (a, b, c, d, đ) is accepted beside secops' name."""
        if isinstance(value, str):
            key = value.strip().lower().removeprefix("9.2.").strip("() ")
            return SYSTEM_TYPE_LETTERS.get(key, value.strip() or None)
        return value

    @field_validator("operator", "approval_body", "regulation_body", "approval_decision", "regulation_decision")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError(_("contains control characters"))
        return value

    @model_validator(mode="after")
    def _register_rules(self) -> InformationSystem:
        if self.approval_status is ApprovalStatus.approved:
            self._approved_rules()
        else:
            self._unapproved_rules()
        self._dated_rules()
        derived = state_of(self.approval_status, self.plan_deployment)
        if self.state is not None and self.state is not derived:
            raise ValueError(_("state {state} contradicts approval_status {status} and plan_deployment {deployment} "
                               "(they mean {derived})").format(
                state=self.state.value, status=self.approval_status.value, deployment=self.plan_deployment.value,
                derived=derived.value))
        self.state = derived
        return self

    def _approved_rules(self) -> None:
        """An approved system has its level (the proposed one when not given), decision and date."""
        if self.level is None:
            self.level = self.proposed_level
        if self.level is None:
            raise ValueError(_("approval_status approved requires an approved level (1-5)"))
        if not (self.approval_decision and self.approval_date):
            raise ValueError(_("approval_status approved requires approval_decision and approval_date"))
        if self.proposed_level is None:
            self.proposed_level = self.level

    def _unapproved_rules(self) -> None:
        if self.level is not None:
            raise ValueError(_("approval_status {value} has no approved level; use proposed_level").format(
                                 value=self.approval_status.value))
        if self.approval_decision or self.approval_date:
            raise ValueError(_("approval_status {value} cannot carry an approval decision").format(
                                 value=self.approval_status.value))

    def _dated_rules(self) -> None:
        if self.plan_deployment is not PlanDeployment.fully_deployed and self.plan_deployed_date:
            raise ValueError(_("plan_deployed_date given but plan_deployment is not fully_deployed"))
        if self.plan_deployed_date and self.approval_date and self.plan_deployed_date < self.approval_date:
            raise ValueError(_("plan_deployed_date is before approval_date"))
        if bool(self.regulation_decision) != bool(self.regulation_date):
            raise ValueError(_("regulation_decision and regulation_date go together"))


class Assessment(_Model):
    """A security assessment of a system (Form 08 column 12; Decree 331 Art. 27-28)."""

    system: Code = Field(description="code of the assessed information system")
    kind: AssessmentKind
    date: dt.date
    assessor: str = Field(min_length=1, max_length=300)
    independent: bool = Field(default=False, description="assessor independent of the operator")
    report_ref: str | None = Field(default=None, max_length=200)

    _dates = field_validator("date")(_no_future)
    _dmy = field_validator("date", mode="before")(_day_first)

    @field_validator("assessor", "report_ref")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError(_("contains control characters"))
        return value


def normalise_mac(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    hexdigits = re.sub(r"[^0-9A-Fa-f]", "", value)
    if len(hexdigits) != 12:
        raise ValueError(_("MAC address {value} must have 12 hex digits").format(value=repr(value)))
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
        # A time written without a zone is the province's local time (policies/locale.yaml).
        from secops.localtime import future_reason, province_zone

        aware = value if value.tzinfo else value.replace(tzinfo=province_zone())
        reason = future_reason(aware, "observed_at")
        if reason:
            raise ValueError(reason)
        return aware


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
            raise ValueError(_("hostname contains control characters"))
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
    name: Name | None = Field(default=None, max_length=200)
    is_head: bool = False
    awareness_date: dt.date | None = None
    informed_date: dt.date | None = None
    training_date: dt.date | None = None

    _dates = field_validator("awareness_date", "informed_date", "training_date")(_no_future)
    _dmy = field_validator("awareness_date", "informed_date", "training_date", mode="before")(_day_first)
