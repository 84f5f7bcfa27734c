"""``ntrader data``: import, list and export stored bars."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ntrader.cli.context import app_context, common_options
from ntrader.cli.params import DATE, TIMEFRAME
from ntrader.models.enums import AssetClass, Timeframe


@click.group()
def data() -> None:
    """Import, list and export market data (bars).

    \b
    Examples:
      ntrader data import --file AAPL.csv --instrument AAPL
      ntrader data list
      ntrader data export --instrument AAPL --output aapl.csv
    """


@data.command("import")
@click.option(
    "--file",
    "file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV file of OHLCV bars.",
)
@click.option("--instrument", required=True, help="Symbol, e.g. AAPL or AAPL.NASDAQ.")
@click.option("--venue", default=None, help="Exchange/venue (default: known venue or NASDAQ).")
@click.option(
    "--timeframe",
    type=TIMEFRAME,
    default="DAILY",
    show_default=True,
    help="Bar length: 1MIN, 5MIN, 1HOUR or DAILY.",
)
@click.option(
    "--asset-class",
    type=click.Choice([a.value for a in AssetClass], case_sensitive=False),
    default=None,
    help="Asset class for a new instrument (default: guessed from the symbol).",
)
@click.option("--currency", default=None, help="Quote currency for a new instrument.")
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of timestamps without an offset (IANA name, e.g. America/New_York).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Store the file's values where they differ from the stored bars at the same time "
    "(without it such a file is refused).",
)
@common_options
def import_(
    file: Path,
    instrument: str,
    venue: str | None,
    timeframe: Timeframe,
    asset_class: str | None,
    currency: str | None,
    timezone: str,
    replace: bool,
) -> None:
    """Import bars from a CSV file into the store.

    The file is validated whole before anything is written; a file that breaks a
    rule changes nothing. Re-importing bars that are already stored adds nothing.
    A file whose bars differ from stored ones at the same time (a corrected close, a
    revised volume) is refused and the differences shown; --replace stores the
    file's values instead, in the same single transaction. Each import that changes
    a series bumps its data version.

    \b
    Accepted: a timestamp/date/datetime column (or an unnamed first column, as
    pandas writes), open, high, low, close, volume in any case; Yahoo files with
    "Adj Close"; extra columns are ignored.

    \b
    Examples:
      ntrader data import --file AAPL.csv --instrument AAPL
      ntrader data import --file es_1m.csv --instrument SPY --timeframe 1MIN \\
          --timezone America/New_York
      ntrader data import --file AAPL_corrected.csv --instrument AAPL --replace
    """
    from ntrader.cli.progress import import_progress
    from ntrader.cli.render import render_import_result
    from ntrader.services.data_service import DataService, ImportInterruptedError, ImportRequest

    ctx = app_context()
    request = ImportRequest(
        file=file,
        instrument=instrument,
        timeframe=timeframe,
        venue=venue,
        asset_class=AssetClass(asset_class.upper()) if asset_class else None,
        currency=currency,
        timezone=timezone,
        replace=replace,
    )
    service = DataService(ctx.database)
    result = None
    try:
        with import_progress(file.name, enabled=not ctx.json_output) as on_progress:
            result = service.import_csv(request, on_progress)
        render_import_result(result, json_output=ctx.json_output)
    except KeyboardInterrupt as exc:
        # The service answers for Ctrl-C while it works; after it returned, the import
        # is stored whatever happens to the output, so say so rather than "Aborted.".
        if result is None:
            raise
        raise ImportInterruptedError.stored(
            file, result.instrument_id, timeframe, result.rows_imported, result.rows_replaced
        ) from exc


@data.command("list")
@click.option("--instrument", default=None, help="Only this instrument.")
@click.option("--timeframe", type=TIMEFRAME, default=None, help="Only this timeframe.")
@common_options
def list_(instrument: str | None, timeframe: Timeframe | None) -> None:
    """List stored bars: instrument, timeframe, rows, first and last bar.

    \b
    Examples:
      ntrader data list
      ntrader data list --instrument AAPL --timeframe 1MIN --json
    """
    from ntrader.cli.render import render_coverage
    from ntrader.services.data_service import DataService

    ctx = app_context()
    rows = DataService(ctx.database).coverage(instrument, timeframe)
    render_coverage(rows, json_output=ctx.json_output)


@data.command("export")
@click.option("--instrument", required=True, help="Symbol, e.g. AAPL or AAPL.NASDAQ.")
@click.option("--timeframe", type=TIMEFRAME, default="DAILY", show_default=True)
@click.option("--start", type=DATE, default=None, help="First day (default: first stored).")
@click.option("--end", type=DATE, default=None, help="Last day, inclusive (default: last stored).")
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV file to write.",
)
@common_options
def export(
    instrument: str, timeframe: Timeframe, start: date | None, end: date | None, output: Path
) -> None:
    """Export stored bars to a CSV file that `data import` reads back.

    \b
    Example:
      ntrader data export --instrument AAPL --start 2020-01-01 --end 2020-12-31 \\
          --output aapl_2020.csv
    """
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.data_service import DataService

    ctx = app_context()
    rows = DataService(ctx.database).export_csv(instrument, timeframe, start, end, output)
    if ctx.json_output:
        print_json({"rows": rows, "output": str(output)})
    else:
        print_success(f"Wrote {rows:,} bars to {output}")
