"""Outputs change only on purpose: the sample province's dashboard.json, grades.csv, fix.csv and Form 08
workbook written by this checkout are compared, byte for byte apart from timestamps, with those written by
the code of OUTPUTS_BASE (a commit in this repository's history, checked out into a temporary worktree).

A restructuring (such as moving modules between packages) must keep this test green as it is. A commit that
changes an output on purpose moves OUTPUTS_BASE to itself, so the test again guards everything after it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The merge of final (two named audit counts) into the language branch (targets' labels, the plan's
# vi/en name in dashboard.json).
OUTPUTS_BASE = "b8a6d80"
YEAR = "2026"
# What differs between two runs of the same code: when things were generated, and where.
_STAMP = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=120)


def _pipeline(tree: Path, work: Path) -> Path:
    """Sample province, grade, dashboard and Form 08 through the command line of the code in `tree`."""
    out = work / "out"
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200", "SECOPS_POLICIES": str(tree / "policies"),
           "SECOPS_CHECKS": str(tree / "checks"), "SECOPS_REPORTS": str(tree / "reports")}
    db = str(work / "secops.db")
    for args in (["init"], ["inventory", "sample", "--endpoints", "300", "--seed", "85"], ["grade"],
                 ["report", "--out", str(out), "--format", "json,csv"],
                 ["report", "annual", "--year", YEAR, "--out", str(out), "--format", "xlsx"]):
        done = subprocess.run([sys.executable, "-m", "secops", "--db", db, *args], capture_output=True, text=True,
                              env=env, cwd=tree, timeout=300)
        assert done.returncode == 0, (tree, args, done.stdout[-2000:], done.stderr[-2000:])
    return out


def _normalised(data: bytes) -> bytes:
    return _STAMP.sub(b"<time>", data)


def _workbook(path: Path) -> dict[str, bytes]:
    """Every part of the xlsx package; docProps/core.xml carries the creation time."""
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as package:
        return {name: _normalised(package.read(name)) for name in sorted(package.namelist())}


def _outputs(out: Path) -> dict[str, object]:
    dashboard = json.loads(_normalised((out / "dashboard.json").read_bytes()))
    books = sorted(out.glob("*.xlsx"))
    assert books, sorted(p.name for p in out.iterdir())
    return {"dashboard.json": dashboard, "grades.csv": _normalised((out / "grades.csv").read_bytes()),
            "fix.csv": _normalised((out / "fix.csv").read_bytes()),
            **{book.name: _workbook(book) for book in books}}


@pytest.mark.slow
def test_outputs_are_those_of_the_base_commit(tmp_path: Path) -> None:
    if _git("cat-file", "-e", f"{OUTPUTS_BASE}^{{commit}}").returncode != 0:
        pytest.fail(f"commit {OUTPUTS_BASE} is not in this clone's history: clone with history (not --depth 1)")
    base_tree = tmp_path / "base"
    added = _git("worktree", "add", "--detach", str(base_tree), OUTPUTS_BASE)
    assert added.returncode == 0, added.stderr
    try:
        (tmp_path / "w-base").mkdir()
        (tmp_path / "w-head").mkdir()
        before = _outputs(_pipeline(base_tree, tmp_path / "w-base"))
        after = _outputs(_pipeline(ROOT, tmp_path / "w-head"))
    finally:
        _git("worktree", "remove", "--force", str(base_tree))
        shutil.rmtree(base_tree, ignore_errors=True)
    assert before.keys() == after.keys()
    for name in before:
        assert after[name] == before[name], f"{name} differs from {OUTPUTS_BASE}'s"
