"""`python3 -m secops` with an interpreter that lacks secops' libraries (the system Python in a
checkout installed by scripts/install.sh): it runs the command with ./.venv's Python, or, with no
venv to use, says what to install and exits 2 — never an ImportError traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCA = ROOT.parent / "shared" / "sca"
# The venv's interpreter is a link to the base one; run as itself, with -S (no site-packages), it has
# none of secops' libraries, like a plain Debian python3.
BARE = [os.path.realpath(ROOT / ".venv" / "bin" / "python"), "-S", "-m", "secops"]


def test_bare_python_in_the_checkout_runs_the_venv(tmp_path: Path) -> None:
    assert (ROOT / ".venv" / "bin" / "python").exists(), "the suite runs from scripts/install.sh's ./.venv"
    policies = sorted(SCA.glob("*/*.yml"))
    assert policies, f"no Wazuh SCA policy (*/*.yml) in {SCA}: the suite expects ../shared/sca beside the checkout"
    policy = policies[0]
    done = subprocess.run([*BARE, "checks", "validate", str(policy)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{policy}: ok, policy" in done.stdout


def test_bare_python_without_a_venv_says_what_to_install(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "secops", tmp_path / "secops")  # a checkout with no .venv beside it
    done = subprocess.run([*BARE, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "is not installed for" in done.stderr and "scripts/install.sh" in done.stderr
    assert "Traceback" not in done.stderr
