"""Report folders of job runs: one dated folder per run, and a stable `latest/` copy.

    <output>[/<agency>]/runs/2026-11-23T0200Z-run12/   what run 12 wrote, kept as history
    <output>[/<agency>]/latest/                         a copy of the newest, for a leader's bookmark

`latest/` is replaced as a whole: the new copy is written to a temporary folder beside it and
then swapped in with one renameat2(RENAME_EXCHANGE) call (Linux), so a reader sees either the old
or the new report, never a mix. Where that call is not available, two renames are used and the
folder is missing only for the instant between them.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import os
import shutil
from pathlib import Path

from secops.safeio import copy_tree, folder_mode, private_tempdir, write_file

RUN_MARKER = "RUN"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def base_folder(output: Path, agency_code: str | None) -> Path:
    return output / agency_code if agency_code else output


def run_folder(output: Path, agency_code: str | None, run_id: int, started_at: dt.datetime) -> Path:
    stamp = started_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    return base_folder(output, agency_code) / "runs" / f"{stamp}-run{run_id}"


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), f"cannot swap {a} and {b}")


def marked_run(folder: Path) -> int | None:
    try:
        return int((folder / RUN_MARKER).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def update_latest(source: Path, base: Path, run_id: int) -> Path | None:
    """Make <base>/latest a copy of `source`; None if latest already shows a newer run."""
    latest = base / "latest"
    current = marked_run(latest)
    if current is not None and current > run_id:
        return None
    # The new copy is built in a folder with an unpredictable name (mkdtemp): nobody can plant a
    # link there that the copy would write through.
    with private_tempdir(base, f".latest-run{run_id}.") as tmp:
        copy_tree(source, tmp)
        write_file(tmp / RUN_MARKER, f"{run_id}\n")
        tmp.chmod(folder_mode())  # mkdtemp makes it 0700; latest/ follows the folders' rule (safeio)
        if latest.is_dir() and not latest.is_symlink():
            if _exchange(tmp, latest):
                return latest  # tmp now holds the previous latest: removed on leaving
            old = Path(f"{tmp}.old")
            latest.rename(old)
            tmp.rename(latest)
            shutil.rmtree(old)
            return latest
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        tmp.rename(latest)
    return latest
