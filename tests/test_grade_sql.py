"""SQL grading and SQL fix lists against the Python reference, on generated provinces and policies.

The reference is grade/engine.py's `grade` over grade/facts.py's `load_facts`, and
report/data.py's `reference_fix_items`: the implementation every earlier release graded with.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from secops.grade.sql import endpoint_max_age, grade_sql
from secops.inventory.tree import load_agencies
from secops.report.fixlist import fix_items
from secops.store.db import Database
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, StaffRow, SystemRow
from secops.targets import TargetPolicy, load_targets
from tests.reference_grader import grade, load_facts, reference_fix_items

POLICIES = Path(__file__).resolve().parent.parent / "policies"
BASE = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
STATES = ["planned", "dossier_submitted", "level_approved", "plan_deployed"]
STATUSES = ["protected", "degraded", "unprotected", "unknown"]
SOURCES = ["audit", "import", "sample"]
APPROVAL = ["not_started", "appraised", "approved"]
DEPLOYMENT = ["not_deployed", "partly_deployed", "fully_deployed"]

days = st.integers(min_value=-40, max_value=40)
maybe_date = st.one_of(st.none(), days.map(lambda d: BASE.date() + dt.timedelta(days=d)))
maybe_time = st.one_of(st.none(), st.integers(-40 * 24, 40 * 24).map(lambda h: BASE + dt.timedelta(hours=h)))


@st.composite
def provinces(draw: Any) -> dict[str, Any]:
    n_agencies = draw(st.integers(1, 8))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n_agencies)]
    codes = draw(st.lists(st.text("ABCXYZab-_09", min_size=1, max_size=4), min_size=n_agencies,
                          max_size=n_agencies, unique=True))
    agency = st.integers(0, n_agencies - 1)
    systems = draw(st.lists(st.fixed_dictionaries({
        "agency": agency, "level": st.one_of(st.none(), st.integers(1, 5)), "state": st.sampled_from(STATES),
        "approval_date": maybe_date, "plan_deployed_date": maybe_date, "last_inspection_date": maybe_date,
        "approved_by": st.sampled_from([None, "owner", "province"]), "retired_at": maybe_date,
        "approval_status": st.sampled_from(APPROVAL), "plan_deployment": st.sampled_from(DEPLOYMENT)}),
        max_size=12))
    endpoints = draw(st.lists(st.fixed_dictionaries({
        "agency": agency, "role": st.sampled_from(["workstation", "server"]), "last_seen": maybe_time,
        "retired_at": maybe_date,
        "evidence": st.lists(st.tuples(st.sampled_from(STATUSES), st.sampled_from(SOURCES),
                                       st.integers(-40, 40)), max_size=3)}), max_size=15))
    staff = draw(st.lists(st.fixed_dictionaries({
        "agency": agency, "is_head": st.booleans(), "awareness_date": maybe_date, "informed_date": maybe_date,
        "training_date": maybe_date, "retired_at": maybe_date}), max_size=15))
    return {"parents": parents, "codes": codes, "systems": systems, "endpoints": endpoints, "staff": staff}


FIELD_VALUES: dict[str, dict[str, Any]] = {
    "systems": {"state": st.sampled_from(STATES), "level": st.integers(1, 5),
                "approved_by": st.sampled_from(["owner", "province"]),
                "approval_status": st.sampled_from(APPROVAL), "plan_deployment": st.sampled_from(DEPLOYMENT)},
    "endpoints": {"protection": st.sampled_from(STATUSES), "role": st.sampled_from(["workstation", "server"])},
    "staff": {"is_head": st.booleans()},
}
DATE_FIELDS = {"systems": ["approval_date", "plan_deployed_date", "last_inspection_date"],
               "endpoints": ["last_seen"], "staff": ["awareness_date", "informed_date", "training_date"]}


def conditions(entity: str) -> Any:
    valued = [st.tuples(st.just(f), st.one_of(values, st.lists(values, max_size=3)))
              for f, values in FIELD_VALUES[entity].items()]
    dated = [st.tuples(st.sampled_from(DATE_FIELDS[entity] + list(FIELD_VALUES[entity])),
                       st.sampled_from([{"not_null": True}, {"is_null": True}]))]
    dated.append(st.tuples(st.sampled_from(DATE_FIELDS[entity]), st.integers(0, 30).map(lambda n: {"within_days": n})))
    return st.lists(st.one_of(*valued, *dated), max_size=2).map(dict)


@st.composite
def policies(draw: Any) -> TargetPolicy:
    targets = []
    for i in range(draw(st.integers(1, 4))):
        entity = draw(st.sampled_from(["systems", "endpoints", "staff"]))
        targets.append({"id": f"G{i}", "key": f"k{i}", "title": {"vi": "t", "en": "t"}, "entity": entity,
                        "denominator": draw(conditions(entity)), "numerator": draw(conditions(entity)),
                        "comparison": draw(st.sampled_from([">=", ">"])),
                        "threshold": draw(st.sampled_from(["0", "0.5", "0.9", "1"])),
                        "evidence_max_age_days": draw(st.sampled_from([None, 0, 7]))})
    return TargetPolicy.model_validate({"targets": targets})


def store(db: Database, p: dict[str, Any]) -> None:
    with db.session() as s:
        for table in (EvidenceRow, EndpointRow, StaffRow, SystemRow):
            s.execute(delete(table))
        s.execute(delete(AgencyRow).where(AgencyRow.parent_id.is_not(None)))
        s.execute(delete(AgencyRow))
        rows = []
        for code, parent in zip(p["codes"], p["parents"], strict=True):
            row = AgencyRow(code=code, name=f"N {code}", kind="commune",
                            parent_id=rows[parent].id if parent is not None else None)
            s.add(row)
            s.flush()
            rows.append(row)
        for n, sy in enumerate(p["systems"]):
            s.add(SystemRow(code=f"S{n}", name=f"sys {n}", agency_id=rows[sy.pop("agency")].id, **sy))
        for n, ep in enumerate(p["endpoints"]):
            row = EndpointRow(code=f"E{n:02d}", hostname=f"h{n}", ips=[f"127.0.0.{n}"], os_family="linux",
                              role=ep["role"], agency_id=rows[ep["agency"]].id, last_seen=ep["last_seen"],
                              retired_at=ep["retired_at"])
            s.add(row)
            s.flush()
            seen = set()
            for status, source, day in ep["evidence"]:
                if (source, day) in seen:
                    continue
                seen.add((source, day))
                s.add(EvidenceRow(endpoint_id=row.id, status=status, source=source, product="P",
                                  observed_at=BASE + dt.timedelta(days=day), detail=f"d{day}"))
        for n, sf in enumerate(p["staff"]):
            s.add(StaffRow(code=f"C{n:02d}", agency_id=rows[sf.pop("agency")].id, **sf))


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Database:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('gradesql') / 'g.db'}")
    yield database
    database.dispose()


def compare(db: Database, policy: TargetPolicy, as_of: dt.datetime) -> None:
    with db.session() as s:
        facts = load_facts(s, as_of, endpoint_max_age(policy))
        expected = [c.model_dump() for c in grade(policy, facts)]
        got = [c.model_dump() for c in grade_sql(s, policy, as_of)]
        assert got == expected
        agencies = load_agencies(s)
        for scope in [None, *([{min(agencies)}] if agencies else [])]:
            in_scope = set(agencies) if scope is None else scope
            reference = [f.model_dump() for f in reference_fix_items(policy, facts, in_scope)]
            assert [f.model_dump() for f in fix_items(s, policy, as_of, scope)] == reference


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(province=provinces(), policy=policies(), shift=st.integers(-30, 30))
def test_sql_grading_equals_reference(shared_db: Database, province: dict[str, Any], policy: TargetPolicy,
                                      shift: int) -> None:
    store(shared_db, province)
    compare(shared_db, policy, BASE + dt.timedelta(days=shift, hours=shift))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(province=provinces(), shift=st.integers(-30, 30))
def test_sql_grading_equals_reference_with_shipped_targets(shared_db: Database, province: dict[str, Any],
                                                           shift: int) -> None:
    store(shared_db, province)
    compare(shared_db, load_targets(POLICIES), BASE + dt.timedelta(days=shift))
