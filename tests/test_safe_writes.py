"""Reports and other files are written without following planted links, and folder faults are clear.

`ln -s VICTIM OUT/.grades.csv.tmp; secops report --out OUT` used to overwrite VICTIM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest

from secops.collect.hostkeys import HostKeyStore
from secops.errors import SecopsError
from secops.safeio import write_file
from secops.schedule.outputs import update_latest

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("dashboard.html", "dashboard.json", "grades.csv", "fix.csv")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    from tests.conftest import run_cli

    db = tmp_path_factory.mktemp("graded") / "secops.db"
    assert run_cli("inventory", "import", str(ROOT / "examples" / "inventory.yaml"), db=db).returncode == 0
    assert run_cli("grade", db=db).returncode == 0
    return db


def victim(tmp_path: Path) -> Path:
    path = tmp_path / "VICTIM"
    path.write_text("precious\n", encoding="utf-8")
    return path


def test_planted_links_at_old_temp_names_are_not_followed(graded: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = victim(tmp_path)
    out = tmp_path / "OUT"
    out.mkdir()
    for name in NAMES:
        (out / f".{name}.tmp").symlink_to(target)
    result = cli("report", "--out", str(out), db=graded)
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == "precious\n"
    assert (out / "grades.csv").is_file() and not (out / "grades.csv").is_symlink()
    assert "precious" not in (out / "grades.csv").read_text(encoding="utf-8")


def test_a_link_at_the_report_name_is_replaced_not_written_through(graded: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = victim(tmp_path)
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "grades.csv").symlink_to(target)
    result = cli("report", "--out", str(out), db=graded)
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == "precious\n"
    assert not (out / "grades.csv").is_symlink()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "no temporary file left behind"


def test_output_path_that_is_a_file(graded: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.txt"
    out.write_text("x", encoding="utf-8")
    result = cli("report", "--out", str(out), db=graded)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{out}: is a file, not a folder" in result.stderr.replace("\n", "")


def test_unwritable_output_folder(graded: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert os.geteuid() != 0 or shutil.which("chattr"), "chattr is required (e2fsprogs, scripts/install-test-deps.sh)"
    out = tmp_path / "OUT"
    out.mkdir()
    # root ignores permission bits: make the folder immutable instead (the same fault for a user).
    lock = ["chattr", "+i", str(out)] if os.geteuid() == 0 else ["chmod", "0555", str(out)]
    subprocess.run(lock, check=True)
    try:
        result = cli("report", "--out", str(out), db=graded)
    finally:
        subprocess.run(["chattr", "-i", str(out)] if os.geteuid() == 0 else ["chmod", "0755", str(out)], check=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert str(out) in result.stderr.replace("\n", "") and "cannot write" in result.stderr
    assert list(out.iterdir()) == []


def test_output_folder_owned_by_another_user_is_refused(graded: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert os.geteuid() == 0, "giving a folder to another user needs root (the suite runs as root, see README)"
    out = tmp_path / "OUT"
    out.mkdir()
    os.chown(out, 65534, 65534)  # nobody
    result = cli("report", "--out", str(out), db=graded)
    assert result.returncode == 2 and "owned by another user" in result.stderr, result.stderr
    assert list(out.iterdir()) == []


# The annual report (Form 08) and the register export obey the same rules as the dashboard.
WRITERS = {"annual": ("report", "annual", "--year", "2026", "--format", "xlsx,csv,html"),
           "export": ("inventory", "export", "--format", "csv")}


def _writer(kind: str, out: Path) -> tuple[str, ...]:
    return (*WRITERS[kind], "--out", str(out))


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_document_writers_replace_a_link_at_their_file_name(graded: Path, cli, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    probe = tmp_path / "probe"
    assert cli(*_writer(kind, probe), db=graded).returncode == 0
    names = sorted(p.name for p in probe.iterdir())
    assert names, "the writer wrote nothing"
    target = victim(tmp_path)
    out = tmp_path / "OUT"
    out.mkdir()
    for name in names:
        (out / name).symlink_to(target)
        (out / f".{name}.tmp").symlink_to(target)
    result = cli(*_writer(kind, out), db=graded)
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == "precious\n"
    for name in names:
        assert (out / name).is_file() and not (out / name).is_symlink(), name
    assert {p.name for p in out.iterdir() if p.name.endswith(".tmp")} == {f".{n}.tmp" for n in names}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_document_writers_refuse_another_users_folder(graded: Path, cli, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert os.geteuid() == 0, "giving a folder to another user needs root (the suite runs as root, see README)"
    out = tmp_path / "OUT"
    out.mkdir()
    os.chown(out, 65534, 65534)  # nobody
    result = cli(*_writer(kind, out), db=graded)
    assert result.returncode == 2 and "owned by another user" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(out.iterdir()) == []


def test_latest_swap_ignores_planted_links(tmp_path: Path) -> None:
    target = victim(tmp_path)
    source = tmp_path / "run12"
    source.mkdir()
    (source / "dashboard.html").write_text("<p>new</p>", encoding="utf-8")
    base = tmp_path / "base"
    base.mkdir()
    (base / ".latest-run12.tmp").symlink_to(tmp_path)  # the names the old code used
    (base / ".latest-run12.old").symlink_to(tmp_path)
    (base / "latest").mkdir()
    (base / "latest" / "dashboard.html").write_text("<p>old</p>", encoding="utf-8")
    assert update_latest(source, base, 12) == base / "latest"
    assert (base / "latest" / "dashboard.html").read_text(encoding="utf-8") == "<p>new</p>"
    assert (base / "latest" / "RUN").read_text(encoding="ascii").strip() == "12"
    assert target.read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in base.iterdir()) == [".latest-run12.old", ".latest-run12.tmp", "latest"]


def test_known_hosts_link_is_replaced_not_written_through(tmp_path: Path) -> None:
    target = victim(tmp_path)
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "known_hosts").symlink_to(target)
    store = HostKeyStore(folder / "known_hosts.new")
    store.path = folder / "known_hosts"
    store.add("127.0.0.1", 2222, paramiko.ECDSAKey.generate())
    assert target.read_text(encoding="utf-8") == "precious\n"
    assert "[127.0.0.1]:2222 ecdsa-sha2-nistp256" in (folder / "known_hosts").read_text(encoding="utf-8")
    assert oct((folder / "known_hosts").stat().st_mode & 0o777) == "0o600"


def test_write_file_names_the_folder_when_it_vanished(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(SecopsError, match="gone: cannot write"):
        write_file(gone / "x.html", "x")
