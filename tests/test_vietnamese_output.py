"""Vietnamese output says everything in Vietnamese, and English output in English (README "Languages").

Each test here failed on the output before the fix: raw register values in the Vietnamese dashboard,
target keys in the terminal, the demo's summary in English, the English dashboard with the plan's
Vietnamese name, "no protection product found" and the check packs' English fix lines unmarked.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from secops import i18n
from tests.conftest import run_cli
from tests.test_narrow_terminal import first_column

ENGLISH_KEYS = ("systems-classified", "endpoint-protection", "heads-aware", "staff-informed", "staff-trained")
VI_ENV = {"LANG": "vi_VN.UTF-8"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("vi") / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    done = run_cli("inventory", "sample", "--endpoints", "40", db=db)
    assert done.returncode == 0, done.stderr
    assert run_cli("grade", db=db).returncode in (0, 1)
    return db


def test_terminal_names_targets_in_the_language_never_by_key(sample: Path) -> None:
    narrow = {"COLUMNS": "80"}
    vi = run_cli("grade", "--lang", "vi", db=sample, env=narrow)
    en = run_cli("grade", "--lang", "en", db=sample, env=narrow)
    assert vi.returncode in (0, 1) and en.returncode in (0, 1), vi.stderr + en.stderr
    flat_vi, flat_en = " ".join(vi.stdout.split()), " ".join(en.stdout.split())
    for key in ENGLISH_KEYS:  # at 80 columns a key used to break mid-word: "systems-classifi|ed"
        assert key not in flat_vi and key not in flat_en
    assert "classifi" not in vi.stdout
    # The short labels of policies/targets.yaml, each word whole (a cell wraps between words).
    assert "T2 Thiết bị đầu cuối được bảo vệ" in first_column(vi.stdout)
    assert "T5 Cán bộ được đào tạo" in first_column(vi.stdout)
    assert "T2 Endpoints protected" in first_column(en.stdout)


def test_english_dashboard_names_the_plan_in_english(sample: Path, tmp_path: Path) -> None:
    pages = {}
    for lang in ("vi", "en"):
        done = run_cli("report", "--lang", lang, "--out", str(tmp_path / lang), db=sample)
        assert done.returncode == 0, done.stderr
        pages[lang] = (tmp_path / lang / "dashboard.html").read_text(encoding="utf-8")
    assert "The province&#39;s information-security plan (sample)" in pages["en"]
    assert "Kế hoạch bảo đảm an toàn thông tin" not in pages["en"]
    assert "Kế hoạch bảo đảm an toàn thông tin của tỉnh (mẫu)" in pages["vi"]


def test_register_values_are_words_in_the_vietnamese_dashboard(sample: Path, tmp_path: Path) -> None:
    # A system whose dossier is not started yet, approval expected in the reporting period.
    with sqlite3.connect(sample) as conn:
        conn.execute("update information_systems set approval_status = 'not_started', expected_approval_date = '2026-12-10' "
                     "where id = (select min(id) from information_systems)")
    out = tmp_path / "vi"
    done = run_cli("report", "--lang", "vi", "--out", str(out), db=sample)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "dashboard.json").read_text(encoding="utf-8"))
    expected = data["sections"]["reporting"]["expected"]
    assert any(item["status"] == "not_started" for item in expected)  # the case is in the page
    shown = {item["status"]: item["status_shown"] for item in expected}
    assert shown["not_started"] == "Chưa bắt đầu lập hồ sơ"
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    section = html.split('id="rep-expected"')[1].split("</table>")[0]
    for raw in ("not_started", "drafting", "sent_for_appraisal", "appraised"):
        assert f">{raw}<" not in section


def _vi_demo(tmp: Path, env: dict[str, str], *args: str) -> str:
    done = run_cli("demo", "--dir", str(tmp), "--endpoints", "30", *args, env=env, cwd=tmp)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def vi_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo-vi")
    return folder, _vi_demo(folder, VI_ENV)


def test_demo_summary_speaks_vietnamese_in_a_vietnamese_locale(vi_demo: tuple[Path, str]) -> None:
    _, out = vi_demo
    flat = " ".join(out.split())
    for english in ("stage discover", "run 1:", "wrote ", "annual report", "two tiers", "database:",
                    "directly under the province", "consistency problem"):
        assert english not in flat, english
    assert "bước discover: hoàn tất" in flat and "hai cấp" in flat and "đã ghi" in flat
    assert "báo cáo năm" in flat and "cơ sở dữ liệu:" in flat
    for key in ENGLISH_KEYS:
        assert key not in flat


def test_explicit_lang_wins_over_the_locale(tmp_path: Path) -> None:
    assert i18n.choose_language("en", {"LANG": "vi_VN.UTF-8"}) == "en"
    assert i18n.choose_language(None, {"LANG": "vi_VN.UTF-8"}) == "vi"
    assert i18n.choose_language(None, {"SECOPS_LANG": "en", "LANG": "vi_VN.UTF-8"}) == "en"
    assert i18n.choose_language(None, {"LANGUAGE": "fr:vi", "LANG": "C.UTF-8"}) == "vi"
    assert i18n.choose_language(None, {"LC_ALL": "C", "LANG": "vi_VN.UTF-8"}) == "en"  # LC_ALL wins over LANG
    assert i18n.choose_language(None, {"LANG": "C.UTF-8"}) == "en"
    assert i18n.choose_language(None, {}) == "en"
    assert i18n.argv_language(["report", "--lang", "vi"]) == "vi"
    assert i18n.argv_language(["report", "--lang=en"]) == "en"
    assert i18n.argv_language(["report", "--", "--lang", "vi"]) is None
    # Help texts follow it too: `--lang vi` is known before the command's module is imported.
    done = run_cli("demo", "--lang", "vi", "--help")
    assert done.returncode == 0 and "Chạy toàn bộ quy trình" in done.stdout, done.stdout


def test_check_texts_in_vietnamese_or_marked_english(vi_demo: tuple[Path, str]) -> None:
    folder, _ = vi_demo
    reports = folder / "reports"
    html = (reports / "dashboard.html").read_text(encoding="utf-8")
    pages = "".join(p.read_text(encoding="utf-8") for p in (reports / "hosts").glob("*.html"))
    assert pages, "the demo audits this machine: one host page"
    for text in (html, pages):
        # secops's own packs carry Vietnamese text: no English fix line after "Khắc phục:".
        for line in re.findall(r"Khắc phục:?</?b?>?\s*(?:<span[^>]*>)?([^<]{0,60})", text):
            assert not re.match(r"\s*(Set|Install|Add|Remove|Start|Run|Enable|In /etc)", line), line
        assert "no protection product found" not in text
    data = json.loads((reports / "dashboard.json").read_text(encoding="utf-8"))
    results = [c for h in data["sections"]["audit"]["hosts"] for c in h["results"]]
    ours = [c for c in results if c["policy_id"].startswith("secops_")]
    assert ours and all(c["text_lang"] == "vi" for c in ours)
    assert {c["title"] for c in ours if c["check_id"] == "9700"} <= {"Đăng nhập SSH bằng tài khoản root đã bị tắt"}


def test_english_check_text_is_marked_as_such_in_a_vietnamese_page(tmp_path: Path) -> None:
    """A pack without Vietnamese text (Wazuh's CIS packs stay English): its words are shown as they
    are, marked lang="en" with a note saying they are the pack's English."""
    from secops.config import bundled
    from secops.report.render import render_page
    from tests.test_report_pages import dashboard_with

    check = {"policy_id": "cis_debian12", "check_id": "1", "title": "Ensure X is disabled", "result": "failed",
             "severity": None, "serves": [], "reason": "", "remediation": "Disable X.", "rationale": "",
             "compliance": {}, "evidence": "", "section": "1", "text_lang": "en"}
    counts = {"failed": 1, "error": 0, "not_applicable": 0, "waived": 0, "passed": 0}
    page = {"label": "h", "code": "H", "address": "127.0.0.1", "agency": None, "run_id": 1,
            "finished_at": "2026-12-07T10:00", "transport": "local", "protection": "protected", "product": "ClamAV",
            "detail": "no protection product found", "os_info": "", "error": None, "standing": None, "policies": [],
            "failed": [check], "failed_total": 1, "page": "hosts/0001-H.html", "waived": [], "not_applicable": [],
            "result_counts": counts, "results_total": 1, "results": [check], "transport_na": [],
            "groups": [{"policy_id": "cis_debian12", "section": "1", "checks": [check],
                        "counts": counts}]}
    html = render_page(dashboard_with("hosts/0001-H.html"), bundled("reports"), "pages/audit_host.html.j2", page)
    assert '<b lang="en">Ensure X is disabled</b>' in html and "nguyên văn tiếng Anh" in html
    assert "no protection product found" not in html and "không tìm thấy sản phẩm bảo vệ" in html


def test_requirements_show_says_the_register_value_in_words(sample: Path) -> None:
    with sqlite3.connect(sample) as conn:
        code = conn.execute("select code from information_systems where level is not null order by code").fetchone()[0]
    shown = run_cli("requirements", "show", code, "--lang", "vi", db=sample, env={"COLUMNS": "120"})
    assert shown.returncode == 0, shown.stderr
    tail = " ".join(shown.stdout.split("└")[-1].split())  # the lines under the checklist table
    for raw in ("not_deployed", "partly_deployed", "fully_deployed"):
        assert raw not in tail, tail
    assert "Sổ hồ sơ" in tail or "sổ hồ sơ" in tail, tail
    assert any(word in tail for word in ("Triển khai đầy đủ", "Triển khai một phần", "Chưa triển khai")), tail


def test_audit_report_gives_secops_checks_in_vietnamese(vi_demo: tuple[Path, str]) -> None:
    from secops.config import bundled
    from secops.evaluate.sca_load import load_packs

    folder, _ = vi_demo
    english = {c.title for p in load_packs(bundled("checks")) for c in p.checks}
    done = run_cli("audit", "report", "SAMPLE-LOCAL", db=folder / "secops.db", env=VI_ENV)
    assert done.returncode == 0, done.stderr
    ours = [line for line in done.stdout.splitlines() if line.startswith("secops_")]
    assert ours, done.stdout
    assert not [line for line in ours if any(title in line for title in english)]
    assert "kết quả:" in done.stdout


VI = {"SECOPS_LANG": "vi", "COLUMNS": "160"}


def _headings(table: str) -> list[str]:
    """The words of a rich table's heading row (the line above its rule), joined by single spaces."""
    lines = table.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith(("━", "─", "┡")))
    return " ".join(lines[rule - 1].replace("┃", " ").split()).split("  ") if rule else []


