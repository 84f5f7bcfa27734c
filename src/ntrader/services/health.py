"""Health checks a deployment can call: each a small named probe, timed, ok / warn / fail.

A check is a ``HealthCheck``: a name, whether it applies under the settings (Redis only when
configured), and a probe that returns a ``Probe`` or raises. An exception is a failure whose
message (redacted: it may quote a URL) is the detail. New checks join ``DEFAULT_CHECKS``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ntrader.utils.logging import get_logger, redact_text
from ntrader.utils.settings import Settings

MIB = 1024 * 1024
# A backtest over ~100k one-minute bars peaks near 450 MiB: less than this cannot run one.
MEMORY_WARN_MIB = 512
MEMORY_FAIL_MIB = 128
REDIS_TIMEOUT_SECONDS = 2.0
REDIS_MEMORY_WARN_RATIO = 0.9

_log = get_logger(__name__)


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Probe:
    status: CheckStatus
    detail: str


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    probe: Callable[[Settings], Probe]
    applies: Callable[[Settings], bool] = lambda _settings: True


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: CheckStatus
    detail: str
    seconds: float


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[CheckResult, ...]

    @property
    def healthy(self) -> bool:
        """No check failed (warnings are healthy)."""
        return all(check.status is not CheckStatus.FAIL for check in self.checks)


def check_database(settings: Settings) -> Probe:
    from ntrader.services.store import missing_store, schema_state

    missing = missing_store(settings.resolved_database_url)
    if missing is not None:  # not opened: that would leave an empty file behind
        parent = _existing_ancestor(missing.parent)
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return Probe(
                CheckStatus.FAIL,
                f"no store at {missing}, and none can be made there: {parent} is not a "
                "directory this user can write to",
            )
        return Probe(
            CheckStatus.WARN,
            f"no store yet at {missing}: the first command that uses it makes and migrates it",
        )
    state = schema_state(settings.resolved_database_url)
    if state.current == state.head:
        return Probe(CheckStatus.OK, f"{state.database} at revision {state.current} (newest)")
    current = state.current or "none (not migrated)"
    return Probe(
        CheckStatus.FAIL,
        f"{state.database} at revision {current}, newest is {state.head}; run `ntrader db upgrade`",
    )


def check_redis(settings: Settings) -> Probe:
    import redis

    client = redis.Redis.from_url(
        str(settings.redis_url),
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
        memory = client.info("memory")
    finally:
        client.close()
    used, limit = int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0))
    where = redact_text(str(settings.redis_url))
    if limit and used >= REDIS_MEMORY_WARN_RATIO * limit:
        return Probe(
            CheckStatus.WARN,
            f"{where}: {used / MIB:.0f} of {limit / MIB:.0f} MiB used; the cache is near full",
        )
    return Probe(CheckStatus.OK, f"{where}: reachable, {used / MIB:.1f} MiB used")


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent: the data dir may not be created yet."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_disk(settings: Settings) -> Probe:
    where = _existing_ancestor(settings.data_dir.expanduser())
    free_mib = shutil.disk_usage(where).free / MIB
    minimum = settings.health_min_free_disk_mb
    text = f"{free_mib:,.0f} MiB free at {where}"
    if free_mib < minimum / 10:
        return Probe(CheckStatus.FAIL, f"{text} (want at least {minimum:,} MiB)")
    if free_mib < minimum:
        return Probe(CheckStatus.WARN, f"{text} (want at least {minimum:,} MiB)")
    return Probe(CheckStatus.OK, text)


def check_memory(_settings: Settings) -> Probe:
    import psutil

    available_mib = psutil.virtual_memory().available / MIB
    text = f"{available_mib:,.0f} MiB available"
    if available_mib < MEMORY_FAIL_MIB:
        return Probe(CheckStatus.FAIL, text)
    if available_mib < MEMORY_WARN_MIB:
        return Probe(CheckStatus.WARN, f"{text}; a minute-bar backtest needs ~{MEMORY_WARN_MIB}")
    return Probe(CheckStatus.OK, text)


def check_gateway(settings: Settings) -> Probe:
    from ntrader.services.ib.gateway import probe_gateway

    status = probe_gateway(settings)
    if not status.reachable:
        return Probe(CheckStatus.FAIL, f"{status.address}: {status.error}")
    return Probe(
        CheckStatus.OK,
        f"{status.address}: server version {status.server_version}, "
        f"connected in {status.seconds:.2f} s",
    )


def gateway_configured(settings: Settings) -> bool:
    """A gateway is configured once its host or port is set anywhere (file, .env, env)."""
    return bool({"ib_host", "ib_port"} & settings.model_fields_set)


DEFAULT_CHECKS: tuple[HealthCheck, ...] = (
    HealthCheck("database", check_database),
    HealthCheck("redis", check_redis, applies=lambda settings: bool(settings.redis_url)),
    HealthCheck("ib_gateway", check_gateway, applies=gateway_configured),
    HealthCheck("disk", check_disk),
    HealthCheck("memory", check_memory),
)


def run_check(check: HealthCheck, settings: Settings) -> CheckResult:
    started = time.perf_counter()
    try:
        probe = check.probe(settings)
    except Exception as exc:
        from ntrader.core.errors import NtraderError

        reason = exc.message if isinstance(exc, NtraderError) else f"{type(exc).__name__}: {exc}"
        probe = Probe(CheckStatus.FAIL, redact_text(" ".join(reason.split()))[:300])
    seconds = time.perf_counter() - started
    _log.info("health.check", check=check.name, status=probe.status.value, seconds=seconds)
    return CheckResult(check.name, probe.status, probe.detail, seconds)


def run_health_checks(
    settings: Settings, checks: Sequence[HealthCheck] = DEFAULT_CHECKS
) -> HealthReport:
    return HealthReport(
        tuple(run_check(check, settings) for check in checks if check.applies(settings))
    )
