"""``ntrader demo``: the first command a new user runs."""

from __future__ import annotations

import click

from ntrader.cli.context import app_context, common_options


@click.command()
@common_options
def demo() -> None:
    """Import the bundled sample data and backtest an SMA crossover on it.

    Uses the default database (SQLite in your data dir) unless --database-url or
    NTRADER_DATABASE_URL says otherwise. Safe to run again: data already stored is
    not imported twice.

    \b
    Examples:
      ntrader demo
      ntrader demo --database-url sqlite:///demo.db --json
    """
    from rich.text import Text

    from ntrader.cli.output import print_json, print_line, stderr
    from ntrader.cli.progress import import_progress, stage_status
    from ntrader.cli.render import render_backtest_outcome, run_payload
    from ntrader.services.demo_service import run_demo

    ctx = app_context()
    console = stderr()
    if not ctx.json_output:
        print_line(
            Text.assemble(("ntrader demo", "bold"), f" · database {ctx.database.display_url}"),
            console,
        )
    with (
        import_progress("sample data", enabled=not ctx.json_output) as on_progress,
        stage_status(enabled=not ctx.json_output) as on_stage,
    ):
        result = run_demo(ctx.database, on_progress, on_stage)
    if ctx.json_output:
        print_json(
            {
                "imports": [
                    {
                        "file": item.file.name,
                        "instrument_id": item.instrument_id,
                        "timeframe": item.timeframe.value,
                        "rows_imported": item.rows_imported,
                        "rows_already_present": item.rows_already_present,
                    }
                    for item in result.imports
                ],
                "backtest": run_payload(result.outcome.run),
                "report": result.report.model_dump(mode="json"),
            }
        )
        return
    for item in result.imports:
        note = (
            f"{item.rows_imported:,} new"
            if item.rows_imported
            else f"all {item.rows_in_file:,} already stored"
        )
        print_line(
            Text.assemble("  ", ("✓", "green"), f" {item.file.name}: {item.instrument_id} {note}"),
            console,
        )
    render_backtest_outcome(result.outcome, json_output=False)
    print_line(
        Text.assemble(("✓", "green"), " HTML report: ", (result.report.file_path, "bold")), console
    )
    console.print(
        "[dim]Next: `ntrader backtest list`, `ntrader report summary latest`, "
        "`ntrader strategy types`.[/]"
    )
