"""Build the annual report (Decree 331/2026 Form 08) from the register: sections 1-3 as data.

Column 12 says "Định kỳ" (periodic) when the system had a periodic assessment no older than its
level's interval (policies/regimes/*.yaml) at the end of the data period, and "Trước khi đưa vào
sử dụng" when it was assessed before operation. Section 1 counts what the table holds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from secops.config import policy_path
from secops.errors import SecopsError
from secops.inventory.regime import Regime, regime_on
from secops.inventory.retire import active_on
from secops.inventory.tree import AgencyNode, find_agency, load_agencies, subtree
from secops.models import ApprovalStatus, AssessmentKind, PlanDeployment
from secops.policyfile import load_model
from secops.register.bodies import body_name, load_bodies
from secops.store.tables import AssessmentRow, SystemRow

CONTACTS_FILE = "report_contacts.yaml"


class Row(BaseModel):
    number: int
    code: str
    name: str
    owner: str
    operator: str | None
    proposed_level: int | None
    level: int | None
    system_type: str | None = None  # Decree 331 Art. 9.2; None = not classified
    national_security_list: bool = False
    approval_status: ApprovalStatus
    approval_decision: str | None
    approval_date: dt.date | None
    approval_body: str | None
    regulation_decision: str | None
    regulation_date: dt.date | None
    regulation_body: str | None
    expected_approval: dt.date | None
    plan_deployment: PlanDeployment
    expected_deployment: dt.date | None
    assessments: list[AssessmentKind] = Field(description="kinds shown in column 12 (before_operation, periodic)")

    @property
    def approved(self) -> bool:
        return self.approval_status is ApprovalStatus.approved


class Section1(BaseModel):
    total: int
    classified: int
    dossier_built: int
    appraised: int
    approved: int
    assessed_periodically: int
    expected_all_approved: dt.date | None


class Party(BaseModel):
    name: str | None = None
    mandate: str | None = None
    representative: str | None = None
    address: str | None = None
    contact: str | None = None


class Contacts(BaseModel):
    owner: Party = Field(default_factory=Party)
    unit: Party = Field(default_factory=Party)


class ContactsFile(BaseModel):
    version: int = 1
    agencies: dict[str, Contacts] = Field(default_factory=dict)


class Form08(BaseModel):
    year: int
    regime_id: str
    period_start: dt.date
    period_end: dt.date
    owner_code: str
    owner_name: str
    synthetic: bool = False
    section1: Section1
    section2: Contacts
    rows: list[Row]
    other_owners: list[Contacts] = Field(default_factory=list, description=(
        "section 2 repeated for every other owner of a system in the table (the form's note: when the "
        "scope holds several owners, report each owner and its cybersecurity unit in turn)"))
    type_levels: dict[str, list[int]] = Field(default_factory=dict,
                                              description="levels each system type can reach (Art. 11-15)")


def load_contacts(policies: Path) -> ContactsFile:
    path = policy_path(policies, CONTACTS_FILE)
    return load_model(path, ContactsFile) if path.exists() else ContactsFile()


def _column12(assessments: list[AssessmentRow], interval: int | None, start: dt.date, end: dt.date) -> list[AssessmentKind]:
    kinds = []
    if any(a.kind == AssessmentKind.before_operation.value and a.date <= end for a in assessments):
        kinds.append(AssessmentKind.before_operation)
    oldest = end - dt.timedelta(days=interval) if interval else start
    if any(a.kind == AssessmentKind.periodic.value and oldest <= a.date <= end for a in assessments):
        kinds.append(AssessmentKind.periodic)
    return kinds


def section1(rows: list[Row]) -> Section1:
    """Section 1 counted from the table. "Classified" is the form's "type determined": the system
    has its type (Decree 331 Art. 9.2), whatever its level; "dossier built" is sent for appraisal or
    later; "appraised" is appraised or approved."""
    built = {ApprovalStatus.sent_for_appraisal, ApprovalStatus.appraised, ApprovalStatus.approved}
    pending = [r.expected_approval for r in rows if not r.approved]
    return Section1(
        total=len(rows),
        classified=sum(r.system_type is not None for r in rows),
        dossier_built=sum(r.approval_status in built for r in rows),
        appraised=sum(r.approval_status in (ApprovalStatus.appraised, ApprovalStatus.approved) for r in rows),
        approved=sum(r.approved for r in rows),
        assessed_periodically=sum(r.approved and AssessmentKind.periodic in r.assessments for r in rows),
        expected_all_approved=max((d for d in pending if d), default=None) if all(pending) else None)


def build_form08(session: Session, regimes: list[Regime], year: int, policies: Path,
                 owner_code: str | None = None, synthetic: bool = False, *, own_only: bool = False) -> Form08:
    """Form 08 of `year` for the province (or one agency's subtree with owner_code). With own_only,
    the report of one system owner: only the systems that agency itself owns (column (3) is its
    name on every row). Systems retired on or before the end of the data period are left out."""
    regime = regime_on(regimes, dt.date(year, 12, 14))
    if regime.form is None or regime.reporting is None:
        raise SecopsError(f"the regime in force for {year} ({regime.id}) prescribes no annual report form; "
                          "Form 08 exists from Decree 331/2026 (report years 2026 and later)")
    start, end = regime.period(year)
    agencies = load_agencies(session)
    if not agencies:
        raise SecopsError("the inventory is empty: import agencies and systems first")
    root = find_agency(agencies, owner_code)
    scope = {root.id: root} if own_only else {node.id: node for node, _ in subtree(agencies, root)}
    systems = session.scalars(select(SystemRow).where(SystemRow.agency_id.in_(scope), active_on(SystemRow, end))
                              .order_by(SystemRow.code)).all()
    by_system = _assessments(session, [s.id for s in systems])
    top = _province(root, agencies)
    bodies = load_bodies(policies)
    rows = []
    for number, s in enumerate(systems, start=1):
        level = s.level or s.proposed_level
        interval = regime.levels[level].periodic_assessment_days if level else None
        body = s.approval_body
        if body is None and s.approval_status == "approved" and s.level and s.approval_date:
            # column (7): the approving body's name under the regime and the names of that day
            body = body_name(s.level, s.approval_date, regime_on(regimes, s.approval_date), top.code,
                             province_label=top.name, bodies=bodies,
                             on_security_list=bool(s.national_security_list))
        rows.append(_row(number, s, scope[s.agency_id].name, body,
                         _column12(by_system.get(s.id, []), interval, start, end)))
    known = load_contacts(policies).agencies
    contacts = _contacts(known, root.code, root.name)
    owners = {s.agency_id for s in systems} - {root.id}
    others = [_contacts(known, scope[i].code, scope[i].name) for i in sorted(owners, key=lambda i: scope[i].code)]
    return Form08(year=year, regime_id=regime.id, period_start=start, period_end=end, owner_code=root.code,
                  owner_name=root.name, synthetic=synthetic, section1=section1(rows), section2=contacts, rows=rows,
                  other_owners=others, type_levels=regime.type_levels())


def _assessments(session: Session, ids: list[int]) -> dict[int, list[AssessmentRow]]:
    by_system: dict[int, list[AssessmentRow]] = {}
    for chunk in range(0, len(ids), 500):
        for a in session.scalars(select(AssessmentRow).where(AssessmentRow.system_id.in_(ids[chunk:chunk + 500]))):
            by_system.setdefault(a.system_id, []).append(a)
    return by_system


def _province(root: AgencyNode, agencies: dict[int, AgencyNode]) -> AgencyNode:
    """The top of the tree the owner is in."""
    top = root
    for _ in range(len(agencies)):  # bounded: a loop in the data cannot hang the report
        if top.parent_id is None or top.parent_id not in agencies:
            break
        top = agencies[top.parent_id]
    return top


def _row(number: int, s: SystemRow, owner: str, body: str | None, assessments: Any) -> Row:
    return Row(
        number=number, code=s.code, name=s.name, owner=owner, operator=s.operator,
        proposed_level=s.proposed_level, level=s.level, system_type=s.system_type,
        national_security_list=bool(s.national_security_list), approval_status=ApprovalStatus(s.approval_status),
        approval_decision=s.approval_decision, approval_date=s.approval_date, approval_body=body,
        regulation_decision=s.regulation_decision, regulation_date=s.regulation_date,
        regulation_body=s.regulation_body, expected_approval=s.expected_approval_date,
        plan_deployment=PlanDeployment(s.plan_deployment), expected_deployment=s.expected_deployment_date,
        assessments=assessments)


def _contacts(known: dict[str, Contacts], code: str, name: str) -> Contacts:
    """Section 2 of one owner; (1) of 2.a is at least the owner's name from the inventory."""
    contacts = known.get(code, Contacts()).model_copy(deep=True)
    if not contacts.owner.name:
        contacts.owner.name = name
    return contacts
