"""Hostile YAML (alias bombs, deep nesting, binary) is refused with `file: reason`, fast, in bounded memory.

Each case runs the real CLI in a child process whose address space is capped (RLIMIT_AS), so a
loader that expands the bomb dies of MemoryError (a traceback, exit 1) instead of eating the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secops.errors import SecopsError
from secops.yamlsafe import MAX_DEPTH, load_yaml

ROOT = Path(__file__).resolve().parent.parent
MEMORY_CAP = 1536 * 1024 * 1024  # far above what secops needs, far below what a bomb needs
TIME_CAP = 60.0  # seconds, a loose ceiling; the refusal itself takes milliseconds


def bomb(section: str = "agencies", levels: int = 9) -> str:
    """The classic "billion laughs" in ~1 KB: each anchor holds ten aliases of the one before."""
    lines = [f"{section}:", "  - code: x", "    l0: &a0 laugh"]
    for level in range(1, levels + 1):
        lines.append(f"    l{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    if not db.exists():  # made as `secops init` makes it: the command line opens only existing databases
        from secops.store.db import Database

        Database(f"sqlite:///{db}").dispose()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "secops", "--db", str(db), *args], check=False,
                          capture_output=True,
                          text=True, env=env, timeout=TIME_CAP, preexec_fn=_cap_memory)


def assert_refused(result: subprocess.CompletedProcess[str], path: Path, words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr and words in result.stderr, result.stderr


def test_inventory_alias_bomb_refused_fast_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(bomb())
    assert path.stat().st_size < 1200
    started = time.monotonic()
    result = run_capped("inventory", "import", str(path), db=tmp_path / "s.db")
    assert_refused(result, path, "alias")
    assert time.monotonic() - started < TIME_CAP


def test_inventory_deep_nesting_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("agencies: " + "[" * 5000 + "]" * 5000 + "\n")
    result = run_capped("inventory", "import", str(path), db=tmp_path / "s.db")
    assert_refused(result, path, "nested")


def test_binary_garbage_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    result = run_capped("inventory", "import", str(path), db=tmp_path / "s.db")
    assert_refused(result, path, "binary")


def test_audit_config_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(bomb("hosts"))
    result = run_capped("audit", "--local", "--config", str(path), "--no-progress", db=tmp_path / "s.db")
    assert_refused(result, path, "alias")


def test_check_pack_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "pack.yml"
    path.write_text(bomb("checks"))
    result = run_capped("checks", "validate", str(path), db=tmp_path / "s.db")
    assert_refused(result, path, "alias")


def test_scope_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "scope.yaml"
    path.write_text(bomb("networks"))
    result = run_capped("discover", "--agency", "X", "--targets", "127.0.0.1", "--scope", str(path),
                        db=tmp_path / "s.db")
    assert_refused(result, path, "alias")


@pytest.mark.parametrize("text, words", [
    (bomb(), "alias"),
    ("a: " + "{b: " * (MAX_DEPTH + 5) + "1" + "}" * (MAX_DEPTH + 5), "nested"),
    ("- &x [*x, *x]\n", ""),  # a self-referencing anchor: composes finitely, must not loop
    ("when: 2026-02-30\n", "day"),  # a date that does not exist: ValueError inside the constructor
])
def test_loader_bounds(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    try:
        load_yaml(path)
    except SecopsError as exc:
        assert str(exc).startswith(str(path)) and words in str(exc)


def test_legitimate_anchors_still_load() -> None:
    """Real SCA policies reuse anchors: they stay well inside the bounds."""
    packs = sorted((ROOT / "checks").rglob("*.yml")) + sorted((ROOT / "tests" / "fixtures").rglob("*.yml"))
    assert packs
    for path in packs:
        assert isinstance(load_yaml(path), dict), path


def test_example_audit_config_is_there_and_valid() -> None:
    """The README promises an audit config in examples/: it exists and loads."""
    from secops.collect.config import load_config

    config = load_config(ROOT / "examples" / "audit.yaml")
    assert config.scopes and all(scope.username for scope in config.scopes)


@pytest.mark.parametrize("command, section", [
    (["requirements", "import"], "statuses"),
    (["requirements", "protection-import"], "endpoints"),
    (["inventory", "reorganise"], "reorganisations"),
])
def test_requirement_and_reorganisation_file_bombs_refused(tmp_path: Path, command: list[str],
                                                           section: str) -> None:
    """Regression: these three readers called yaml directly, past the bounded loader."""
    path = tmp_path / "input.yaml"
    path.write_text(bomb(section))
    result = run_capped(*command, str(path), db=tmp_path / "s.db")
    assert_refused(result, path, "alias")
