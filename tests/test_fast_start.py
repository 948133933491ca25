"""Fast start: `secops --version` imports none of the heavy libraries; every lazy command loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("sqlalchemy", "alembic", "paramiko", "nmap", "jinja2", "apscheduler", "pydantic_settings",
         "secops.store", "secops.grade", "secops.collect", "secops.discover", "secops.schedule")

PROBE = """
import sys
sys.argv = ["secops", *sys.argv[1:]]
from secops.cli import main
try:
    main()
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {h.split(".")[0] for h in %r}
                and any(m == h or m.startswith(h + ".") for h in %r))
print("LOADED", ",".join(loaded))
"""


def loaded_after(*args: str) -> tuple[str, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE % (HEAVY, HEAVY), *args], capture_output=True, text=True,
                            check=False, env=env, timeout=120)
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("LOADED")][-1]
    return result.stdout, set(filter(None, line.removeprefix("LOADED ").split(",")))


def test_version_imports_nothing_heavy():
    out, loaded = loaded_after("--version")
    assert "secops 0.1.0" in out or "secops " in out
    assert loaded == set()


def test_grade_help_does_not_import_ssh_or_nmap():
    _, loaded = loaded_after("grade", "--help")
    assert not {m for m in loaded if m.split(".")[0] in ("paramiko", "nmap", "apscheduler")}


@pytest.mark.parametrize("name", ["inventory", "grade", "report", "demo", "discover", "audit", "checks", "hosts",
                                  "evidence", "schedule", "runs", "daemon", "waivers", "requirements", "scanner",
                                  "scanners"])
def test_every_lazy_command_loads(cli, name):
    result = cli(name, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout, result.stderr
    assert "--install-completion" not in result.stdout
