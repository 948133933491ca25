"""Load check packs: Wazuh SCA policy YAML, plus optional `secops:` keys that Wazuh ignores.

A Wazuh policy file has `policy`, optional `requirements`, optional `variables` and `checks`.
secops adds (all optional, so public CIS policies load unchanged):

- policy level `secops: {os: linux|windows, protection: {...}}` (protection: see protection.py)
- check level  `secops: {serves: [T2, L-...], severity: low|medium|high|critical, os: ..., product: NAME,
  aspect: installed|running|signatures}`

Every rule is parsed at load time so a typo is reported with the file, the check id and the rule,
not discovered on the 500th host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from secops.errors import SecopsError
from secops.evaluate.rules import Dialect, RegexType, Rule, RuleSyntaxError, parse_rule, substitute
from secops.i18n import _
from secops.policyfile import format_validation, read_yaml

Condition = Literal["all", "any", "none"]
OS = Literal["linux", "windows", "macos", "any"]


class _Loose(BaseModel):
    # Wazuh keys we do not use (compliance, mitre, references...) are kept, not rejected.
    model_config = ConfigDict(extra="allow")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckText(_Strict):
    """A check's words in Vietnamese, beside the pack's own (English) title, rationale and remediation."""

    title: str = Field(min_length=1)
    rationale: str | None = None
    remediation: str | None = None


class CheckExt(_Strict):
    serves: list[str] = Field(default_factory=list, description="target or level requirement ids")
    severity: Literal["info", "low", "medium", "high", "critical"] | None = Field(
        default=None, description="only where the pack says; none otherwise (never a made-up 'medium')")
    os: OS | None = None
    product: str | None = Field(default=None, description="endpoint-protection product this check detects")
    aspect: Literal["installed", "running", "signatures"] | None = None
    vi: CheckText | None = Field(default=None, description="Vietnamese text (secops's own packs); English is shown, "
                                                           "marked as English, where absent")

    @model_validator(mode="after")
    def _product_aspect(self) -> CheckExt:
        if (self.product is None) != (self.aspect is None):
            raise ValueError(_("product and aspect go together"))
        return self


class ProtectionRule(_Strict):
    status: Literal["protected", "degraded", "unprotected"]
    when: dict[Literal["installed", "running", "signatures"], str | list[str]] = Field(default_factory=dict)


class ProtectionExt(_Strict):
    rules: list[ProtectionRule] = Field(min_length=1, description="first matching rule wins, per product")
    otherwise: Literal["protected", "degraded", "unprotected"] = "unprotected"


class PolicyExt(_Strict):
    os: OS = "any"
    protection: ProtectionExt | None = None


class PolicyMeta(_Loose):
    id: str = Field(min_length=1)
    name: str = ""
    description: str = ""
    file: str | None = None
    regex_type: RegexType = "osregex"

    @field_validator("id", mode="before")
    @classmethod
    def _str_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Requirements(_Loose):
    title: str = ""
    name: str = ""  # 5.x dialect
    description: str = ""
    condition: Condition
    rules: list[str] = Field(min_length=1)


class Check(_Loose):
    id: int | str
    title: str = Field(default="", description="4.x dialect; 5.x calls it `name` (copied here)")
    description: str = ""
    rationale: str = ""
    remediation: str = ""
    condition: Condition
    rules: list[str] = Field(min_length=1)
    regex_type: RegexType | None = None
    secops: CheckExt = Field(default_factory=CheckExt)

    @model_validator(mode="before")
    @classmethod
    def _title_or_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "title" not in data and isinstance(data.get("name"), str):
            return {**data, "title": data["name"]}
        return data

    @model_validator(mode="after")
    def _has_title(self) -> Check:
        if not self.title:
            raise ValueError(_("a check needs a 'title' (Wazuh 4.x) or a 'name' (Wazuh 5.x)"))
        return self


def detect_dialect(data: dict[str, Any]) -> Dialect:
    """Checks with `name` and no `title` are written for Wazuh 5.x, otherwise 4.x."""
    checks = data.get("checks")
    if isinstance(checks, list):
        for check in checks:
            if isinstance(check, dict) and "name" in check and "title" not in check:
                return "5"
    return "4"


@dataclass(frozen=True)
class RuleWarning:
    """A rule Wazuh would not evaluate as written; it costs its check, never the policy."""

    check_id: str  # "requirements" for the requirements block
    rule: str
    reason: str

    def __str__(self) -> str:
        where = "requirements" if self.check_id == "requirements" else f"check {self.check_id}"
        return f"{where}: rule {self.rule!r}: {self.reason}"


class Policy(_Loose):
    policy: PolicyMeta
    requirements: Requirements | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    secops: PolicyExt = Field(default_factory=PolicyExt)

    path: str | None = Field(default=None, exclude=True)
    dialect: Dialect = Field(default="4", exclude=True, description="set by load_policy from the file's shape")
    warnings: list[RuleWarning] = Field(default_factory=list, exclude=True)

    @model_validator(mode="wrap")
    @classmethod
    def _dialect_of_data(cls, data: Any, handler: Any) -> Policy:
        """Every path that builds a policy detects its dialect from the data's shape (before, only
        load_policy did and Policy.model_validate silently meant 4.x); load_policy may still force one."""
        policy: Policy = handler(data)
        if isinstance(data, dict) and "dialect" not in data:
            policy.dialect = detect_dialect(data)
        return policy

    @field_validator("variables")
    @classmethod
    def _vars(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not str(name).startswith("$"):
                raise ValueError(_("variable {name} must start with '$'").format(name=repr(name)))
        return {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        ids = [str(c.id) for c in self.checks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(_("duplicate check ids: {ids}").format(ids=", ".join(dupes)))
        return self

    @property
    def id(self) -> str:
        return self.policy.id

    def regex_type(self, check: Check | None = None) -> RegexType:
        return (check.regex_type if check and check.regex_type else None) or self.policy.regex_type

    def compiled(self, rules: list[str], variables: dict[str, str], regex_type: RegexType) -> list[Rule]:
        """Parse rules; raises RuleSyntaxError on the first one that cannot be parsed."""
        return [parse_rule(substitute(text, variables), regex_type, self.dialect) for text in rules]

    def effective_variables(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.variables, **{k: v for k, v in (overrides or {}).items() if k in self.variables}}


def rule_warnings(policy: Policy) -> list[RuleWarning]:
    """Every rule that cannot be parsed, or holds a test Wazuh rejects, with the check id and reason."""
    variables = policy.effective_variables()
    found: list[RuleWarning] = []
    blocks: list[tuple[str, list[str], RegexType]] = []
    if policy.requirements:
        blocks.append(("requirements", policy.requirements.rules, policy.regex_type()))
    blocks += [(str(c.id), c.rules, policy.regex_type(c)) for c in policy.checks]
    for check_id, rules, regex_type in blocks:
        for text in rules:
            try:
                rule = parse_rule(substitute(text, variables), regex_type, policy.dialect)
            except RuleSyntaxError as exc:
                found.append(RuleWarning(check_id, text, str(exc)))
                continue
            found.extend(RuleWarning(check_id, text, why) for why in rule.problems)
    return found


def load_policy(path: Path, dialect: Dialect | None = None) -> Policy:
    """Load a policy; refused (SecopsError) only for structural faults, as Wazuh does.

    A rule that does not parse costs its check only: it is listed in `policy.warnings` and the
    check evaluates to not_applicable with the reason.
    """
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SecopsError(_("{path}: a check pack is a YAML mapping with 'policy' and 'checks'").format(path=path))
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc
    policy.path = str(path)
    policy.dialect = dialect or detect_dialect(data)
    policy.warnings = rule_warnings(policy)
    return policy


def pack_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_packs(folder: Path) -> list[Policy]:
    if not folder.is_dir():
        raise SecopsError(_("{folder}: check pack folder not found").format(folder=folder))
    policies = [load_policy(path) for path in pack_files(folder)]
    seen: dict[str, str] = {}
    for policy in policies:
        if policy.id in seen:
            raise SecopsError(_("{path}: policy id {id} already used by {other}").format(
                path=policy.path, id=repr(policy.id), other=seen[policy.id]))
        seen[policy.id] = policy.path or ""
    return policies
