"""Small promises of the security model, each with a real process:

- a stop signal that lands inside pydantic's attribute access ends the command as a stop (exit 130,
  "interrupted by SIGTERM"), never as "Error extracting attribute ... report the traceback";
- a writer killed with SIGKILL leaves `.NAME.*.tmp`; the next write of NAME removes it (a live
  writer's temporary file is left alone);
- a stopped `evidence import` records its run `interrupted`;
- a malformed broker URL is refused naming the setting it came from, exit 2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from secops.store.db import Database
from secops.store.tables import RunRow

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

WRAPPED_STOP = """
import os, signal, sys
from pydantic import BaseModel, ConfigDict
from secops import faults, interrupts

class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str

class Row:
    @property
    def name(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the stop arrives while pydantic reads the attribute
        for _ in range(1000):
            pass
        return "x"

def app():
    interrupts.install()
    Model.model_validate(Row())
    print("validated")

faults.run_cli(app)
"""


def test_a_stop_inside_pydantic_attribute_access_is_a_stop() -> None:
    done = subprocess.run([sys.executable, "-c", WRAPPED_STOP], capture_output=True, text=True, timeout=120,
                          env=ENV, check=False)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted by SIGTERM" in done.stderr
    assert "Error extracting attribute" not in done.stderr and "report the traceback" not in done.stderr


HALF_WRITTEN = """
import sys, time
from pathlib import Path
from secops.safeio import writing_file
with writing_file(Path(sys.argv[1])) as handle:
    handle.write("{\\"half\\": ")
    handle.flush()
    Path(sys.argv[2]).write_text("ready")
    time.sleep(300)
"""


def _writer(target: Path, marker: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HALF_WRITTEN, str(target), str(marker)], env=ENV, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        assert proc.poll() is None
        time.sleep(0.05)
    assert marker.exists()
    return proc


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".dashboard.json.") and p.name.endswith(".tmp"))


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db).returncode == 0
    assert cli("grade", db=db).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    killed = _writer(out / "dashboard.json", tmp_path / "ready-1")
    killed.kill()
    killed.wait()
    [stale] = _temporaries(out)
    live = _writer(out / "dashboard.json", tmp_path / "ready-2")
    try:
        [_, alive] = sorted(_temporaries(out), key=lambda n: n != stale)
        result = cli("report", "--out", str(out), "--format", "json", db=db)
        assert result.returncode == 0, result.stderr
        assert _temporaries(out) == [alive], "the killed writer's file stays, or the live writer's went"
        assert (out / "dashboard.json").read_text(encoding="utf-8").lstrip().startswith("{")
    finally:
        live.kill()
        live.wait()


def _runs(db_path: Path, kind: str) -> list[RunRow]:
    db = Database(f"sqlite:///{db_path}")
    try:
        with db.session() as session:
            rows = list(session.scalars(select(RunRow).where(RunRow.kind == kind)))
            for row in rows:
                session.expunge(row)
            return rows
    finally:
        db.dispose()


def test_a_stopped_evidence_import_records_its_run_interrupted(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = tmp_path / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db_path).returncode == 0
    export = tmp_path / "console.csv"
    with export.open("w", encoding="utf-8") as handle:
        handle.write("Name,Status,Connection IP address,Real-time protection,Anti-virus databases last updated\n")
        for i in range(190_000):
            handle.write(f"ws-{i}.lab,OK,127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255},Running,"
                         "11/20/2026 7:10:00 AM\n")
    proc = subprocess.Popen([sys.executable, "-m", "secops", "--db", str(db_path), "evidence", "import", str(export),
                             "--profile", "kaspersky_ksc_devices", "--date-order", "mdy"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not [r for r in _runs(db_path, "import") if r.status == "running"]:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert proc.poll() is None, "the import ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted by SIGTERM" in err
    [run] = _runs(db_path, "import")
    assert f"run {run.id} is recorded as {run.status}" in err, err
    assert run.status == "interrupted" and "interrupted by SIGTERM" in (run.errors or ""), (run.status, run.errors)


@pytest.mark.parametrize("how", ["option", "environment", "file"])
def test_a_malformed_broker_url_names_the_setting(cli, tmp_path: Path, how: str) -> None:  # type: ignore[no-untyped-def]
    url = "redis://127.0.0.1:6391:1/0"
    args: list[str] = []
    env: dict[str, str] = {}
    if how == "option":
        args, setting = ["--broker", url], "--broker"
    elif how == "environment":
        env, setting = {"SECOPS_BROKER_URL": url}, "SECOPS_BROKER_URL"
    else:
        secret = tmp_path / "broker.url"
        secret.write_text(url + "\n", encoding="utf-8")
        args, setting = ["--broker-file", str(secret)], f"--broker-file {secret}"
    result = cli("scanners", *args, db=tmp_path / "secops.db", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{setting}: broker URL" in result.stderr and "malformed" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
