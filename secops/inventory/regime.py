"""Legal regimes as data (policies/regimes/*.yaml): levels, approving bodies, the annual report's
form, its deadlines and reporting period. The regime applied is the one in force on a given date.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from secops.config import bundled, policy_path
from secops.errors import SecopsError
from secops.i18n import _
from secops.models import ApprovalStatus, Approver, AssessmentKind, PlanDeployment, SystemType
from secops.policyfile import (
    Text,  # the same vi/en text as targets use
    load_model,
)

REGIME_DIR = "regimes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


ROLE = r"^[a-z][a-z0-9_]{0,40}$"


class LevelRule(_Strict):
    approver: Approver
    body: Text = Field(description="who approves, as a role (shown to people); the name comes from body_role")
    body_role: str | None = Field(default=None, pattern=ROLE, description="a body of policies/bodies.yaml")
    appraised_by: str | None = Field(default=None, pattern=ROLE)
    list_approved_by: str | None = Field(default=None, pattern=ROLE,
                                         description="who approves the list this level's systems are on (level 5)")
    basis: str
    periodic_assessment_days: int | None = Field(default=None, ge=1)


class SecurityList(_Strict):
    """Systems on the list of information systems important to national security (Decree 331
    Art. 16-17): the levels that may be on it, and whose procedure they then follow (Art. 20.4)."""

    levels: list[int]
    procedure_of_level: int = Field(ge=1, le=5)
    basis: str


class Criterion(_Strict):
    article: str
    vi: str
    en: str


def _levels_1_5(value: dict[int, list[Criterion]]) -> dict[int, list[Criterion]]:
    if not set(value) <= {1, 2, 3, 4, 5}:
        raise ValueError(_("criteria levels must be 1-5"))
    return value


class TypeRule(_Strict):
    """A system type (Decree 331 Art. 9.2) and the criteria by which it reaches each level (Art. 11-15)."""

    letter: str
    name: Text
    basis: str
    criteria: dict[int, list[Criterion]]

    _levels = field_validator("criteria")(_levels_1_5)


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
    inclusive: bool = Field(default=False, description='false: the text says "before" (trước ngày) that date, '
                            "so the last permitted day is the day before")

    def on(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)

    def last_day(self, year: int) -> dt.date:
        """The last day the report may be sent: "trước ngày 20/12" means by 19/12."""
        return self.on(year) if self.inclusive else self.on(year) - dt.timedelta(days=1)

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
            raise ValueError(_("section1.lines must be exactly {lines}").format(lines=sorted(SECTION1_LINES)))
        if [c.key for c in self.section3.columns] != COLUMN_KEYS:
            raise ValueError(_("section3.columns keys must be, in order: {keys}").format(keys=", ".join(COLUMN_KEYS)))
        missing = [s.value for s in ApprovalStatus if s is not ApprovalStatus.not_started
                   and s not in self.values.approval_status]
        missing += [p.value for p in PlanDeployment if p not in self.values.plan_deployment]
        if missing:
            raise ValueError(_("values: missing wording for {values}").format(values=", ".join(missing)))
        return self


class Regime(_Strict):
    version: int = 1
    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    name: Text
    effective_from: dt.date
    effective_until: dt.date | None = None
    requirements_standard: str
    recipient: Text | dict[str, str]
    recipient_role: str | None = Field(default=None, pattern=ROLE, description="a body of policies/bodies.yaml")
    levels: dict[int, LevelRule]
    national_security_list: SecurityList | None = None
    system_types: dict[SystemType, TypeRule] = Field(default_factory=dict)
    any_type_criteria: dict[int, list[Criterion]] = Field(default_factory=dict)
    periodic_assessment_basis: str
    reporting: Reporting | None = None
    form: Form | None = None

    @model_validator(mode="after")
    def _levels(self) -> Regime:
        if set(self.levels) != {1, 2, 3, 4, 5}:
            raise ValueError(_("levels must define 1, 2, 3, 4 and 5"))
        if self.effective_until and self.effective_until < self.effective_from:
            raise ValueError(_("effective_until is before effective_from"))
        listed = self.national_security_list
        if listed is not None and not set(listed.levels) <= set(self.levels):
            raise ValueError(_("national_security_list.levels must be levels 1-5"))
        return self

    def procedure(self, level: int, on_security_list: bool = False) -> LevelRule:
        """The rule a system of that level follows: a level 3-4 system on the national-security
        list follows the procedure of level 5 (Decree 331 Art. 20.4)."""
        listed = self.national_security_list
        if on_security_list and listed is not None and level in listed.levels:
            return self.levels[max(level, listed.procedure_of_level)]
        return self.levels[level]

    def type_levels(self) -> dict[str, list[int]]:
        """The levels each system type can reach (its own criteria and those of any type); empty
        when the regime defines no types."""
        common = set(self.any_type_criteria)
        return {kind.value: sorted(set(rule.criteria) | common) for kind, rule in self.system_types.items()}

    def recipient_text(self, lang: str) -> str:
        r = self.recipient
        return r.get(lang) if isinstance(r, Text) else r.get(lang, r.get("vi", ""))

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)

    def period(self, year: int) -> tuple[dt.date, dt.date]:
        if self.reporting is None:
            raise SecopsError(_("regime {regime} defines no reporting period").format(regime=self.id))
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
            raise SecopsError(_("regimes {before} and {after} overlap: {before} must end before {day} "
                                "(policies/{folder}/)").format(before=before.id, after=after.id,
                                                              day=after.effective_from.isoformat(), folder=REGIME_DIR))
    return ordered


def regime_on(regimes: list[Regime], day: dt.date) -> Regime:
    for regime in regimes:
        if regime.in_force(day):
            return regime
    raise SecopsError(_("no regime in policies/{folder}/ is in force on {day}").format(
        folder=REGIME_DIR, day=day.isoformat()))


def report_year(regime: Regime, today: dt.date) -> int:
    """The report being prepared on `today`: this year's until its last permitted day (24/12) has passed,
    even though from 15/12 the data of the next period already accrue; then next year's."""
    if regime.reporting is None:
        raise SecopsError(_("regime {regime} defines no annual report").format(regime=regime.id))
    last = max(d.last_day(today.year) for d in regime.reporting.deadlines)
    return today.year if today <= last else today.year + 1
