"""Approving and receiving bodies as data (policies/bodies.yaml), named as of a date.

A regime names the ROLE that approves each level (`body_role` in policies/regimes/*.yaml); this
module turns a role, or a level under a regime, into the body's name on a given day, for a given
province: e.g. level 3 under Decree 331 -> "Ủy ban nhân dân tỉnh …", and the ministry that received
Decree 85 reports -> "Bộ Thông tin và Truyền thông" until 28/02/2025, "Bộ Khoa học và Công nghệ" after.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import bundled, policy_path
from secops.errors import SecopsError
from secops.i18n import _
from secops.inventory.regime import Regime
from secops.policyfile import load_model

BODIES_FILE = "bodies.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Name(_Strict):
    vi: str = Field(min_length=1, max_length=300)
    en: str = Field(min_length=1, max_length=300)
    since: dt.date | None = Field(default=None, alias="from")
    until: dt.date | None = None

    def on(self, day: dt.date) -> bool:
        return (self.since is None or self.since <= day) and (self.until is None or day <= self.until)


class Body(_Strict):
    names: list[Name] = Field(min_length=1)
    basis: str | None = None

    @model_validator(mode="after")
    def _no_overlap(self) -> Body:
        ordered = sorted(self.names, key=lambda n: n.since or dt.date.min)
        for before, after in itertools.pairwise(ordered):
            if before.until is None or after.since is None or before.until >= after.since:
                raise ValueError(_("names {before} and {after} overlap: give `until` before the next `from`").format(
                    before=repr(before.vi), after=repr(after.vi)))
        return self

    def name_on(self, day: dt.date) -> Name | None:
        return next((n for n in self.names if n.on(day)), None)


class Province(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200, description="'tỉnh Thái Nguyên'")
    bodies: dict[str, Body] = Field(default_factory=dict, description="this province's names of a body")


class BodiesFile(_Strict):
    version: int = 1
    bodies: dict[str, Body]
    provinces: dict[str, Province] = Field(default_factory=dict)


def bodies_path(policies: Path | None) -> Path:
    return policy_path(policies, BODIES_FILE) if policies is not None else bundled("policies") / BODIES_FILE


@lru_cache(maxsize=8)
def _load(path: Path, mtime: float) -> BodiesFile:
    return load_model(path, BodiesFile)


def load_bodies(policies: Path | None = None) -> BodiesFile:
    path = bodies_path(policies)
    try:
        return _load(path, path.stat().st_mtime)
    except FileNotFoundError as exc:
        raise SecopsError(_("{path}: file not found").format(path=path)) from exc


def province_name(bodies: BodiesFile, code: str | None, fallback: str) -> str:
    """How names say the province: its entry in bodies.yaml, else the agency's name with a leading
    "Tỉnh"/"Thành phố" written in lower case, as it reads inside a body's name."""
    entry = bodies.provinces.get(code or "")
    if entry is not None and entry.name:
        return entry.name
    for head in ("Tỉnh ", "Thành phố "):
        if fallback.startswith(head):
            return head.lower() + fallback[len(head):]
    return fallback


def body_name(role_or_level: str | int, on_date: dt.date, regime: Regime, province: str | None = None, *,
              province_label: str | None = None, lang: str = "vi", bodies: BodiesFile | None = None,
              on_security_list: bool = False) -> str:
    """The name, on `on_date`, of the body that holds a role (a key of policies/bodies.yaml) or that
    approves a level under `regime`. province: the province's agency code (for its own names in
    bodies.yaml); province_label: its name when bodies.yaml gives none. A level whose regime names
    no body role falls back to the regime's wording of the role."""
    data = bodies if bodies is not None else load_bodies()
    if isinstance(role_or_level, int):
        rule = regime.procedure(role_or_level, on_security_list)
        if rule.body_role is None:
            return rule.body.en if lang == "en" else rule.body.vi
        role = rule.body_role
    else:
        role = role_or_level
    entry = data.provinces.get(province or "")
    body = (entry.bodies.get(role) if entry else None) or data.bodies.get(role)
    if body is None:
        raise SecopsError(_("policies/{file}: no body {role} (named by regime {regime})").format(
            file=BODIES_FILE, role=repr(role), regime=regime.id))
    name = body.name_on(on_date)
    if name is None:
        raise SecopsError(_("policies/{file}: body {role} has no name on {day}").format(
            file=BODIES_FILE, role=repr(role), day=on_date.strftime("%d/%m/%Y")))
    text = name.en if lang == "en" else name.vi
    label = province_name(data, province, province_label or province or "")
    return " ".join(text.replace("{province}", label).split())


def recipient_name(regime: Regime, on_date: dt.date, lang: str = "vi", bodies: BodiesFile | None = None) -> str:
    """Who receives the regime's report on a date: its recipient body by name (a ministry renamed
    or merged is named as it was that day), else the regime's fixed wording."""
    if regime.recipient_role is None:
        return regime.recipient_text(lang)
    return body_name(regime.recipient_role, on_date, regime, lang=lang, bodies=bodies)
