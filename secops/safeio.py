"""Write files without following links someone else planted, and never leave half a file.

Every file secops writes (reports, exports, `latest/`, known_hosts, demo files) goes through
`write_file`: the content is written to a fresh, unpredictable name in the target folder
(`tempfile.mkstemp`: O_CREAT|O_EXCL, so an existing name or symlink there makes it pick another),
flushed to disk, then renamed over the target. A rename replaces a symlink at the target instead
of writing through it. Folders are created one level at a time and a symlink among the levels
secops creates is refused; an output folder owned by another user (who could swap its entries
between our steps) is refused too. OS failures (read-only, immutable, full disk, a file where a
folder should be) become `SecopsError`s that name the path and the reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from secops.errors import SecopsError
from secops.i18n import _


def os_error(path: Path | str, exc: OSError, doing: str | None = None) -> SecopsError:
    """DOING: what failed, already in the terminal's language (default "cannot write")."""
    reason = exc.strerror or str(exc)
    if exc.errno is not None and exc.errno == getattr(os, "EROFS", None):
        reason = _("read-only file system")
    doing = doing or _("cannot write")
    return SecopsError(f"{path}: {doing}: {reason}")


def check_owner(folder: Path) -> None:
    """Refuse an output folder another user controls: they could replace its entries between our
    steps. Ours (not writable by everyone), or root's and writable by no one else."""
    info = folder.stat()
    me = os.geteuid()
    if info.st_uid == me and not info.st_mode & stat.S_IWOTH:
        return
    if info.st_uid == 0 and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return  # a root-owned folder nobody else can write to
    raise SecopsError(_("{folder}: owned by another user (uid {uid}) or writable by others (mode {mode}); refusing "
                        "to write reports there (use a folder of your own)").format(
        folder=folder, uid=info.st_uid, mode=f"{stat.S_IMODE(info.st_mode):04o}"))


_MAX_LINKS = 40  # as the kernel's own limit on links followed while resolving one path


def output_folder(folder: Path) -> Path:
    """The one check every writing command makes on its output folder, then the folder, created
    level by level. Every component of the path, from the root down, is checked:

    - a folder on the way must be ours or root's, and writable by no one else unless it is sticky
      (like /tmp: others can add entries there but not replace ours);
    - a link on the way is followed only if it is ours or root's and sits in a folder no one else
      can write to: a link in a sticky shared folder (planted by anyone) is refused, as is one
      owned by another user; where it leads is checked the same way;
    - the output folder itself must be ours (not writable by everyone) or root's and writable by
      no one else (check_owner).
    Levels that do not exist are created by us, one at a time (mode 0755)."""
    return _checked(Path(os.path.abspath(folder)), folder, 0)


def _checked(path: Path, given: Path, links: int) -> Path:
    me = os.geteuid()
    current = Path(path.anchor)
    parts = path.parts[1:]
    for index, part in enumerate(parts):
        parent, current = current, current / part
        last = index == len(parts) - 1
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            _make(current, given)
            continue
        except NotADirectoryError as exc:
            raise SecopsError(_("{given}: {parent} is a file, not a folder").format(given=given, parent=parent)) from exc
        except OSError as exc:
            raise os_error(current, exc, _("cannot check the folder")) from exc
        if stat.S_ISLNK(info.st_mode):
            holder = os.stat(parent)
            if info.st_uid not in (me, 0):
                raise SecopsError(_("{given}: {current} is a link owned by another user (uid {uid}); refusing to "
                                    "write through it").format(given=given, current=current, uid=info.st_uid))
            if holder.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise SecopsError(_("{given}: {current} is a link in {parent}, a folder others can write to (mode "
                                    "{mode}); refusing to write through it").format(
                    given=given, current=current, parent=parent, mode=f"{stat.S_IMODE(holder.st_mode):04o}"))
            if links >= _MAX_LINKS:
                raise SecopsError(_("{given}: too many links").format(given=given))
            target = Path(os.path.realpath(current))
            rest = Path(*parts[index + 1:]) if not last else Path()
            return _checked(target / rest if not last else target, given, links + 1)
        if not stat.S_ISDIR(info.st_mode):
            raise SecopsError(_("{at} is a file, not a folder").format(at=_at(given, current)))
        if last:
            check_owner(current)
            continue
        if info.st_uid not in (me, 0):
            raise SecopsError(_("{given}: {current} belongs to another user (uid {uid}), who could move what is "
                                "below it; use a folder of your own").format(given=given, current=current, uid=info.st_uid))
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            raise SecopsError(_("{given}: {current} is writable by others and not sticky (mode {mode}), so anyone "
                                "could replace what is below it").format(
                given=given, current=current, mode=f"{stat.S_IMODE(info.st_mode):04o}"))
    return path


def _at(given: Path, current: Path) -> str:
    """`given:` when the component is the folder asked for, else `given: component`."""
    return f"{given}:" if Path(os.path.abspath(given)) == current else f"{given}: {current}"


# One rule for every report, export and copy secops writes: files are REPORT_FILE_MODE (0644)
# whatever the umask, folders it creates FOLDER_MODE (0755) less the umask. Who may read reports is
# decided by the folders (the output folder and those secops makes in it), never file by file: a
# site that keeps reports private gives the output folder 0700 (or 0750 and a group), or runs
# secops with umask 077. Secrets (keys, broker URLs, the console key, saved host facts, uploads)
# are SECRET_FILE_MODE (0600) whatever the umask.
REPORT_FILE_MODE = 0o644
FOLDER_MODE = 0o755
SECRET_FILE_MODE = 0o600