def test_listing_headings_and_values_in_vietnamese_machine_keys_unchanged(sample: Path) -> None:
    """Before: every listing's headings, title and values were English whatever the language."""
    endpoints = run_cli("inventory", "show", "--list", "endpoints", db=sample, env=VI)
    assert endpoints.returncode == 0, endpoints.stderr
    heading = _headings(endpoints.stdout)[0]
    assert heading.startswith("mã tên máy địa chỉ"), heading
    for english in ("code", "hostname", "ips", "os_family", "role", "last_seen", "agency"):
        assert english not in heading.split(), heading
    assert "thiết bị đầu cuối (tối đa 200)" in endpoints.stdout
    assert "máy trạm" in endpoints.stdout and "workstation" not in endpoints.stdout
    systems = run_cli("inventory", "show", "--list", "systems", db=sample, env=VI)
    assert "tình trạng phê duyệt" in systems.stdout and "approval_status" not in systems.stdout
    assert not any(raw in systems.stdout for raw in ("sent_for_appraisal", "not_deployed", "fully_deployed"))
    overview = run_cli("inventory", "show", db=sample, env=VI)
    assert "danh mục quản lý" in overview.stdout and "tổng" in overview.stdout
    assert "hệ thống thông tin" in overview.stdout and "systems" not in overview.stdout
    runs = run_cli("runs", "list", db=sample, env=VI)
    assert runs.returncode == 0, runs.stderr
    assert "trạng thái" in runs.stdout and "hoàn tất" in runs.stdout
    assert "status" not in runs.stdout and "started" not in runs.stdout
    # Machine formats keep their English keys and raw values in any language.
    as_json = json.loads(run_cli("inventory", "show", "--list", "endpoints", "--format", "json", db=sample,
                                 env=VI).stdout)
    assert list(as_json[0]) == ["code", "hostname", "ips", "os_family", "role", "last_seen", "agency"]
    assert {row["role"] for row in as_json} <= {"workstation", "laptop", "server"}
    header = run_cli("runs", "list", "--format", "csv", db=sample, env=VI).stdout.splitlines()[0]
    assert header.startswith("id,") and "status" in header.split(",")


