"""The private spool of console uploads: a console export waits here, under a random id, from its
preview until the daemon has imported it (or the user leaves it).

One folder (`SECOPS_UPLOAD_DIR`, default `<user data dir>/console-uploads`), mode 0700, shared by
`secops serve` and `secops daemon` (same user, same environment). Files are created exclusively
(O_EXCL, O_NOFOLLOW) with mode 0600; a name is only ever looked up after its id matched a strict
pattern, and only a regular file (never a link) is handed to the importer.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path
from typing import BinaryIO

UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{20,80}$")
KEEP_SECONDS = 24 * 3600  # an upload previewed but never confirmed is removed after this
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xml")


def _where() -> Path:
    from secops.config import default_data_dir

    return Path(os.environ.get("SECOPS_UPLOAD_DIR") or default_data_dir() / "console-uploads")


def spool_dir() -> Path:
    from secops.safeio import ensure_folder

    folder = ensure_folder(_where())
    os.chmod(folder, 0o700)
    return folder


def create(upload_id: str, suffix: str) -> BinaryIO:
    """A new spool file for writing: a fresh name, created exclusively, no link followed, 0600."""
    if not UPLOAD_ID.match(upload_id) or suffix not in SUFFIXES:
        raise ValueError("bad upload id or suffix")
    fd = os.open(spool_dir() / f"{upload_id}{suffix}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def bind(upload_id: str, agency: str) -> None:
    """Record which agency the upload was made for (read back by `find`)."""
    from secops.safeio import write_file

    write_file(spool_dir() / f"{upload_id}.agency", agency, mode=0o600)


def _regular(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()


def find(upload_id: str, agency: str) -> Path | None:
    """The spooled file of `upload_id` if it exists, is a regular file of ours and was made for
    `agency`; None otherwise (a forged, stale or other agency's id)."""
    if not UPLOAD_ID.match(upload_id):
        return None
    folder = spool_dir()
    marker = folder / f"{upload_id}.agency"
    if not _regular(marker):
        return None
    fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if handle.read(200).decode("utf-8", "replace") != agency:
            return None
    return next((folder / f"{upload_id}{s}" for s in SUFFIXES if _regular(folder / f"{upload_id}{s}")), None)


def discard(upload_id: str) -> None:
    """Remove the upload and its marker (unlink never follows a link)."""
    if not UPLOAD_ID.match(upload_id):
        return
    folder = spool_dir()
    for suffix in (*SUFFIXES, ".agency"):
        try:
            os.unlink(folder / f"{upload_id}{suffix}")
        except FileNotFoundError:
            pass


def sweep(keep_seconds: int = KEEP_SECONDS) -> int:
    """Remove spooled files older than keep_seconds (previews never confirmed); how many. Only
    entries whose name is a spool name; links are removed, never followed. No spool folder yet: nothing
    to do (none is made)."""
    if not os.path.isdir(_where()):
        return 0
    folder = spool_dir()
    cutoff = time.time() - keep_seconds
    removed = 0
    for entry in os.scandir(folder):
        stem, _, suffix = entry.name.rpartition(".")
        if not UPLOAD_ID.match(stem) or f".{suffix}" not in (*SUFFIXES, ".agency"):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            pass
    return removed
