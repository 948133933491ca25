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


NMAP_PROBE = """
import subprocess, sys
sys.argv = ["secops", *sys.argv[1:]]
original = subprocess.Popen.__init__
seen = []

def spy(self, args, *rest, **kwargs):
    if not seen and str(args[0]).endswith("nmap") and "-V" not in args:
        seen.append(sorted(m for m in ("rich", "sqlalchemy", "pydantic_settings", "jinja2", "paramiko")
                           if m in sys.modules))
    original(self, args, *rest, **kwargs)

subprocess.Popen.__init__ = spy
from secops.cli import main
try:
    main()
except SystemExit:
    pass
print("AT-NMAP-START", ",".join(seen[0]) if seen else "no nmap started")
"""


def test_discover_starts_nmap_before_rich_and_the_database(tmp_path):
    """nmap is started once the scope guard passes, before rich, SQLAlchemy (or pydantic-settings,
    before it was dropped) are imported: what discovery's fixed overhead is made of (issue 12)."""
    from secops.store.db import Database
    from tests.discover_helpers import seed_inventory, write_scope

    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    seed_inventory(db, [{"code": "EP-1", "hostname": "h1", "ips": ["127.0.13.1"]}])
    db.dispose()
    scope = write_scope(tmp_path / "scope.yaml", ["127.0.13.0/30"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SECOPS_OUTPUT": str(tmp_path / "out")}
    result = subprocess.run([sys.executable, "-c", NMAP_PROBE, "--db", str(tmp_path / "s.db"), "discover",
                             "--agency", "DISC", "--scope", str(scope), "--targets", "127.0.13.1", "--ports", "9",
                             "--json"], capture_output=True, text=True, check=False, env=env, timeout=300)
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("AT-NMAP-START")]
    assert line == ["AT-NMAP-START "], result.stdout + result.stderr
    assert '"status": "ok"' in result.stdout, result.stdout + result.stderr


def test_settings_come_from_options_over_secops_variables(monkeypatch, tmp_path):
    from secops.config import Settings, bundled

    for key in [k for k in os.environ if k.upper().startswith("SECOPS_")]:
        monkeypatch.delenv(key)
    assert Settings().checks == bundled("checks") and Settings().lang == "vi"
    monkeypatch.setenv("SECOPS_CHECKS", str(tmp_path / "checks"))
    monkeypatch.setenv("secops_lang", "en")  # any letter case, as pydantic-settings read them
    monkeypatch.setenv("SECOPS_UNRELATED", "ignored")
    settings = Settings()
    assert settings.checks == tmp_path / "checks" and settings.lang == "en"
    assert Settings(lang="vi", checks=tmp_path).lang == "vi" and Settings(checks=tmp_path).checks == tmp_path


def test_a_bad_setting_names_its_variable_and_exits_2(cli, tmp_path):
    """Before: `internal error (ValidationError ...)` with a hint to report a traceback."""
    result = cli("--db", str(tmp_path / "s.db"), "grade", env={"SECOPS_LANG": "fr"})
    assert result.returncode == 2
    assert "setting SECOPS_LANG" in result.stderr and "'fr'" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_the_console_is_made_when_first_used():
    probe = ("import sys; from secops.cliutil import console, err_console; a = 'rich' in sys.modules; "
             "console.print('x', end=''); print('', a, 'rich' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert result.stdout.split() == ["x", "False", "True"]