def test_waivers_list_in_vietnamese(tmp_path: Path) -> None:
    """Before: "check scope reason approver expires days left" and "expired" in a Vietnamese terminal."""
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n"
                       "  - check: secops_linux_hardening:7004\n    scope: {agencies: [QT-H1]}\n"
                       "    reason: tường lửa do tỉnh quản lý\n    approver: Giám đốc Sở\n    expires: 2099-03-31\n"
                       "  - check: secops_linux_hardening:7005\n    scope: {hosts: ['*']}\n"
                       "    reason: đã hết hạn\n    approver: Giám đốc Sở\n    expires: 2020-01-01\n", encoding="utf-8")
    shown = run_cli("waivers", "list", "--file", str(waivers), env=VI)
    assert shown.returncode == 0, shown.stderr
    heading = _headings(shown.stdout)[0]
    assert heading == "mục kiểm tra phạm vi lý do người phê duyệt hết hạn số ngày còn lại", heading
    assert "đơn vị: QT-H1" in shown.stdout and "máy: *" in shown.stdout and "đã hết hạn" in shown.stdout
    assert "expired" not in shown.stdout and "agencies:" not in shown.stdout
    english = run_cli("waivers", "list", "--file", str(waivers), env={"SECOPS_LANG": "en", "COLUMNS": "160"})
    assert "days left" in english.stdout and "expired" in english.stdout and "agencies: QT-H1" in english.stdout
    assert list(json.loads(run_cli("waivers", "list", "--file", str(waivers), "--format", "json",
                                   env=VI).stdout)[0]) == ["check", "scope", "reason", "approver", "expires", "days_left"]


