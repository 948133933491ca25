"""Shared plumbing for the sub-command modules: settings, database, errors, exit codes."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer

from secops import interrupts
from secops.errors import InputRowsError, SecopsError
from secops.i18n import _

if TYPE_CHECKING:  # imported when used: `secops --version` must not pay for SQLAlchemy and Alembic
    from rich.console import Console

    from secops.config import Settings
    from secops.store.db import Database

EXIT_OK, EXIT_TARGETS_NOT_MET, EXIT_USAGE = 0, 1, 2



class _LazyConsole:
    """A rich Console made on first use: importing rich costs ~20 ms, which `secops discover` would
    pay before starting nmap although it prints nothing until the scan is under way."""

    def __init__(self, stderr: bool):
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


console = cast("Console", _LazyConsole(stderr=False))
err_console = cast("Console", _LazyConsole(stderr=True))

F = TypeVar("F", bound=Callable[..., Any])


class AppState:
    """What the root command parsed; sub-commands reach it through typer's context."""

    def __init__(self, settings: Settings, *, may_create: bool = True):
        self.settings = settings
        self._db: Database | None = None
        # The command line opens only an existing database; `init` and `demo` may make one.
        self.may_create = may_create

    def use_database(self, db: str) -> None:
        """Point this invocation at another database (before it is first opened)."""
        if self._db is not None:
            raise RuntimeError("the database is already open")
        self.settings = self.settings.model_copy(update={"db": db})

    def db(self) -> Database:
        if self._db is None:
            from secops import faults
            from secops.store.db import Database, safe_url

            faults.database_label = f"database {safe_url(self.settings.db_url)}"
            if not self.may_create:
                refuse_new_database(self.settings.db_url)
            self._db = Database(self.settings.db_url)
            # Any command, not only a daemon start, closes runs whose process died (kill -9, power cut).
            from secops.runs.recovery import reap_interrupted

            reap_interrupted(self._db)
        return self._db


def refuse_new_database(url: str) -> None:
    """A mistyped --db path must not become a new, empty database (and its folders): only `init`
    (and `demo`, in its own folder) create one. Server databases are made by their administrator."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database).expanduser()
    if not path.exists():
        raise SecopsError(_("no database at {path}: check --db (or SECOPS_DB); "
                            "`secops init` creates a new one there").format(path=path))


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        from secops.config import load_settings

        root.obj = AppState(load_settings({}))
    return root.obj


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err_console.print(f"[bold red]{_('error:')}[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn SecopsError into a printed message and exit code 2 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SecopsError as exc:
            if (stop := interrupts.stop_requested()) is not None:  # a library wrapped the stop's exception
                err_console.print(_("interrupted by {signal}").format(signal=stop), markup=False, highlight=False)
                raise typer.Exit(interrupts.EXIT_INTERRUPTED) from exc
            # Messages may quote untrusted text: print it literally, never as rich markup.
            err_console.print(_("error:"), style="bold red", end=" ")
            err_console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE) from exc

    return wrapper  # type: ignore[return-value]


def parse_as_of(value: str | None, policies: Path | None = None, *, projection: bool = False) -> dt.datetime:
    """--as-of: YYYY-MM-DD (or DD/MM/YYYY), or an ISO date-time; without a zone it is the province's
    local time (policies/locale.yaml). A date means the end of that day (today: now). Never the future,
    except for a command that only reads and says so (projection: what will be due by then)."""
    from secops.localtime import future_reason, load_locale

    now = dt.datetime.now(dt.UTC)
    if not value:
        return now
    locale = load_locale(policies)
    text = value.strip()
    try:
        day = dt.datetime.strptime(text, "%d/%m/%Y").date() if "/" in text else None
        parsed = dt.datetime.combine(day, dt.time()) if day else dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(_("--as-of {value}: use YYYY-MM-DD, DD/MM/YYYY or an ISO date-time "
                                   "(e.g. 2026-12-07T17:00+07:00)").format(value=repr(value))) from exc
    if day is not None or len(text) == 10:  # a date: the end of that day, so that day's evidence counts
        reason = future_reason(parsed.date(), "--as-of", policies, now)
        if reason and not projection:
            raise typer.BadParameter(reason)
        if parsed.date() == now.astimezone(locale.zone).date():
            return now
        parsed = parsed.replace(hour=23, minute=59, second=59)
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=locale.zone)
    reason = future_reason(aware, "--as-of", policies, now)
    if reason and not projection:
        raise typer.BadParameter(reason)
    if reason:
        err_console.print(_("note: {reason}: shown as a projection of what will be due then; nothing is recorded").format(
                          reason=reason),
                          markup=False, highlight=False, soft_wrap=True)
    return aware.astimezone(dt.UTC)


def invalid_rows(exc: InputRowsError) -> str:
    """InputRowsError.summary() in the terminal's language: "3 invalid row(s)" (the stored run keeps English)."""
    rows, problems = exc.counts()
    return _("{rows} invalid row(s)").format(rows=rows) + (
        " " + _("({n} problems listed)").format(n=problems) if problems > rows else "")


def parse_formats(value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """`--format a,b`: the formats asked for, each one of `allowed`."""
    formats = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise SecopsError(_("--format: unknown {bad}; choose from {allowed}").format(
            bad=", ".join(bad) or _("(empty)"), allowed=", ".join(allowed)))
    return formats
