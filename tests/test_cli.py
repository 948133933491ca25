"""End to end through the real `secops` command: demo on the sample, import, grade, report, exit codes."""

from __future__ import annotations

import csv
import json
import re

import pytest

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from tests.conftest import run_cli

    folder = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--dir", str(folder), cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_demo_writes_dashboard_with_province_figures(demo):
    folder, result = demo
    reports = folder / "reports"
    data = json.loads((reports / "dashboard.json").read_text(encoding="utf-8"))
    html = (reports / "dashboard.html").read_text(encoding="utf-8")
    assert data["synthetic"] is True and data["scope"]["code"] == "SAMPLE"
    assert len(data["agencies"]) == 1 + 15 + 15 + 77  # two tiers: departments, wards, communes (issue 14)
    assert "DỮ LIỆU MẪU" in html and 'lang="vi"' in html
    for target in data["targets"]:
        cell = data["scope"]["cells"][target["id"]]
        card = re.search(rf'id="card-{target["id"]}".*?</div>\s*</div>', html, re.S).group(0)
        assert f'{cell["numerator"]}/{cell["denominator"]}' in card
        assert f'{cell["value"] * 100:.1f}%' in card
        if cell["status"] == "not_met":
            assert f'cần thêm {cell["gap"]}' in card
        # The terminal summary shows the same figures, in Vietnamese by default.
        assert f'({cell["numerator"]}/{cell["denominator"]})' in result.stdout
        if cell["status"] == "not_met":
            assert f'cần thêm {cell["gap"]}' in result.stdout
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    assert str(reports / "dashboard.html") in result.stdout


def test_demo_shows_the_reporting_section_and_writes_the_annual_report(demo):
    folder, result = demo
    reports = folder / "reports"
    data = json.loads((reports / "dashboard.json").read_text(encoding="utf-8"))
    section = data["sections"]["reporting"]
    assert section["regime"] == "decree331_2026" and section["section1"]["total"] > 250
    assert section["counts"]["incomplete"] > 0 and [d["id"] for d in section["deadlines"]] == ["to_owner", "to_ministry"]
    assert 'id="reporting"' in (reports / "dashboard.html").read_text(encoding="utf-8")
    year = section["year"]
    for name in (f"form08-{year}-SAMPLE.xlsx", f"form08-{year}-SAMPLE.html", f"form08-{year}-SAMPLE-section3.csv"):
        assert (reports / name).is_file() and str((reports / name).resolve()) in result.stdout
    assert (reports / f"form08-{year}-SAMPLE.docx").is_file()
    # One report per system owner (departments, wards, communes that own systems), each its own rows.
    owners = reports / "form08-owners"
    docs = sorted(owners.glob(f"form08-{year}-*-chu-quan.docx"))
    assert len(docs) == len(sorted(owners.glob(f"form08-{year}-*-chu-quan.xlsx"))) > 50  # 58 in the sample
    assert f"{len(docs)} system owner(s), one report each" in result.stdout
    import docx

    skhcn = docx.Document(str(owners / f"form08-{year}-SKHCN-chu-quan.docx"))
    assert skhcn.tables[0].cell(0, 0).paragraphs[1].text == "SỞ KHOA HỌC VÀ CÔNG NGHỆ"  # under its governing body
    assert {row.cells[2].text for row in skhcn.tables[1].rows[2:]} == {"Sở Khoa học và Công nghệ"}
    assert skhcn.tables[2].cell(0, 1).paragraphs[-1].text == "Trần Thị Mẫu"  # policies/report_issuers.yaml


def test_demo_discovers_and_audits_this_machine_only(demo, cli):
    folder, result = demo
    data = json.loads((folder / "reports" / "dashboard.json").read_text(encoding="utf-8"))
    for stage in ("discover", "audit", "grade", "report"):
        assert f"stage {stage}: ok" in result.stdout
    assert "discovery" in data["sections"] and "audit" in data["sections"]
    shown = json.loads(cli("runs", "show", str(data["run"]["id"]), "--json", db=folder / "secops.db").stdout)
    assert shown["status"] == "ok"
    assert [(s["stage"], s["status"]) for s in shown["stages"]] == [
        ("discover", "ok"), ("audit", "ok"), ("grade", "ok"), ("report", "ok")]
    scope = (folder / "scope.yaml").read_text(encoding="utf-8")
    assert "127.0.0.1/32" in scope and scope.count("cidr:") == 1  # loopback only
    local = [f for f in data["fix"] if f["code"] == "SAMPLE-LOCAL"]
    audited = data["sections"]["audit"]
    assert audited and (local == [] or local[0]["detail"]["source"] == "audit")