def test_a_bad_import_row_is_explained_in_vietnamese(tmp_path: Path) -> None:
    """Before: "hostname: Field required", "Input should be 'linux', ..." and "is not in the file or the
    database" in a Vietnamese terminal: pydantic's and the validator's own English."""
    db = tmp_path / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    bad = tmp_path / "endpoints.csv"
    bad.write_text("code,hostname,owner,os_family\nX1,,QT,windows\nX2,h2,QT,beos\nX3,h3,NOPE,linux\n", encoding="utf-8")
    done = run_cli("inventory", "import", str(bad), db=db, env=VI)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert f"{bad}:2: hostname: bắt buộc, đang thiếu" in lines, lines
    assert any(line.startswith(f"{bad}:3: os_family: phải là một trong 'linux'") and "hoặc 'unknown'" in line
               for line in lines), lines
    assert f"{bad}:4: owner: đơn vị 'NOPE' không có trong tệp hay cơ sở dữ liệu" in lines, lines
    assert "3 dòng không hợp lệ; không nhập dòng nào" in done.stderr
    for english in ("Field required", "Input should", "is not in the file", "invalid row"):
        assert english not in done.stderr, english
    unknown = tmp_path / "things.csv"
    unknown.write_text("code\nA\n", encoding="utf-8")
    refused = run_cli("inventory", "import", str(unknown), db=db, env=VI)
    assert refused.returncode == 2 and "không xác định được tệp CSV chứa loại đối tượng nào" in refused.stderr
    english = run_cli("inventory", "import", str(bad), db=db, env={"SECOPS_LANG": "en"})
    assert f"{bad}:2: hostname: Field required" in english.stderr  # English is as it was


def test_typer_and_click_speak_vietnamese(tmp_path: Path) -> None:
    """Before: "Usage:", "Options", "Show this message and exit.", "Error", "No such option" in English
    whatever the language (typer's vendored Click has no catalogue of its own)."""
    helped = run_cli("--lang", "vi", "--help", env={"COLUMNS": "100"})
    assert helped.returncode == 0, helped.stderr
    for words in ("Cách dùng:", "Tùy chọn", "Lệnh", "Hiện hướng dẫn này rồi thoát."):
        assert words in helped.stdout, words
    for english in ("Usage:", "Options", "Commands", "Show this message"):
        assert english not in helped.stdout, english
    typo = run_cli("runs", "list", "--limt", "3", env={"SECOPS_LANG": "vi", "COLUMNS": "100"})
    assert typo.returncode == 2
    assert "Không có tùy chọn: --limt (các tùy chọn gần giống: --limit)" in typo.stderr, typo.stderr
    assert "Lỗi" in typo.stderr and "Cách dùng:" in typo.stderr and "Xem hướng dẫn:" in typo.stderr
    missing = run_cli("runs", "show", env={"LANG": "vi_VN.UTF-8", "COLUMNS": "100"})
    assert missing.returncode == 2 and "Thiếu tham số 'run_id'." in missing.stderr, missing.stderr
    bad = run_cli("runs", "list", "--limit", "0", env={"SECOPS_LANG": "vi", "COLUMNS": "100"})
    assert "Giá trị không hợp lệ cho '--limit': giá trị phải từ 1 trở lên" in bad.stderr, bad.stderr
    english = run_cli("runs", "list", "--limt", "3", env={"SECOPS_LANG": "en", "COLUMNS": "100"})
    assert "No such option: --limt" in english.stderr and "Usage:" in english.stderr


