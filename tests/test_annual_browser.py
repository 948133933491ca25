"""The printable Form 08 page in a real browser (headless Chromium from Debian's packages): the
rendered DOM holds the table with hostile text as text, and the page prints to a PDF."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from annual_helpers import build_register, policies_with_contacts

from secops.config import Settings
from secops.register.annual import annual_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run scripts/install-test-deps.sh")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--disable-extensions",
               # No traffic off this machine: no background services, and anything else goes to a
               # dead loopback proxy (the page itself is a file:// URL and self-contained).
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-domain-reliability", "--no-default-browser-check", "--proxy-server=127.0.0.1:9",
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_form08_page_in_chromium(db, db_path, tmp_path):
    build_register(db)
    settings = Settings(db=str(db_path), policies=policies_with_contacts(tmp_path), output=tmp_path / "out")
    result = annual_report(db, settings, 2026, tmp_path / "out", formats=("html",))
    page = result.files[0]
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<tr data-code=") == 60
    assert "Tình trạng phê duyệt cấp độ" in dom.stdout and "Đã được phê duyệt" in dom.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout  # text in the DOM, never an element
    assert "<script>" not in dom.stdout
    pdf = tmp_path / "form08.pdf"
    printed = _chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
