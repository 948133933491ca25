""""Today" is the province's date wherever a person's date meets the clock: a waiver's expiry, an
imported training or awareness date, the console's waiver approval. Before, these used the machine's
own date (UTC on a server), so from 17:00 to 24:00 UTC a waiver stayed in force a day longer than
its date in Hanoi and a training recorded today in Hanoi was refused as "in the future".

Each test runs the command line in a child whose own clock is UTC (TZ=UTC) against two provinces, at
UTC+14 and UTC-12: whatever the hour, one of them is on another date than UTC, so each test fails
on the code before, at any time of day."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from secops.config import Settings, bundled
from secops.evaluate.waivers import load_waivers, waivers_path
from secops.web.app import create_app
from tests.web_helpers import make_province, make_users, sign_in

pytestmark = pytest.mark.timeout(300)

ZONES = {"east": ("Etc/GMT-14", 14), "west": ("Etc/GMT+12", -12)}
UTC_CHILD = {"TZ": "UTC"}
CHECK = "secops_ep_linux:9100"  # a check of secops's own packs: `waivers add` refuses unknown checks


def _zone_today(hours: int) -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=hours))).date()


def _policies(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(bundled("policies"), folder)
    (folder / "locale.yaml").write_text(f"version: 1\ntimezone: {ZONES[name][0]}\nclock_skew_minutes: 10\n",
                                        encoding="utf-8")
    (folder / "waivers.yaml").unlink(missing_ok=True)
    return folder


def _inventory(tmp_path: Path, cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "agencies.yaml"
    path.write_text("agencies:\n  - {code: PROV, name: Tỉnh Thử, kind: province}\n", encoding="utf-8")
    done = cli("inventory", "import", str(path), db=db)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", sorted(ZONES))
def test_a_waiver_ends_on_the_provinces_calendar(name: str, cli, tmp_path: Path) -> None:
    policies, db = _policies(tmp_path, name), tmp_path / "secops.db"
    _inventory(tmp_path, cli, db)
    today = _zone_today(ZONES[name][1])

    def add(expires: dt.date):  # type: ignore[no-untyped-def]
        return cli("--policies", str(policies), "waivers", "add", CHECK, "--agencies", "PROV", "--reason", "accepted",
                   "--approver", "CISO", "--expires", expires.isoformat(), db=db, env=UTC_CHILD)

    ends_today = add(today)
    assert ends_today.returncode == 2 and "the date has passed" in ends_today.stderr, ends_today.stderr
    tomorrow = add(today + dt.timedelta(days=1))
    assert tomorrow.returncode == 0, tomorrow.stderr
    assert "(1 days)" in tomorrow.stdout, tomorrow.stdout
    listed = cli("--policies", str(policies), "waivers", "list", "--format", "json", db=db, env=UTC_CHILD)
    assert listed.returncode == 0, listed.stderr
    assert [row["days_left"] for row in json.loads(listed.stdout)] == [1], listed.stdout


@pytest.mark.parametrize("name", sorted(ZONES))
def test_a_training_recorded_today_in_the_province_is_not_in_the_future(name: str, cli, tmp_path: Path) -> None:
    policies, db = _policies(tmp_path, name), tmp_path / "secops.db"
    _inventory(tmp_path, cli, db)
    today = _zone_today(ZONES[name][1])
    staff = tmp_path / "staff.yaml"
    for code, day, accepted in (("S-TODAY", today, True), ("S-TOMORROW", today + dt.timedelta(days=1), False)):
        staff.write_text(f"staff:\n  - {{code: {code}, agency: PROV, training_date: {day.isoformat()}}}\n",
                         encoding="utf-8")
        done = cli("--policies", str(policies), "inventory", "import", str(staff), db=db, env=UTC_CHILD)
        if accepted:
            assert done.returncode == 0, done.stderr
        else:
            assert done.returncode == 2 and "is in the future" in done.stderr, (day, done.stderr)


def test_a_waiver_approved_in_the_console_goes_to_the_file_audits_read(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With the bundled policies, `secops waivers` and the audits read waivers.yaml in the user's
    data folder; the console wrote its approvals into the installed package's policies folder, where
    no audit read them (and an upgrade would drop them)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    package_file = bundled("policies") / "waivers.yaml"
    package_before = package_file.read_bytes() if package_file.exists() else None
    state = make_province(f"sqlite:///{tmp_path / 'secops.db'}", tmp_path)
    secrets = make_users(state.db(), tmp_path)
    settings = Settings(db=state.settings.db, output=tmp_path / "out")
    assert settings.policies.resolve() == bundled("policies").resolve()
    app = create_app(settings, state.db())
    officer, province = TestClient(app), TestClient(app)
    csrf = sign_in(officer, state.db(), "offa", secrets)
    asked = officer.post("/agency/S1/waivers", data={"csrf": csrf, "check": "cis_debian12:33147",
                                                    "reason": "firewall upstream", "expires": "2099-03-31"},
                         follow_redirects=False)
    assert asked.status_code == 303, asked.text
    pcsrf = sign_in(province, state.db(), "prov", secrets)
    done = province.post("/waivers/1", data={"csrf": pcsrf, "decision": "approve", "reason": "ticket 12"},
                         follow_redirects=False)
    assert done.status_code == 303, done.text
    try:
        read_by_audits = load_waivers(waivers_path(settings.policies))
        assert [(w.check, w.scope.agencies) for w in read_by_audits] == [("cis_debian12:33147", ["S1"])]
        assert waivers_path(settings.policies).is_relative_to(tmp_path / "data")
        assert "cis_debian12:33147" in officer.get("/agency/S1/waivers").text
    finally:
        after = package_file.read_bytes() if package_file.exists() else None
        if after != package_before:  # the code before wrote here: put the package back as it was
            if package_before is None:
                package_file.unlink()
            else:
                package_file.write_bytes(package_before)
        state.db().dispose()
    assert after == package_before, "the console wrote into the installed package's policies folder"
