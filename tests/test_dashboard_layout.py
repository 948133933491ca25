"""The dashboard as a leader and an officer read it, in Debian's Chromium (Selenium + chromium-driver)
at a laptop's width (1366 px) and a phone's (390 px), in Vietnamese and English: no header or cell
narrower than its longest word, the ranking readable on a phone, every figure saying what it counts,
times local with the zone named, and the audit counts named the same way in the terminal, the page
and dashboard.json.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.timeout(900)

LONG_NAME = "Phường" + "A" * 60  # one unbroken 66-character token: it alone may wrap anywhere
FQDN = "may-chu-du-lieu-01.so-thong-tin-truyen-thong.thainguyen.gov.vn"  # wraps only after . or -
WIDTHS = (1366, 390)

# Every whitespace-separated word of at most 24 characters (longer ones are "genuinely long") in a
# visible header or cell: the words drawn on more than one line (broken inside).
BROKEN_WORDS = """
document.querySelectorAll('details').forEach(function (e) { e.open = true; });
var out = [], range = document.createRange();
document.querySelectorAll('th, td').forEach(function (cell) {
  if (!cell.checkVisibility()) { return; }
  var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT), node;
  while ((node = walker.nextNode())) {
    var re = /\\S+/g, m;
    while ((m = re.exec(node.textContent))) {
      if (m[0].length > 24) { continue; }
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      var tops = {};
      Array.prototype.forEach.call(range.getClientRects(), function (r) {
        if (r.width > 0) { tops[Math.round(r.top)] = 1; }
      });
      if (Object.keys(tops).length > 1) { out.push(cell.tagName + ' ' + (cell.closest('section') || {}).id + ': ' + m[0]); }
    }
  }
});
return out;
"""

# The ranking on this screen: its table against its box, and per row the name cell's width and
# the label each value is shown under (the column's name, when the table is laid out as cards).
RANKING = """
var table = document.querySelector('#ranking table'), box = table.parentElement;
var rows = [];
table.querySelectorAll('tbody > tr').forEach(function (tr) {
  var cells = Array.prototype.slice.call(tr.children);
  rows.push({name_width: cells[1].getBoundingClientRect().width, name_height: cells[1].getBoundingClientRect().height,
             line: parseFloat(getComputedStyle(cells[1]).lineHeight) || 20,
             labels: cells.map(function (td) { return getComputedStyle(td, '::before').content; }),
             header_shown: getComputedStyle(table.querySelector('thead')).display !== 'none'});
});
return {table: table.scrollWidth, box: box.clientWidth, page: document.documentElement.scrollWidth,
        window: document.documentElement.clientWidth, rows: rows};
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample province, one unit with a long name, this machine audited as an endpoint with a
    long host name, graded, and its dashboard written in both languages."""
    work = tmp_path_factory.mktemp("layout")
    db = work / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    sample = run_cli("inventory", "sample", "--endpoints", "100", db=db)
    assert sample.returncode == 0, sample.stderr
    extra = work / "extra.yaml"
    extra.write_text(yaml.safe_dump({
        "agencies": [{"code": "P-LONG", "name": LONG_NAME, "kind": "ward", "parent": "SAMPLE"}],
        "endpoints": [{"code": "LOCAL-SRV", "hostname": FQDN, "ips": ["127.0.0.1"], "owner": "SYT"}]},
        allow_unicode=True), encoding="utf-8")
    imported = run_cli("inventory", "import", str(extra), db=db)
    assert imported.returncode == 0, imported.stderr
    audit = run_cli("audit", "--local", "--endpoint", "LOCAL-SRV", "--no-progress", db=db)
    assert audit.returncode == 0, audit.stderr
    out: dict[str, Any] = {"work": work, "db": db, "audit": audit}
    for lang in ("vi", "en"):
        done = run_cli("report", "--out", str(work / lang), "--lang", lang, db=db)
        assert done.returncode == 0, done.stderr
        out[lang] = work / lang / "dashboard.html"
        out[f"{lang}.json"] = json.loads((work / lang / "dashboard.json").read_text(encoding="utf-8"))
    return out


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    assert CHROMIUM and DRIVER, "Debian's chromium and chromium-driver are required (scripts/install-test-deps.sh)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='secops-selenium-')}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    browser.set_page_load_timeout(120)
    browser.set_script_timeout(120)
    try:
        yield browser
    finally:
        browser.quit()


def open_at(driver: Any, page: Path, width: int) -> None:
    """The page in a viewport exactly `width` CSS pixels wide (the window's frame added)."""
    driver.set_window_size(width, 900)
    inner = driver.execute_script("return window.innerWidth")
    driver.set_window_size(width + (width - inner), 900)
    driver.get(page.as_uri())
    assert driver.execute_script("return document.documentElement.clientWidth") <= width
    assert driver.execute_script("return window.innerWidth") == width


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_no_header_or_cell_is_narrower_than_its_longest_word(site: dict[str, Any], driver: Any, lang: str,
                                                              width: int) -> None:
    open_at(driver, site[lang], width)
    broken = driver.execute_script(BROKEN_WORDS)
    assert broken == [], f"{len(broken)} word(s) broken across lines at {width} px ({lang}): {broken[:15]}"
    # The long tokens are there, and wrap only where they may: the name inside its run, the host
    # name after its dots and hyphens (never inside "thainguyen").
    text = driver.execute_script("return document.body.innerText")
    assert LONG_NAME in text.replace("\n", "")
    assert "thainguyen" in text and "thaing\nuyen" not in text
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_ranking_reads_on_a_phone(site: dict[str, Any], driver: Any, lang: str) -> None:
    open_at(driver, site[lang], 390)
    got = driver.execute_script(RANKING)
    assert got["rows"], "the ranking lists the province's direct units"
    assert got["table"] <= got["box"] + 1, f"the ranking scrolls sideways on a phone: {got['table']} > {got['box']}"
    for row in got["rows"]:
        # the unit's name takes the card's width: a few lines at most, never a letter per line
        assert row["name_width"] >= 250, row
        assert row["name_height"] <= 4 * row["line"] + 8, row
        assert not row["header_shown"]
        # every other value is shown under its column's name
        labels = [label for i, label in enumerate(row["labels"]) if i != 1]
        assert all(label not in ("none", "normal", "") for label in labels), labels
    kind = "Loại" if lang == "vi" else "Kind"
    assert any(kind in label for label in got["rows"][0]["labels"])


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_figure_says_what_it_counts(site: dict[str, Any], driver: Any, lang: str) -> None:
    open_at(driver, site[lang], 1366)
    text = driver.execute_script("document.querySelectorAll('details').forEach(e => e.open = true);"
                                 "return document.body.innerText")
    for symbol in ("✓", "↻"):
        assert symbol not in text, f"unexplained symbol {symbol!r} on the {lang} page"
    data = site[f"{lang}.json"]
    s1 = data["sections"]["reporting"]["section1"]
    totals = driver.execute_script("return document.getElementById('rep-totals').innerText")
    if lang == "vi":
        assert (f"{s1['total']} hệ thống, {s1['approved']} đã được phê duyệt cấp độ, "
                f"{s1['assessed_periodically']} đã được kiểm tra, đánh giá định kỳ") in totals, totals
    else:
        assert (f"{s1['total']} systems, {s1['approved']} with an approved level, "
                f"{s1['assessed_periodically']} assessed periodically") in totals, totals
    # the cards: "193/296 systems meet it", not a bare fraction
    t1 = data["scope"]["cells"]["T1"]
    card = driver.execute_script("return document.getElementById('card-T1').innerText")
    unit = "hệ thống đạt" if lang == "vi" else "systems meet it"
    assert f"{t1['numerator']}/{t1['denominator']} {unit}" in card, card
    # the audited host: both counts, each with what it counts, as dashboard.json has them
    [host] = [h for h in data["sections"]["audit"]["hosts"] if h["code"] == "LOCAL-SRV"]
    assert host["failed_results"] == sum(1 for c in host["results"] if c["result"] == "failed")
    assert host["findings_to_fix"] == len(host["failed"]) and "findings_to_fix" in data["sections"]["audit"]["measures"]
    if lang == "vi":
        assert f"{host['findings_to_fix']} mục cần khắc phục" in text
        assert f"{host['failed_results']} kết quả kiểm tra không đạt" in text
    else:
        assert f"{host['findings_to_fix']} findings to fix" in text
        assert f"{host['failed_results']} check results failed" in text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_times_are_local_with_the_zone_named(site: dict[str, Any], driver: Any, lang: str) -> None:
    open_at(driver, site[lang], 1366)
    text = driver.execute_script("document.querySelectorAll('details').forEach(e => e.open = true);"
                                 "return document.body.innerText")
    assert "+00:00" not in text and not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), "a stored UTC time shown"
    [host] = [h for h in site[f"{lang}.json"]["sections"]["audit"]["hosts"] if h["code"] == "LOCAL-SRV"]
    import datetime as dt
    from zoneinfo import ZoneInfo

    finished = dt.datetime.fromisoformat(host["finished_at"]).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert f"{finished:%Y-%m-%d %H:%M} (UTC+07:00 Asia/Ho_Chi_Minh)" in text
    # every time of day on the page is followed by its zone, or sits in a column whose header names it
    for cell in driver.execute_script(
            "return Array.from(document.querySelectorAll('td')).filter(td => /\\d\\d:\\d\\d/.test(td.innerText))"
            ".map(td => [td.innerText, td.closest('table').querySelector('thead') ? "
            "td.closest('table').querySelector('thead').rows[0].cells[td.cellIndex].innerText : ''])"):
        assert "UTC+07:00" in cell[0] or "UTC+07:00" in cell[1], cell


def test_the_terminal_names_both_audit_counts_as_the_dashboard_does(site: dict[str, Any]) -> None:
    """`secops audit` used to print "failed checks 27" where the dashboard said "13 failed checks"
    for the same host: two different counts under one name."""
    out = site["audit"].stdout
    header = next(line for line in out.splitlines() if "Tên máy" in line)
    cells = [c.strip() for c in re.split(r"[┃│]", header)]
    assert "Kết quả không đạt" in cells and "Mục cần khắc phục" in cells, header
    [host] = [h for h in site["vi.json"]["sections"]["audit"]["hosts"] if h["code"] == "LOCAL-SRV"]
    row = next(line for line in out.splitlines() if f" {host['label']} " in line and line != header)
    values = [c.strip() for c in re.split(r"[┃│]", row)]
    assert int(values[cells.index("Kết quả không đạt")]) == host["failed_results"]
    assert int(values[cells.index("Mục cần khắc phục")]) == host["findings_to_fix"]
    assert host["failed_results"] != host["findings_to_fix"]  # two measures: the names matter
    assert "Mục cần khắc phục: những việc phải làm" in out  # and what each counts is said below the table
