"""A register with every combination of approval status, plan deployment and assessments,
hostile text included, for the annual-report tests."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from secops.inventory.importer import write_models
from secops.models import (
    Agency,
    AgencyKind,
    ApprovalStatus,
    Assessment,
    AssessmentKind,
    InformationSystem,
    PlanDeployment,
)
from secops.store.db import Database

HOSTILE = ['=HYPERLINK("http://x.invalid","bấm")', "+SUM(1,2)", "-1+2", "@cmd", "<script>alert(1)</script>",
           "A & B \"quoted\" 'single'"]
KINDS = [(), (AssessmentKind.before_operation,), (AssessmentKind.periodic,),
         (AssessmentKind.before_operation, AssessmentKind.periodic)]
CONTACTS = """\
version: 1
agencies:
  P:
    owner: {name: "UBND tỉnh", representative: "Ông A, Chủ tịch", address: "1 Đường X", contact: "0200, a@x.invalid"}
    unit: {name: "=Sở KHCN", representative: "Bà B", address: "2 Đường Y", contact: "0201, b@x.invalid"}
"""


def combos() -> list[tuple[ApprovalStatus, PlanDeployment, tuple[AssessmentKind, ...]]]:
    return list(itertools.product(ApprovalStatus, PlanDeployment, KINDS))


def build_register(db: Database, today: dt.date = dt.date(2026, 12, 1)) -> dict[str, tuple]:
    """60 systems, one per combination, all complete (expected dates, regulation before approval)."""
    agencies = [Agency(code="P", name="Tỉnh <Thử>", kind=AgencyKind.province),
                Agency(code="S1", name="=Sở Một", kind=AgencyKind.department, parent="P"),
                Agency(code="S2", name="Sở Hai", kind=AgencyKind.department, parent="P")]
    systems, assessments, index = [], [], {}
    for n, (status, plan, kinds) in enumerate(combos(), start=1):
        code = f"HT{n:02d}"
        index[code] = (status, plan, kinds)
        approved = status is ApprovalStatus.approved
        fields: dict = {
            "code": code, "name": f"{HOSTILE[n % len(HOSTILE)]} {n}", "owner": "S1" if n % 2 else "S2",
            "operator": HOSTILE[(n + 1) % len(HOSTILE)], "approval_status": status, "plan_deployment": plan,
            "proposed_level": 1 + n % 4 if status is not ApprovalStatus.not_started else None,
            "system_type": "other" if status is not ApprovalStatus.not_started or n % 2 else None}
        if approved:
            fields.update(level=fields["proposed_level"], approval_decision=f"{n}/QĐ-UBND",
                          approval_date=dt.date(2026, 9, 1), approval_body="@UBND tỉnh",
                          regulation_decision=f"{n}/QĐ-QC", regulation_date=dt.date(2026, 8, 25),
                          regulation_body="UBND tỉnh")
        else:
            fields["expected_approval_date"] = dt.date(2027, 1, n % 28 + 1)
        if plan is PlanDeployment.fully_deployed:
            fields["plan_deployed_date"] = dt.date(2026, 10, 1) if approved else None
        else:
            fields["expected_deployment_date"] = dt.date(2027, 6, 30)
        systems.append(InformationSystem.model_validate(fields, context={"today": today}))
        for kind in kinds:
            assessments.append(Assessment(system=code, kind=kind, date=dt.date(2026, 11, 1),
                                          assessor=HOSTILE[n % len(HOSTILE)], independent=bool(n % 2)))
    with db.session() as session:
        write_models(session, {"agencies": agencies, "systems": systems, "assessments": assessments})
    return index


def policies_with_contacts(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "report_contacts.yaml").write_text(CONTACTS, encoding="utf-8")
    return folder
