"""The dashboard's reporting section: days left to 20/12 and 25/12, incomplete rows, overdue
periodic assessments (interval per level from the regime file), approvals expected this period."""

from __future__ import annotations

import datetime as dt
import json
import re

from annual_helpers import build_register

from secops.inventory.importer import write_models
from secops.models import ApprovalStatus, InformationSystem


def test_reporting_section_on_the_dashboard(db, db_path, tmp_path, cli):
    build_register(db)
    extra = [
        InformationSystem(code="OLD3", name="<b>Hệ thống cũ</b>", owner="S1", approval_status=ApprovalStatus.approved,
                          level=3, system_type="public_service", approval_decision="9/QĐ",
                          approval_date=dt.date(2025, 1, 10), regulation_decision="8/QĐ",
                          regulation_date=dt.date(2025, 1, 2), plan_deployment="fully_deployed"),
        InformationSystem(code="SOON", name="Sắp duyệt", owner="S2", approval_status=ApprovalStatus.appraised,
                          proposed_level=2, system_type="internal", expected_approval_date=dt.date(2026, 12, 10),
                          expected_deployment_date=dt.date(2027, 3, 1)),
    ]
    with db.session() as session:
        write_models(session, {"systems": extra})
    graded = cli("grade", "--as-of", "2026-12-01", db=db_path)
    assert graded.returncode == 0, graded.stderr
    out = tmp_path / "dash"
    for lang in ("en", "vi"):
        done = cli("report", "--lang", lang, "--out", str(out / lang), db=db_path)
        assert done.returncode == 0, done.stderr
    section = json.loads((out / "en" / "dashboard.json").read_text(encoding="utf-8"))["sections"]["reporting"]
    assert section["year"] == 2026 and section["regime"] == "decree331_2026"
    # "before 20/12" and "before 25/12": the countdown runs to the last permitted days, 19/12 and 24/12.
    assert [(d["id"], d["date"], d["before"], d["days_left"]) for d in section["deadlines"]] == [
        ("to_owner", "2026-12-19", "2026-12-20", 18), ("to_ministry", "2026-12-24", "2026-12-25", 23)]
    # 12 not started + 18 unapproved rows claiming a periodic assessment (see annual_helpers).
    assert section["counts"] == {"incomplete": 30, "overdue": 1, "expected": 1}
    overdue = section["overdue"][0]
    assert (overdue["code"], overdue["interval"], overdue["last"], overdue["due"]) == ("OLD3", 182, None, "2025-07-11")
    assert section["expected"][0]["code"] == "SOON"
    html_en = (out / "en" / "dashboard.html").read_text(encoding="utf-8")
    html_vi = (out / "vi" / "dashboard.html").read_text(encoding="utf-8")
    assert 'id="reporting"' in html_en and "18 days left" in html_en and "Approvals expected in this period" in html_en
    assert "Còn 18 ngày" in html_vi and "<th>Hạn cuối</th>" in html_vi
    section_vi = html_vi.split('id="reporting"')[1].split("</section>")[0]
    assert '<td class="mono">19/12/2026</td>' in section_vi and '<td class="mono">24/12/2026</td>' in section_vi
    assert "10/12/2026" in section_vi and "Đã thẩm định" in section_vi  # the expected approval, in the form's words
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", section_vi) and "appraised" not in section_vi
    assert "Art. 35" not in html_vi.split('id="reporting"')[1].split("</section>")[0]
    # The page's own words use the 2026 regime's terms (the footer cited Decree 85 and "ATTT"); the
    # targets' titles are the province plan's own wording (policies/targets.yaml) and stay as written.
    footer = html_vi.split("<footer>")[1].split("</footer>")[0]
    assert "85/2016" not in footer and "ATTT" not in footer and "an ninh mạng" in footer
    assert "<title>Bảng theo dõi bảo đảm an ninh mạng" in html_vi
    assert "Hệ thống dự kiến được phê duyệt trong kỳ này" in html_vi
    assert "&lt;b&gt;Hệ thống cũ&lt;/b&gt;" in html_en and "<b>Hệ thống cũ" not in html_en
    assert "&lt;script&gt;" in html_en and "<script>alert" not in html_en


def test_the_report_shown_is_this_years_until_its_last_deadline():
    from secops.config import bundled
    from secops.inventory.regime import load_regimes, regime_on, report_year

    regime = regime_on(load_regimes(bundled("policies")), dt.date(2026, 12, 1))
    assert report_year(regime, dt.date(2026, 12, 14)) == 2026
    assert report_year(regime, dt.date(2026, 12, 22)) == 2026  # period closed, report still due by 24/12
    assert report_year(regime, dt.date(2026, 12, 24)) == 2026  # the last permitted day ("before 25/12")
    assert report_year(regime, dt.date(2026, 12, 25)) == 2027
