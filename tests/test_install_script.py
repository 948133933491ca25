"""scripts/install.sh on a plain Debian: `python3` only (no `python`), system Python marked
externally managed (PEP 668). The Python it finds is a wrapper that logs its arguments and runs
the real /usr/bin/python3, except `pip install` and `venv`, which it only records (no network,
nothing installed system-wide)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")

WRAPPER = """#!/bin/sh
echo "$*" >> "{log}"
case "$*" in
  "-m pip install"*) exit 0;;
  "-m venv .venv") mkdir -p .venv/bin && ln -sf "{self}" .venv/bin/python && exit 0;;
esac
exec {real} "$@"
"""


def _setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", repo / "scripts" / "install.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    wrapper = bin_dir / "python3"
    wrapper.write_text(WRAPPER.format(log=log, self=wrapper, real=SYSTEM_PYTHON), encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    for tool in ("nmap",):  # present, so the script does not call apt-get
        (bin_dir / tool).symlink_to("/bin/true")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return repo, log, env


@pytest.mark.skipif(not SYSTEM_PYTHON.exists() or shutil.which("python", path="/usr/bin:/bin") is not None,
                    reason="needs a Debian-like system: /usr/bin/python3 and no `python` command")
def test_install_uses_python3_and_a_venv_where_pip_is_refused(tmp_path: Path) -> None:
    repo, log, env = _setup(tmp_path)
    done = subprocess.run(["bash", str(repo / "scripts" / "install.sh")], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "command not found" not in done.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert any(c.startswith("-m pip install") for c in calls), calls
    probe = "import sysconfig, pathlib; print((pathlib.Path(sysconfig.get_path('stdlib')) / 'EXTERNALLY-MANAGED').exists())"
    externally_managed = subprocess.run([str(SYSTEM_PYTHON), "-c", probe],
                                        capture_output=True, text=True, check=True).stdout.strip() == "True"
    if externally_managed:
        assert "-m venv .venv" in calls and "PEP 668" in done.stderr and ".venv/bin/secops" in done.stderr


def test_install_inside_an_active_virtualenv_installs_there(tmp_path: Path) -> None:
    repo, log, env = _setup(tmp_path)
    done = subprocess.run(["bash", str(repo / "scripts" / "install.sh")], env={**env, "VIRTUAL_ENV": str(tmp_path)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert "-m venv .venv" not in calls and any(c.startswith("-m pip install") for c in calls)
    assert os.path.exists(repo / "scripts" / "install.sh")
