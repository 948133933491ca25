"""Approving bodies as data: named by date, regime and province; Form 08 column (7) prints the body's
name, never a role; level 5 and Art. 20.4; the Decree 85 regime's reporting duty."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from secops.config import bundled
from secops.errors import SecopsError
from secops.inventory.importer import write_models
from secops.inventory.regime import load_regimes, regime_on
from secops.models import Agency, AgencyKind, ApprovalStatus, InformationSystem
from secops.register.bodies import BodiesFile, body_name, load_bodies, recipient_name
from secops.register.form08 import build_form08

REGIMES = load_regimes(bundled("policies"))
NEW = regime_on(REGIMES, dt.date(2026, 9, 1))
OLD = regime_on(REGIMES, dt.date(2025, 1, 1))


def test_bodies_of_each_level_under_decree_331():
    day = dt.date(2026, 10, 1)
    names = {lvl: body_name(lvl, day, NEW, "HG", province_label="Tỉnh Hà Giang") for lvl in range(1, 6)}
    assert names == {1: "Sở Khoa học và Công nghệ tỉnh Hà Giang", 2: "Sở Khoa học và Công nghệ tỉnh Hà Giang",
                     3: "Ủy ban nhân dân tỉnh Hà Giang", 4: "Ủy ban nhân dân tỉnh Hà Giang",
                     5: "Ủy ban nhân dân tỉnh Hà Giang"}
    # Level 5: the owner approves the plan; the Prime Minister approves the LIST (Art. 18.3.đ, 20.3.c).
    assert NEW.levels[5].list_approved_by == "prime_minister"
    assert body_name(NEW.levels[5].list_approved_by, day, NEW) == "Thủ tướng Chính phủ"
    assert NEW.levels[4].appraised_by == "ministry_public_security"
    assert body_name(NEW.levels[4].appraised_by, day, NEW, lang="en") == "Ministry of Public Security"


def test_a_level_3_or_4_system_on_the_security_list_follows_level_5():
    assert NEW.procedure(3, on_security_list=True) is NEW.levels[5]
    assert NEW.procedure(4, on_security_list=True) is NEW.levels[5]
    assert NEW.procedure(3) is NEW.levels[3]
    assert NEW.procedure(2, on_security_list=True) is NEW.levels[2]  # levels 1-2 cannot be on the list


def test_the_ministry_is_named_as_it_was_on_the_day():
    """Ministry of Information and Communications until 28/02/2025, merged into the Ministry of
    Science and Technology from 01/03/2025 (policies/bodies.yaml)."""
    assert recipient_name(OLD, dt.date(2025, 2, 28)) == "Bộ Thông tin và Truyền thông"
    assert recipient_name(OLD, dt.date(2025, 3, 1)) == "Bộ Khoa học và Công nghệ"
    assert recipient_name(OLD, dt.date(2025, 3, 1), lang="en") == "Ministry of Science and Technology"
    assert body_name(OLD.levels[4].appraised_by, dt.date(2024, 6, 1), OLD) == "Bộ Thông tin và Truyền thông"
    assert body_name("owner_security_unit", dt.date(2024, 6, 1), NEW, province_label="Tỉnh X") \
        == "Sở Thông tin và Truyền thông tỉnh X"
    assert recipient_name(NEW, dt.date(2026, 12, 1)) == "Bộ Công an"


def test_the_decree_85_regime_had_a_yearly_report():
    assert OLD.reporting is not None and "Circular 12/2022" in OLD.reporting.basis
    assert OLD.period(2025) == (dt.date(2024, 12, 15), dt.date(2025, 12, 14))
    assert OLD.form is None  # no Form 08 before Decree 331


def test_a_province_names_its_own_bodies_and_overlaps_are_refused(tmp_path: Path):
    data = load_bodies().model_dump(by_alias=True)
    data["provinces"]["TN"] = {"name": "tỉnh Thái Nguyên", "bodies": {"owner_security_unit": {
        "names": [{"vi": "Sở Khoa học và Công nghệ tỉnh Thái Nguyên (đơn vị chuyên trách)", "en": "DoST"}]}}}
    bodies = BodiesFile.model_validate(data)
    assert body_name(1, dt.date(2026, 10, 1), NEW, "TN", bodies=bodies) \
        == "Sở Khoa học và Công nghệ tỉnh Thái Nguyên (đơn vị chuyên trách)"
    assert body_name(3, dt.date(2026, 10, 1), NEW, "TN", bodies=bodies) == "Ủy ban nhân dân tỉnh Thái Nguyên"
    data["bodies"]["ministry_ict"]["names"][1]["from"] = dt.date(2025, 2, 1)
    with pytest.raises(ValueError, match="overlap"):
        BodiesFile.model_validate(data)
    with pytest.raises(SecopsError, match="no body 'nope'"):
        body_name("nope", dt.date(2026, 1, 1), NEW)


def test_form08_column_7_prints_the_body_name_not_a_role(db, tmp_path: Path):
    agencies = [Agency(code="HG", name="Tỉnh Hà Giang", kind=AgencyKind.province),
                Agency(code="S1", name="Sở Một", kind=AgencyKind.department, parent="HG")]
    common = {"owner": "S1", "approval_status": ApprovalStatus.approved, "approval_decision": "1/QĐ",
              "regulation_decision": "1/QC", "regulation_date": dt.date(2026, 8, 20), "system_type": "other",
              "plan_deployment": "fully_deployed", "plan_deployed_date": dt.date(2026, 10, 1)}
    systems = [
        InformationSystem(code="L1", name="Cấp 1", level=1, approval_date=dt.date(2026, 9, 1), **common),
        InformationSystem(code="L3", name="Cấp 3", level=3, approval_date=dt.date(2026, 9, 1), **common),
        InformationSystem(code="L5", name="Cấp 5", level=5, approval_date=dt.date(2026, 9, 1), **common),
        InformationSystem(code="OLD", name="Cũ", level=4, approval_date=dt.date(2024, 5, 1), approved_by="ministry",
                          **common),
        InformationSystem(code="GIVEN", name="Có tên", level=3, approval_date=dt.date(2026, 9, 1),
                          approval_body="UBND tỉnh Hà Giang (ủy quyền)", **common),
        # A proposed level without a type: not "classified" (the form counts the type, Art. 9.2).
        InformationSystem(code="UNTYPED", name="Chưa phân loại", owner="S1", proposed_level=2,
                          approval_status=ApprovalStatus.drafting, expected_approval_date=dt.date(2027, 3, 1),
                          expected_deployment_date=dt.date(2027, 6, 1)),
    ]
    with db.session() as session:
        write_models(session, {"agencies": agencies, "systems": systems})
    with db.session() as session:
        form = build_form08(session, REGIMES, 2026, tmp_path)
    bodies = {r.code: r.approval_body for r in form.rows if r.approved}
    assert bodies == {"L1": "Sở Khoa học và Công nghệ tỉnh Hà Giang", "L3": "Ủy ban nhân dân tỉnh Hà Giang",
                      "L5": "Ủy ban nhân dân tỉnh Hà Giang", "OLD": "Ủy ban nhân dân tỉnh Hà Giang",
                      "GIVEN": "UBND tỉnh Hà Giang (ủy quyền)"}
    assert not any("Chủ quản" in (b or "") for b in bodies.values())
    assert (form.section1.total, form.section1.classified) == (6, 5)  # the untyped one is not classified
