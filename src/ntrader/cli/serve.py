"""``ntrader serve``: the HTTP API over the services the CLI calls."""

from __future__ import annotations

import click

from ntrader.cli.context import app_context, common_options


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Backtests run at once (each in its own process); more submissions queue.",
)
@common_options
def serve(host: str, port: int, jobs: int) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs) until Ctrl-C or SIGTERM.

    Listens on 127.0.0.1 unless told otherwise; another address needs NTRADER_API_TOKEN,
    which every request must then carry as `Authorization: Bearer TOKEN`. On SIGTERM the
    server takes no new backtests, lets running ones finish within the grace period
    (NTRADER_API_SHUTDOWN_GRACE_SECONDS) and stores the rest INTERRUPTED.

    \b
    Examples:
      ntrader serve
      ntrader serve --port 8080 --jobs 4
      ntrader serve --host 0.0.0.0 --port 8080
    """
    from ntrader.api.server import serve as run_server
    from ntrader.utils.settings import get_settings

    ctx = app_context()
    run_server(ctx.database, get_settings(), host=host, port=port, jobs=jobs)
