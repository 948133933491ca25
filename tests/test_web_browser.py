"""The console end to end in a real browser: a real uvicorn (`secops serve`) and a real daemon on
loopback, Selenium driving Debian's chromium with chromium-driver, at a phone's width, on SQLite
and PostgreSQL: sign in with TOTP, edit a register row, upload a Kaspersky export (preview in the
request, then an import queued for the daemon), see the agency's figures change once the daemon
has imported and graded, download its Form 08, sign out."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.web_helpers import PASSWORD, ksc_export, make_province, make_users, next_code

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the server exited: {proc.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "postgresql"])
def console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "postgresql":
        url = request.getfixturevalue("fresh_pg")().url
    else:
        url = f"sqlite:///{tmp_path / 'secops.db'}"
    state = make_province(url, tmp_path)
    secrets = make_users(state.db(), tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "schedule.yaml").write_text((ROOT / "policies" / "schedule.yaml").read_text().replace(
        "poll_seconds: 15", "poll_seconds: 1"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SECOPS_UPLOAD_DIR": str(tmp_path / "uploads")}
    port = _free_port()
    base = [sys.executable, "-m", "secops", "--db", url, "--policies", str(policies)]
    server = subprocess.Popen([*base, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=open(tmp_path / "serve.log", "w"), stderr=subprocess.STDOUT)
    daemon = subprocess.Popen([*base, "daemon"], env=env, stdout=open(tmp_path / "daemon.log", "w"),
                              stderr=subprocess.STDOUT)
    try:
        _wait_port(port, server)
        yield {"url": f"http://127.0.0.1:{port}", "state": state, "secrets": secrets, "dir": tmp_path}
    finally:
        _stop(server)
        _stop(daemon)
        state.db().dispose()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    assert CHROMIUM and DRIVER, "Debian's chromium and chromium-driver are required (scripts/install-test-deps.sh)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=390,844", f"--user-data-dir={tempfile.mkdtemp(prefix='secops-selenium-')}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def _click(driver: Any, element_id: str) -> None:
    """Click and wait until the next page has replaced this one (a form post or a link)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # A mark on this page's window: it is gone once the next page has loaded. (Selenium's
    # staleness_of asks the old element, and Chromium may answer that with a WebDriverException
    # other than "stale" while the document is being replaced: a flaky failure seen in CI.)
    driver.execute_script("window.__secopsOldPage = true")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.__secopsOldPage && document.readyState === 'complete'"))


