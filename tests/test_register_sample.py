"""The synthetic province's register: ~300 systems, every status combination, T1 as before."""

from __future__ import annotations

import collections
import datetime as dt

from secops.models import ApprovalStatus, AssessmentKind, PlanDeployment
from secops.sample.province import generate
from secops.sample.register import sample_assessments

AS_OF = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def test_sample_register_has_every_combination_and_keeps_t1():
    sample = generate(AS_OF, endpoints=10)
    systems = sample.systems
    assert 280 <= len(systems) <= 320
    combos = collections.Counter((s.approval_status, s.plan_deployment) for s in systems)
    assert set(combos) == {(a, p) for a in ApprovalStatus for p in PlanDeployment}
    # The former lifecycle is kept: T1 (approved and fully deployed) counts what plan_deployed counted.
    assert sum(s.state.value == "plan_deployed" for s in systems) == combos[
        (ApprovalStatus.approved, PlanDeployment.fully_deployed)] == 193
    assert any(s.operator for s in systems) and any(s.operator is None for s in systems)
    approved = [s for s in systems if s.approval_status is ApprovalStatus.approved]
    assert any(s.regulation_date and s.regulation_date > s.approval_date for s in approved)  # for the rules to catch
    assert any(s.regulation_date is None for s in approved)
    kinds = {a.kind for a in sample_assessments(systems, AS_OF.date())}
    assert kinds == set(AssessmentKind)
    again = generate(AS_OF, endpoints=10)
    assert [s.model_dump() for s in again.systems] == [s.model_dump() for s in systems]
