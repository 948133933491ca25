"""Faults of the environment (database, files, disk) as one clear line and exit 2, never a traceback.

`cliutil.user_errors` handles the errors secops raises itself. What escapes it comes from below:
a corrupt SQLite file, a PostgreSQL server that is down or goes away mid-run, a disk that is full
or read-only, a file that is not text. `run_cli` catches those at the very top, names the database
or path and the reason, and exits 2. `--debug` (or SECOPS_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from secops import interrupts
from secops.errors import SecopsError
from secops.i18n import _

if TYPE_CHECKING:
    from sqlalchemy import exc as sa_exc

EXIT_FAULT = 2
DEBUG_ENV = "SECOPS_DEBUG"


# The database the command opened (password hidden), set by cliutil.AppState.db before opening.
database_label = "the database"


def _database(error: sa_exc.DBAPIError) -> str:
    where = database_label
    first = (str(error.orig).strip().splitlines() or [""])[0][:500] if error.orig is not None else str(error)[:500]
    text = first.lower()
    if "file is not a database" in text or "malformed" in text or "disk image" in text:
        return _("{where}: not a usable SQLite database ({error}); restore it from a backup or point --db at "
                 "another file").format(where=where, error=first)
    from sqlalchemy import exc as sa_exc  # loaded already: the error came from it

    if isinstance(error, sa_exc.OperationalError):
        if "readonly" in text or "read-only" in text:
            return _("{where}: the database file or its folder is read-only ({error})").format(where=where, error=first)
        if "unable to open" in text:
            return _("{where}: cannot open the database file ({error})").format(where=where, error=first)
        return _("{where}: cannot reach the database ({error}); nothing was half-written, retry when it is back").format(
            where=where, error=first)
    return _("{where}: database error ({error})").format(where=where, error=first)


def describe(error: BaseException) -> str | None:
    """A one-line user message for an environment fault, or None for a genuine bug."""
    if isinstance(error, SecopsError):
        return str(error)
    # SQLAlchemy is imported only by commands that use it (fast start): if it is not loaded, the
    # error cannot be one of its exceptions.
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(error, sa_exc.DBAPIError):
        return _database(error)
    if sa_exc is not None and isinstance(error, sa_exc.SQLAlchemyError):
        return _("database error: {error}").format(error=str(error).splitlines()[0][:500])
    if isinstance(error, UnicodeDecodeError):
        return _("input is not UTF-8 text (byte {byte}: {reason})").format(byte=error.start, reason=error.reason)
    if isinstance(error, MemoryError):
        return _("out of memory (an input too large or too deeply nested?)")
    if isinstance(error, OSError):
        where = error.filename or "secops"
        return f"{where}: {error.strerror or error}"
    return None


def run_cli(app: Callable[[], object]) -> None:
    """Call the typer app; environment faults become `where: reason` and exit 2."""
    try:
        app()
    except SystemExit:
        raise
    except Exception as error:  # the last line of defence: see the module docstring
        message = describe(error)
        if message is None and (stop := interrupts.stop_requested()) is not None:
            # A stop signal's exception raised inside a library that wraps what it catches (pydantic
            # reads attributes and reports "Error extracting attribute: Interrupted"): it is the stop.
            # An environment fault met while stopping (the database gone) is said as the fault: the
            # run's end could not be recorded, and the user must know why.
            sys.stderr.write(_("interrupted by {signal}").format(signal=stop) + "\n")
            sys.exit(interrupts.EXIT_INTERRUPTED)
        if os.environ.get(DEBUG_ENV):
            raise
        if message is None:
            message = _("internal error ({kind}: {error}); run the command again with --debug and report the "
                        "traceback").format(kind=type(error).__name__, error=str(error)[:300])
        sys.stderr.write(_("error: {error}").format(error=message) + "\n")
        sys.exit(EXIT_FAULT)
