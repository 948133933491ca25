"""The synthetic province's level-dossier register: every approval status, plan deployment and
kind of assessment, with the gaps a real register has (missing expected dates, a regulation issued
after the approval) so the annual report's rules and the dashboard have something to show.

Each system draws from its own generator (seeded by its code), so the rest of the sample
(endpoints, staff, the former lifecycle states and thus T1) stays exactly as before.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from typing import Any

from secops.models import Assessment, AssessmentKind, InformationSystem

OPERATORS = ["Trung tâm Công nghệ thông tin và Truyền thông tỉnh", "Bộ phận Công nghệ thông tin của đơn vị",
             "Trung tâm Phục vụ hành chính công tỉnh", "Công ty cổ phần dịch vụ CNTT Mẫu (thuê ngoài)"]
ASSESSORS = [("Trung tâm Giám sát an toàn không gian mạng (mẫu)", True), ("Thanh tra tỉnh (mẫu)", True),
             ("Bộ phận CNTT của đơn vị", False), ("Công ty kiểm định ATTT Mẫu", True)]


def _rng(code: str) -> random.Random:
    return random.Random(f"register:{code}")


def _days(rng: random.Random, low: int, high: int) -> dt.timedelta:
    return dt.timedelta(days=rng.randint(low, high))


def register_fields(fields: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """The sample's system fields (with its former `state`) completed into a register row."""
    rng = _rng(fields["code"])
    state = getattr(fields.get("state"), "value", fields.get("state")) or "unclassified"
    out = {k: v for k, v in fields.items() if k != "state"}
    out["operator"] = rng.choice(OPERATORS + [fields["owner"] and None])  # some rows leave (4) empty
    roll = rng.random()
    if state in ("level_approved", "plan_deployed"):
        out.update(approval_status="approved", proposed_level=fields["level"],
                   plan_deployment="fully_deployed" if state == "plan_deployed"
                   else ("partly_deployed" if roll < 0.6 else "not_deployed"))
        approved: dt.date = fields["approval_date"]
        if roll < 0.9:  # the regulation is issued before the approval (Decree 331 Art. 30.7)
            out.update(regulation_decision=f"{rng.randint(10, 999)}/QĐ-QC", regulation_date=approved - _days(rng, 5, 90),
                       regulation_body=rng.choice(["UBND tỉnh", "Thủ trưởng đơn vị"]))
        elif roll < 0.95:  # ... but not always: the report's rules catch these
            out.update(regulation_decision=f"{rng.randint(10, 999)}/QĐ-QC",
                       regulation_date=min(today, approved + _days(rng, 1, 30)), regulation_body="UBND tỉnh")
    else:
        level = out.pop("level", None)
        if state == "dossier_submitted":
            status = "sent_for_appraisal" if roll < 0.55 else "appraised"
        else:
            status = "not_started" if roll < 0.45 else "drafting"
        out.update(approval_status=status, proposed_level=level or (rng.randint(1, 3) if status == "drafting" else None),
                   plan_deployment=rng.choices(["not_deployed", "partly_deployed", "fully_deployed"], [55, 27, 18])[0])
        if rng.random() < 0.88:
            out["expected_approval_date"] = today + _days(rng, -20, 240)  # some fall in this reporting period
    if out["plan_deployment"] != "fully_deployed" and rng.random() < 0.85:
        out["expected_deployment_date"] = today + _days(rng, 30, 400)
    return out


def sample_system(fields: dict[str, Any], today: dt.date) -> InformationSystem:
    return InformationSystem.model_validate(register_fields(fields, today), context={"today": today})


def sample_assessments(systems: Iterable[InformationSystem], today: dt.date) -> list[Assessment]:
    """Before-operation assessments of deployed systems and periodic ones of approved systems; the
    former last_inspection_date is a periodic assessment, as migration 0005 makes it."""
    out = []
    for system in systems:
        rng = _rng("a:" + system.code)
        wanted: dict[tuple[AssessmentKind, dt.date], None] = {}  # ordered, one per kind and day
        if system.plan_deployed_date and rng.random() < 0.7:
            wanted[(AssessmentKind.before_operation, system.plan_deployed_date)] = None
        if system.last_inspection_date:
            wanted[(AssessmentKind.periodic, system.last_inspection_date)] = None
        if system.approval_date and rng.random() < 0.15:
            wanted[(AssessmentKind.ad_hoc, today - _days(rng, 1, 300))] = None
        for kind, day in wanted:
            if day > today:
                continue
            assessor, independent = rng.choice(ASSESSORS)
            out.append(Assessment(system=system.code, kind=kind, date=day, assessor=assessor, independent=independent,
                                  report_ref=f"BC-{system.code}-{day:%Y%m%d}" if rng.random() < 0.8 else None))
    return out
