"""Every listing command at 80 columns, `--wide`, and `--format csv|json` (secops/termtable.py).

At 80 columns a listing's key column (the code, id or name that tells rows apart) is never cut and
no line is wider than the terminal; `--wide` drops and folds nothing; CSV and JSON carry the same
records under the same keys, whole, and a CSV cell reads back (textsafe.restore_cell) as the JSON
value it came from.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko
import pytest

from secops.collect.hostkeys import HostKeyStore
from secops.textsafe import restore_cell
from tests.conftest import ROOT, run_cli

EXAMPLES = ROOT / "examples"
LONG_SCHEDULE = "nightly-province-reports-for-every-commune"
LONG_TOKEN = "dashboard-reader-for-the-provincial-people-s-committee"
LONG_USER = "nguyen.van.an.so-thong-tin-va-truyen-thong"
LONG_HOST = "may-chu-cong-thong-tin-dien-tu.quangtri.gov.vn"
WAIVED = "secops_linux_hardening:7004"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The README's example province, graded and discovered once, with a long-named schedule, token,
    user, known host and a waiver: every listing has rows whose keys are long."""
    base = tmp_path_factory.mktemp("listings")
    db = base / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    files = [str(EXAMPLES / name) for name in ("inventory.yaml", "endpoints.csv", "staff.csv")]
    assert run_cli("inventory", "import", *files, db=db, cwd=EXAMPLES).returncode == 0
    assert run_cli("grade", db=db).returncode == 0
    scope = base / "scope.yaml"
    scope.write_text("version: 1\nagencies:\n  QT-STTTT:\n    authorised:\n      - cidr: 127.0.0.1/32\n", "utf-8")
    found = run_cli("discover", "--agency", "QT-STTTT", "--scope", str(scope), "--targets", "127.0.0.1",
                    "--ports", "9", "--no-ping", db=db)
    assert found.returncode == 0, found.stderr
    assert run_cli("schedule", "add", LONG_SCHEDULE, "--cron", "0 2 * * *", "--agency", "QT-H1-X1", db=db).returncode == 0
    assert run_cli("tokens", "add", "--name", LONG_TOKEN, "--agency", "QT-H1-X1", db=db).returncode == 0
    password = base / "password"
    password.write_text("a long enough password, 2026\n", "utf-8")
    added = run_cli("users", "add", LONG_USER, "--role", "agency-officer", "--agency", "QT-H1-X1",
                    "--password-file", str(password), db=db)
    assert added.returncode == 0, added.stderr
    known = base / "known_hosts"
    HostKeyStore(known).add(LONG_HOST, 22, paramiko.ECDSAKey.generate())
    config = base / "audit.yaml"
    config.write_text(f"known_hosts: {known}\n", encoding="utf-8")
    waivers = base / "waivers.yaml"
    waivers.write_text(f"waivers:\n  - check: {WAIVED}\n    scope: {{agencies: [QT-H1-X1, QT-STTTT]}}\n"
                       "    reason: \"=HYPERLINK(\\\"http://x\\\") the firewall is managed upstream by the province\"\n"
                       "    approver: \"Nguyễn Văn A, Giám đốc Sở Thông tin và Truyền thông\"\n"
                       "    expires: 2099-03-31\n", encoding="utf-8")
    return {"db": db, "config": config, "waivers": waivers}


def _items(doc: Any) -> list[dict[str, Any]]:
    return doc["items"]  # type: ignore[no-any-return]


def _hosts(doc: Any) -> list[dict[str, Any]]:
    return doc["hosts"]  # type: ignore[no-any-return]


def _rows(doc: Any) -> list[dict[str, Any]]:
    return doc  # type: ignore[no-any-return]


