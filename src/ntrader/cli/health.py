"""``ntrader health-check``: are the services this installation needs up?"""

from __future__ import annotations

import click

from ntrader.cli.context import app_context, common_options

_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}
EXIT_UNHEALTHY = 3


@click.command("health-check")
@common_options
def health_check() -> None:
    """Check the database (reachable, newest schema), Redis (when NTRADER_REDIS_URL is set),
    free disk in the data dir and free memory. Exits 0 when nothing fails (warnings included),
    3 when a check fails.

    \b
    Examples:
      ntrader health-check
      ntrader health-check --json
      ntrader health-check --database-url postgresql+psycopg://user@localhost/ntrader
    """
    from rich.table import Table

    from ntrader.cli.output import print_json, stdout, styled
    from ntrader.services.health import run_health_checks

    report = run_health_checks(app_context().settings())
    if app_context().json_output:
        print_json(
            {
                "healthy": report.healthy,
                "checks": [
                    {
                        "name": check.name,
                        "status": check.status.value,
                        "detail": check.detail,
                        "seconds": round(check.seconds, 4),
                    }
                    for check in report.checks
                ],
            }
        )
    else:
        table = Table(title="Health", title_justify="left")
        table.add_column("Check", style="bold")
        table.add_column("Status")
        table.add_column("Seconds", justify="right")
        table.add_column("Detail")
        for check in report.checks:
            table.add_row(
                styled(check.name),
                styled(check.status.value, _STYLES[check.status.value]),
                f"{check.seconds:.3f}",
                styled(check.detail),
            )
        stdout().print(table)
    if not report.healthy:
        click.get_current_context().exit(EXIT_UNHEALTHY)
