"""Fixtures shared by the unit tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ntrader.utils.logging import ROOT_LOGGER


@pytest.fixture
def restore_log_handlers() -> Iterator[None]:
    """Put ntrader's logger back as it was after a test that configures logging."""
    logger = logging.getLogger(ROOT_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.handlers[:] = saved[0]
    logger.level, logger.propagate = saved[1], saved[2]
