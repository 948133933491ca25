"""Requirement catalogues (policies/requirements/*.yaml): one per standard, validated by pydantic.

An item applies at the levels it lists (`levels`: no level inherits another's items, since the
standard's levels are not strict supersets), or, in older files, from `from_level` up. Clause
numbers differ by level because each standard has one chapter per level: a clause written
"x.7.2.1" is expanded with the standard's `chapters` map (TCVN 14423:2026 puts level 1 in chapter 3,
so "x.7.2.1" -> "3.7.2.1" at level 1), and "g.2.1 a)" with its group's number at that level (groups
whose number shifts between levels, e.g. incident response 3.15 / 5.16 / 6.17). A clause map per
level gives the numbers the standard gives; a level missing from the map gets the lowest level's
clause moved to its chapter, and counts as not checked. `checked` lists the levels whose clause (and
frequency) were checked against the source; the others are marked "to verify".
Frequencies and minimums are months, set per level only where the standard sets a number.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from secops.errors import SecopsError
from secops.i18n import _
from secops.policyfile import load_model

Level = int
# Evidence secops gathers itself, besides audit checks (policy_id:check_id): discovery scans,
# audit runs, and the protection status of each host (audit or console export).
RUN_SOURCES = ("run:discover", "run:audit", "evidence:protection")
EVIDENCE_KINDS = {"run:discover": "discovery scans", "run:audit": "audit runs",
                  "evidence:protection": "protection status (audit or console export)"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


def _check_levels(value: dict[int, object]) -> dict[int, object]:
    bad = [k for k in value if not 1 <= k <= 5]
    if bad:
        raise ValueError(_("levels must be 1-5, got {bad}").format(bad=bad))
    return value


class Item(_Strict):
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]+$")
    clause: str | dict[int, str] = Field(description="'x.7.2.1' (x = the level's chapter), 'g.2.1' (g = the "
                                                     "group's number) or one per level")
    text: Text
    levels: list[int] | None = Field(default=None, description="the levels it applies at (no inheritance)")
    from_level: int = Field(ge=1, le=5, description="lowest level; derived from `levels` when given")
    checked: list[int] | None = Field(default=None, description="levels whose clause was checked; None = all")
    frequency_months: dict[int, int] = Field(default_factory=dict, description="minimum interval, per level")
    minimum_months: dict[int, int] = Field(default_factory=dict, description="e.g. log retention, per level")
    automated: list[str] = Field(default_factory=list,
                                 description="policy_id:check_id of checks that serve it, or run:discover|run:audit")
    automated_by_level: dict[int, list[str]] = Field(default_factory=dict, description="checks that differ by level")

    _levels = field_validator("frequency_months", "minimum_months", "automated_by_level")(_check_levels)

    @model_validator(mode="before")
    @classmethod
    def _lowest(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("levels") and "from_level" not in data:
            return {**data, "from_level": min(data["levels"])}
        return data

    @field_validator("frequency_months", "minimum_months")
    @classmethod
    def _positive(cls, value: dict[int, int]) -> dict[int, int]:
        if any(v < 1 for v in value.values()):
            raise ValueError(_("months must be 1 or more"))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if self.levels is not None:
            _check_levels(dict.fromkeys(self.levels))
            if not self.levels or self.from_level != min(self.levels) or len(set(self.levels)) != len(self.levels):
                raise ValueError(_("levels must be distinct levels 1-5, and from_level (if given) their lowest"))
        for name in ("frequency_months", "minimum_months", "automated_by_level", "checked"):
            value = getattr(self, name) or []
            outside = [k for k in value if not self.applies(k)]
            if outside:
                raise ValueError(_("{name} set for level {outside}, where the item does not apply").format(
                    name=name, outside=outside))
        if isinstance(self.clause, dict):
            _check_levels(self.clause)  # type: ignore[arg-type]
            if not self.clause or any(not self.applies(k) for k in self.clause):
                raise ValueError(_("clause given for a level where the item does not apply"))
        for ref in self.automated + [r for refs in self.automated_by_level.values() for r in refs]:
            if ref not in RUN_SOURCES and ref.count(":") != 1:
                raise ValueError(_("automated ref {ref}: expected policy_id:check_id or one of {sources}").format(
                    ref=repr(ref), sources=RUN_SOURCES))
        return self

    def applies(self, level: int) -> bool:
        return level in self.levels if self.levels is not None else level >= self.from_level

    def clause_checked(self, level: int) -> bool:
        """Was the clause number (and frequency) at this level checked against the source?"""
        if self.checked is not None:
            return level in self.checked
        return not isinstance(self.clause, dict) or level in self.clause

    @property
    def evidence_sources(self) -> list[str]:
        """What secops gathers this item's evidence from (empty: the officer's documents only)."""
        refs = self.automated + [r for refs in self.automated_by_level.values() for r in refs]
        kinds = [EVIDENCE_KINDS.get(r, "audit checks") for r in refs]
        return list(dict.fromkeys(kinds))

    def checks_for(self, level: int) -> list[str]:
        """Check refs (or run sources) that serve this item at a level."""
        return list(self.automated) + list(self.automated_by_level.get(level, []))

    @property
    def is_automated(self) -> bool:
        return bool(self.automated or self.automated_by_level)


class Group(_Strict):
    id: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    number: str | dict[int, str] | None = Field(default=None, description="'x.6' or the number per level, "
                                                                          "for 'g.' clauses")
    items: list[Item] = Field(min_length=1)

    def number_at(self, level: int, chapters: dict[int, str]) -> str | None:
        if isinstance(self.number, dict):
            return self.number.get(level)
        if self.number is None:
            return None
        head, _, rest = self.number.partition(".")
        return f"{chapters[level]}.{rest}" if head == "x" else self.number


class Standard(_Strict):
    id: str
    title: Text
    in_force_from: dt.date
    chapters: dict[int, str] = Field(description="chapter number of each level, for 'x.' clauses")
    evidence_max_age_days: int = Field(ge=1, description="automated evidence without a frequency expires after this")


class Catalogue(_Strict):
    version: int = 1
    standard: Standard
    groups: list[Group] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        seen: set[str] = set()
        for group in self.groups:
            for item in group.items:
                if item.id in seen:
                    raise ValueError(_("item id {id} appears twice").format(id=item.id))
                seen.add(item.id)
                uses_g = isinstance(item.clause, str) and item.clause.partition(".")[0] == "g"
                if uses_g and (group.number is None or (isinstance(group.number, dict) and any(
                        item.applies(level) and level not in group.number for level in range(1, 6)))):
                    raise ValueError(_("item {id}: clause 'g.' needs its group's number at each of its levels").format(
                        id=item.id))
        if sorted(self.standard.chapters) != [1, 2, 3, 4, 5]:
            raise ValueError(_("standard.chapters must give levels 1-5"))
        return self

    def all_items(self) -> list[Item]:
        return [i for g in self.groups for i in g.items]

    def group_of(self, item_id: str) -> Group:
        return next(g for g in self.groups if any(i.id == item_id for i in g.items))

    def item(self, item_id: str) -> Item:
        for item in self.all_items():
            if item.id == item_id:
                return item
        raise SecopsError(_("{standard}: no requirement {item}").format(standard=self.standard.id, item=repr(item_id)))

    def applicable(self, level: int) -> list[Item]:
        return [i for i in self.all_items() if i.applies(level)]

    def clause(self, item: Item, level: int) -> str:
        if isinstance(item.clause, dict):
            if level in item.clause:
                return item.clause[level]
            below = [k for k in item.clause if k < level]  # the nearest level below with a number, moved
            lowest = max(below) if below else min(item.clause)  # to this level (not checked: clause_checked)
            known = item.clause[lowest]
            group = self.group_of(item.id)
            low, here = group.number_at(lowest, self.standard.chapters), group.number_at(level, self.standard.chapters)
            if low and here and (known == low or known.startswith(low + ".") or known.startswith(low + " ")):
                return here + known[len(low):]  # the group's number at this level (3.15 -> 5.16)
            head, _dot, rest = known.partition(".")
            return f"{self.standard.chapters[level]}.{rest}" if head == self.standard.chapters[lowest] else known
        head, _dot, rest = item.clause.partition(".")
        if head == "x":
            return f"{self.standard.chapters[level]}.{rest}"
        if head == "g":  # "g" alone: the group's own number
            number = self.group_of(item.id).number_at(level, self.standard.chapters)
            if number is None:
                raise SecopsError(_("{standard}: item {id} uses 'g.' but its group has no number at level {level}").format(
                    standard=self.standard.id, id=item.id, level=level))
            return f"{number}.{rest}" if rest else number
        return item.clause


def requirements_dir(policies: Path) -> Path:
    """The catalogue folder of the chosen policies folder, else the bundled one."""
    from secops.config import bundled

    folder = policies / "requirements"
    return folder if folder.is_dir() else bundled("policies") / "requirements"


@lru_cache(maxsize=16)
def _load(path: Path, mtime: float) -> Catalogue:
    return load_model(path, Catalogue)


def load_catalogue(path: Path) -> Catalogue:
    try:
        return _load(path, path.stat().st_mtime)
    except FileNotFoundError as exc:
        raise SecopsError(_("{path}: file not found").format(path=path)) from exc


def load_all(policies: Path) -> list[Catalogue]:
    """Every catalogue, oldest standard first."""
    folder = requirements_dir(policies)
    cats = [load_catalogue(p) for p in sorted(folder.glob("*.yaml"))]
    if not cats:
        raise SecopsError(_("{folder}: no requirement catalogues (*.yaml)").format(folder=folder))
    return sorted(cats, key=lambda c: c.standard.in_force_from)


def in_force(policies: Path, on: dt.date) -> Catalogue:
    """The catalogue of the standard in force on a date (the newest one that started by then)."""
    cats = load_all(policies)
    current = [c for c in cats if c.standard.in_force_from <= on]
    return current[-1] if current else cats[0]


def by_id(policies: Path, standard_id: str) -> Catalogue:
    for cat in load_all(policies):
        if cat.standard.id == standard_id:
            return cat
    raise SecopsError(_("no requirement catalogue {standard} in {folder}").format(
        standard=repr(standard_id), folder=requirements_dir(policies)))
