"""`secops serve`: the web console and API under uvicorn."""

from __future__ import annotations

import typer

from secops.cliutil import console, state, user_errors
from secops.i18n import _, doc


@doc(_("Run the web console and the read-only API (uvicorn). Long work (runs) goes to `secops daemon`."))
@user_errors
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help=_("address to listen on (behind a TLS reverse proxy)")),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
    proxy: str = typer.Option("127.0.0.1", "--trust-proxy",
                              help=_("addresses whose X-Forwarded-For/-Proto are believed (the reverse proxy)")),
) -> None:
    import uvicorn

    from secops.users.policy import load_console_policy
    from secops.web.app import create_app

    app_state = state(ctx)
    load_console_policy(app_state.settings.policies)  # a bad console.yaml: a clear message, exit 2
    db = app_state.db()
    app = create_app(app_state.settings, db)
    console.print(_("secops console on http://{host}:{port}/ (Ctrl-C to stop)").format(host=host, port=port),
                  markup=False, highlight=False)
    uvicorn.run(app, host=host, port=port, proxy_headers=True,
                forwarded_allow_ips=proxy, server_header=False, log_level="info", access_log=True)
