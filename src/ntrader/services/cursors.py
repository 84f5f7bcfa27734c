"""Opaque page cursors: where a keyset page ended (a row's time and id), for the next page."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ntrader.core.errors import UserInputError


def encode_cursor(when: datetime, row_id: str) -> str:
    """Where a page ended (a row's time and id) as an opaque text."""
    text = f"{when.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, row_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        when = datetime.fromisoformat(created)
        if not row_id or when.tzinfo is None:
            raise ValueError(cursor)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        raise UserInputError(
            f"{cursor!r} is not a cursor this server gave out.",
            hint="Use the next_cursor of the previous page, or leave it out for the first page.",
        ) from None
    return when, row_id


class _Stored(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


def page_start(cursor: str | None) -> tuple[datetime, str] | None:
    """Where a page of entities, newest first, starts: after the row ``cursor`` names, or
    at the newest without one."""
    return decode_cursor(cursor) if cursor else None


def newest_first_page[StoredT: _Stored](
    found: Sequence[StoredT], limit: int
) -> tuple[tuple[StoredT, ...], str | None]:
    """A page from ``found`` (the store asked for ``limit + 1`` rows, to tell whether more
    follow) and the cursor of the next page, if there is one."""
    page = tuple(found[:limit])
    more = len(found) > limit
    return page, encode_cursor(page[-1].created_at, page[-1].id) if more else None
