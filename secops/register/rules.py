"""Consistency rules of Form 08, run before anything is written (Decree 331/2026 Art. 30.7, 36).

Each violation names the system (or the section) and carries a message key with its fix; the
wording is in reports/locale/<lang>/LC_MESSAGES/reports.po.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pydantic import BaseModel

from secops.models import ApprovalStatus, AssessmentKind, PlanDeployment
from secops.register.form08 import Form08


class Violation(BaseModel):
    rule: str
    code: str  # system code, or "section1" / "section2"
    params: dict[str, object] = {}


def rows_equal_total(f: Form08) -> Iterator[Violation]:
    if len(f.rows) != f.section1.total:
        yield Violation(rule="rows_total", code="section1", params={"rows": len(f.rows), "total": f.section1.total})


def approved_have_decisions(f: Form08) -> Iterator[Violation]:
    for r in f.rows:
        if r.approved and not (r.approval_decision and r.approval_date):
            yield Violation(rule="approved_needs_7", code=r.code)
        if r.approved and not (r.regulation_decision and r.regulation_date):
            yield Violation(rule="approved_needs_8", code=r.code)


def unapproved_have_expected_date(f: Form08) -> Iterator[Violation]:
    for r in f.rows:
        if not r.approved and r.expected_approval is None:
            yield Violation(rule="unapproved_needs_9", code=r.code)


def undeployed_have_expected_date(f: Form08) -> Iterator[Violation]:
    for r in f.rows:
        if r.plan_deployment is not PlanDeployment.fully_deployed and r.expected_deployment is None:
            yield Violation(rule="undeployed_needs_11", code=r.code)


def regulation_predates_approval(f: Form08) -> Iterator[Violation]:
    for r in f.rows:
        if r.regulation_date and r.approval_date and r.regulation_date > r.approval_date:
            yield Violation(rule="regulation_after_approval", code=r.code,
                            params={"regulation": r.regulation_date.strftime("%d/%m/%Y"),
                                    "approval": r.approval_date.strftime("%d/%m/%Y")})


def periodic_rows_equal_total(f: Form08) -> Iterator[Violation]:
    periodic = sum(AssessmentKind.periodic in r.assessments for r in f.rows)
    if periodic != f.section1.assessed_periodically:
        yield Violation(rule="periodic_total", code="section1",
                        params={"rows": periodic, "total": f.section1.assessed_periodically})
    for r in f.rows:
        if AssessmentKind.periodic in r.assessments and not r.approved:
            yield Violation(rule="periodic_unapproved", code=r.code)


def status_is_a_form_value(f: Form08) -> Iterator[Violation]:
    for r in f.rows:
        if r.approval_status is ApprovalStatus.not_started:
            yield Violation(rule="status_not_started", code=r.code)


def section2_complete(f: Form08) -> Iterator[Violation]:
    for part in ("owner", "unit"):
        missing = [k for k, v in getattr(f.section2, part).model_dump().items() if not v and k != "mandate"]
        if missing:
            yield Violation(rule=f"section2_{part}", code="section2", params={"fields": ", ".join(missing)})


def level_fits_type(f: Form08) -> Iterator[Violation]:
    """Column (5) must be a level whose criteria (Decree 331 Art. 11-15) fit the system's type
    (Art. 9.2): e.g. a service to citizens is never level 1, industrial control never below 3."""
    for r in f.rows:
        allowed = f.type_levels.get(r.system_type or "")
        if r.proposed_level is not None and allowed and r.proposed_level not in allowed:
            yield Violation(rule="level_not_in_type_criteria", code=r.code,
                            params={"level": r.proposed_level, "type": r.system_type,
                                    "allowed": ", ".join(str(level) for level in allowed)})


def typed_when_proposed(f: Form08) -> Iterator[Violation]:
    """A dossier proposes a level from the system's type: a proposed level without a type cannot
    be checked against the criteria, and section 1 does not count the system as classified."""
    if not f.type_levels:
        return
    for r in f.rows:
        if r.proposed_level is not None and r.system_type is None:
            yield Violation(rule="level_without_type", code=r.code, params={"level": r.proposed_level})


def security_list_levels(f: Form08) -> Iterator[Violation]:
    """Only systems of levels 3-5 can be on the list of systems important to national security
    (Art. 16, 20.4); level 5 systems always are (Art. 16.4)."""
    for r in f.rows:
        level = r.level or r.proposed_level
        if level is None:
            continue
        if r.national_security_list and level < 3:
            yield Violation(rule="security_list_low_level", code=r.code, params={"level": level})


RULES: list[Callable[[Form08], Iterator[Violation]]] = [
    rows_equal_total, approved_have_decisions, unapproved_have_expected_date, undeployed_have_expected_date,
    regulation_predates_approval, periodic_rows_equal_total, status_is_a_form_value, section2_complete,
    level_fits_type, typed_when_proposed, security_list_levels,
]


def check(form: Form08) -> list[Violation]:
    return [v for rule in RULES for v in rule(form)]
