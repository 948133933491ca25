"""Legal regimes as data (policies/regimes/*.yaml): levels, approving bodies, the annual report's
form, its deadlines and reporting period. The regime applied is the one in force on a given date.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secops.config import bundled, policy_path
from secops.errors import SecopsError
from secops.models import ApprovalStatus, Approver, AssessmentKind, PlanDeployment
from secops.policyfile import (
    Text,  # the same vi/en text as targets use
    load_model,
)

REGIME_DIR = "regimes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LevelRule(_Strict):
    approver: Approver
    body: Text
    basis: str
    periodic_assessment_days: int | None = Field(default=None, ge=1)


class DayOfYear(_Strict):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    previous_year: bool = False

    def on(self, year: int) -> dt.date:
        return dt.date(year - 1 if self.previous_year else year, self.month, self.day)


class Period(_Strict):
    start: DayOfYear
    end: DayOfYear


class Deadline(_Strict):
    id: str
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    vi: str
    en: str
    basis: str

    def on(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


class Reporting(_Strict):
    basis: str
    frequency: Text
    period: Period
    deadlines: list[Deadline]


class Column(_Strict):
    col: int
    key: str
    vi: str
    en: str


class Section1(_Strict):
    title: Text
    lines: dict[str, Text]


class Section2(_Strict):
    title: Text
    owner: Text
    unit: Text
    fields: dict[str, Text]


class Section3(_Strict):
    title: Text
    columns: list[Column]


class FormValues(_Strict):
    approval_status: dict[ApprovalStatus, Text]
    plan_deployment: dict[PlanDeployment, Text]
    assessments: dict[AssessmentKind, Text]
    assessments_both_separator: str = "; "


SECTION1_LINES = {"total", "classified", "dossier_built", "appraised", "approved", "assessed_periodically",
                  "expected_all_approved"}
COLUMN_KEYS = ["number", "name", "owner", "operator", "proposed_level", "approval_status", "approval", "regulation",
               "expected_approval", "plan_deployment", "expected_deployment", "assessments"]


class Form(_Strict):
    id: str
    basis: str
    title: Text
    subject: Text
    section1: Section1
    section2: Section2
    section3: Section3
    values: FormValues

    @model_validator(mode="after")
    def _complete(self) -> Form:
        # The report code fills these by key: a form file missing one is refused, not half-rendered.
        if set(self.section1.lines) != SECTION1_LINES:
            raise ValueError(f"section1.lines must be exactly {sorted(SECTION1_LINES)}")
        if [c.key for c in self.section3.columns] != COLUMN_KEYS:
            raise ValueError(f"section3.columns keys must be, in order: {', '.join(COLUMN_KEYS)}")
        missing = [s.value for s in ApprovalStatus if s is not ApprovalStatus.not_started
                   and s not in self.values.approval_status]
        missing += [p.value for p in PlanDeployment if p not in self.values.plan_deployment]
        if missing:
            raise ValueError(f"values: missing wording for {', '.join(missing)}")
        return self


class Regime(_Strict):
    version: int = 1
    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    name: Text
    effective_from: dt.date
    effective_until: dt.date | None = None
    requirements_standard: str
    recipient: Text | dict[str, str]
    levels: dict[int, LevelRule]
    periodic_assessment_basis: str
    reporting: Reporting | None = None
    form: Form | None = None

    @model_validator(mode="after")
    def _levels(self) -> Regime:
        if set(self.levels) != {1, 2, 3, 4, 5}:
            raise ValueError("levels must define 1, 2, 3, 4 and 5")
        if self.effective_until and self.effective_until < self.effective_from:
            raise ValueError("effective_until is before effective_from")
        return self

    def recipient_text(self, lang: str) -> str:
        r = self.recipient
        return r.get(lang) if isinstance(r, Text) else r.get(lang, r.get("vi", ""))

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)

    def period(self, year: int) -> tuple[dt.date, dt.date]:
        if self.reporting is None:
            raise SecopsError(f"regime {self.id} defines no reporting period")
        return self.reporting.period.start.on(year), self.reporting.period.end.on(year)


def regime_files(policies: Path) -> list[Path]:
    """Every regime file: the bundled ones, each replaced by the province's copy when it has one,
    plus any extra regime the province adds."""
    names = {p.name for p in (bundled("policies") / REGIME_DIR).glob("*.yaml")}
    names |= {p.name for p in (policies / REGIME_DIR).glob("*.yaml")} if (policies / REGIME_DIR).is_dir() else set()
    return [policy_path(policies, f"{REGIME_DIR}/{name}") for name in sorted(names)]


def load_regimes(policies: Path) -> list[Regime]:
    regimes = [load_model(path, Regime) for path in regime_files(policies)]
    ordered = sorted(regimes, key=lambda r: r.effective_from)
    for before, after in itertools.pairwise(ordered):
        if before.effective_until is None or before.effective_until >= after.effective_from:
            raise SecopsError(f"regimes {before.id} and {after.id} overlap: {before.id} must end before "
                              f"{after.effective_from.isoformat()} (policies/{REGIME_DIR}/)")
    return ordered


def regime_on(regimes: list[Regime], day: dt.date) -> Regime:
    for regime in regimes:
        if regime.in_force(day):
            return regime
    raise SecopsError(f"no regime in policies/{REGIME_DIR}/ is in force on {day.isoformat()}")


def report_year(regime: Regime, today: dt.date) -> int:
    """The report being prepared on `today`: this year's until its last deadline (25/12) has passed,
    even though from 15/12 the data of the next period already accrue; then next year's."""
    if regime.reporting is None:
        raise SecopsError(f"regime {regime.id} defines no annual report")
    last = max(d.on(today.year) for d in regime.reporting.deadlines)
    return today.year if today <= last else today.year + 1
