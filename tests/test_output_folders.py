"""One output-folder check for every writing command (secops.safeio.output_folder): every component
of the path is checked, links included. The matrix: a link planted in a sticky world-writable
folder, a root-owned folder of mode 0777, another user's folder, a link in a parent folder;
for `report`, `report annual`, `inventory export` and `demo`. Allowed: a folder of one's own, and
one's own link in one's own folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
pytestmark = pytest.mark.timeout(900)

COMMANDS = {
    "report": ["report", "--format", "json", "--out", "{out}"],
    "report-annual": ["report", "annual", "--year", "2026", "--out", "{out}"],
    "inventory-export": ["inventory", "export", "--out", "{out}"],
    "demo": ["demo", "--dir", "{out}"],
}


def _sticky_link(base: Path) -> tuple[Path, Path]:
    shared = base / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    victim = base / "root-only"
    victim.mkdir(mode=0o700)
    link = shared / "reports"
    link.symlink_to(victim)
    os.lchown(link, NOBODY, NOBODY)  # planted by another user
    return link, victim


def _root_0777(base: Path) -> tuple[Path, Path]:
    folder = base / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)
    return folder, folder


def _other_owner(base: Path) -> tuple[Path, Path]:
    folder = base / "theirs"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    return folder, folder


def _link_in_parent(base: Path) -> tuple[Path, Path]:
    shared = base / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (shared / "team").symlink_to(elsewhere)  # even our own link: anyone could have put another there
    return shared / "team" / "reports", elsewhere


REFUSED = {"sticky-link": _sticky_link, "root-0777": _root_0777, "other-owner": _other_owner,
           "link-in-parent": _link_in_parent}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cli) -> Path:  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("graded") / "secops.db"
    assert cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db).returncode == 0
    assert cli("grade", db=db).returncode == 0
    return db


@pytest.fixture(scope="module")
def cli():  # type: ignore[no-untyped-def]
    from tests.conftest import run_cli

    return run_cli


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_writer_refuses_an_unsafe_output_folder(cli, graded: Path, tmp_path: Path, command: str,  # type: ignore[no-untyped-def]
                                                     case: str) -> None:
    assert os.geteuid() == 0, "giving a folder to another user needs root (the suite runs as root, see README)"
    db = tmp_path / "secops.db"
    shutil.copy(graded, db)
    base = tmp_path / "base"
    base.mkdir()
    out, watched = REFUSED[case](base)
    before = sorted(os.listdir(watched))
    args = [a.replace("{out}", str(out)) for a in COMMANDS[command]]
    result = cli(*args, db=db)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and str(out) in result.stderr.replace("\n", ""), result.stderr
    assert sorted(os.listdir(watched)) == before, f"{command} wrote into {watched}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "demo"])
def test_a_folder_of_ones_own_and_ones_own_link_are_written(cli, graded: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                             command: str) -> None:
    db = tmp_path / "secops.db"
    shutil.copy(graded, db)
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "mine-link").symlink_to(mine)
    for out in (tmp_path / "fresh" / "out", tmp_path / "mine-link"):
        result = cli(*[a.replace("{out}", str(out)) for a in COMMANDS[command]], db=db)
        assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: annual's consistency warnings
        assert "refusing" not in result.stderr and any(out.iterdir()), result.stderr
