"""Waivers: an officer accepts a failing check for a scope, with a reason, an approver and an expiry.

Modelled on InSpec waivers and Prowler's mutelist. YAML (policies/waivers.yaml by default):

    waivers:
      - check: cis_debian12:33147          # policy id : check id
        scope: {hosts: [web1, 10.0.0.5]}   # and/or agencies: [SO-TTTT], systems: [HTTT-01]; hosts: ["*"] = all
        reason: "Firewall is managed upstream (ticket 1234)"
        approver: "Nguyen Van A, CISO"
        expires: 2027-03-31                # the check counts as failed again from this day on

A waived result is `waived` (with the waiver's reason) instead of `failed`; it is left out of the
score (passed / (passed + failed)). Only failed results are waived: a check that passes, cannot be
evaluated or errs shows as it is. A system scope covers the endpoints of the agency that owns the
system (the inventory does not link endpoints to systems).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from secops.config import bundled, default_data_dir
from secops.errors import SecopsError
from secops.i18n import _
from secops.policyfile import format_validation, read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaiverScope(_Strict):
    hosts: list[str] = Field(default_factory=list, description='endpoint codes, hostnames or addresses; "*" = any')
    agencies: list[str] = Field(default_factory=list, description="agency codes (their sub-units included)")
    systems: list[str] = Field(default_factory=list, description="information-system codes")

    @model_validator(mode="after")
    def _not_empty(self) -> WaiverScope:
        if not (self.hosts or self.agencies or self.systems):
            raise ValueError(_('give hosts, agencies or systems (hosts: ["*"] for every host)'))
        return self


class Waiver(_Strict):
    check: str = Field(description="policy_id:check_id")
    scope: WaiverScope
    reason: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: dt.date
    created: dt.date | None = None

    @field_validator("check")
    @classmethod
    def _check_id(cls, value: str) -> str:
        policy, sep, check = value.partition(":")
        if not sep or not policy.strip() or not check.strip():
            raise ValueError(_("write the check as policy_id:check_id"))
        return f"{policy.strip()}:{check.strip()}"

    @property
    def policy_id(self) -> str:
        return self.check.partition(":")[0]

    @property
    def check_id(self) -> str:
        return self.check.partition(":")[2]

    def active(self, today: dt.date) -> bool:
        return today < self.expires

    def days_left(self, today: dt.date) -> int:
        return (self.expires - today).days

    def covers(self, names: set[str], agencies: set[str], system_agencies: dict[str, str]) -> bool:
        scope = self.scope
        if "*" in scope.hosts or names & set(scope.hosts) or agencies & set(scope.agencies):
            return True
        return any(system_agencies.get(code) in agencies for code in scope.systems)

    def note(self) -> str:
        return f"waived until {self.expires.isoformat()} (approved by {self.approver}): {self.reason}"


class WaiverFile(_Strict):
    waivers: list[Waiver] = Field(default_factory=list)


def waivers_path(policies: Path | str, given: Path | str | None = None) -> Path:
    """The waiver file: the one given, else the site's `<policies>/waivers.yaml` when --policies names a
    folder of the site's own, else `waivers.yaml` in the user's data folder (beside the default
    database) - never inside the installed package, which an upgrade replaces."""
    if given:
        return Path(given)
    if Path(policies).resolve() == bundled("policies").resolve():
        return default_data_dir() / "waivers.yaml"
    return Path(policies) / "waivers.yaml"


def load_waivers(path: Path) -> list[Waiver]:
    """A missing file means no waivers; a bad one is an error naming the file and the entry."""
    if not path.exists():
        return []
    data = read_yaml(path) or {}
    try:
        return WaiverFile.model_validate(data).waivers
    except ValidationError as exc:
        raise SecopsError(format_validation(path, exc)) from exc


def save_waivers(path: Path, waivers: list[Waiver]) -> None:
    from secops.evaluate.facts_file import write_private

    data: dict[str, Any] = {"waivers": [w.model_dump(mode="json", exclude_none=True) for w in waivers]}
    header = "# secops waivers (see README, \"Waivers\"); `secops waivers add` rewrites this file\n"
    write_private(path, header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def matching(waivers: Iterable[Waiver], policy_id: str, check_id: str, names: set[str], agencies: set[str],
             system_agencies: dict[str, str], today: dt.date) -> Waiver | None:
    for waiver in waivers:
        if (waiver.policy_id == policy_id and waiver.check_id == check_id and waiver.active(today)
                and waiver.covers(names, agencies, system_agencies)):
            return waiver
    return None


def apply_waivers(results: Iterable[Any], waivers: list[Waiver], names: set[str], agencies: set[str],
                  system_agencies: dict[str, str], today: dt.date) -> int:
    """Turn failed check results covered by an active waiver into `waived`; return how many."""
    count = 0
    if not waivers:
        return 0
    for result in results:
        for check in result.checks:
            if check.result != "failed":
                continue
            waiver = matching(waivers, check.policy_id, check.check_id, names, agencies, system_agencies, today)
            if waiver is not None:
                check.result, check.reason = "waived", waiver.note()
                count += 1
    return count
