"""Regimes as data: the one in force follows the date, a province overrides a file, bad files are refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from secops.errors import InputRowsError, SecopsError
from secops.inventory.importer import import_files
from secops.inventory.levels import load_levels
from secops.inventory.regime import load_regimes, regime_on

POLICIES = Path(__file__).resolve().parent.parent / "policies"
REGIME_331 = POLICIES / "regimes" / "decree331_2026.yaml"


def test_regime_follows_the_date():
    regimes = load_regimes(POLICIES)
    assert regime_on(regimes, dt.date(2026, 8, 18)).id == "decree85_2016"
    new = regime_on(regimes, dt.date(2026, 8, 19))
    assert new.id == "decree331_2026" and new.recipient_text("vi") == "Bộ Công an"
    assert new.period(2026) == (dt.date(2025, 12, 15), dt.date(2026, 12, 14))
    assert [(d.id, d.on(2026)) for d in new.reporting.deadlines] == [
        ("to_owner", dt.date(2026, 12, 20)), ("to_ministry", dt.date(2026, 12, 25))]
    assert new.form.values.approval_status["approved"].vi == "Đã được phê duyệt"
    assert new.form.values.plan_deployment["partly_deployed"].vi == "Đã triển khai một số hạng mục"
    with pytest.raises(SecopsError, match="in force on 2010-01-01"):
        regime_on(regimes, dt.date(2010, 1, 1))


def test_a_province_overrides_one_regime_file(tmp_path):
    (tmp_path / "regimes").mkdir()
    text = REGIME_331.read_text(encoding="utf-8").replace("periodic_assessment_days: 182", "periodic_assessment_days: 90")
    (tmp_path / "regimes" / "decree331_2026.yaml").write_text(text, encoding="utf-8")
    regimes = load_regimes(tmp_path)
    assert [r.id for r in regimes] == ["decree85_2016", "decree331_2026"]  # the other one is the bundled file
    assert regimes[1].levels[3].periodic_assessment_days == 90


def test_bad_or_overlapping_regimes_are_refused(tmp_path):
    (tmp_path / "regimes").mkdir()
    broken = REGIME_331.read_text(encoding="utf-8").replace('key: approval_status,', 'key: status,')
    (tmp_path / "regimes" / "decree331_2026.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(SecopsError, match=r"decree331_2026.yaml: form.*section3.columns keys"):
        load_regimes(tmp_path)
    overlap = REGIME_331.read_text(encoding="utf-8").replace("effective_from: 2026-08-19", "effective_from: 2026-01-01")
    (tmp_path / "regimes" / "decree331_2026.yaml").write_text(overlap, encoding="utf-8")
    with pytest.raises(SecopsError, match="overlap"):
        load_regimes(tmp_path)


def test_approver_is_checked_against_the_regime_of_the_approval_date(db, tmp_path):
    regimes, levels = load_regimes(POLICIES), load_levels(POLICIES)
    path = tmp_path / "inv.yaml"
    row = ('  - {{code: {code}, name: "HT", owner: P, approval_status: approved, level: 4, approval_decision: "1/QĐ",'
           ' approval_date: {day}, approved_by: ministry}}\n')
    path.write_text('agencies:\n  - {code: P, name: "Tỉnh", kind: province}\nsystems:\n'
                    + row.format(code="OLD", day="2025-03-01") + row.format(code="NEW", day="2026-09-01"),
                    encoding="utf-8")
    with pytest.raises(InputRowsError) as caught:
        import_files(db, [path], levels, regimes=regimes, today=dt.date(2026, 12, 1))
    assert [str(e) for e in caught.value.errors] == [
        f"{path}:5: approved_by: level 4 is approved by province, not ministry (policies/regimes/decree331_2026.yaml)"]
