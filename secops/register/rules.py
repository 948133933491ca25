"""Consistency rules of Form 08, run before anything is written (Decree 331/2026 Art. 30.7, 36).

Each violation names the system (or the section) and carries a message key with its fix; the
wording is in reports/i18n/annual.<lang>.yaml.
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


RULES: list[Callable[[Form08], Iterator[Violation]]] = [
    rows_equal_total, approved_have_decisions, unapproved_have_expected_date, undeployed_have_expected_date,
    regulation_predates_approval, periodic_rows_equal_total, status_is_a_form_value, section2_complete,
]


def check(form: Form08) -> list[Violation]:
    return [v for rule in RULES for v in rule(form)]
