"""The sample province gives every system with a level a checklist; the dashboard shows the
requirements section (vi and en) and one escaped checklist page per system."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

from secops.store.db import Database
from secops.store.tables import SystemRow

HOSTILE = '<script>alert("ev")</script>'


def test_sample_checklists_render_on_the_dashboard(db_path: Path, tmp_path: Path):
    done = run_cli("inventory", "sample", "--endpoints", "400", db=db_path)
    assert done.returncode == 0, done.stderr
    db = Database(f"sqlite:///{db_path}")
    with db.session() as s:
        system = s.query(SystemRow).filter(SystemRow.level == 3).order_by(SystemRow.code).first()
        assert system is not None
        code = system.code
        with_level = s.query(SystemRow).filter(SystemRow.level.is_not(None)).count()
    db.dispose()
    done = run_cli("requirements", "set", code, "R26-LOG-SIEM", "--status", "not_met", "--milestone", "2027-06-30",
                   "--unit", HOSTILE, "--evidence", HOSTILE, db=db_path)
    assert done.returncode == 0, done.stderr
    done = run_cli("requirements", "override", code, "--deployment", "fully_deployed", "--reason", "Đã nghiệm thu",
                   db=db_path)
    assert done.returncode == 0, done.stderr
    assert run_cli("grade", db=db_path).returncode in (0, 1)
    for lang in ("vi", "en"):
        out = tmp_path / lang
        done = run_cli("report", "--lang", lang, "--out", str(out), db=db_path)
        assert done.returncode == 0, done.stderr
        section = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))["sections"]["requirements"]
        assert section["total_systems"] == with_level == len(section["systems"])
        assert sum(section["deployments"].values()) == with_level
        assert {"fully_deployed", "partly_deployed", "not_deployed"} <= set(section["deployments"])
        assert section["common_unmet"] and section["overdue"]
        assert section["protection_2026"][0]["code"] == "SAMPLE"
        total = section["protection_2026"][0]
        assert total["endpoints"] == 400 and 0 < total["managed"] < total["managed_known"] <= 400
        mine = next(x for x in section["systems"] if x["code"] == code)
        assert (mine["deployment"], mine["override_reason"]) == ("fully_deployed", "Đã nghiệm thu")
        page = (out / mine["page"]).read_text(encoding="utf-8")
        assert HOSTILE not in page and "&lt;script&gt;" in page
        assert 'id="R26-LOG-SIEM"' in page and "2027-06-30" in page
        html = (out / "dashboard.html").read_text(encoding="utf-8")
        title = "Yêu cầu bảo đảm an ninh mạng theo cấp độ" if lang == "vi" else "Security requirements by level"
        assert title in html and mine["page"] in html
