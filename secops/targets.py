"""The targets of the province's plan (policies/targets.yaml) as validated models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from secops.config import policy_path
from secops.i18n import _
from secops.policyfile import Strict, Text, load_model

Entity = Literal["systems", "endpoints", "staff"]

# Fields a policy filter may name, per entity (see grade/sources.py for how each is computed).
ENTITY_FIELDS: dict[str, set[str]] = {
    "systems": {"code", "level", "state", "approved_by", "approval_date", "plan_deployed_date",
                "last_inspection_date", "approval_status", "plan_deployment", "proposed_level"},
    "endpoints": {"code", "hostname", "os_family", "role", "protection", "last_seen"},
    "staff": {"code", "is_head", "awareness_date", "informed_date", "training_date"},
}
CONDITION_KEYS = {"not_null", "is_null", "within_days"}


EVIDENCE_SOURCES = ("audit", "console", "inventory", "sample")  # secops.models.EvidenceSource's values


class EvidencePrecedence(Strict):
    """Which source wins when two sources observed an endpoint at similar times: an observation
    counts as `credit_hours` newer than it is when the newest evidence is chosen, so a source with
    credit is replaced only by an observation more than that many hours newer. Shown on the
    dashboard beside the target, with `why`."""

    credit_hours: dict[str, int] = Field(default_factory=dict)
    why: Text | None = None

    @field_validator("credit_hours")
    @classmethod
    def _known_sources(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(EVIDENCE_SOURCES))
        if unknown:
            raise ValueError(_("unknown evidence source(s) {sources} (one of {known})").format(
                sources=", ".join(unknown), known=", ".join(EVIDENCE_SOURCES)))
        bad = sorted(k for k, v in value.items() if not 0 <= v <= 24 * 30)
        if bad:
            raise ValueError(_("credit_hours of {sources}: between 0 and 720 hours").format(sources=", ".join(bad)))
        return value

    def credits(self) -> dict[str, int]:
        """Minutes of credit per source, only the sources that have some."""
        return {source: hours * 60 for source, hours in sorted(self.credit_hours.items()) if hours}


class Target(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    key: str
    title: Text
    label: Text | None = Field(default=None,
                               description="a short name for narrow places (the terminal); the title when absent")
    entity: Entity
    denominator: dict[str, Any] = Field(default_factory=dict)
    numerator: dict[str, Any]
    unknown: dict[str, Any] | None = Field(
        default=None, description="filter for records whose state is not known (counted apart)")
    comparison: Literal[">=", ">"]
    threshold: Decimal = Field(ge=0, le=1)
    evidence_max_age_days: int | None = Field(default=None, ge=0)
    evidence_precedence: EvidencePrecedence | None = Field(
        default=None, description="for endpoints: which source wins when observations are close in time")
    fix: Text | None = None

    def label_in(self, lang: str) -> str:
        return (self.label or self.title).get(lang)

    @field_validator("threshold", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # Floats such as 0.7 are not exact; go through str so Decimal("0.7") is what we grade with.
        return str(value) if isinstance(value, float) else value

    @model_validator(mode="after")
    def _filters_name_known_fields(self) -> Target:
        allowed = ENTITY_FIELDS[self.entity]
        for part in ("denominator", "numerator", "unknown"):
            for field, cond in (getattr(self, part) or {}).items():
                if field not in allowed:
                    raise ValueError(_("{part}: unknown field {field} for {entity} (one of {known})").format(
                        part=part, field=repr(field), entity=self.entity, known=", ".join(sorted(allowed))))
                if isinstance(cond, dict) and not set(cond) <= CONDITION_KEYS:
                    raise ValueError(_("{part}.{field}: unknown condition {keys}").format(
                        part=part, field=field, keys=sorted(set(cond) - CONDITION_KEYS)))
        if self.entity == "endpoints" and self.unknown is None:
            self.unknown = {"protection": "unknown"}
        return self


class TargetPolicy(Strict):
    version: int = 1
    plan: Text | str | None = Field(default=None, description="the plan's name: vi/en, or one text for both")
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TargetPolicy:
        ids = [t.id for t in self.targets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(_("duplicate target ids: {ids}").format(ids=", ".join(dupes)))
        return self

    def plan_in(self, lang: str) -> str | None:
        return self.plan.get(lang) if isinstance(self.plan, Text) else self.plan

    def get(self, target_id: str) -> Target:
        for target in self.targets:
            if target.id == target_id:
                return target
        raise KeyError(target_id)


def load_targets(policies_dir: Path) -> TargetPolicy:
    return load_model(policy_path(policies_dir, "targets.yaml"), TargetPolicy, reuse=True)
