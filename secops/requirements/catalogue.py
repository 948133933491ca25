"""Requirement catalogues (policies/requirements/*.yaml): one per standard, validated by pydantic.

An item applies to a system from `from_level` up. Clause numbers differ by level because each
standard has one chapter per level: a clause written "x.7.2.1" is expanded with the standard's
`chapters` map (e.g. TCVN 14423:2026 puts level 1 in chapter 3, so "x.7.2.1" -> "3.7.2.1" at level 1).
Frequencies and minimums are months, set per level only where the standard sets a number.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from secops.errors import SecopsError
from secops.policyfile import load_model

Level = int
RUN_SOURCES = ("run:discover", "run:audit")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


def _check_levels(value: dict[int, object]) -> dict[int, object]:
    bad = [k for k in value if not 1 <= k <= 5]
    if bad:
        raise ValueError(f"levels must be 1-5, got {bad}")
    return value


class Item(_Strict):
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]+$")
    clause: str | dict[int, str] = Field(description="'x.7.2.1' (x = the level's chapter) or one per level")
    text: Text
    from_level: int = Field(ge=1, le=5)
    frequency_months: dict[int, int] = Field(default_factory=dict, description="minimum interval, per level")
    minimum_months: dict[int, int] = Field(default_factory=dict, description="e.g. log retention, per level")
    automated: list[str] = Field(default_factory=list,
                                 description="policy_id:check_id of checks that serve it, or run:discover|run:audit")
    automated_by_level: dict[int, list[str]] = Field(default_factory=dict, description="checks that differ by level")

    _levels = field_validator("frequency_months", "minimum_months", "automated_by_level")(_check_levels)

    @field_validator("frequency_months", "minimum_months")
    @classmethod
    def _positive(cls, value: dict[int, int]) -> dict[int, int]:
        if any(v < 1 for v in value.values()):
            raise ValueError("months must be 1 or more")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        for name in ("frequency_months", "minimum_months", "automated_by_level"):
            early = [k for k in getattr(self, name) if k < self.from_level]
            if early:
                raise ValueError(f"{name} set for level {early} below from_level {self.from_level}")
        if isinstance(self.clause, dict):
            _check_levels(self.clause)  # type: ignore[arg-type]
        for ref in self.automated + [r for refs in self.automated_by_level.values() for r in refs]:
            if ref not in RUN_SOURCES and ref.count(":") != 1:
                raise ValueError(f"automated ref {ref!r}: expected policy_id:check_id or one of {RUN_SOURCES}")
        return self

    def applies(self, level: int) -> bool:
        return level >= self.from_level

    def checks_for(self, level: int) -> list[str]:
        """Check refs (or run sources) that serve this item at a level."""
        return list(self.automated) + list(self.automated_by_level.get(level, []))

    @property
    def is_automated(self) -> bool:
        return bool(self.automated or self.automated_by_level)


class Group(_Strict):
    id: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    items: list[Item] = Field(min_length=1)


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
                    raise ValueError(f"item id {item.id} appears twice")
                seen.add(item.id)
        if sorted(self.standard.chapters) != [1, 2, 3, 4, 5]:
            raise ValueError("standard.chapters must give levels 1-5")
        return self

    def all_items(self) -> list[Item]:
        return [i for g in self.groups for i in g.items]

    def group_of(self, item_id: str) -> Group:
        return next(g for g in self.groups if any(i.id == item_id for i in g.items))

    def item(self, item_id: str) -> Item:
        for item in self.all_items():
            if item.id == item_id:
                return item
        raise SecopsError(f"{self.standard.id}: no requirement {item_id!r}")

    def applicable(self, level: int) -> list[Item]:
        return [i for i in self.all_items() if i.applies(level)]

    def clause(self, item: Item, level: int) -> str:
        if isinstance(item.clause, dict):
            return item.clause.get(level) or item.clause[min(item.clause)]
        head, _, rest = item.clause.partition(".")
        return f"{self.standard.chapters[level]}.{rest}" if head == "x" else item.clause


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
        raise SecopsError(f"{path}: file not found") from exc


def load_all(policies: Path) -> list[Catalogue]:
    """Every catalogue, oldest standard first."""
    folder = requirements_dir(policies)
    cats = [load_catalogue(p) for p in sorted(folder.glob("*.yaml"))]
    if not cats:
        raise SecopsError(f"{folder}: no requirement catalogues (*.yaml)")
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
    raise SecopsError(f"no requirement catalogue {standard_id!r} in {requirements_dir(policies)}")
