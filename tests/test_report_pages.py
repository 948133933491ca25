"""Detail pages that dashboard sections ask for are written only under a safe relative path."""

from __future__ import annotations

import datetime as dt

import pytest

from secops.report.data import AgencyGrades, Dashboard, RunInfo
from secops.report.export import section_pages

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def dashboard_with(path: str) -> Dashboard:
    scope = AgencyGrades(code="P", name="Tỉnh", kind="province", parent=None, depth=0, cells={}, targets_met=0,
                         targets_not_met=0, gap_total=0)
    return Dashboard(generated_at=NOW, lang="vi", synthetic=False, plan=None,
                     run=RunInfo(id=1, kind="grade", status="ok", started_at=NOW, finished_at=NOW, as_of=NOW),
                     scope=scope, targets=[], agencies=[scope], ranking=[], fix=[], fix_counts={},
                     sections={"x": {"pages": [{"path": path, "template": "t", "context": {}}]}})


@pytest.mark.parametrize("path", ["../escape.html", "/etc/passwd.html", "hosts/../../x.html", "hosts/a b.html",
                                  "hosts/.hidden.html", "x.html", "hosts/sub/x.html"])
def test_unsafe_page_paths_are_refused(path):
    with pytest.raises(ValueError, match="refusing to write report page"):
        section_pages(dashboard_with(path))


def test_plain_page_path_is_accepted():
    assert [p["path"] for p in section_pages(dashboard_with("hosts/0001-EP-1.html"))] == ["hosts/0001-EP-1.html"]
