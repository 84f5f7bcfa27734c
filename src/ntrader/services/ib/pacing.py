"""IB's rate limits, applied before a message is sent rather than after a violation.

Two layers: a token bucket for every message (TWS disconnects a client above 50 a second),
and IB's historical-data pacing: no identical request within 15 s, at most five requests for
one contract (and bar type) within 2 s, and at most 60 requests in any 10 minutes. IB
enforces the last one strictly only for bars of 30 seconds or less and throttles larger bars
softly, so it is a separate, configurable rule. Time comes from an injectable ``Clock`` so
tests check the waits without sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """A clock whose ``sleep`` only moves time on: for tests and for computing pacing floors."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds
            self.slept += seconds


@dataclass(frozen=True, slots=True)
class PacingRules:
    messages_per_second: float = 50.0
    identical_seconds: float = 15.0
    """No request identical to one sent this recently."""
    same_contract_requests: int = 5
    same_contract_seconds: float = 2.0
    """At most this many requests for one contract within ``same_contract_seconds``."""
    window_requests: int = 60
    window_seconds: float = 600.0
    """At most ``window_requests`` historical requests in any ``window_seconds``; 0: off."""

    @classmethod
    def off(cls) -> PacingRules:
        return cls(
            messages_per_second=0.0,
            identical_seconds=0.0,
            same_contract_requests=0,
            window_requests=0,
        )


class TokenBucket:
    """``rate`` messages a second on average, bursts of at most ``rate`` (0: unlimited)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate
        self._last = clock.monotonic()

    def acquire(self) -> None:
        if self._rate <= 0:
            return
        now = self._clock.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self._rate
            self._clock.sleep(wait)
            self._last = self._clock.monotonic()
            self._tokens = 1.0
        self._tokens -= 1


class HistoricalPacer:
    """Waits, before each historical request, until sending it breaks none of the rules."""

    def __init__(self, rules: PacingRules, clock: Clock) -> None:
        self._rules = rules
        self._clock = clock
        self._sent: deque[tuple[float, Hashable, Hashable]] = deque()
        self.waited = 0.0

    def before_request(self, contract: Hashable, request: Hashable) -> None:
        """``request`` identifies the whole request (contract, end, duration, bar size, ...)."""
        wait = self._wait_needed(contract, request, self._clock.monotonic())
        if wait > 0:
            self._clock.sleep(wait)
            self.waited += wait
        self._sent.append((self._clock.monotonic(), contract, request))

    def _wait_needed(self, contract: Hashable, request: Hashable, now: float) -> float:
        rules = self._rules
        horizon = max(rules.identical_seconds, rules.same_contract_seconds, rules.window_seconds)
        while self._sent and self._sent[0][0] <= now - horizon:
            self._sent.popleft()
        earliest = now
        if rules.identical_seconds > 0:
            for sent, _, key in self._sent:
                if key == request:
                    earliest = max(earliest, sent + rules.identical_seconds)
        if rules.same_contract_requests > 0:
            same = [sent for sent, c, _ in self._sent if c == contract]
            if len(same) >= rules.same_contract_requests:
                # The request that must leave the 2 s window before this one may go.
                blocker = same[-rules.same_contract_requests]
                earliest = max(earliest, blocker + rules.same_contract_seconds)
        if rules.window_requests > 0 and len(self._sent) >= rules.window_requests:
            blocker = self._sent[-rules.window_requests][0]
            earliest = max(earliest, blocker + rules.window_seconds)
        return earliest - now