# (name, arguments, keys that must appear whole at 80 columns (or the field whose every value must),
#  the records inside --format json)
LISTINGS: list[tuple[str, list[str], list[str] | str, Callable[[Any], list[dict[str, Any]]]]] = [
    ("inventory endpoints", ["inventory", "show", "--list", "endpoints"],
     ["QT-H1-PC001", "QT-H1-X1-PC001", "QT-STTTT-SRV01"], _rows),
    ("inventory systems", ["inventory", "show", "--list", "systems"], ["QT-STTTT-CTTDT"], _rows),
    ("inventory staff", ["inventory", "show", "--list", "staff"], ["QT-CB001"], _rows),
    ("requirements show", ["requirements", "show", "QT-STTTT-CTTDT"], "item", _items),
    ("requirements catalogue", ["requirements", "catalogue", "--level", "3"], "item", _rows),
    ("waivers list", ["waivers", "list", "--file", "{waivers}"], [WAIVED], _rows),
    ("schedule list", ["schedule", "list"], [LONG_SCHEDULE], _rows),
    ("runs list", ["runs", "list"], [" 1 ", " 2 "], _rows),
    ("hosts list", ["hosts", "list", "--config", "{config}"], [LONG_HOST], _rows),
    ("checks list", ["checks", "list"], ["secops_linux_hardening", "secops_level_windows", "secops_ep_windows"],
     _rows),
    ("users list", ["users", "list"], [LONG_USER], _rows),
    ("tokens list", ["tokens", "list"], [" 1 "], _rows),
    ("discover show", ["discover", "show"], ["127.0.0.1"], _hosts),
]


def _args(args: list[str], site: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in site.items()}) for a in args]


def _fits(output: str, width: int = 80) -> None:
    assert "…" not in output, output
    assert all(len(line) <= width for line in output.splitlines()), output


@pytest.mark.parametrize(("name", "args", "keys", "records"), LISTINGS, ids=[entry[0] for entry in LISTINGS])
def test_a_listing_at_80_columns_keeps_its_keys_whole(site, name, args, keys, records):
    shown = run_cli(*_args(args, site), db=site["db"], env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    _fits(shown.stdout)
    rows = records(json.loads(run_cli(*_args(args, site), "--format", "json", db=site["db"]).stdout))
    assert rows, name
    if isinstance(keys, str):
        keys = [str(row[keys]) for row in rows]
    for key in keys:  # whole, on one line: never cut, never folded
        assert any(key.strip() in line.split() for line in shown.stdout.splitlines()), (key, shown.stdout)
    wide = run_cli(*_args(args, site), "--wide", db=site["db"], env={"COLUMNS": "80"})
    assert wide.returncode == 0, wide.stderr
    assert "…" not in wide.stdout
    # --wide folds nothing: each row is one line, so its first value and its last shown value meet there
    lines = [line for line in wide.stdout.splitlines() if any(key.strip() in line.split() for key in keys)]
    assert lines and all(len(line) >= len(lines[0]) - 1 for line in lines), wide.stdout
    assert len(wide.stdout.splitlines()) <= len(rows) + 12, wide.stdout  # frame, title, heading, a closing note


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@pytest.mark.parametrize(("name", "args", "keys", "records"), LISTINGS, ids=[entry[0] for entry in LISTINGS])
def test_csv_and_json_carry_the_same_records_whole(site, name, args, keys, records):
    as_json = run_cli(*_args(args, site), "--format", "json", db=site["db"], env={"COLUMNS": "40"})
    as_csv = run_cli(*_args(args, site), "--format", "csv", db=site["db"], env={"COLUMNS": "40"})
    assert as_json.returncode == 0 and as_csv.returncode == 0, as_json.stderr + as_csv.stderr
    rows = records(json.loads(as_json.stdout))
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    header, body = table[0], table[1:]
    assert header == list(rows[0]), "the CSV header is the JSON keys, in the same order"
    assert all(list(row) == header for row in rows), "every JSON record has the same keys"
    back = [{name: restore_cell(cell) for name, cell in zip(header, line, strict=True)} for line in body]
    assert back == [{k: _cell(v) for k, v in row.items()} for row in rows]
    assert "…" not in as_csv.stdout and "…" not in as_json.stdout  # at 40 columns: nothing cut


def test_csv_neutralises_formulas_and_json_keeps_them_as_typed(site):
    args = ["waivers", "list", "--file", str(site["waivers"])]
    as_csv = list(csv.DictReader(io.StringIO(run_cli(*args, "--format", "csv").stdout)))
    as_json = json.loads(run_cli(*args, "--format", "json").stdout)
    assert as_csv[0]["reason"].startswith("'=HYPERLINK(")  # a spreadsheet shows it as text, never runs it
    assert as_json[0]["reason"].startswith("=HYPERLINK(")
    assert as_json[0]["scope"] == {"agencies": ["QT-H1-X1", "QT-STTTT"]}
    assert list(as_json[0]) == ["check", "scope", "reason", "approver", "expires", "days_left"]


def test_json_keys_do_not_depend_on_the_terminal(site):
    """A listing's machine keys are fixed: not its headings (which name a zone), not the width."""
    narrow = json.loads(run_cli("runs", "list", "--format", "json", db=site["db"], env={"COLUMNS": "60"}).stdout)
    broad = json.loads(run_cli("runs", "list", "--json", db=site["db"], env={"COLUMNS": "250"}).stdout)
    assert narrow == broad and "started_at" in narrow[0] and not any("(" in key for key in narrow[0])
    tokens = json.loads(run_cli("tokens", "list", "--format", "json", db=site["db"]).stdout)
    assert list(tokens[0]) == ["id", "name", "scope", "prefix", "created", "state"]
    assert tokens[0]["created"].endswith("Z")  # machine times stay UTC; the table shows them local, zone named


def test_unknown_format_and_disagreeing_options_are_refused(site):
    bogus = run_cli("runs", "list", "--format", "xml", db=site["db"])
    assert bogus.returncode == 2 and "--format 'xml': choose from table, csv, json" in bogus.stderr, bogus.stderr
    both = run_cli("runs", "list", "--json", "--format", "csv", db=site["db"])
    assert both.returncode == 2 and "--json and --format csv disagree" in both.stderr, both.stderr
    assert "Traceback" not in bogus.stderr + both.stderr


def test_the_inventory_overview_at_80_columns_and_as_csv(site):
    shown = run_cli("inventory", "show", db=site["db"], env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    _fits(shown.stdout)
    counts = json.loads(run_cli("inventory", "show", "--format", "json", db=site["db"]).stdout)
    rows = list(csv.DictReader(io.StringIO(run_cli("inventory", "show", "--format", "csv", db=site["db"]).stdout)))
    assert {row["entity"]: int(row["total"]) for row in rows} == {k: sum(v.values()) for k, v in counts.items()}


def test_the_audit_table_at_80_columns_keeps_the_host_whole(site, tmp_path):
    db = tmp_path / "audit.db"
    assert run_cli("init", db=db).returncode == 0
    files = [str(EXAMPLES / name) for name in ("inventory.yaml", "endpoints.csv", "staff.csv")]
    assert run_cli("inventory", "import", *files, db=db, cwd=EXAMPLES).returncode == 0
    done = run_cli("audit", "--local", "--endpoint", "QT-STTTT-SRV01", "--no-progress", db=db,
                   env={"COLUMNS": "80", "SECOPS_LANG": "en"})  # the table follows the report language
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.strip().startswith("Audit run")):]
    # the table, not the line saying what each count is nor the pack lines after it
    table = table[:next(i for i, line in enumerate(table) if i and line and line[0] not in " ─━│┃┏┗┡└┌╭╰")]
    assert table and "…" not in "".join(table) and all(len(line) <= 80 for line in table), table
    assert any(line.split()[:1] == ["cttdt-web01"] for line in table), table


