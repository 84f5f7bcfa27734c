"""Opaque page cursors: where a keyset page ended (a row's time and id), for the next page."""

from __future__ import annotations

import base64
from datetime import datetime

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