def folder_mode() -> int:
    """FOLDER_MODE less this process's umask: what a folder secops creates gets."""
    try:  # Linux names it without changing it
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return FOLDER_MODE & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return FOLDER_MODE & ~mask


def _make(folder: Path, given: Path) -> None:
    try:
        os.mkdir(folder, FOLDER_MODE)
    except FileExistsError:
        info = os.lstat(folder)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise SecopsError(_("{given}: {folder} appeared as a link or a file while it was being created; "
                                "refusing to write through it").format(given=given, folder=folder)) from None
    except NotADirectoryError as exc:
        raise SecopsError(_("{given}: a parent of this folder is a file").format(given=given)) from exc
    except OSError as exc:
        raise os_error(folder, exc, _("cannot create the folder")) from exc


def ensure_folder(folder: Path, *, check: bool = True) -> Path:
    """Create `folder` (and missing parents) and check it is a folder we may safely write in
    (output_folder: every component, links included); check=False only creates it."""
    if check:
        output_folder(folder)
        return folder
    try:
        if folder.exists() and not folder.is_dir():
            raise SecopsError(_("{folder}: is a file, not a folder").format(folder=folder))
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise SecopsError(_("{folder}: a file is in the way of this folder").format(folder=folder)) from exc
    except NotADirectoryError as exc:
        raise SecopsError(_("{given}: a parent of this folder is a file").format(given=folder)) from exc
    except OSError as exc:
        raise os_error(folder, exc, _("cannot create the folder")) from exc
    return folder


def subfolder(root: Path, relative: Path) -> Path:
    """`root/relative`, created level by level; a symlink or file among the levels is refused."""
    current = root
    for part in relative.parts:
        if part in ("", ".", "..") or os.sep in part:
            raise SecopsError(_("{path}: unsafe path").format(path=root / relative))
        current = current / part
        try:
            os.mkdir(current, FOLDER_MODE)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise SecopsError(_("{path}: expected a folder, found a link or a file; refusing to write through "
                                    "it").format(path=current)) from None
        except OSError as exc:
            raise os_error(current, exc, _("cannot create the folder")) from exc
    return current


def write_file(path: Path, data: str | bytes, mode: int = REPORT_FILE_MODE) -> Path:
    """Atomically replace `path` with `data` (str is written as UTF-8), never following a link."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with _replacing(path, mode, "wb") as handle:
        handle.write(payload)
    return path


@contextlib.contextmanager
def writing_file(path: Path, mode: int = REPORT_FILE_MODE) -> Iterator[TextIO]:
    """write_file for text written piece by piece (streamed exports): a unique temporary file in
    the same folder, never following a link, renamed over `path` only when the block succeeds."""
    with _replacing(path, mode, "w") as handle:
        yield handle


@contextlib.contextmanager
def _replacing(path: Path, mode: int, open_mode: str) -> Iterator[Any]:
    """A fresh mkstemp file beside `path` (O_EXCL: no link followed), fsynced and renamed over it."""
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise os_error(folder, exc) from exc
    # Held until the rename: a temporary file whose lock can be taken has no writer any more
    # (its process was killed), and the next write of the same file removes it.
    lock = os.dup(fd)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        try:
            with os.fdopen(fd, open_mode, encoding=None if "b" in open_mode else "utf-8") as handle:
                yield handle
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except IsADirectoryError as exc:
            raise SecopsError(_("{path}: a folder is in the way of this file").format(path=path)) from exc
        except OSError as exc:
            raise os_error(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(lock)
    _fsync_folder(folder)
    remove_stale_temporaries(path)


def remove_stale_temporaries(path: Path) -> int:
    """Remove `.NAME.*.tmp` files beside `path` left by a writer that was killed (SIGKILL, power
    cut): ours (same owner), regular files (never a link), and unlocked (no live writer holds
    them; see _replacing). Returns how many were removed."""
    removed = 0
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(f".{path.name}.") and n.endswith(".tmp")]
    except OSError:
        return 0
    for name in names[:1000]:
        candidate = path.parent / name
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a writer is at work on it
            with contextlib.suppress(OSError):
                if os.stat(candidate, follow_symlinks=False).st_ino == info.st_ino:
                    os.unlink(candidate)
                    removed += 1
        finally:
            os.close(fd)
    return removed


def _fsync_folder(folder: Path) -> None:
    # The rename itself must survive a power cut; best effort where folders cannot be opened.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def private_tempdir(folder: Path, prefix: str) -> Iterator[Path]:
    """A fresh folder with an unpredictable name inside `folder` (checked as every output folder
    is: output_folder), removed unless kept (renamed away)."""
    output_folder(folder)
    try:
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=prefix))
    except OSError as exc:
        raise os_error(folder, exc, _("cannot create a temporary folder")) from exc
    try:
        yield tmp
    finally:
        if tmp.exists() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)


def copy_tree(source: Path, target: Path) -> None:
    """Copy the files under `source` into the existing folder `target`, with write_file."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_symlink():
            continue  # a report folder holds no links; never copy what one points to
        if path.is_dir():
            subfolder(target, relative)
        elif path.is_file():
            parent = subfolder(target, relative.parent) if relative.parent != Path(".") else target
            write_file(parent / path.name, path.read_bytes())
