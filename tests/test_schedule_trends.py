"""The dashboard's trend section on a database with several graded runs."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from schedule_helpers import make_policies
from sqlalchemy import func, select

from secops.cliutil import AppState
from secops.config import Settings
from secops.grade.cli import run_grade
from secops.report.publish import publish
from secops.sample.load import load_sample
from secops.store.tables import AgencyRow, EndpointRow, EvidenceRow, GradeRow

UTC = dt.UTC
NOW = dt.datetime.now(UTC).replace(microsecond=0)
EVIL = '<script>alert("x")</script> Huyện & "Co"'


class Province:
    def __init__(self, tmp_path: Path):
        policies = make_policies(tmp_path / "policies", jobs={"g": {"stages": ["grade"]}}, trends={"runs": 3})
        self.state = AppState(Settings(db=str(tmp_path / "s.db"), output=tmp_path / "out", policies=policies))
        self.db = self.state.db()
        load_sample(self.db, NOW - dt.timedelta(hours=3), endpoints=200)
        with self.db.session() as session:
            # Two leaf agencies (no sub-units) with the most endpoints: their grade is their own endpoints.
            parents = select(AgencyRow.parent_id).where(AgencyRow.parent_id.is_not(None))
            ranked = session.execute(select(AgencyRow.code, func.count())
                                     .join(EndpointRow, EndpointRow.agency_id == AgencyRow.id)
                                     .where(AgencyRow.id.not_in(parents))
                                     .group_by(AgencyRow.code).order_by(func.count().desc(), AgencyRow.code)).all()
            self.better, self.worse = ranked[0][0], ranked[1][0]
            session.scalar(select(AgencyRow).where(AgencyRow.code == self.better)).name = EVIL  # type: ignore[union-attr]

    def evidence(self, code: str, status: str, at: dt.datetime) -> None:
        with self.db.session() as session:
            for endpoint in session.scalars(select(EndpointRow).join(AgencyRow).where(AgencyRow.code == code)):
                session.add(EvidenceRow(endpoint_id=endpoint.id, status=status, product="P", source="audit",
                                        observed_at=at))

    def grade(self, as_of: dt.datetime) -> int:
        return run_grade(self.state, as_of)

    def cell(self, run_id: int, agency: str, target: str) -> GradeRow:
        with self.db.session() as session:
            row = session.scalar(select(GradeRow).where(GradeRow.run_id == run_id, GradeRow.agency_code == agency,
                                                        GradeRow.target_id == target))
            assert row is not None
            return row


@pytest.fixture
def province(tmp_path: Path) -> Province:
    return Province(tmp_path)


def test_one_run_has_no_trend_section(province: Province, tmp_path: Path) -> None:
    run = province.grade(NOW)
    dashboard, files = publish(province.db, province.state.settings, tmp_path / "r", run_id=run)
    assert "trends" not in dashboard.sections
    assert 'id="trends"' not in files["dashboard.html"].read_text(encoding="utf-8")


def test_trend_chart_and_improved_and_slipped_agencies(province: Province, tmp_path: Path) -> None:
    first = province.grade(NOW - dt.timedelta(hours=2))
    province.evidence(province.better, "protected", NOW - dt.timedelta(hours=1))
    province.evidence(province.worse, "unprotected", NOW - dt.timedelta(hours=1))
    second = province.grade(NOW)
    dashboard, files = publish(province.db, province.state.settings, tmp_path / "r", run_id=second, lang="en")
    section = dashboard.sections["trends"]

    assert [r["id"] for r in section["runs"]] == [first, second] and section["previous_run"] == first
    t2 = next(t for t in section["targets"] if t["id"] == "T2")
    before, after = province.cell(first, "SAMPLE", "T2"), province.cell(second, "SAMPLE", "T2")
    assert [p["numerator"] for p in t2["points"]] == [before.numerator, after.numerator]
    assert t2["delta"] == pytest.approx(after.value - before.value)
    t1 = next(t for t in section["targets"] if t["id"] == "T1")
    assert t1["delta"] == 0, "nothing changed for information systems"

    improved = {(c["agency_code"], c["target_id"]): c for c in section["improved"]}
    slipped = {(c["agency_code"], c["target_id"]): c for c in section["slipped"]}
    gain = improved[(province.better, "T2")]
    b, a = province.cell(first, province.better, "T2"), province.cell(second, province.better, "T2")
    assert a.numerator == a.denominator > b.numerator, "every endpoint of the improved agency is protected now"
    assert (gain["before"]["numerator"], gain["after"]["numerator"]) == (b.numerator, a.numerator)
    assert gain["became"] == ("met" if b.status != "met" else None)
    loss = slipped[(province.worse, "T2")]
    assert loss["after"]["numerator"] == 0 < loss["before"]["numerator"] and loss["delta"] < 0
    assert (province.better, "T2") not in slipped and (province.worse, "T2") not in improved
    assert all(c["delta"] > 0 for c in section["improved"]) and all(c["delta"] < 0 for c in section["slipped"])
    assert all(target == "T2" for _, target in [*improved, *slipped]), "only endpoint protection changed"

    html = files["dashboard.html"].read_text(encoding="utf-8")
    chart = re.search(r'<div class="card [a-z_]*" id="trend-T2">(.*?)</svg>', html, re.S)
    assert chart, "a chart per target"
    points = re.search(r'<polyline class="series" points="([^"]+)"', chart.group(1)).group(1).split()
    assert len(points) == 2
    y_before, y_after = (float(p.split(",")[1]) for p in points)
    assert (y_after < y_before) == (after.value > before.value), "the line goes up when the value rises"
    assert 'class="threshold"' in chart.group(1) and "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Huyện &amp; &#34;Co&#34;" in html
    improved_html = html[html.index('id="trends-improved-table"'):html.index('id="trends-slipped"')]
    slipped_html = html[html.index('id="trends-slipped-table"'):]
    slipped_html = slipped_html[:slipped_html.index("</table>")]
    assert f"({province.better})" in improved_html and f"({province.worse})" not in improved_html
    assert f"({province.worse})" in slipped_html and f"({province.better})" not in slipped_html
    assert "Agencies that improved" in html and "Change since the previous run" in html
    exported = json.loads(files["dashboard.json"].read_text(encoding="utf-8"))
    assert exported["sections"]["trends"]["improved_total"] == section["improved_total"] >= 1


def test_trend_length_follows_the_policies_schedule_yaml(province: Province, tmp_path: Path, cli) -> None:
    runs = [province.grade(NOW - dt.timedelta(minutes=m)) for m in (40, 30, 20, 10)]
    out = tmp_path / "cli-report"
    result = cli("--policies", str(province.state.settings.policies), "report", "--run", str(runs[-1]),
                 "--out", str(out), "--format", "json,html", db=Path(province.state.settings.db))
    assert result.returncode == 0, result.stderr
    section = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["sections"]["trends"]
    assert [r["id"] for r in section["runs"]] == runs[-3:], "trends.runs: 3 in this policies folder"
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert html.count('<polyline class="series"') == 5 and "Xu hướng" in html, "Vietnamese by default"
    # the report of an older run shows the history up to that run only
    dashboard, _ = publish(province.db, province.state.settings, tmp_path / "old", run_id=runs[1])
    assert [r["id"] for r in dashboard.sections["trends"]["runs"]] == runs[:2]
