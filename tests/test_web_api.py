"""The read-only API and /metrics: the same figures as `secops report`, token scope, revocation,
rate limit; the `users` and `tokens` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secops.report.publish import dashboard_for
from secops.users.tables import TokenRow
from secops.web.app import create_app
from tests.web_helpers import PASSWORD, make_province

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path) -> Any:
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    app = create_app(state.settings, state.db())
    yield state, app, tmp_path
    state.db().dispose()


def test_api_figures_are_the_reports(world: Any, cli: Any) -> None:
    state, app, folder = world
    db_file = Path(state.settings.db_url.removeprefix("sqlite:///"))
    done = cli("tokens", "add", "--name", "ioc", db=db_file)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("sco_")
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    grades = client.get("/api/v1/grades", headers=headers).json()
    report = dashboard_for(state.db(), state.settings, lang="en", summary_only=True)
    assert grades["run"] == report.run.id and grades["scope"] == "P"
    assert [a["code"] for a in grades["agencies"]] == [a.code for a in report.agencies]
    for agency, expected in zip(grades["agencies"], report.agencies, strict=True):
        for grade in agency["grades"]:
            cell = expected.cells[grade["target"]]
            assert (grade["numerator"], grade["denominator"], grade["unknown"], grade["gap"], grade["threshold"]) == \
                (cell.numerator, cell.denominator, cell.unknown, cell.gap, cell.threshold)
    one = client.get("/api/v1/agencies/S1/grades", headers=headers).json()
    assert [a["code"] for a in one["agencies"]] == ["S1"]
    summary = client.get("/api/v1/register/summary?agency=S1", headers=headers).json()
    assert summary["total"] == 2 and summary["owner"] == "S1"
    fixes = client.get("/api/v1/fix-counts", headers=headers).json()
    assert set(fixes["fix_counts"]) == {t.id for t in report.targets}
    assert fixes["fix_counts"]["T2"] == 7  # seven endpoints, no protection evidence yet
    metrics = client.get("/metrics", headers=headers)
    assert metrics.status_code == 200
    t2 = next(c for c in report.scope.cells.values() if c.target_id == "T2")
    assert f'secops_target_denominator{{agency="P",target="T2"}} {float(t2.denominator)}' in metrics.text
    assert f"secops_grade_run {float(report.run.id)}" in metrics.text
    spec = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/grades", "/api/v1/agencies/{code}/grades", "/api/v1/register/summary",
            "/api/v1/fix-counts"} <= set(spec["paths"])
    assert not any(p.startswith(("/agency", "/system", "/signin")) for p in spec["paths"])
    # only the token's digest is stored
    with state.db().session() as session:
        row = session.query(TokenRow).one()
        assert token not in (row.digest, row.prefix) and row.prefix == token[:12]
    # revoked: refused at once
    done = cli("tokens", "revoke", str(row.id), db=db_file)
    assert done.returncode == 0, done.stderr
    assert client.get("/api/v1/grades", headers=headers).status_code == 401
    listed = cli("tokens", "list", db=db_file)
    assert "revoked" in listed.stdout and token not in listed.stdout


def test_api_rate_limit(world: Any) -> None:
    state, app, _ = world
    from secops.users.store import add_token

    token = add_token(state.db(), "busy", "S1", actor="test")
    limit = app.state.console.policy.api_rate_per_minute
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    codes = [client.get("/api/v1/agencies/S1/grades", headers=headers).status_code for _ in range(limit + 2)]
    assert codes[:limit] == [200] * limit and codes[limit:] == [429, 429]


def test_users_command(world: Any, cli: Any, tmp_path: Path) -> None:
    state, _, _ = world
    db_file = Path(state.settings.db_url.removeprefix("sqlite:///"))
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    done = cli("users", "add", "lan", "--role", "agency-officer", "--agency", "S1", "--password-file", str(secret),
               db=db_file)
    assert done.returncode == 0 and "agency-officer, scope S1" in done.stdout, done.stderr
    bad = cli("users", "add", "x", "--role", "agency-officer", "--password-file", str(secret), db=db_file)
    assert bad.returncode == 2 and "needs the agency" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("users", "add", "y", "--role", "boss", "--password-file", str(secret), db=db_file)
    assert bad.returncode == 2 and "province-officer" in bad.stderr
    bad = cli("users", "add", "z", "--role", "leader", "--agency", "NOPE", "--password-file", str(secret), db=db_file)
    assert bad.returncode == 2 and "NOPE" in bad.stderr
    short = tmp_path / "short"
    short.write_text("abc")
    bad = cli("users", "add", "w", "--role", "leader", "--password-file", str(short), db=db_file)
    assert bad.returncode == 2 and "at least" in bad.stderr
    assert cli("users", "reset-mfa", "lan", db=db_file).returncode == 0
    listed = cli("users", "list", db=db_file)
    assert "lan" in listed.stdout and "agency-officer" in listed.stdout and PASSWORD not in listed.stdout
    assert cli("users", "disable", "lan", db=db_file).returncode == 0
    assert "disabled" in cli("users", "list", db=db_file).stdout
    with state.db().session() as session:
        from secops.users.tables import AuditRow, UserRow

        row = session.query(UserRow).filter(UserRow.name == "lan").one()
        assert row.password_hash and row.password_hash.startswith("$argon2id$")
        actions = [a.action for a in session.query(AuditRow).order_by(AuditRow.id)]
        assert actions == ["user.add", "user.reset-mfa", "user.disable"]


def test_api_trends_per_target_and_agency(world: Any) -> None:
    """Trends: each target's points over the graded runs of the scope, the points the dashboard's
    trends section draws; scoped by the token's subtree; in the OpenAPI description."""
    import datetime as dt

    from secops.evidence.importer import ImportOptions, import_evidence
    from secops.grade.cli import run_grade
    from secops.users.store import add_token
    from tests.web_helpers import ksc_export

    state, app, folder = world
    client = TestClient(app)
    province = {"Authorization": f"Bearer {add_token(state.db(), 'ioc', None, actor='test')}"}
    s1 = {"Authorization": f"Bearer {add_token(state.db(), 'ioc-s1', 'S1', actor='test')}"}
    assert client.get("/api/v1/fix-counts", headers=province).json()["fix_counts"]["T2"] == 7
    export = ksc_export(folder / "ksc_devices.txt", [(f"ws-0{i}", f"127.0.5.{i}") for i in range(1, 5)])
    import_evidence(state.db(), export, None, state.settings.policies, options=ImportOptions())
    # the fix counts are the graded run's (counted once per run, like its dashboard) until the next grade
    assert client.get("/api/v1/fix-counts", headers=province).json()["fix_counts"]["T2"] == 7
    run_grade(state, dt.datetime.now(dt.UTC))
    assert client.get("/api/v1/fix-counts", headers=province).json()["fix_counts"]["T2"] == 3

    out = client.get("/api/v1/agencies/S1/trends", headers=province).json()
    assert out["scope"] == "S1" and len(out["runs"]) == 2 and out["run"] == out["runs"][-1]
    t2 = next(t for t in out["targets"] if t["target"] == "T2")
    assert [(p["numerator"], p["denominator"]) for p in t2["points"]] == [(0, 4), (4, 4)]
    assert t2["delta"] == 1.0 and t2["points"][-1]["status"] == "met"
    section = dashboard_for(state.db(), state.settings, lang="en", agency_code="S1").sections["trends"]
    for target, drawn in zip(out["targets"], section["targets"], strict=True):  # the dashboard's own points
        assert target["target"] == drawn["id"] and target["delta"] == drawn["delta"]
        assert [(p["value"], p["numerator"], p["denominator"], p["gap"], p["status"]) for p in target["points"]] == \
            [(d["value"], d["numerator"], d["denominator"], d["gap"], d["status"]) for d in drawn["points"] if d]
    whole = client.get("/api/v1/trends", headers=province).json()
    assert whole["scope"] == "P"
    assert [(p["numerator"], p["denominator"]) for p in next(t for t in whole["targets"]
                                                              if t["target"] == "T2")["points"]] == [(0, 7), (4, 7)]
    one = client.get("/api/v1/trends?runs=1", headers=province).json()
    assert len(one["runs"]) == 1 and one["targets"][0]["delta"] is None
    assert client.get("/api/v1/trends?runs=0", headers=province).status_code == 422
    # a token of S1 reads S1 (its default scope) and nothing outside it
    assert client.get("/api/v1/trends", headers=s1).json()["scope"] == "S1"
    assert client.get("/api/v1/trends?agency=D1", headers=s1).status_code == 404
    assert client.get("/api/v1/agencies/C1/trends", headers=s1).status_code == 404
    assert client.get("/api/v1/agencies/P/trends", headers=s1).status_code == 404
    assert client.get("/api/v1/trends").status_code == 401
    spec = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/trends", "/api/v1/agencies/{code}/trends"} <= set(spec["paths"])
    assert "TrendsOut" in spec["components"]["schemas"]
