"""Settings: defaults < config file (XDG config dir) < ``.env`` < environment (``NTRADER_*``)
< command-line flags (passed to ``Settings`` as keyword arguments)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    """The user data dir (XDG): ``$XDG_DATA_HOME/ntrader`` or ``~/.local/share/ntrader``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "ntrader"


def config_file_path() -> Path:
    """The config file (XDG): ``$XDG_CONFIG_HOME/ntrader/config.toml`` or
    ``~/.config/ntrader/config.toml``."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "ntrader" / "config.toml"


_URL_SCHEMES = {
    "redis_url": ("redis://", "rediss://", "unix://"),
    "pushgateway_url": ("http://", "https://"),
}


class Settings(BaseSettings):
    """Everything a command may need to know about its surroundings."""

    model_config = SettingsConfigDict(
        env_prefix="NTRADER_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in the data dir."
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    sqlite_busy_timeout_ms: int = Field(
        default=10_000,
        ge=0,
        le=3_600_000,
        description="How long an SQLite command waits for another process's write lock.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="The lowest level of ntrader's events shown on stderr."
    )

    # --- Operations: logs, metrics, health, cache connection (issue 12) ---
    log_format: Literal["console", "json"] = Field(
        default="console", description="Log lines as readable text or as JSON objects."
    )
    log_file: Path | None = Field(
        default=None, description="Also append log events (INFO and up) to this file."
    )
    nautilus_log_level: Literal["OFF", "ERROR", "WARNING", "INFO", "DEBUG"] = Field(
        default="OFF",
        description="The lowest level of NautilusTrader's own log lines relayed into the log "
        "stream; OFF (the default) bypasses its logger, which costs 20-60 % of engine time "
        "when on and prints strategy tracebacks raw.",
    )
    redis_url: str | None = Field(
        default=None, description="redis:// URL of the bar cache; no cache when unset."
    )
    pushgateway_url: str | None = Field(
        default=None, description="Prometheus Pushgateway the metrics are pushed to."
    )
    metrics_textfile: Path | None = Field(
        default=None, description="A .prom file for node_exporter's textfile collector."
    )
    health_min_free_disk_mb: int = Field(
        default=1024, ge=0, description="Below this free space in the data dir, health warns."
    )

    warm_worker: bool = Field(
        default=False,
        description="Hand `backtest run` to a process kept ready with its imports done "
        "(a second or more less per run; the waiting process holds about 175 MiB of its own).",
    )
    warm_worker_idle_minutes: float = Field(
        default=15.0,
        gt=0,
        le=7 * 24 * 60,
        description="A ready process that gets no command for this long exits.",
    )

    @field_validator("redis_url", "pushgateway_url", mode="after")
    @classmethod
    def _known_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        schemes = _URL_SCHEMES[info.field_name or ""]
        if value is not None and not value.lower().startswith(schemes):
            raise ValueError("must start with " + " or ".join(schemes))
        return value

    @field_validator("log_level", "nautilus_log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ntrader.db'}"

    # --- Interactive Brokers: data connect / fetch (services/ib) ---
    ib_host: str = "127.0.0.1"
    ib_port: int | None = Field(
        default=None, ge=1, le=65_535, description="Default: 7497 paper, 7496 live (TWS)."
    )
    ib_client_id: int = Field(default=1, ge=0, le=2_147_483_647)
    ib_mode: Literal["paper", "live"] = "paper"
    ib_connect_timeout: float = Field(default=4.0, gt=0, le=60)
    ib_request_timeout: float = Field(
        default=30.0, gt=0, le=600, description="A request without its answer by then fails."
    )
    ib_pacing: Literal["soft", "strict", "off"] = Field(
        default="soft",
        description="soft: IB's identical/same-contract rules; strict: also 60 requests per "
        "10 minutes; off: none (a test gateway).",
    )
    ib_messages_per_second: float = Field(default=50.0, ge=0, le=50)
    ib_retries: int = Field(default=5, ge=0, le=50)
    ib_backoff_seconds: float = Field(default=2.0, ge=0, le=600)

    # --- HTTP API (`ntrader serve`) ---
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token every API request must carry; needed to bind beyond loopback.",
    )
    api_max_upload_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1, description="Largest request body (a CSV upload)."
    )
    api_cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    api_max_jobs_per_client: int = Field(
        default=50, ge=1, description="Backtests one client may have queued or running."
    )
    api_shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="How long SIGTERM lets running backtests finish."
    )

    # --- Redis bar cache: loads of stored bars kept in Redis, keyed by their data version ---
    cache_ttl_seconds: int = Field(
        default=86_400, ge=1, le=30 * 86_400, description="How long a cached bar load is kept."
    )
    cache_max_bytes: int = Field(
        default=128 * 2**20,
        ge=0,
        le=512 * 2**20,
        description="The largest bar load the cache keeps (Redis refuses values over 512 MiB).",
    )
    cache_key_prefix: str = Field(
        default="ntrader:",
        min_length=1,
        max_length=64,
        description="Prefix of every cache key, so several users or tests can share a Redis.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest precedence first; the config file sits just above the defaults.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )


def load_settings(**overrides: object) -> Settings:
    """Settings with ``overrides`` (command-line flags) on top; a bad value is a UserInputError
    naming the setting and the reason, never echoing the value."""
    import tomllib

    from pydantic import ValidationError

    from ntrader.core.errors import UserInputError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(
            f"The config file {config_file_path()} is not valid TOML: {exc}.",
            hint="Fix it, or see `ntrader config validate`.",
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "NTRADER_" + "_".join(str(part) for part in first["loc"]).upper()
        # The message, not the value: the value may be a URL with a password in it.
        raise UserInputError(
            f"The setting {name} is not valid: {first['msg']}.",
            hint=f"Fix it in the environment, the .env file or {config_file_path()}.",
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