def _fits_the_phone(driver: Any) -> None:
    wide = driver.execute_script("return document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert not wide, "the page is wider than a phone's screen"
    assert driver.execute_script("return document.scripts.length") == 0  # figures need no script


def test_officer_flow_in_a_browser(console: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    url, state = console["url"], console["state"]
    browser.get(url + "/agency/S1")
    assert browser.current_url.endswith("/signin")
    browser.find_element(By.ID, "name").send_keys("offa")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    _click(browser, "signin")
    assert browser.current_url.endswith("/mfa")
    browser.find_element(By.ID, "code").send_keys(next_code(state.db(), "offa", console["secrets"]["offa"]))
    _click(browser, "verify")
    assert browser.current_url.endswith("/agency/S1")
    assert "Chỉ tiêu" in browser.page_source  # Vietnamese first
    before = _text(browser, "#target-T2 .fig")
    assert before == "0/4"
    _fits_the_phone(browser)

    # edit a register row: the import's validation first, then a good value
    browser.get(url + "/system/SYS3")
    field = browser.find_element(By.ID, "f-proposed_level")
    field.clear()
    field.send_keys("7")
    _click(browser, "save")
    assert "proposed_level" in _text(browser, "#errors")
    field = browser.find_element(By.ID, "f-proposed_level")
    field.clear()
    field.send_keys("2")
    status = browser.find_element(By.ID, "f-approval_status")
    status.clear()
    status.send_keys("drafting")
    _click(browser, "save")
    assert "drafting" in _text(browser, "#history") and browser.find_element(By.ID, "f-proposed_level").get_attribute(
        "value") == "2"

    # upload a Kaspersky export: preview (nothing written), then import all of it
    export = ksc_export(console["dir"] / "ksc_devices.txt", [(f"ws-0{i}", f"127.0.5.{i}") for i in range(1, 5)]
                        + [("ws-11", "127.0.6.1")])
    browser.get(url + "/agency/S1/evidence")
    browser.find_element(By.ID, "file").send_keys(str(export))
    _click(browser, "preview-button")
    assert _text(browser, "#matched") == "4" and _text(browser, "#outside") == "1"
    assert "ws-11" in _text(browser, "#refusals")
    browser.get(url + "/agency/S1")
    assert _text(browser, "#target-T2 .fig") == "0/4"  # the preview wrote nothing
    browser.get(url + "/agency/S1/evidence")
    browser.find_element(By.ID, "file").send_keys(str(export))
    _click(browser, "preview-button")
    _click(browser, "confirm")
    # queued, not imported in the request: the daemon imports it, then grades (the page reloads itself)
    assert "/imports/" in browser.current_url
    status_page = browser.current_url
    deadline = time.monotonic() + 120
    while browser.find_element(By.ID, "status").get_attribute("data-status") != "done":
        assert browser.find_element(By.ID, "status").get_attribute("data-status") != "failed", browser.page_source
        assert time.monotonic() < deadline, (console["dir"] / "daemon.log").read_text()[-3000:]
        time.sleep(1)
        browser.get(status_page)
    assert "4" in _text(browser, "#imported")

    # the daemon grades the queued request; the agency's figures change
    deadline = time.monotonic() + 120
    while True:
        browser.get(url + "/agency/S1")
        if _text(browser, "#target-T2 .fig") == "4/4":
            break
        assert time.monotonic() < deadline, (console["dir"] / "daemon.log").read_text()[-3000:]
        time.sleep(1)

    # its Form 08
    browser.get(url + "/agency/S1/annual")
    browser.find_element(By.ID, "form08-xlsx").click()
    deadline = time.monotonic() + 60
    while not [p for p in browser.downloads.iterdir() if p.suffix == ".xlsx"]:
        assert time.monotonic() < deadline, "no Form 08 downloaded"
        time.sleep(0.2)
    form = next(p for p in browser.downloads.iterdir() if p.suffix == ".xlsx")
    cells = [str(c) for row in load_workbook(form).active.iter_rows(values_only=True) for c in row if c is not None]
    assert any("Kế toán" in c for c in cells) and not any("Một cửa huyện" in c for c in cells)  # S1's rows only

    # sign out: the session is over
    _click(browser, "signout")
    assert browser.current_url.endswith("/signin")
    browser.get(url + "/agency/S1")
    assert browser.current_url.endswith("/signin")


def test_schedules_in_a_browser(console: dict[str, Any], browser: Any) -> None:
    """A province officer adds a schedule through the form (a refusal first), sees it listed at a
    phone's width without any script, and disables it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, state = console["url"], console["state"]
    browser.get(url + "/schedules")
    browser.find_element(By.ID, "name").send_keys("prov")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    _click(browser, "signin")
    browser.find_element(By.ID, "code").send_keys(next_code(state.db(), "prov", console["secrets"]["prov"]))
    _click(browser, "verify")
    browser.get(url + "/schedules")
    browser.find_element(By.ID, "s-name").send_keys("weekly-s1")
    browser.find_element(By.ID, "s-cron").send_keys("61 2 * * *")
    Select(browser.find_element(By.ID, "s-job")).select_by_value("nightly")
    _click(browser, "schedule-save")
    assert "61 2 * * *" in _text(browser, "#errors")  # secops schedule add's own message
    field = browser.find_element(By.ID, "s-cron")
    field.clear()
    field.send_keys("30 3 * * 1")
    browser.find_element(By.ID, "s-agency").send_keys("S1")
    _click(browser, "schedule-save")
    assert "cron 30 3 * * 1" in _text(browser, "#schedule-weekly-s1")
    _fits_the_phone(browser)
    _click(browser, "toggle-weekly-s1")
    cell = browser.find_element(By.CSS_SELECTOR, "#schedule-weekly-s1 .enabled")
    assert cell.get_attribute("data-enabled") == "0"
