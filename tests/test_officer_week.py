"""What a new officer meets in a first week: each test failed on the code before its fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

EXAMPLES = ROOT / "examples"


def example_files() -> list[str]:
    return [str(EXAMPLES / name) for name in ("inventory.yaml", "endpoints.csv", "staff.csv")]


@pytest.fixture
def province(tmp_path: Path) -> Path:
    """A database holding the README's example province (examples/), as the quick start imports it."""
    db = tmp_path / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    result = run_cli("inventory", "import", *example_files(), db=db, cwd=EXAMPLES)
    assert result.returncode == 0, result.stderr
    return db


def test_inventory_lists_agencies_with_their_parent(province):
    result = run_cli("inventory", "show", "--list", "agencies", "--json", db=province)
    assert result.returncode == 0, result.stderr
    rows = {row["code"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"QT", "QT-STTTT", "QT-H1", "QT-H1-X1"}
    assert rows["QT"]["parent"] is None and rows["QT-H1"]["parent"] == "QT"
    table = run_cli("inventory", "show", "--list", "agencies", "--agency", "QT-H1", db=province)
    assert table.returncode == 0 and "QT-H1" in table.stdout and "QT-STTTT" not in table.stdout


def test_a_report_written_as_the_runs_last_stage_describes_the_run_as_it_ends(province, tmp_path):
    out = tmp_path / "out"
    assert run_cli("--output", str(out), "schedule", "add", "gr", "--every", "86400", "--job", "grade-report",
                   db=province).returncode == 0
    result = run_cli("--output", str(out), "schedule", "run", "gr", db=province)
    assert result.returncode == 0, result.stderr
    [data_file] = list(out.rglob("dashboard.json"))[:1]
    data = json.loads(data_file.read_text(encoding="utf-8"))
    assert data["run"]["status"] == "ok" and data["run"]["finished_at"] is not None and data["run"]["closing"]
    html = data_file.with_name("dashboard.html").read_text(encoding="utf-8")
    assert "ĐANG CHẠY" not in html and 'id="run-state"' not in html and 'id="run-closing"' in html


def test_the_sample_is_refused_beside_another_province(province):
    result = run_cli("inventory", "sample", "--endpoints", "50", db=province)
    assert result.returncode == 2, result.stdout
    assert "a second top-level agency" in result.stderr and "'QT'" in result.stderr
    shown = run_cli("inventory", "show", "--json", db=province)
    assert shown.returncode == 0 and json.loads(shown.stdout)["agencies"] == {"province": 1, "department": 1,
                                                                              "commune": 1, "ward": 1}


def test_a_communes_report_shows_only_its_own_hosts_and_waivers(province, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "waivers.yaml").write_text(
        "waivers:\n"
        "  - {check: 'secops_linux_hardening:1', scope: {agencies: [QT-STTTT]}, reason: r, approver: a,"
        " expires: 2099-01-01}\n"
        "  - {check: 'secops_linux_hardening:2', scope: {agencies: [QT-H1]}, reason: r, approver: a,"
        " expires: 2099-01-01}\n"
        "  - {check: 'secops_linux_hardening:3', scope: {agencies: [QT]}, reason: r, approver: a,"
        " expires: 2099-01-01}\n", encoding="utf-8")
    common = ("--policies", str(policies), "--output", str(tmp_path / "out"))
    ad_hoc = run_cli(*common, "audit", "--local", db=province)  # audited by address: no agency
    assert ad_hoc.returncode == 0, ad_hoc.stderr
    own = run_cli(*common, "audit", "--local", "--endpoint", "QT-H1-PC001", db=province)
    assert own.returncode == 0, own.stderr
    result = run_cli(*common, "report", "--agency", "QT-H1", db=province)
    assert result.returncode == 0, result.stderr
    audit = json.loads((tmp_path / "out" / "dashboard.json").read_text(encoding="utf-8"))["sections"]["audit"]
    assert [host["code"] for host in audit["hosts"]] == ["QT-H1-PC001"] and audit["total_hosts"] == 1
    # its own waiver and the province's (which reaches it); not a department's
    assert sorted(w["check"] for w in audit["waivers"]) == ["secops_linux_hardening:2", "secops_linux_hardening:3"]
    whole = run_cli(*common, "report", db=province)
    assert whole.returncode == 0, whole.stderr
    audit = json.loads((tmp_path / "out" / "dashboard.json").read_text(encoding="utf-8"))["sections"]["audit"]
    assert audit["total_hosts"] == 2 and len(audit["waivers"]) == 3


def _runs(db: Path) -> list[dict]:
    result = run_cli("runs", "list", "--json", db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_grade_that_fails_records_a_failed_run(tmp_path, province):
    empty = tmp_path / "empty.db"
    assert run_cli("init", db=empty).returncode == 0
    result = run_cli("grade", db=empty)
    assert result.returncode == 2 and "holds no agency" in result.stderr
    assert [r["status"] for r in _runs(empty)] == ["failed"]
    nope = run_cli("grade", "--agency", "NOPE", db=province)
    assert nope.returncode == 2 and "'NOPE' is not in the inventory" in nope.stderr
    assert [r["status"] for r in _runs(province)] == ["failed"]
    # and a failed run is never "the newest graded run" a report would publish
    assert run_cli("report", db=province).returncode == 2


def test_a_report_of_a_run_never_graded_is_refused_and_writes_nothing(province, tmp_path):
    out = tmp_path / "out"
    assert run_cli("--output", str(out), "grade", db=province).returncode == 0
    assert run_cli("--output", str(out), "report", db=province).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert run_cli("grade", "--agency", "NOPE", db=province).returncode == 2  # a run with no grades
    run_id = max(r["id"] for r in _runs(province))
    result = run_cli("--output", str(out), "report", "--run", str(run_id), db=province)
    assert result.returncode == 2
    assert f"run {run_id} (grade, failed) holds no grades" in result.stderr and "nothing was written" in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_the_examples_last_inspection_date_is_an_assessment(province):
    import sqlite3

    with sqlite3.connect(province) as conn:
        rows = conn.execute("SELECT s.code, a.kind, a.date FROM system_assessments a JOIN information_systems s "
                            "ON s.id = a.system_id").fetchall()
    assert rows == [("QT-STTTT-CTTDT", "periodic", "2026-06-15")]
    again = run_cli("inventory", "import", *example_files(), db=province, cwd=EXAMPLES)
    assert again.returncode == 0, again.stderr
    assert re.search(r"│ assessments +│ 0 +│ 0 +│ 0 +│", again.stdout), again.stdout  # columns fit the longest
    with sqlite3.connect(province) as conn:
        assert conn.execute("SELECT count(*) FROM system_assessments").fetchone() == (1,)


def test_evidence_import_ignores_retired_endpoints(province, tmp_path):
    assert run_cli("inventory", "remove", "endpoints", "QT-H1-PC001", "--reason", "thanh lý", db=province).returncode == 0
    successor = tmp_path / "new.yaml"  # a new machine takes the retired one's address
    successor.write_text("endpoints:\n  - {code: QT-H1-PC009, hostname: hailang-pc009, ips: [127.0.0.2],"
                         " os_family: windows, role: workstation, owner: QT-H1}\n", encoding="utf-8")
    assert run_cli("inventory", "import", str(successor), db=province).returncode == 0
    export = tmp_path / "console.csv"
    export.write_text("Tên máy;Địa chỉ IP;Sản phẩm;Trạng thái;Cập nhật lần cuối\n"
                      "hailang-pc009;127.0.0.2;Bkav Endpoint;Đang bảo vệ;2026-11-20 08:30\n", encoding="utf-8")
    result = run_cli("evidence", "import", str(export), "--no-regrade", db=province)
    assert result.returncode == 0, result.stderr
    assert "per reason: matched 1, unmatched 0, conflicting 0" in result.stdout


@pytest.mark.parametrize("command", [["grade"], ["inventory", "import", str(EXAMPLES / "inventory.yaml")]])
def test_a_mistyped_db_path_creates_nothing(tmp_path, command):
    typo = tmp_path / "no-such-folder" / "secosp.db"
    result = run_cli("--db", str(typo), *command)
    assert result.returncode == 2 and f"no database at {typo}" in result.stderr and "secops init" in result.stderr
    assert "Traceback" not in result.stderr and not typo.parent.exists()
    beside = tmp_path / "secosp.db"
    assert run_cli("--db", str(beside), *command).returncode == 2 and not beside.exists()
    assert run_cli("--db", str(typo), "init").returncode == 0 and typo.exists()


def test_waivers_name_real_checks_and_agencies_and_live_in_the_users_data_folder(province, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    args = ("--reason", "r", "--approver", "a", "--expires", "2099-01-01")
    cases = {("nopolicy:1", "QT"): "no check pack with policy id 'nopolicy'",
             ("secops_linux_hardening:9999", "QT"): "pack 'secops_linux_hardening' has no check '9999'",
             ("secops_linux_hardening:9700", "NOPE"): "agency 'NOPE' is not in the inventory"}
    for (check, agency), why in cases.items():
        result = run_cli("waivers", "add", check, "--agencies", agency, *args, db=province, env=env)
        assert result.returncode == 2 and why in result.stderr, result.stderr
    added = run_cli("waivers", "add", "secops_linux_hardening:9700", "--agencies", "QT-H1", *args, db=province,
                    env=env)
    assert added.returncode == 0, added.stderr
    written = tmp_path / "data" / "secops" / "waivers.yaml"
    assert "secops_linux_hardening:9700" in written.read_text(encoding="utf-8")
    assert "9700" not in (ROOT / "policies" / "waivers.yaml").read_text(encoding="utf-8")
    shown = run_cli("checks", "show", "secops_linux_hardening:9999")
    assert shown.returncode == 2 and "has no check '9999'" in shown.stderr


def test_dates_in_the_future_are_refused_by_rule(province, tmp_path):
    import datetime as dt
    from zoneinfo import ZoneInfo

    tomorrow = (dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + dt.timedelta(days=1)).date()
    graded = run_cli("grade", "--as-of", tomorrow.isoformat(), db=province)
    assert graded.returncode == 2 and "is in the future" in graded.stderr
    annual = run_cli("report", "annual", "--year", "2099", "--out", str(tmp_path / "a"), db=province)
    assert annual.returncode == 2 and "--year 2099 is in the future" in annual.stderr
    assert not (tmp_path / "a").exists()
    met = run_cli("requirements", "set", "QT-STTTT-CTTDT", "R26-BACKUP-POLICY", "--status", "met",
                  "--date", tomorrow.strftime("%d/%m/%Y"), db=province)
    assert met.returncode == 2 and "is in the future" in met.stderr, met.stderr
    export = tmp_path / "console.csv"
    later = dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + dt.timedelta(hours=2)
    export.write_text("Tên máy;Địa chỉ IP;Sản phẩm;Trạng thái;Cập nhật lần cuối\n"
                      f"hailang-pc001;127.0.0.2;Bkav Endpoint;Đang bảo vệ;{later:%d/%m/%Y %H:%M}\n", encoding="utf-8")
    seen = run_cli("evidence", "import", str(export), "--no-regrade", db=province)
    assert seen.returncode == 2 and "is in the future" in seen.stderr, seen.stdout + seen.stderr


def test_console_times_without_a_zone_are_the_provinces(province, tmp_path):
    import datetime as dt
    import sqlite3
    from zoneinfo import ZoneInfo

    local = (dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    export = tmp_path / "bkav.csv"
    export.write_text("Tên máy;Địa chỉ IP;Sản phẩm;Trạng thái;Cập nhật lần cuối\n"
                      f"hailang-pc001;127.0.0.2;Bkav Endpoint;Đang bảo vệ;{local:%d/%m/%Y %H:%M}\n", encoding="utf-8")
    result = run_cli("evidence", "import", str(export), "--no-regrade", db=province)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(province) as conn:
        [(stored,)] = conn.execute("SELECT observed_at FROM protection_evidence WHERE source = 'console' "
                                   "AND product = 'Bkav Endpoint'").fetchall()
    assert dt.datetime.fromisoformat(stored) == local.astimezone(dt.UTC).replace(tzinfo=None)


def test_times_shown_to_people_are_the_provinces_with_the_zone_named(province, tmp_path):
    graded = run_cli("--output", str(tmp_path / "out"), "grade", db=province)
    assert graded.returncode == 0 and "(UTC+07:00 Asia/Ho_Chi_Minh)" in " ".join(graded.stdout.split())
    assert run_cli("--output", str(tmp_path / "out"), "report", db=province).returncode == 0
    html = (tmp_path / "out" / "dashboard.html").read_text(encoding="utf-8")
    header = html[html.index("<header>"):html.index("</header>")]
    assert header.count("(UTC+07:00 Asia/Ho_Chi_Minh)") == 2 and " UTC ·" not in header


def test_runs_list_refuses_an_unknown_status_and_diff_says_what_a_run_is(province):
    bogus = run_cli("runs", "list", "--status", "bogus", db=province)
    assert bogus.returncode == 2 and "--status 'bogus': choose from running, ok, partial, failed" in bogus.stderr
    assert run_cli("grade", db=province).returncode == 0
    diff = run_cli("discover", "diff", "1", "1", db=province)
    assert diff.returncode == 2 and "run 1 is not a discovery run (it is a grade run)" in diff.stderr, diff.stderr


def test_the_reorganise_example_runs_after_the_quick_start(province):
    assert run_cli("grade", db=province).returncode == 0
    result = run_cli("inventory", "reorganise", str(EXAMPLES / "reorganise.yaml"), db=province)
    assert result.returncode == 0, result.stderr
    agencies = json.loads(run_cli("inventory", "show", "--list", "agencies", "--json", db=province).stdout)
    assert "QT-HAILANG" in {a["code"] for a in agencies} and "QT-H1" not in {a["code"] for a in agencies}


def test_keys_never_truncate_at_80_columns(province):
    result = run_cli("inventory", "show", "--list", "endpoints", db=province, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout and all(len(line) <= 80 for line in result.stdout.splitlines())
    for code in ("QT-H1-PC001", "QT-H1-PC002", "QT-H1-X1-PC001", "QT-STTTT-SRV01"):
        assert f" {code} " in result.stdout
    checklist = run_cli("requirements", "show", "QT-STTTT-CTTDT", db=province, env={"COLUMNS": "80"})
    assert checklist.returncode == 0 and "…" not in checklist.stdout, checklist.stdout
    listed = json.loads(run_cli("requirements", "show", "QT-STTTT-CTTDT", "--json", db=province).stdout)
    items = [entry["item"] for entry in listed["items"]]
    assert items and all(f" {item} " in checklist.stdout for item in items)


def test_bad_rows_are_counted_as_rows(tmp_path):
    db = tmp_path / "x.db"
    bad = tmp_path / "agencies.csv"  # three bad rows, five problems
    bad.write_text("code,name,kind,parent\nP,Tỉnh,province,\nX,,commune,NOPE\nY,,department,P\nZ,Z,bogus,NOPE\n",
                   encoding="utf-8")
    result = run_cli("inventory", "import", str(bad), db=db)
    assert result.returncode == 2
    assert "3 invalid row(s)" in result.stderr and "nothing was imported" in result.stderr, result.stderr


def test_vietnamese_dates_are_read_and_bad_ones_name_the_formats(province, tmp_path):
    staff = tmp_path / "staff.csv"
    staff.write_text("code,agency,name,is_head,awareness_date,informed_date,training_date\n"
                     "QT-CB010,QT,,false,05/11/2026,,\n", encoding="utf-8")
    assert run_cli("inventory", "import", str(staff), db=province).returncode == 0
    listed = json.loads(run_cli("inventory", "show", "--list", "staff", "--json", db=province).stdout)
    assert {row["code"]: row["awareness_date"] for row in listed}["QT-CB010"] == "2026-11-05"
    staff.write_text("code,agency,name,is_head,awareness_date,informed_date,training_date\n"
                     "QT-CB011,QT,,false,2026/13/45,,\n", encoding="utf-8")
    bad = run_cli("inventory", "import", str(staff), db=province)
    assert bad.returncode == 2 and "use YYYY-MM-DD or DD/MM/YYYY" in bad.stderr, bad.stderr
    assert "Input should be" not in bad.stderr


def test_inventory_export_covers_the_whole_inventory_and_reads_back(province, tmp_path):
    out = tmp_path / "export"
    assert run_cli("inventory", "export", "--out", str(out), db=province).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["agencies.csv", "assessments.csv", "endpoints.csv",
                                                      "staff.csv", "systems.csv"]
    copy = tmp_path / "copy.db"
    assert run_cli("init", db=copy).returncode == 0
    files = [str(out / f"{name}.csv") for name in ("agencies", "systems", "endpoints", "staff", "assessments")]
    back = run_cli("inventory", "import", *files, db=copy)
    assert back.returncode == 0, back.stderr
    shown = [json.loads(run_cli("inventory", "show", "--json", db=db).stdout) for db in (province, copy)]
    assert shown[0] == shown[1] and shown[0]["endpoints"]


def test_requirements_show_projects_a_future_date_and_apply_refuses_it(province):
    """Reading what will be due by a future date is a projection, said as one; writing as of it is refused."""
    import datetime as dt

    later = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    shown = run_cli("requirements", "show", "QT-STTTT-CTTDT", "--json", "--as-of", later, db=province)
    assert shown.returncode == 0, shown.stderr
    assert "projection" in shown.stderr and json.loads(shown.stdout)["items"]
    applied = run_cli("requirements", "apply", "QT-STTTT-CTTDT", "--as-of", later, db=province)
    assert applied.returncode == 2 and "is in the future" in applied.stderr, applied.stderr


def test_requirements_show_says_which_source_wins_and_shows_descriptions(province):
    shown = run_cli("requirements", "show", "QT-STTTT-CTTDT", db=province)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "checklist roll-up: not_deployed" in text
    assert "register (what Form 08 and target T1 count): fully_deployed — it stays as typed" in text
    listed = json.loads(run_cli("requirements", "show", "QT-STTTT-CTTDT", "--json", db=province).stdout)
    assert listed["register_deployment"] == "fully_deployed" and listed["register_follows_checklist"] is False
    assert all(entry["requirement"] for entry in listed["items"])
    assert listed["items"][0]["requirement"][:20] in text


def test_rule_messages_carry_no_validator_wording(province):
    result = run_cli("requirements", "set", "QT-STTTT-CTTDT", "R26-BACKUP-POLICY", "--status", "partly_met",
                     db=province)
    assert result.returncode == 2 and "milestone: a partly_met item needs a remediation milestone" in result.stderr
    assert "Value error" not in result.stderr and "(top level)" not in result.stderr, result.stderr


def test_diff_of_a_discovery_run_that_failed_says_so(province, tmp_path):
    scope = tmp_path / "scope.yaml"
    scope.write_text("version: 1\nagencies:\n  QT-STTTT:\n    authorised:\n      - cidr: 127.0.0.1/32\n", "utf-8")
    failed = run_cli("discover", "--agency", "QT-STTTT", "--scope", str(scope), "--targets", "127.0.0.1",
                     db=province, env={"PATH": str(tmp_path)})  # no nmap on PATH: the run fails before scanning
    assert failed.returncode == 2 and "nmap was not found" in failed.stderr, failed.stderr
    runs = json.loads(run_cli("runs", "list", "--format", "json", db=province).stdout)
    run = next(r for r in runs if r["kind"] == "discover")
    assert run["status"] == "failed"
    diff = run_cli("discover", "diff", str(run["id"]), str(run["id"]), db=province)
    assert diff.returncode == 2, diff.stderr
    assert f"run {run['id']} is a discovery run that failed before it scanned anything" in diff.stderr, diff.stderr
    assert "not a discovery run" not in diff.stderr


def test_report_summarises_the_files_it_wrote(tmp_path):
    db = tmp_path / "sample.db"
    assert run_cli("inventory", "sample", "--endpoints", "60", db=db).returncode == 0
    assert run_cli("grade", db=db).returncode in (0, 1)
    out = tmp_path / "out"
    short = run_cli("report", "--out", str(out), db=db)
    assert short.returncode in (0, 1), short.stderr
    pages = len(list((out / "systems").iterdir()))
    assert pages > 100  # a page per system
    wrote = [line for line in short.stdout.splitlines() if line.startswith("wrote ")]
    assert len(wrote) < 12, short.stdout  # the summary table stays on screen
    assert f"wrote {pages} file(s) in {out / 'systems'} (-v lists them)" in short.stdout
    full = run_cli("report", "--out", str(out), "-v", db=db)
    assert full.returncode in (0, 1), full.stderr
    assert sum(line.startswith("wrote ") for line in full.stdout.splitlines()) >= pages
