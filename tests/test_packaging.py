"""`pip install .` must carry the bundled policies, checks and report templates inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_bundled_data(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("secops-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("policies/targets.yaml", "policies/levels.yaml", "reports/dashboard.html.j2",
                    "reports/dashboard.css", "reports/locale/vi/LC_MESSAGES/reports.po"):
        assert f"secops/_bundled/{shipped}" in names, shipped
    assert "secops/store/migrations/versions/0001_core.py" in names
    assert "secops/store/migrations/env.py" in names
    # The command line's message catalogue (read at run time: nothing compiled at install).
    assert {"secops/locale/secops.pot", "secops/locale/vi/LC_MESSAGES/secops.po"} <= names
    shipped_folders = [p for folder in ("checks", "policies", "reports") for p in (ROOT / folder).rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts]
    missing = [p.relative_to(ROOT).as_posix() for p in shipped_folders
               if f"secops/_bundled/{p.relative_to(ROOT).as_posix()}" not in names]
    assert missing == [], "bundled files missing from the wheel"
