"""The dashboard in a real browser (Debian's headless Chromium), both languages, hostile inventory.

A copy of each page gets one checker script appended (the only script the page may run); it
records, in the DOM that --dump-dom prints: units hidden by a clipping box, tables wider than the
window, whether any script from the data ran, and the page's visible text. The test asserts every
unit is visible, no i18n key or database field name shows, and nothing from the data executed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from secops.runs.records import process_identity

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.timeout(300)

PWN_SCRIPT = "<script>document.body.setAttribute('data-pwned','script')</script>"
PWN_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
BIDI = "Xã \u202egnp.exe\u202c Hải"
ZERO_WIDTH = "Sở\u200b Tài\u200d chính"
LONG = "Phường" + "A" * 250

CHECKER = """<script>
(function () {
  var out = {hidden: [], wide: [], pwned: document.body.getAttribute('data-pwned'),
             scripts: document.scripts.length, text: document.body.innerText};
  var cells = document.querySelectorAll('#agencies tbody td:first-child, #ranking tbody td:nth-child(2)');
  for (var i = 0; i < cells.length; i++) {
    var r = cells[i].getBoundingClientRect();
    for (var a = cells[i].parentElement; a && a !== document.body; a = a.parentElement) {
      var cs = getComputedStyle(a);
      if (cs.overflowY !== 'visible') {
        var b = a.getBoundingClientRect();
        if (r.bottom > b.bottom + 1 || r.top < b.top - 1) { out.hidden.push(cells[i].innerText.slice(0, 60)); break; }
      }
    }
  }
  var tables = document.querySelectorAll('#agencies table, #ranking table, #fix table');
  for (var j = 0; j < tables.length; j++) {
    if (tables[j].scrollWidth > document.documentElement.clientWidth) { out.wide.push(tables[j].scrollWidth); }
  }
  var pre = document.createElement('pre');
  pre.id = 'secops-checker';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""

# What must never show on the Vietnamese page: i18n keys, field names and the grader's English.
NOT_IN_VI = ["run_state_", "stage_", "field_", "kind_", "protection_", "state_", "reason_", "legend_",
             "training_date", "informed_date", "awareness_date", "missing ", "no evidence",
             "no protection product found", "running", "partial", "interrupted", "needs_more"]
NOT_IN_EN = ["run_state_", "stage_", "field_", "kind_", "protection_", "state_", "reason_", "legend_",
             "training_date", "informed_date", "awareness_date", "needs_more"]


def hostile_inventory(path: Path) -> list[str]:
    agencies = [{"code": "HT", "name": "Tỉnh Thử " + PWN_SCRIPT, "kind": "province"},
                {"code": "HT-S1", "name": PWN_IMG, "kind": "department", "parent": "HT"},
                {"code": "HT-S2", "name": ZERO_WIDTH, "kind": "department", "parent": "HT"},
                {"code": "HT-H1", "name": "Huyện Một", "kind": "district", "parent": "HT"}]
    agencies += [{"code": f"HT-H1-X{i:02d}", "name": (LONG if i == 0 else BIDI if i == 1 else f"Xã số {i}"),
                  "kind": "commune", "parent": "HT-H1"} for i in range(60)]
    endpoints = [{"code": f"EP{i}", "hostname": f"host{i}" + (PWN_SCRIPT if i == 0 else ""),
                  "ips": [f"127.0.9.{i + 1}"], "owner": "HT-S1" if i < 3 else "HT-H1-X01"} for i in range(5)]
    staff = [{"code": "CB1", "agency": "HT", "is_head": True},
             {"code": "CB2", "agency": "HT-S2", "informed_date": "2026-01-05"}]
    path.write_text(yaml.safe_dump({"agencies": agencies, "endpoints": endpoints, "staff": staff},
                                   allow_unicode=True), encoding="utf-8")
    return [a["code"] for a in agencies]


def render_in_chromium(html: Path, work: Path) -> dict:  # type: ignore[type-arg]
    page = work / f"checked-{html.parent.name}.html"
    page.write_text(html.read_text(encoding="utf-8").replace("</body>", CHECKER + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="secops-chromium-") as profile:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",  # type: ignore[list-item]
                               "--disable-background-networking", "--disable-component-update", "--no-first-run",
                               f"--user-data-dir={profile}", "--window-size=1280,900", "--dump-dom",
                               page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="secops-checker">(.*?)</pre>', done.stdout, re.DOTALL)
    assert match, f"checker did not run: {done.stderr[-2000:]}"
    raw = match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(raw)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    from tests.conftest import run_cli

    work = tmp_path_factory.mktemp("browser")
    db = work / "secops.db"
    inventory = work / "inventory.yaml"
    codes = hostile_inventory(inventory)
    done = run_cli("inventory", "import", str(inventory), db=db)
    assert done.returncode == 0, done.stderr
    assert run_cli("grade", db=db).returncode in (0, 1)
    # The report a job writes as its run's last stage: the run is `running`, its earlier stages
    # finished, the report stage is the one in progress; the page describes the run as it ends.
    with sqlite3.connect(db) as conn:
        run_id = conn.execute("select max(id) from runs where kind = 'grade'").fetchone()[0]
        # Its process is this (live) test process, so no command takes it for a dead run.
        conn.execute("update runs set status = 'running', finished_at = null, pid = ?, summary = ? where id = ?",
                     (os.getpid(), json.dumps(process_identity()), run_id))
        conn.executemany("insert into run_stages (run_id, position, stage, status, started_at, summary, errors) "
                         "values (?, ?, ?, ?, current_timestamp, '{}', '[]')",
                         [(run_id, 0, "grade", "ok"), (run_id, 1, "report", "running")])
    out = {}
    for lang in ("vi", "en"):
        folder = work / lang
        done = run_cli("report", "--out", str(folder), "--lang", lang, db=db)
        assert done.returncode == 0, done.stderr
        out[lang] = folder / "dashboard.html"
    out["work"] = work
    out["codes"] = codes  # type: ignore[assignment]
    return out


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_dashboard_in_chromium(reports: dict, lang: str) -> None:  # type: ignore[type-arg]
    assert CHROMIUM is not None, "Debian's chromium is required (scripts/install-test-deps.sh installs it)"
    result = render_in_chromium(reports[lang], reports["work"])
    text = result["text"]
    assert result["pwned"] is None, "a script from the data ran"
    assert result["scripts"] == 1, "only the checker script is on the page"
    assert PWN_SCRIPT in text or "document.body.setAttribute" in text, "hostile names shown as text"
    for code in reports["codes"]:
        assert f"({code})" in text, f"unit {code} missing from the page"
    assert result["hidden"] == [], f"units hidden in a clipped box: {result['hidden'][:5]}"
    assert result["wide"] == [], f"a long name pushed a table wider than the window: {result['wide']}"
    assert "\u202e" not in text and "\u200b" not in text and "\u200d" not in text
    assert "⟦U+202E⟧" in text and "⟦U+200B⟧" in text
    for word in (NOT_IN_VI if lang == "vi" else NOT_IN_EN):
        assert word not in text, f"{word!r} on the {lang} page"
    if lang == "vi":
        # written as the run's last stage: the run as it ends, not "in progress" (grading is complete)
        assert "ĐANG CHẠY" not in text and "Báo cáo này là bước cuối của lượt chạy" in text
        assert "vạch đen đứng" in text  # the threshold mark is explained
    else:
        assert "IN PROGRESS" not in text and "This report is the run's last stage" in text
        assert "black vertical mark" in text
