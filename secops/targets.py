"""The targets of the province's plan (policies/targets.yaml) as validated models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from secops.config import policy_path
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


class Target(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    key: str
    title: Text
    entity: Entity
    denominator: dict[str, Any] = Field(default_factory=dict)
    numerator: dict[str, Any]
    unknown: dict[str, Any] | None = Field(
        default=None, description="filter for records whose state is not known (counted apart)")
    comparison: Literal[">=", ">"]
    threshold: Decimal = Field(ge=0, le=1)
    evidence_max_age_days: int | None = Field(default=None, ge=0)
    fix: Text | None = None

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
                    raise ValueError(f"{part}: unknown field {field!r} for {self.entity} "
                                     f"(one of {', '.join(sorted(allowed))})")
                if isinstance(cond, dict) and not set(cond) <= CONDITION_KEYS:
                    raise ValueError(f"{part}.{field}: unknown condition {sorted(set(cond) - CONDITION_KEYS)}")
        if self.entity == "endpoints" and self.unknown is None:
            self.unknown = {"protection": "unknown"}
        return self


class TargetPolicy(Strict):
    version: int = 1
    plan: str | None = None
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TargetPolicy:
        ids = [t.id for t in self.targets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate target ids: {', '.join(dupes)}")
        return self

    def get(self, target_id: str) -> Target:
        for target in self.targets:
            if target.id == target_id:
                return target
        raise KeyError(target_id)


def load_targets(policies_dir: Path) -> TargetPolicy:
    return load_model(policy_path(policies_dir, "targets.yaml"), TargetPolicy)
