"""Finding instruments by what a user types: ``AAPL``, ``aapl.nasdaq``, ``EUR/USD``."""

from __future__ import annotations

import difflib

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.repositories import InstrumentRepository, StoredInstrument


def split_instrument(text: str) -> tuple[str, str | None]:
    """``AAPL.NASDAQ`` -> (``AAPL``, ``NASDAQ``); ``AAPL`` -> (``AAPL``, None)."""
    cleaned = text.strip().upper().replace("/", "")
    if not cleaned:
        raise UserInputError("The instrument is empty.", hint="Give a symbol such as AAPL.")
    symbol, _, venue = cleaned.partition(".")
    return symbol, venue or None


def find_stored(repository: InstrumentRepository, text: str) -> StoredInstrument:
    """The stored instrument ``text`` names, or an error with a "did you mean"."""
    symbol, venue = split_instrument(text)
    if venue:
        found = repository.get(f"{symbol}.{venue}")
        if found:
            return found
    else:
        matches = repository.by_symbol(symbol)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(m.spec.instrument_id for m in matches)
            raise UserInputError(
                f"{symbol} trades on several venues ({names}).",
                hint="Name one in full, for example " + matches[0].spec.instrument_id + ".",
            )
    raise NotFoundError(
        f"No data is stored for instrument {text.strip()!r}.{_did_you_mean(repository, text)}",
        hint="Import bars with `ntrader data import --file F.csv --instrument SYMBOL`; "
        "`ntrader data list` shows what is stored.",
    )


def _did_you_mean(repository: InstrumentRepository, text: str) -> str:
    known = repository.all()
    names = [s.spec.instrument_id for s in known] + [s.spec.symbol for s in known]
    close = difflib.get_close_matches(text.strip().upper(), names, n=1, cutoff=0.5)
    return f" Did you mean {close[0]}?" if close else ""