def test_sample_shape(demo):
    data = json.loads((demo[0] / "reports" / "dashboard.json").read_text(encoding="utf-8"))
    t2 = data["scope"]["cells"]["T2"]
    assert t2["denominator"] == 10_001 and t2["unknown"] > 0  # the sample plus this machine
    assert 280 <= data["scope"]["cells"]["T1"]["denominator"] <= 320  # about 300 systems in the register
    assert 2_500 <= data["scope"]["cells"]["T4"]["denominator"] <= 4_500
    kinds = {a["kind"] for a in data["agencies"]}
    assert kinds == {"province", "department", "ward", "commune"}  # no districts since 1 July 2025
    assert all(a["parent"] == "SAMPLE" for a in data["agencies"][1:])  # communes directly under the province
    assert "two tiers (department: 15, ward: 15, commune: 77" in demo[1].stdout.replace("\n", " ")
    assert [p["code"] for p in data["predecessors"]["SAMPLE"]] == ["SAMPLE-BK-2025", "SAMPLE-TN-2025"]


def test_hostile_hostname_is_escaped_everywhere(demo, cli, tmp_path):
    folder, _ = demo
    db = folder / "secops.db"
    hostile_csv = tmp_path / "endpoints.csv"
    with hostile_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "hostname", "ips", "owner", "protection_status", "protection_observed_at"])
        writer.writerow(["AAA-HOSTILE", HOSTILE, "127.0.0.9", "SAMPLE", "unprotected", "2026-11-20T00:00:00Z"])
        writer.writerow(["AAA-FORMULA", "=cmd|' /C calc'!A0", "127.0.0.10", "SAMPLE", "unprotected",
                         "2026-11-20T00:00:00Z"])
    imported = cli("inventory", "import", str(hostile_csv), db=db)
    assert imported.returncode == 0, imported.stderr
    graded = cli("grade", "--as-of", "2026-11-21", db=db)
    assert graded.returncode == 0, graded.stderr
    out = tmp_path / "out"
    reported = cli("report", "--out", str(out), "--lang", "en", db=db)
    assert reported.returncode == 0, reported.stderr
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'lang="en"' in html and "What to fix" in html
    fix_rows = list(csv.DictReader((out / "fix.csv").open(encoding="utf-8")))
    labels = {row["code"]: row["label"] for row in fix_rows}
    assert labels["AAA-HOSTILE"] == HOSTILE  # CSV keeps the data as data
    assert labels["AAA-FORMULA"].startswith("'=")  # but never as a spreadsheet formula


def test_exit_codes(demo, cli, tmp_path):
    db = demo[0] / "secops.db"
    assert cli("grade", "--fail-on-gap", db=db).returncode == 1  # the sample misses its targets
    assert cli("grade", "--fail-under", "10", db=db).returncode == 0
    assert cli("grade", "--fail-under", "95", db=db).returncode == 1
    assert cli("grade", "--agency", "NOPE", db=db).returncode == 2
    assert cli("grade", "--bogus-flag", db=db).returncode == 2
    assert cli("report", "--format", "pdf", db=db).returncode == 2
    missing = cli("inventory", "import", str(tmp_path / "none.yaml"), db=db)
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_import_errors_print_file_row_field(cli, tmp_path):
    bad = tmp_path / "agencies.csv"
    bad.write_text("code,name,kind,parent\nP,Tỉnh,province,\nX,Xã,commune,NOPE\nY,,department,P\n", encoding="utf-8")
    result = cli("inventory", "import", str(bad), db=tmp_path / "x.db")
    assert result.returncode == 2
    assert f"{bad}:3: parent: parent agency 'NOPE' is not in the file or the database" in result.stderr
    assert f"{bad}:4: name:" in result.stderr
    assert "nothing was imported" in result.stderr
    shown = cli("inventory", "show", "--json", db=tmp_path / "x.db")
    assert json.loads(shown.stdout)["agencies"] == {}


def test_report_without_a_graded_run_is_a_clear_error(cli, tmp_path):
    result = cli("report", db=tmp_path / "fresh.db")
    assert result.returncode == 2 and "secops grade" in result.stderr


@pytest.mark.parametrize("command", [[], ["init"], ["inventory"], ["inventory", "import"], ["grade"],
                                     ["report"], ["demo"]])
def test_help_everywhere(cli, command):
    result = cli(*command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_inventory_show_counts_and_lists_a_subtree(demo, cli):
    db = demo[0] / "secops.db"
    counts = json.loads(cli("inventory", "show", "--json", db=db).stdout)
    assert counts["agencies"] == {"province": 1, "department": 15, "ward": 15, "commune": 77}  # former provinces retired
    listed = json.loads(cli("inventory", "show", "--agency", "SYT", "--list", "systems", "--json", db=db).stdout)
    assert listed and all(row["agency"] == "SYT" for row in listed)
    assert cli("inventory", "show", "--agency", "NOPE", db=db).returncode == 2
