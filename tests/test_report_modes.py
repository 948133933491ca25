"""One rule for the modes of what secops writes as reports (secops/safeio.py, README "An officer's
first week"): files 0644 whatever the umask; folders secops creates 0755 less the umask; the
dashboard, Form 08 (every format), its owners' copies, host pages and the inventory export alike."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

EXAMPLES = ROOT / "examples"


def _secops(umask: int, *args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "secops", "--db", str(db), *args], capture_output=True, text=True,
                          env=env, timeout=600, preexec_fn=lambda: os.umask(umask))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_report_file_has_the_same_mode(tmp_path, umask):
    db = tmp_path / "secops.db"
    assert run_cli("init", db=db).returncode == 0
    files = [str(EXAMPLES / name) for name in ("inventory.yaml", "endpoints.csv", "staff.csv")]
    assert run_cli("inventory", "import", *files, db=db, cwd=EXAMPLES).returncode == 0
    assert run_cli("grade", db=db).returncode in (0, 1)
    out = tmp_path / "out"  # made by secops, as every folder below it
    steps = [("report", "--out", str(out)),
             ("report", "annual", "--year", "2026", "--format", "xlsx,docx,csv,html", "--all-owners", "--out", str(out)),
             ("inventory", "export", "--out", str(out / "export"))]
    for step in steps:
        done = _secops(umask, *step, db=db)
        assert done.returncode in (0, 1), (step, done.stderr)
    written = [p for p in out.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"dashboard.html", "dashboard.json", "grades.csv", "agencies.csv"} <= names
    assert any(n.startswith("form08-") and n.endswith(".xlsx") for n in names)
    assert any(n.endswith(".docx") for n in names)
    modes = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert set(modes.values()) == {0o644}, {k: oct(v) for k, v in modes.items() if v != 0o644}
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert len(folders) > 1
    want = 0o755 & ~umask
    assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {want}, \
        {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in folders}
