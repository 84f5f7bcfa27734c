"""Settings from the environment (``NTRADER_*``), a ``.env`` file and defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The user data dir (XDG): ``$XDG_DATA_HOME/ntrader`` or ``~/.local/share/ntrader``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "ntrader"


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
    log_level: str = "WARNING"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'ntrader.db'}"

    # Redis bar cache (issue 12): loads of stored bars kept in Redis, keyed by their data version.
    redis_url: str | None = Field(
        default=None, description="Redis URL of the bar cache; unset means no cache."
    )
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    from pydantic import ValidationError

    from ntrader.core.errors import UserInputError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "NTRADER_" + "_".join(str(part) for part in first["loc"]).upper()
        # The message, not the value: the value may be a URL with a password in it.
        raise UserInputError(
            f"The setting {name} is not valid: {first['msg']}.",
            hint="Fix it in the environment or in the .env file.",
        ) from None
