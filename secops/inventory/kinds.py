"""Agency kinds as data (policies/agency_kinds.yaml): labels, allowed parents, display order."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import policy_path
from secops.i18n import _
from secops.policyfile import Text, load_model

ROOT_KIND = "province"  # the top-level agency: one per database
KIND_NAME = r"^[a-z][a-z_]{0,19}$"


class KindInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Text
    group: Text
    parents: list[str] = Field(default_factory=list)
    order: int = 0
    legacy: bool = Field(default=False, description="kept for data recorded before the two-tier reform")


class KindPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    kinds: dict[str, KindInfo] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> KindPolicy:
        for name, info in self.kinds.items():
            if not re.match(KIND_NAME, name):
                raise ValueError(_("kind {name}: lower-case letters and _ only, at most 20").format(name=repr(name)))
            unknown = sorted(set(info.parents) - set(self.kinds))
            if unknown:
                raise ValueError(_("kinds.{name}.parents: unknown kind(s) {items}").format(
                                     name=name, items=', '.join(unknown)))
        if ROOT_KIND not in self.kinds or self.kinds[ROOT_KIND].parents:
            raise ValueError(_("kinds: {root_kind} must be listed, with no parents (it is the top-level agency)").format(
                                 root_kind=repr(ROOT_KIND)))
        return self

    def order(self, kind: str) -> int:
        info = self.kinds.get(kind)
        return info.order if info else 99

    def label(self, kind: str, lang: str) -> str:
        info = self.kinds.get(kind)
        return info.label.get(lang) if info else kind

    def parent_error(self, kind: str, parent_kind: str) -> str | None:
        info = self.kinds.get(kind)
        if info is None:
            return f"kind {kind!r} is not in policies/agency_kinds.yaml (one of {', '.join(self.kinds)})"
        if parent_kind not in info.parents:
            return f"a {kind} cannot sit under a {parent_kind}"
        return None


def load_kinds(policies_dir: Path) -> KindPolicy:
    return load_model(policy_path(policies_dir, "agency_kinds.yaml"), KindPolicy, reuse=True)