def test_click_messages_without_a_pattern_are_kept() -> None:
    from secops import clickwords

    i18n.set_language("vi")
    try:
        assert clickwords.click_message("Missing argument 'FILES...'.") == "Thiếu tham số 'FILES...'."
        assert clickwords.click_message("Something typer says one day.") == "Something typer says one day."
    finally:
        i18n.set_language(None)


def test_refused_output_folder_is_explained_in_vietnamese(sample: Path, tmp_path: Path) -> None:
    """Before: secops/safeio.py's refusals ("is a file, not a folder", "writable by others ...
    refusing to write reports there") were English in a Vietnamese terminal."""
    in_the_way = tmp_path / "out.txt"
    in_the_way.write_text("x", encoding="utf-8")
    done = run_cli("report", "--out", str(in_the_way), db=sample, env=VI)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    flat = " ".join(done.stderr.split())
    assert f"{in_the_way}: là một tệp, không phải thư mục" in flat, flat
    assert "not a folder" not in flat
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = run_cli("report", "--out", str(shared), db=sample, env=VI)
    flat = " ".join(done.stderr.split())
    assert done.returncode == 2 and "từ chối ghi báo cáo vào đó (hãy dùng một thư mục của chính bạn)" in flat, flat
    assert "refusing" not in flat
    english = run_cli("report", "--out", str(in_the_way), db=sample, env={"SECOPS_LANG": "en"})
    assert f"{in_the_way}: is a file, not a folder" in english.stderr.replace("\n", "")  # English is as it was


def test_schedule_and_job_file_errors_in_vietnamese(sample: Path, tmp_path: Path) -> None:
    """Before: an unknown job, a cron date that never occurs and a bad policies/jobs.yaml were refused
    in English in a Vietnamese terminal."""
    unknown = run_cli("schedule", "add", "n1", "--job", "bogus", "--cron", "0 2 * * *", db=sample, env=VI)
    assert unknown.returncode == 2 and "không có công việc 'bogus'; các công việc là" in unknown.stderr, unknown.stderr
    never = run_cli("schedule", "add", "n1", "--cron", "0 2 30 2 *", db=sample, env=VI)
    assert never.returncode == 2, never.stderr
    assert "ngày này không bao giờ có (ví dụ 30 tháng 2)" in " ".join(never.stderr.split()), never.stderr
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "jobs.yaml").write_text("version: 1\njobs:\n  nightly:\n    stages: [bogus]\n", encoding="utf-8")
    bad = run_cli("--policies", str(policies), "schedule", "add", "n1", "--cron", "0 2 * * *", db=sample, env=VI)
    flat = " ".join(bad.stderr.split())
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert "jobs.nightly: không có bước 'bogus'; các bước là" in flat, flat
    for english in ("unknown job", "never occurs", "unknown stage"):
        assert english not in unknown.stderr + never.stderr + bad.stderr, english


def test_discover_diff_refusals_in_vietnamese(sample: Path) -> None:
    """Before: `discover diff` said "need two finished discovery runs to compare" and "is not a
    discovery run" in English in a Vietnamese terminal."""
    none_yet = run_cli("discover", "diff", db=sample, env=VI)
    assert none_yet.returncode == 2, none_yet.stderr
    assert "cần hai lượt phát hiện đã xong để so sánh, mới có 0" in " ".join(none_yet.stderr.split()), none_yet.stderr
    with sqlite3.connect(sample) as conn:
        graded = conn.execute("select max(id) from runs where kind != 'discover'").fetchone()[0]
    other = run_cli("discover", "diff", str(graded), "999999", db=sample, env=VI)
    flat = " ".join(other.stderr.split())
    assert other.returncode == 2 and f"lượt chạy {graded} không phải lượt phát hiện" in flat, flat
    missing = run_cli("discover", "diff", "999999", str(graded), db=sample, env=VI)
    assert "không có lượt chạy 999999 (`secops runs list` liệt kê các lượt chạy)" in " ".join(missing.stderr.split())
    english = run_cli("discover", "diff", db=sample, env={"SECOPS_LANG": "en"})
    assert "need two finished discovery runs to compare, found 0" in " ".join(english.stderr.split())