# Walks every command and group of the real `secops` app and prints each one's --help, as
# `python -m secops PATH --help` prints it (typer's own main, standalone mode, stdout captured by
# CliRunner), one JSON line per page. It runs in ONE child process started like run_cli's (same
# environment, fresh interpreter, so the language and the terminal width are read as a user's
# command reads them) instead of one child per page (~100 starts of the interpreter).
_HELP_WALK = """
import json, sys
import typer
from typer import _click as click
from typer.testing import CliRunner
from secops.cli import app

def walk(command, path):
    found = [path]
    if hasattr(command, "list_commands"):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            found += walk(command.get_command(ctx, name), [*path, name])
    return found

runner = CliRunner()
for path in walk(typer.main.get_command(app), []):
    shown = runner.invoke(app, [*path, "--help"], prog_name="secops")
    print(json.dumps({"path": path, "code": shown.exit_code, "out": shown.output}))
"""


def test_help_pages_are_never_cut_at_80_columns():
    """Every command's and group's --help at 80 columns: no "…" (rich cuts a word wider than its column)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-c", _HELP_WALK], capture_output=True, text=True, env=full_env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    pages = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(pages) > 50 and [] in [page["path"] for page in pages], done.stdout[:2000]
    cut = []
    for page in pages:
        assert page["code"] == 0 and "Usage" in page["out"], page
        cut += [f"{' '.join(page['path'])}: {line}" for line in page["out"].splitlines() if "…" in line]
    assert not cut, "\n".join(cut)
