"""``ntrader data``: import, list and export stored bars."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

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


_MODE_OPTION_HELP = "Paper (default) or live session; sets the default port."


@data.command("connect")
@click.option("--host", default=None, help="Gateway host (default: NTRADER_IB_HOST or 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65_535),
    default=None,
    help="API port. TWS: 7497 paper, 7496 live; IB Gateway: 4002 paper, 4001 live "
    "(default: NTRADER_IB_PORT, else TWS's port for the mode).",
)
@click.option("--paper/--live", "paper", default=None, help=_MODE_OPTION_HELP)
@click.option(
    "--client-id",
    type=click.IntRange(0, 2_147_483_647),
    default=None,
    help="API client id, unique per session (default: NTRADER_IB_CLIENT_ID or 1).",
)
@common_options
def connect(host: str | None, port: int | None, paper: bool | None, client_id: int | None) -> None:
    """Connect to TWS or IB Gateway and show the session: server version, accounts
    (paper or live) and how long connecting took.

    A gateway that refuses, stays silent, has the API disabled, already has this client
    id, or runs in the other mode exits with code 3 and says what to check.

    \b
    Examples:
      ntrader data connect
      ntrader data connect --port 4002 --client-id 7
      ntrader data connect --live --host 10.0.0.5 --json
    """
    from ntrader.cli.render_ib import render_connection
    from ntrader.services.ib.gateway import GatewayConfig
    from ntrader.services.ib.gateway import connect as connect_gateway
    from ntrader.utils.settings import get_settings

    config = GatewayConfig.from_settings(
        get_settings(), host=host, port=port, client_id=client_id, mode=_mode(paper)
    )
    render_connection(connect_gateway(config), json_output=app_context().json_output)


@data.command("fetch")
@click.option(
    "--instruments",
    required=True,
    help="Comma-separated symbols: AAPL,SPY,EURUSD (AAPL.NASDAQ names the listing).",
)
@click.option("--start", type=DATE, required=True, help="First day.")
@click.option("--end", type=DATE, required=True, help="Last day, inclusive.")
@click.option(
    "--timeframe",
    type=TIMEFRAME,
    default="DAILY",
    show_default=True,
    help="Bar length: 1MIN, 5MIN, 1HOUR or DAILY.",
)
@click.option(
    "--rth/--all-hours",
    "regular_hours",
    default=True,
    show_default=True,
    help="Regular trading hours only, or pre- and post-market bars too (stocks).",
)
@click.option("--host", default=None, help="Gateway host (default: NTRADER_IB_HOST).")
@click.option("--port", type=click.IntRange(1, 65_535), default=None, help="API port.")
@click.option("--paper/--live", "paper", default=None, help=_MODE_OPTION_HELP)
@click.option("--client-id", type=click.IntRange(0, 2_147_483_647), default=None)
@common_options
def fetch(
    instruments: str,
    start: date,
    end: date,
    timeframe: Timeframe,
    regular_hours: bool,
    host: str | None,
    port: int | None,
    paper: bool | None,
    client_id: int | None,
) -> None:
    """Fetch historical bars from Interactive Brokers into the store.

    The range is split into the requests IB allows for the bar size; each one is
    validated like `data import` and stored in its own transaction as it arrives, so
    an interrupted fetch keeps whole chunks and running the same command again fetches
    only the days still missing. IB's pacing rules are kept before sending
    (NTRADER_IB_PACING=soft|strict|off); pacing violations and dropped connections are
    retried with backoff.

    \b
    Examples:
      ntrader data fetch --instruments AAPL,SPY,EURUSD --start 2023-01-01 \\
          --end 2023-12-31 --timeframe 1MIN
      ntrader data fetch --instruments SPY --start 2020-01-01 --end 2024-12-31 --json
      ntrader data fetch --instruments AAPL --start 2024-03-01 --end 2024-03-08 \\
          --timeframe 5MIN --all-hours --port 4002
    """
    from ntrader.cli.render_ib import fetch_progress, render_fetch
    from ntrader.services.ib.fetch import FetchOptions, FetchRequest, IbFetchService
    from ntrader.services.ib.gateway import GatewayConfig
    from ntrader.utils.settings import get_settings

    ctx = app_context()
    settings = get_settings()
    config = GatewayConfig.from_settings(
        settings, host=host, port=port, client_id=client_id, mode=_mode(paper)
    )
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in instruments.split(",") if s.strip()))
    request = FetchRequest(symbols, start, end, timeframe, regular_hours)
    service = IbFetchService(ctx.database, config, FetchOptions.from_settings(settings))
    with fetch_progress(enabled=not ctx.json_output) as on_progress:
        report = service.fetch(request, on_progress)
    render_fetch(report, timeframe, json_output=ctx.json_output)
    if report.end < end and not ctx.json_output:
        from ntrader.cli.output import print_warning

        print_warning(f"Fetched up to {report.end}: sessions not yet finished are left out.")


@data.command("verify")
@click.option("--instrument", required=True, help="Symbol, e.g. AAPL or AAPL.NASDAQ.")
@click.option("--timeframe", type=TIMEFRAME, default="DAILY", show_default=True)
@click.option("--start", type=DATE, default=None, help="First day (default: first stored).")
@click.option("--end", type=DATE, default=None, help="Last day, inclusive (default: last stored).")
@common_options
def verify(instrument: str, timeframe: Timeframe, start: date | None, end: date | None) -> None:
    """Check stored bars: gaps against the exchange calendar (weekends and holidays are
    not gaps), unsound bars (high and low not bracketing open and close, a price not above
    zero) and bars outside trading hours.

    Exits with code 1 when it finds a problem.

    \b
    Examples:
      ntrader data verify --instrument AAPL
      ntrader data verify --instrument EURUSD --timeframe 1MIN --start 2023-01-01 \\
          --end 2023-03-31 --json
    """
    from ntrader.cli.render_ib import render_verify
    from ntrader.services.ib.verify import verify as verify_bars

    ctx = app_context()
    report = verify_bars(ctx.database, instrument, timeframe, start, end)
    render_verify(report, json_output=ctx.json_output)
    if not report.ok:
        click.get_current_context().exit(1)


def _mode(paper: bool | None) -> Literal["paper", "live"] | None:
    if paper is None:
        return None
    return "paper" if paper else "live"
