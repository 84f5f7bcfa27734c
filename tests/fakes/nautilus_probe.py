"""nautilus' own IB adapter against the fake TWS: run as a script, prints one JSON line.

A separate process, because ``HistoricInteractiveBrokersClient`` initialises nautilus'
process-wide logging, which must not leak into the test process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime

from tests.fakes.tws import FakeTws


async def probe(port: int) -> dict[str, object]:
    from nautilus_trader.adapters.interactive_brokers.common import IBContract
    from nautilus_trader.adapters.interactive_brokers.historical.client import (
        HistoricInteractiveBrokersClient,
    )

    client = HistoricInteractiveBrokersClient(port=port, client_id=11, log_level="ERROR")
    started = time.perf_counter()
    await asyncio.wait_for(client.connect(), 5)
    seconds = time.perf_counter() - started
    inner = client._client  # the adapter's InteractiveBrokersClient
    bars = await asyncio.wait_for(
        client.request_bars(
            bar_specifications=["1-DAY-LAST"],
            end_date_time=datetime(2023, 11, 29, 4),
            tz_name="UTC",
            duration="5 D",
            contracts=[
                IBContract(
                    secType="STK",
                    symbol="AAPL",
                    exchange="SMART",
                    primaryExchange="NASDAQ",
                    currency="USD",
                )
            ],
        ),
        20,
    )
    result = {
        "seconds": seconds,
        "server_version": inner._eclient.serverVersion(),
        "accounts": sorted(inner.accounts()),
        "bars": [
            [str(b.bar_type), b.ts_event, str(b.open), str(b.high), str(b.low), str(b.close)]
            for b in bars
        ],
    }
    await inner._stop_async()
    return result


def main() -> None:
    with FakeTws() as tws:
        result = asyncio.run(probe(tws.port))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
