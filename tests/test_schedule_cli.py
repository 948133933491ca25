"""`secops schedule ...` and `secops runs ...` as a user runs them (child processes, real exit codes)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from secops.sample.load import load_sample
from secops.store.db import Database


def seeded(db_path: Path) -> None:
    database = Database(f"sqlite:///{db_path}")
    load_sample(database, dt.datetime.now(dt.UTC), endpoints=200)
    database.dispose()


def test_schedule_add_list_run_remove_and_run_history(cli, db_path: Path, tmp_path: Path) -> None:
    seeded(db_path)
    out = tmp_path / "reports"

    # The nightly job discovers every agency of the scope file: here one agency, loopback only.
    scope = tmp_path / "scope.yaml"
    scope.write_text("version: 1\nagencies:\n  SYT:\n    authorised:\n      - cidr: 127.0.5.0/30\n",
                     encoding="utf-8")

    def secops(*args: str):
        return cli("-o", str(out), *args, db=db_path, env={"SECOPS_SCOPE": str(scope)})

    added = secops("schedule", "add", "nightly", "--cron", "0 2 * * *", "--job", "nightly")
    assert added.returncode == 0, added.stderr
    assert secops("schedule", "add", "syt", "--every", "3600", "--job", "grade-report", "--agency", "SYT",
                  "--lang", "en").returncode == 0
    listed = json.loads(secops("schedule", "list", "--json").stdout)
    assert [(s["name"], s["when"], s["job"], s["agency_code"]) for s in listed] == [
        ("nightly", "cron 0 2 * * *", "nightly", None), ("syt", "every 3600s", "grade-report", "SYT")]
    assert "cron 0 2 * * *" in secops("schedule", "list").stdout

    ran = secops("schedule", "run", "nightly")
    # partial: discovery of the loopback scope works, but the audit has no credentials for any host
    # (no audit config: nothing is connected to) and says so per host.
    assert ran.returncode == 1, ran.stdout + ran.stderr
    for line in ("discover: ok", "audit: partial", "requirements: ok", "grade: ok", "report: ok", "run 1: partial"):
        assert line in ran.stdout, line
    assert (out / "latest" / "dashboard.html").is_file()
    ok = secops("schedule", "run", "syt")
    assert ok.returncode == 0 and "run 2: ok" in ok.stdout, ok.stdout + ok.stderr
    assert (out / "SYT" / "latest" / "dashboard.html").is_file()

    runs = json.loads(secops("runs", "list", "--json").stdout)
    assert [(r["id"], r["kind"], r["job_name"], r["status"]) for r in runs] == [
        (2, "job", "syt", "ok"), (1, "job", "nightly", "partial")]
    assert json.loads(secops("runs", "list", "--json", "--status", "ok").stdout)[0]["id"] == 2
    table = secops("runs", "list").stdout
    assert "nightly" in table and "partial" in table

    shown = secops("runs", "show", "1")
    assert shown.returncode == 0
    # 5 targets x 108 agencies of the two-tier sample (issue 14)
    for expected in ("#1 (job, manual, schedule nightly)", "status     partial", "started", "finished",
                     "grades     540 rows", "grade_cells=540", str(out / "runs"), str(out / "latest"),
                     "discover", "error: audit: ", "no credentials"):
        assert expected in shown.stdout, expected
    detail = json.loads(secops("runs", "show", "1", "--json").stdout)
    assert [(s["stage"], s["status"]) for s in detail["stages"]] == [
        ("discover", "ok"), ("audit", "partial"), ("requirements", "ok"), ("grade", "ok"), ("report", "ok")]
    assert Path(detail["report_dir"], "dashboard.html").is_file()

    assert secops("schedule", "remove", "syt").returncode == 0
    assert [s["name"] for s in json.loads(secops("schedule", "list", "--json").stdout)] == ["nightly"]
    pruned = secops("runs", "prune", "--keep", "2")
    assert pruned.returncode == 0 and "pruned detail of 0 run(s)" in pruned.stdout


def test_user_errors_exit_2_with_a_clear_message(cli, db_path: Path) -> None:
    seeded(db_path)
    cases = [
        (["schedule", "add", "x", "--cron", "0 2 * *"], "expected 5 fields"),
        (["schedule", "add", "x", "--cron", "0 2 * * *", "--job", "nope"], "unknown job 'nope'"),
        (["schedule", "add", "x", "--cron", "0 2 * * *", "--every", "5"], "exactly one of --cron or --every"),
        (["schedule", "add", "x", "--every", "5", "--agency", "NOPE"], "agency 'NOPE' is not in the inventory"),
        (["schedule", "remove", "nope"], "no schedule named 'nope'"),
        (["schedule", "run", "nope"], "no schedule named 'nope'"),
        (["runs", "show", "99"], "run 99 does not exist"),
        (["daemon", "--log-level", "LOUD"], "--log-level"),
    ]
    for args, message in cases:
        result = cli(*args, db=db_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_bad_schedule_settings_stop_the_daemon_at_start(cli, db_path: Path, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "schedule.yaml").write_text("version: 1\ndaemon: {poll_seconds: 10, lease_seconds: 5}\n")
    result = cli("--policies", str(policies), "daemon", db=db_path, timeout=60)
    assert result.returncode == 2
    assert f"{policies / 'schedule.yaml'}: daemon: " in result.stderr and "twice poll_seconds" in result.stderr
