"""`runs list`, `hosts list` and the grade summary stay readable at 80 columns: nothing cut to "…"."""

from __future__ import annotations

import re
from pathlib import Path

import paramiko
import pytest

from secops.collect.hostkeys import HostKeyStore, fingerprint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    from tests.conftest import run_cli

    db = tmp_path_factory.mktemp("narrow") / "secops.db"
    assert run_cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db).returncode == 0
    assert run_cli("grade", db=db).returncode == 0
    return db


def fits(output: str) -> None:
    assert "…" not in output, output
    assert all(len(line) <= 80 for line in output.splitlines()), output


def first_column(table: str) -> str:
    """The first column of a rich table, its wrapped lines joined with spaces. A heavy frame separates
    columns with │; the light frame of a narrow terminal (under 100 columns) with spaces only: there
    a row whose first cell is empty starts blank, and a cell's words are one space apart."""
    lines = table.splitlines()
    if any(line.startswith("│") for line in lines):
        cells = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    else:
        rule = next(i for i, line in enumerate(lines) if line.strip().startswith("─"))
        body = lines[rule + 1:]
        body = body[:next((i for i, line in enumerate(body) if not line.strip()), len(body))]
        cells = [re.split(r"\s{2,}", line.strip())[0] if line[:2].strip() else "" for line in body]
    return " ".join(cell for cell in cells if cell)


def test_runs_list_at_80_columns(cli, graded: Path) -> None:  # type: ignore[no-untyped-def]
    done = cli("runs", "list", db=graded, env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    assert "started (UTC+07:00)" in done.stdout and "status" in done.stdout  # local times, the zone named


def test_grade_summary_at_80_columns(cli, graded: Path) -> None:  # type: ignore[no-untyped-def]
    done = cli("grade", "--lang", "en", db=graded, env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    import yaml

    targets = yaml.safe_load((ROOT / "policies" / "targets.yaml").read_text(encoding="utf-8"))["targets"]
    names = first_column(done.stdout)
    words = done.stdout.split()
    for target in targets:  # the target's id and short label, each word whole ("staff-informe|d" was folded)
        label = target.get("label", {}).get("en") or target["key"]
        assert f"{target['id']} {label}" in names, (target, done.stdout)
        assert all(word in words for word in label.split()), (target, done.stdout)


def test_grade_summary_of_a_large_province_at_80_columns(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Four-digit counts: the figures do not fold inside a number, and nothing falls off the right edge."""
    db = tmp_path / "sample.db"
    assert cli("inventory", "sample", "--endpoints", "2000", db=db).returncode == 0
    done = cli("grade", "--lang", "en", db=db, env={"COLUMNS": "80"})
    assert done.returncode in (0, 1), done.stderr
    fits(done.stdout)
    text = " ".join(done.stdout.split())
    names = first_column(done.stdout)
    for name in ("T1 Systems classified, plan deployed", "T2 Endpoints protected", "T4 Staff informed",
                 "T5 Staff trained"):
        assert name in names, done.stdout
    assert all(re.fullmatch(r"\(\d+/\d+\)", part) for part in re.findall(r"\(\d[^)]*\)", text)), done.stdout


def test_hosts_list_at_80_columns(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    known = tmp_path / "known_hosts"
    key = paramiko.ECDSAKey.generate()
    HostKeyStore(known).add("127.0.0.1", 2222, key)
    config = tmp_path / "audit.yaml"
    config.write_text(f"known_hosts: {known}\n", encoding="utf-8")
    done = cli("hosts", "list", "--config", str(config), env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    assert fingerprint(key) in "".join(done.stdout.split()), "the fingerprint is whole, maybe folded"


def test_audit_summary_is_words_not_a_python_dict(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db).returncode == 0
    done = cli("audit", "--local", "--endpoint", "QT-STTTT-SRV01", "--no-progress", db=db)
    assert done.returncode == 0, done.stderr
    line = " ".join(done.stdout.split())
    assert "protection: " in line and "{" not in line and "':" not in line, line
