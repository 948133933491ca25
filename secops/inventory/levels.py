"""Security levels (policies/levels.yaml): who approves each level, and the basic requirements by level."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from secops.config import policy_path
from secops.models import Approver
from secops.policyfile import Strict, Text, load_model


class Level(Strict):
    approver: Approver
    name: Text


class Requirement(Strict):
    id: str
    title: Text
    from_level: int = Field(ge=1, le=5)
    target: str | None = None


class LevelPolicy(Strict):
    version: int = 1
    levels: dict[int, Level]
    requirements: list[Requirement] = Field(default_factory=list)

    def approver(self, level: int) -> Approver | None:
        entry = self.levels.get(level)
        return entry.approver if entry else None


def load_levels(policies_dir: Path) -> LevelPolicy:
    return load_model(policy_path(policies_dir, "levels.yaml"), LevelPolicy)
