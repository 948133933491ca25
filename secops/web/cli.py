"""`secops serve`: the web console and API under uvicorn."""

from __future__ import annotations

import typer

from secops.cliutil import console, state, user_errors
from secops.config import Settings
from secops.i18n import _, doc


@doc(_("Run the web console and the read-only API (uvicorn). Long work (runs) goes to `secops daemon`."))
@user_errors
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help=_("address to listen on (behind a TLS reverse proxy)")),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
    proxy: str = typer.Option("127.0.0.1", "--trust-proxy",
                              help=_("addresses whose X-Forwarded-For/-Proto are believed (the reverse proxy)")),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help=_("worker processes (each its own caches; rate limits and sign-in slots "
                                       "shared; about one per core)")),
) -> None:
    import uvicorn

    from secops.users.policy import load_console_policy
    from secops.web.app import create_app

    app_state = state(ctx)
    load_console_policy(app_state.settings.policies)  # a bad console.yaml: a clear message, exit 2
    db = app_state.db()  # opened (and migrated) once, here, before any worker starts
    options = {"host": host, "port": port, "proxy_headers": True, "forwarded_allow_ips": proxy,
               "server_header": False, "log_level": "info", "access_log": True}
    console.print(_("secops console on http://{host}:{port}/ ({workers} worker(s); Ctrl-C to stop)")
                  .format(host=host, port=port, workers=workers), markup=False, highlight=False)
    if workers == 1:
        uvicorn.run(create_app(app_state.settings, db), **options)  # type: ignore[arg-type]
        return
    _serve_workers(app_state.settings, workers, options)


def _serve_workers(settings: Settings, workers: int, options: dict[str, object]) -> None:
    """uvicorn's own worker processes, each building the app (web/app.worker_app) from a private
    folder (0700: the settings, with the database URL, and the state the workers share: rate limits,
    sign-in slots), removed when the console stops."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import uvicorn

    from secops.web.shared import STATE_ENV

    folder = Path(tempfile.mkdtemp(prefix="secops-console-"))
    try:
        fd = os.open(folder / "settings.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(settings.model_dump_json())
        os.environ[STATE_ENV] = str(folder)
        uvicorn.run("secops.web.app:worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
