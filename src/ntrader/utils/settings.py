"""Settings from the environment (``NTRADER_*``), a ``.env`` file and defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
