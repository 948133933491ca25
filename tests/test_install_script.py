"""scripts/install.sh on a plain Debian: `python3` only (no `python`), no venv module's ensurepip,
system Python marked externally managed (PEP 668). The Python it finds is a wrapper that logs its
arguments and runs the real interpreter, except `pip install`, `venv` and the ensurepip probe, which
it only records (no network, nothing installed); `apt-get` is a stub that records what it was asked."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WRAPPER = """#!/bin/sh
echo "$*" >> "{log}"
case "$*" in
  "-m pip install"*) exit 0;;
  "-m venv .venv") mkdir -p .venv/bin && ln -sf "{self}" .venv/bin/python && exit 0;;
  "-c import ensurepip, venv") exit {ensurepip};;
esac
exec {real} "$@"
"""


def _setup(tmp_path: Path, ensurepip: bool) -> tuple[Path, Path, Path, dict[str, str]]:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", repo / "scripts" / "install.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log, apt_log = tmp_path / "calls.log", tmp_path / "apt.log"
    wrapper = bin_dir / "python3"
    wrapper.write_text(WRAPPER.format(log=log, self=wrapper, real=sys.executable, ensurepip=0 if ensurepip else 1),
                       encoding="utf-8")
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> "{apt_log}"\n', encoding="utf-8")
    for script in (wrapper, apt):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    for tool in ("nmap", "ssh"):  # present, so the script does not ask for them
        (bin_dir / tool).symlink_to("/bin/true")
    # Only this folder and the basic tools: no `python` command, as on a plain Debian.
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("bash", "sh", "mkdir", "ln", "id", "dirname", "cat", "echo", "true"):
        found = shutil.which(name)
        if found and not (tools / name).exists():
            (tools / name).symlink_to(found)
    env = {"PATH": f"{bin_dir}:{tools}", "HOME": str(tmp_path)}
    return repo, log, apt_log, env


def _run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("bash") or "/bin/bash", str(repo / "scripts" / "install.sh"), *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_install_uses_python3_and_its_own_venv(tmp_path: Path) -> None:
    repo, log, apt_log, env = _setup(tmp_path, ensurepip=True)
    done = _run(repo, env)
    assert done.returncode == 0, done.stderr
    assert "command not found" not in done.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert "-m venv .venv" in calls  # created with python3, never `python`
    assert any(c.startswith("-m pip install") and c.endswith(" .") for c in calls), calls
    assert ".venv/bin/secops" in done.stderr
    assert not apt_log.exists()  # nothing missing, nothing installed


def test_missing_ensurepip_is_installed_from_debian(tmp_path: Path) -> None:
    repo, log, apt_log, env = _setup(tmp_path, ensurepip=False)
    done = _run(repo, env, "test")
    assert done.returncode == 0, done.stderr
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    asked = apt_log.read_text(encoding="utf-8")
    assert f"install -y -qq python{version}-venv" in asked
    calls = log.read_text(encoding="utf-8").splitlines()
    assert any(c.startswith("-m pip install") and c.endswith('-e .[test]') for c in calls), calls
